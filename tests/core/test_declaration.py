"""The declaration: parsed and checked like events, refused naming the line and key path,
normalised to one canonical form, recorded on the ledger in force from its recorded time."""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import NORTHGATE_DECLARATION as NORTHGATE

from ledger import Ledger
from ledger.core.contract import ENUMS
from ledger.core.countries import TRANSFER_MECHANISMS, transfer_needs_mechanism
from ledger.core.spec import DECLARATION_TYPE, RESERVED_ACTOR
from ledger.core.vocabulary import Vocabulary
from ledger.declaration import (
    InvalidDeclaration,
    check_declaration,
    digest,
    parse_declaration,
)
from ledger.errors import ReadOnlyStore

SUPPORT = "essential.service.operations.support"
VOCABULARY = Vocabulary.from_config({"data_uses": ["essential.service.internet_provision"]})


def _refusal(text: str) -> InvalidDeclaration:
    with pytest.raises(InvalidDeclaration) as caught:
        parse_declaration(text, VOCABULARY)
    return caught.value


def test_northgates_declaration_is_normalised_with_every_key_present() -> None:
    content = parse_declaration(NORTHGATE, VOCABULARY)
    support = content["purposes"][SUPPORT]
    assert content["notices"] == ["privacy-notice-v3"]
    assert support["bases"] == ["contract", "legitimate_interests"]
    assert support["categories"] == ["user.contact", "user.content.private", "user.name"]
    assert support["retention"] == {"user.contact": "P6Y", "user.content.private": "P30D"}
    assert [r["id"] for r in support["recipients"]] == ["isp:fibrelink", "proc:payflow-us"]
    assert support["recipients"][0]["transfer"] is None
    payments = content["purposes"]["essential.service.payment_processing"]
    assert payments == {
        "bases": ["contract"], "categories": ["user.financial"], "subject_categories": [],
        "locations": [], "retention": {}, "recipients": [],
    }  # fmt: skip


def test_the_same_declaration_written_two_ways_has_one_digest() -> None:
    other = """\
[purposes."essential.service.payment_processing"]
bases = ["contract"]
categories = ["user.financial"]

[purposes."essential.service.operations.support"]
categories = ["user.content.private", "user.contact", "user.name"]
bases = ["legitimate_interests", "contract"]
locations = ["IE", "GB"]
subject_categories = ["customer"]
retention."user.contact" = "P6Y"
retention."user.content.private" = "P30D"
recipients = [
  { id = "proc:payflow-us", country = "US", transfer = "dpf", categories = ["user.name"] },
  { id = "isp:fibrelink", country = "GB", categories = ["user.contact.address", "user.name"] },
]
"""
    notices = 'notices = ["privacy-notice-v3"]\n'
    first = parse_declaration(NORTHGATE, VOCABULARY)
    second = parse_declaration(notices + other, VOCABULARY)
    assert first == second
    assert digest(first) == digest(second)


def test_a_mapping_is_checked_as_the_toml_is() -> None:
    content = parse_declaration(NORTHGATE, VOCABULARY)
    assert check_declaration(content, VOCABULARY) == content
    bare = {"purposes": {SUPPORT: {"basis": "consent", "categories": ["user.name"]}}}
    assert check_declaration(bare, VOCABULARY)["notices"] == []


def _edit(old: str, new: str) -> str:
    assert old in NORTHGATE
    return NORTHGATE.replace(old, new, 1)


