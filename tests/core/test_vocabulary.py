"""The fideslang vocabulary: default keys, custom keys from configuration, suggestions, digest."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import tomllib
from typing import Any

import orjson
import pytest
from fideslang.default_taxonomy import DEFAULT_TAXONOMY
from hypothesis import given
from hypothesis import strategies as st

from ledger.core.vocabulary import Kind, Vocabulary
from ledger.errors import ConfigError, InvalidEvent

DEFAULT = Vocabulary.default()
NORTHGATE = Vocabulary.from_config(
    tomllib.loads(
        """
        [vocabulary]
        data_uses = ["essential.service.internet_provision"]
        data_categories = ["user.contact.email.school", "user.content.private.call_recording"]
        data_subjects = ["school_pupil", "employee.contractor"]
        """
    )["vocabulary"]
)

# The keys EVENTS.md names as examples: every one must be accepted by the default taxonomy.
DOCUMENTED: dict[Kind, list[str]] = {
    "category": [
        "user.name", "user.contact.email", "user.contact.phone_number", "user.contact.address",
        "user.workplace", "user.job_title", "user.financial.credit_card", "user.payment",
        "user.content.private", "user.device.ip_address", "user.behavior.browsing_history",
        "user.location.imprecise", "user.account.username", "user.authorization.password",
        "user.contact",
    ],
    "purpose": [
        "essential.service.operations.support", "essential.service.payment_processing",
        "essential.service", "essential.fraud_detection", "essential.legal_obligation",
        "essential.service.security", "functional.service.improve", "employment.recruitment",
        "marketing.communications.email",
    ],
    "subject_category": ["customer", "employee", "job_applicant", "trainee", "supplier_vendor"],
}  # fmt: skip


def test_default_is_exactly_fideslangs_default_taxonomy() -> None:
    assert DEFAULT.keys("category") == {c.fides_key for c in DEFAULT_TAXONOMY.data_category}
    assert DEFAULT.keys("purpose") == {u.fides_key for u in DEFAULT_TAXONOMY.data_use}
    assert DEFAULT.keys("subject_category") == {s.fides_key for s in DEFAULT_TAXONOMY.data_subject}
    assert DEFAULT.describe()["custom"] == {
        "data_categories": [],
        "data_uses": [],
        "data_subjects": [],
    }


@pytest.mark.parametrize(
    ("kind", "key"), [(kind, key) for kind, keys in DOCUMENTED.items() for key in keys]
)
def test_every_key_the_contract_names_is_accepted(kind: Kind, key: str) -> None:
    DEFAULT.check(kind, key, field="categories")


@pytest.mark.parametrize(
    ("kind", "typo", "expected"),
    [
        ("category", "user.contact.emial", "user.contact.email"),
        ("category", "user.contact.phone", "user.contact.phone_number"),
        ("category", "user.nmae", "user.name"),
        ("purpose", "essential.service.operations.suport", "essential.service.operations.support"),
        ("purpose", "marketing.communication.email", "marketing.communications.email"),
        ("subject_category", "custmer", "customer"),
        ("subject_category", "employe", "employee"),
    ],
)
def test_an_unknown_key_is_refused_with_the_closest_keys(
    kind: Kind, typo: str, expected: str
) -> None:
    with pytest.raises(InvalidEvent) as caught:
        DEFAULT.check(kind, typo, field="purpose")
    assert caught.value.key == "purpose"
    assert expected in caught.value.accepted
    assert 1 <= len(caught.value.accepted) <= 5
    assert "unknown" in caught.value.why


def test_a_key_like_nothing_gets_the_top_level_keys_as_suggestions() -> None:
    with pytest.raises(InvalidEvent) as caught:
        DEFAULT.check("category", "zzzzzzzzzz", field="categories")
    assert set(caught.value.accepted) == {"system", "user"}
    with pytest.raises(InvalidEvent) as caught:
        DEFAULT.check("purpose", "qqqqqqqqqqqq", field="purpose")
    assert caught.value.accepted and all("." not in k for k in caught.value.accepted)


def test_an_unknown_child_of_a_known_key_suggests_that_keys_children() -> None:
    with pytest.raises(InvalidEvent) as caught:
        DEFAULT.check("category", "user.financial.zzzzzzzzzzzzzzzzzz", field="categories")
    assert caught.value.accepted
    assert all(k.startswith("user.financial.") for k in caught.value.accepted)


def test_custom_keys_from_configuration_are_accepted_only_there() -> None:
    for kind, key in [
        ("purpose", "essential.service.internet_provision"),
        ("category", "user.contact.email.school"),
        ("category", "user.content.private.call_recording"),
        ("subject_category", "school_pupil"),
        ("subject_category", "employee.contractor"),
    ]:
        NORTHGATE.check(kind, key, field="x")  # type: ignore[arg-type]
        with pytest.raises(InvalidEvent):
            DEFAULT.check(kind, key, field="x")  # type: ignore[arg-type]
    assert NORTHGATE.keys("category") > DEFAULT.keys("category")


def test_custom_keys_may_sit_under_custom_keys_in_any_order() -> None:
    uses = ["essential.service.isp.fibre.rural", "essential.service.isp.fibre"]
    vocabulary = Vocabulary.from_config({"data_uses": [*uses, "essential.service.isp"]})
    assert "essential.service.isp.fibre.rural" in vocabulary.keys("purpose")
    assert vocabulary.describe()["custom"]["data_uses"] == [
        "essential.service.isp",
        "essential.service.isp.fibre",
        "essential.service.isp.fibre.rural",
    ]


@pytest.mark.parametrize(
    ("config", "names"),
    [
        ({"data_uses": ["nonexistent.parent.thing"]}, ["nonexistent.parent.thing", "parent"]),
        ({"data_uses": ["internet_provision"]}, ["internet_provision", "parent"]),
        ({"data_categories": ["customer_notes"]}, ["customer_notes", "parent"]),
        ({"data_subjects": ["nobody.child"]}, ["nobody.child", "'nobody'"]),
        ({"data_categories": ["user.bad key"]}, ["user.bad key", "not a key"]),
        ({"data_categories": ["user..name"]}, ["user..name", "not a key"]),
        ({"data_categories": ["user.x" * 50]}, ["not a key"]),
        ({"colours": ["red"]}, ["colours", "data_categories"]),
        ({"data_uses": "essential.service.x"}, ["data_uses", "list"]),
        ({"data_uses": ["essential.service.x", 3]}, ["data_uses", "item 2"]),
    ],
)
def test_bad_configuration_is_refused_naming_the_key_and_why(
    config: dict[str, Any], names: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        Vocabulary.from_config(config)
    for name in names:
        assert name in str(caught.value)


def test_configuration_that_is_not_a_table_is_refused() -> None:
    with pytest.raises(ConfigError):
        Vocabulary.from_config(["data_uses"])  # type: ignore[arg-type]


def test_repeating_taxonomy_keys_or_custom_keys_changes_nothing() -> None:
    isp = "essential.service.internet_provision"
    repeated = Vocabulary.from_config({"data_uses": ["essential.service", isp, isp]})
    once = Vocabulary.from_config({"data_uses": ["essential.service.internet_provision"]})
    assert repeated.describe() == once.describe()
    assert repeated.digest == once.digest
    assert repeated == once and hash(repeated) == hash(once)


def test_describe_is_json_and_names_the_taxonomy_version() -> None:
    description = NORTHGATE.describe()
    assert json.loads(json.dumps(description)) == description
    assert description["taxonomy"] == f"fideslang {importlib.metadata.version('fideslang')}"
    assert description["custom"] == {
        "data_categories": [
            "user.contact.email.school",
            "user.content.private.call_recording",
        ],
        "data_uses": ["essential.service.internet_provision"],
        "data_subjects": ["employee.contractor", "school_pupil"],
    }


def test_a_recorded_description_rebuilds_the_same_vocabulary() -> None:
    rebuilt = Vocabulary.from_config(NORTHGATE.describe()["custom"])
    assert rebuilt == NORTHGATE
    assert rebuilt.digest == NORTHGATE.digest


def test_digest_is_sha256_of_the_sorted_description_and_follows_every_change() -> None:
    expected = hashlib.sha256(
        orjson.dumps(NORTHGATE.describe(), option=orjson.OPT_SORT_KEYS)
    ).hexdigest()
    assert NORTHGATE.digest == expected
    assert Vocabulary.default().digest == DEFAULT.digest
    digests = {
        DEFAULT.digest,
        NORTHGATE.digest,
        Vocabulary.from_config({"data_subjects": ["school_pupil"]}).digest,
        Vocabulary.from_config({"data_uses": ["essential.service.internet_provision"]}).digest,
        Vocabulary.from_config({"data_categories": ["user.contact.email.school"]}).digest,
    }
    assert len(digests) == 5
    assert all(len(d) == 64 and int(d, 16) >= 0 for d in digests)


@pytest.mark.parametrize(
    ("ancestor", "key", "covered"),
    [
        ("user.contact", "user.contact.email", True),
        ("user.contact", "user.contact", True),
        ("user", "user.contact.phone_number", True),
        ("user.con", "user.contact", False),
        ("user.contact.email", "user.contact", False),
        ("user.contact", "user.contacts", False),
        ("essential.service", "essential.service.operations.support", True),
    ],
)
def test_a_key_covers_itself_and_its_descendants_only(
    ancestor: str, key: str, covered: bool
) -> None:
    assert DEFAULT.covers(ancestor, key) is covered


keys = st.from_regex(r"[a-z_]{1,8}(\.[a-z_]{1,8}){0,3}", fullmatch=True)


@given(keys, st.from_regex(r"[a-z_]{1,8}(\.[a-z_]{1,8}){0,2}", fullmatch=True))
def test_covers_is_exactly_the_dotted_prefix_relation(ancestor: str, rest: str) -> None:
    assert DEFAULT.covers(ancestor, f"{ancestor}.{rest}")
    assert DEFAULT.covers(ancestor, ancestor)
    assert not DEFAULT.covers(ancestor, ancestor + rest)
    assert not DEFAULT.covers(f"{ancestor}.{rest}", ancestor)


@given(
    st.sampled_from(["category", "purpose", "subject_category"]),
    st.text(max_size=300),
)
def test_check_accepts_known_keys_and_refuses_all_else_with_suggestions(
    kind: Kind, key: str
) -> None:
    try:
        NORTHGATE.check(kind, key, field="purpose")
    except InvalidEvent as exc:
        assert key not in NORTHGATE.keys(kind)
        assert exc.key == "purpose"
        assert exc.accepted and set(exc.accepted) <= NORTHGATE.keys(kind)
    else:
        assert key in NORTHGATE.keys(kind)


@given(st.from_regex(r"zqx[a-z0-9.@+ ]{3,40}", fullmatch=True))
def test_a_refused_key_is_never_quoted_back(marker: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        DEFAULT.check("category", marker, field="categories")
    assert marker not in str(caught.value)