P = '"essential.service.operations.support"'
REFUSALS = {
    "unknown_top_key": (_edit("notices =", 'notice_url = "x"\nnotices ='), 1, None,
                        "unknown key (key 1 of the declaration)"),
    "format_key_in_wrong_table": (
        _edit('id = "isp:fibrelink"', 'id = "isp:fibrelink"\nbases = []'), 12,
        f"purposes.{P}.recipients[1].bases", "not a key of a recipient"),
    "unknown_purpose": (_edit("[purposes.\"essential.service.payment_processing\"]",
                              '[purposes."essential.service.payment_procesing"]'),
                        21, "purposes.(a key not shown)", "unknown purpose"),
    "unknown_category": (_edit('"user.name", "user.contact", "user.content.private"',
                               '"user.name", "user.contakt"'),
                         5, f"purposes.{P}.categories[2]", "unknown data category"),
    "lower_case_country": (_edit('country = "GB"', 'country = "gb"'), 12,
                           f"purposes.{P}.recipients[1].country", "upper case"),
    "lower_case_location": (_edit('locations = ["GB", "IE"]', 'locations = ["GB", "ie"]'), 7,
                            f"purposes.{P}.locations[2]", "upper case"),
    "missing_transfer_for_us": (_edit('transfer = "dpf"\n', ""), 15,
                                f"purposes.{P}.recipients[2].transfer", "is required"),
    "unknown_transfer": (_edit('transfer = "dpf"', 'transfer = "trust_us"'), 18,
                         f"purposes.{P}.recipients[2].transfer", "not a transfer mechanism"),
    "bad_duration": (_edit('"P30D"', '"30 days"'), 8,
                     f'purposes.{P}.retention."user.content.private"', "ISO 8601 duration"),
    "zero_duration": (_edit('"P30D"', '"P0D"'), 8,
                      f'purposes.{P}.retention."user.content.private"', "longer than zero"),
    "retention_for_undeclared_category": (
        _edit('"user.contact" = "P6Y"', '"user.financial" = "P6Y"'), 8,
        f'purposes.{P}.retention."user.financial"', "not among the purpose's categories"),
    "recipient_category_not_declared": (
        _edit('categories = ["user.name", "user.contact.address"]',
              'categories = ["user.name", "user.financial"]'), 13,
        f"purposes.{P}.recipients[1].categories[2]", "not among the purpose's categories"),
    "recipient_email_id": (_edit('id = "isp:fibrelink"', 'id = "jo.bloggs@fibrelink.example"'),
                           11, f"purposes.{P}.recipients[1].id", "email address"),
    "duplicate_recipient": (_edit('id = "proc:payflow-us"', 'id = "isp:fibrelink"'), 16,
                            f"purposes.{P}.recipients[2].id", "already declared"),
    "duplicate_category": (_edit('"user.name", "user.contact",', '"user.name", "user.name",'), 5,
                           f"purposes.{P}.categories[2]", "the same item twice"),
    "unknown_basis": (_edit('basis = "contract"', 'basis = "because"'), 22,
                      'purposes."essential.service.payment_processing".basis', "lawful basis"),
    "basis_and_bases": (_edit('basis = "contract"', 'basis = "contract"\nbases = ["contract"]'),
                        22, 'purposes."essential.service.payment_processing".basis', "not both"),
    "missing_categories": (_edit('categories = ["user.financial"]\n', ""), 21,
                           'purposes."essential.service.payment_processing".categories',
                           "is required"),
    "empty_purposes": ('notices = ["privacy-notice-v3"]\npurposes = {}\n', 2, "purposes",
                       "at least one purpose"),
    "no_purposes": ('notices = ["privacy-notice-v3"]\n', None, "purposes", "is required"),
    "toml_syntax_error": (_edit('country = "GB"', "country = GB"), 12, None, "not valid TOML"),
    "date_not_text": (_edit('"P30D"', "2026-01-01"), 8,
                      f'purposes.{P}.retention."user.content.private"', "must be a string"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_each_refusal_names_its_line_and_key_path(name: str) -> None:
    text, line, key, why = REFUSALS[name]
    refusal = _refusal(text)
    assert (refusal.line, refusal.key) == (line, key), str(refusal)
    assert why in str(refusal)
    assert "\n" not in str(refusal)


def test_an_unknown_purpose_is_refused_with_the_closest_keys() -> None:
    refusal = REFUSALS["unknown_purpose"]
    found = _refusal(refusal[0])
    assert "essential.service.payment_processing" in found.accepted
    assert "payment_procesing" not in str(found)  # not a vocabulary key: never quoted


def test_an_unknown_category_is_refused_with_the_closest_keys() -> None:
    found = _refusal(REFUSALS["unknown_category"][0])
    assert "user.contact" in found.accepted


def test_a_refusal_never_quotes_a_value() -> None:
    for text in (
        REFUSALS["recipient_email_id"][0],
        _edit("notices =", '"jo.bloggs@example.com" = 1\nnotices ='),
        _edit('id = "isp:fibrelink"', 'id = "isp:fibrelink"\n"+44 7700 900123" = 1'),
    ):
        message = str(_refusal(text))
        assert "bloggs" not in message and "7700" not in message, message


def test_a_toml_refusal_never_quotes_a_key() -> None:
    twice = '["jo.bloggs@example.com"]\n["jo.bloggs@example.com"]\n'
    found = _refusal(twice)
    assert found.line == 2 and "bloggs" not in str(found)
    assert "declared twice" in str(found)


def test_a_missing_transfer_names_the_accepted_mechanisms() -> None:
    found = _refusal(REFUSALS["missing_transfer_for_us"][0])
    assert found.accepted == TRANSFER_MECHANISMS


# -- properties ----------------------------------------------------------------------------

PURPOSES = sorted(VOCABULARY.keys("purpose"))[:40]
CATEGORIES = sorted(VOCABULARY.keys("category"))
SUBJECTS = sorted(VOCABULARY.keys("subject_category"))
COUNTRIES = ["GB", "IE", "DE", "US", "IN", "JP", "CH", "BR"]
DURATIONS = ["P30D", "P6Y", "P1Y6M", "P2W", "PT12H"]


@st.composite
def purpose_declarations(draw: st.DrawFn) -> dict[str, Any]:
    categories = draw(st.lists(st.sampled_from(CATEGORIES), min_size=1, max_size=5, unique=True))
    recipients = []
    for n in range(draw(st.integers(0, 3))):
        country = draw(st.sampled_from(COUNTRIES))
        needed = transfer_needs_mechanism(country)
        transfer = draw(st.sampled_from(TRANSFER_MECHANISMS) if needed else
                        st.none() | st.sampled_from(TRANSFER_MECHANISMS))  # fmt: skip
        given = draw(st.lists(st.sampled_from(categories), min_size=1, unique=True))
        recipient = {"id": f"proc:recipient-{n}", "country": country, "categories": given}
        if transfer is not None or draw(st.booleans()):
            recipient["transfer"] = transfer
        recipients.append(recipient)
    declared: dict[str, Any] = {"categories": categories}
    bases = draw(st.lists(st.sampled_from(ENUMS["basis"]), min_size=1, max_size=3, unique=True))
    if len(bases) == 1 and draw(st.booleans()):
        declared["basis"] = bases[0]
    else:
        declared["bases"] = bases
    if draw(st.booleans()):
        declared["subject_categories"] = draw(st.lists(st.sampled_from(SUBJECTS), unique=True))
    if draw(st.booleans()):
        declared["locations"] = draw(st.lists(st.sampled_from(COUNTRIES), unique=True))
    if draw(st.booleans()):
        keys = draw(st.lists(st.sampled_from(categories), unique=True))
        declared["retention"] = {k: draw(st.sampled_from(DURATIONS)) for k in keys}
    if recipients:
        declared["recipients"] = recipients
    return declared


declarations = st.fixed_dictionaries(
    {"purposes": st.dictionaries(st.sampled_from(PURPOSES), purpose_declarations(),
                                 min_size=1, max_size=3)},
    optional={"notices": st.lists(st.sampled_from(["notice-v1", "notice-v2", "notice-v3"]),
                                  unique=True)},
)  # fmt: skip


@given(declarations)
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
def test_any_valid_declaration_round_trips(content: dict[str, Any]) -> None:
    checked = check_declaration(content, VOCABULARY)
    assert check_declaration(checked, VOCABULARY) == checked
    assert digest(check_declaration(copy.deepcopy(checked), VOCABULARY)) == digest(checked)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8)
    | st.sampled_from([*PURPOSES[:3], *CATEGORIES[:3], "GB", "us", "P30D", "contract"]),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["id", "country", "categories", "bases", "x", *PURPOSES[:2]])
                      | st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)  # fmt: skip


@given(declarations, st.data())
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_a_damaged_declaration_raises_only_the_declaration_error(
    content: dict[str, Any], data: st.DataObject
) -> None:
    damaged = copy.deepcopy(content)
    target: Any = damaged
    while True:  # walk down to a random table or list and replace one of its values
        keys = list(target) if isinstance(target, dict) else list(range(len(target)))
        if not keys:
            break
        key = data.draw(st.sampled_from(keys))
        inner = target[key]
        if isinstance(inner, dict | list) and inner and data.draw(st.booleans()):
            target = inner
            continue
        target[key] = data.draw(json_values)
        break
    try:
        check_declaration(damaged, VOCABULARY)
    except InvalidDeclaration as exc:
        assert "\n" not in str(exc)


@given(st.text(max_size=200))
@settings(max_examples=200)
def test_any_text_is_a_declaration_or_its_refusal(text: str) -> None:
    with contextlib.suppress(InvalidDeclaration):  # anything else fails the test
        parse_declaration(text, VOCABULARY)


# -- on the ledger -------------------------------------------------------------------------


def test_a_declaration_is_recorded_by_the_ledger_and_in_force(ledger: Ledger) -> None:
    from ledger.projections import Projections

    before = ledger.size
    receipt = ledger.declare(NORTHGATE)
    assert receipt.recorded and receipt.sequence > before
    (event,) = ledger.events_of_type(DECLARATION_TYPE)
    content = parse_declaration(NORTHGATE, VOCABULARY)
    assert event["actor"] == RESERVED_ACTOR
    assert (event["declaration"], event["digest"]) == (content, digest(content))
    (recorded,) = ledger.declarations()
    assert (recorded.seq, recorded.content, recorded.digest) == (receipt.sequence, content,
                                                                 digest(content))  # fmt: skip
    with Projections(ledger) as projections:
        in_force = projections.declaration()
        assert in_force == recorded
        assert projections.declaration(as_of="2026-01-01T00:00:00Z") is None
    assert ledger.revalidate() == []


def test_declaring_what_is_in_force_again_records_nothing(ledger: Ledger) -> None:
    first = ledger.declare(NORTHGATE)
    size = ledger.size
    again = ledger.declare(parse_declaration(NORTHGATE, VOCABULARY))
    assert (again.recorded, again.sequence, again.hash) == (False, first.sequence, first.hash)
    assert ledger.size == size
    replaced = ledger.declare(_edit('"P30D"', '"P60D"'))
    assert replaced.recorded and replaced.sequence == size + 1
    back = ledger.declare(NORTHGATE)  # the first again, after another: in force anew
    assert back.recorded and back.sequence == size + 2


@pytest.mark.parametrize("name", ["unknown_category", "toml_syntax_error", "empty_purposes"])
def test_nothing_is_written_on_a_refusal(ledger: Ledger, name: str) -> None:
    size = ledger.size
    with pytest.raises(InvalidDeclaration):
        ledger.declare(REFUSALS[name][0])
    assert ledger.size == size and ledger.declarations() == []


def test_a_declaration_uses_the_ledgers_own_vocabulary(ledger: Ledger) -> None:
    custom = {"purposes": {"essential.service.internet_provision": {
        "basis": "contract", "categories": ["user.device.ip_address"]}}}  # fmt: skip
    assert ledger.declare(custom).recorded
    with pytest.raises(InvalidDeclaration) as caught:
        check_declaration(custom, Vocabulary.default())
    assert caught.value.key == "purposes.(a key not shown)"


def test_a_read_only_store_refuses_a_declaration(ledger: Ledger) -> None:
    ledger.declare(NORTHGATE)
    with Ledger.open(ledger.store.url, None, read_only=True) as replica:
        with pytest.raises(ReadOnlyStore):
            replica.declare(_edit('"P30D"', '"P60D"'))
        assert len(replica.declarations()) == 1


def test_replay_flags_a_recorded_declaration_not_as_the_ledger_writes_one(ledger: Ledger) -> None:
    raw = {"purposes": {SUPPORT: {"basis": "contract", "categories": ["user.name"]}}}
    ledger.record_system({"type": DECLARATION_TYPE, "actor": RESERVED_ACTOR,
                          "declaration": raw, "digest": digest(raw)})  # fmt: skip
    normal = check_declaration(raw, VOCABULARY)
    ledger.record_system({"type": DECLARATION_TYPE, "actor": RESERVED_ACTOR,
                          "declaration": normal, "digest": "0" * 64})  # fmt: skip
    problems = [f.problem for f in ledger.revalidate()]
    assert problems == [
        "declaration record: its content is not in normal form",
        "declaration record: its digest is not its content's",
    ]


def test_the_seed_companys_notice_is_a_valid_declaration(ledger: Ledger) -> None:
    from ledger.demo.story import DECLARATION_TOML

    receipt = ledger.declare(DECLARATION_TOML)
    assert receipt.recorded
    content = ledger.declarations()[-1].content
    assert "marketing.communications.email" in content["purposes"]
    assert ledger.revalidate() == []
