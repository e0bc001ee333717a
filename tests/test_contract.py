"""Every rule of the event contract: accepted as written, everything else refused by name."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.contract import SPEC, looks_like_email, looks_like_phone, parse_line, validate
from ledger.demo import events
from ledger.errors import ConfigError, InvalidEvent
from ledger.vocabulary import Vocabulary

VOCABULARY = Vocabulary.from_config({"data_uses": ["essential.service.internet_provision"]})
STORY = events()
BY_TYPE = {e["type"]: e for e in STORY}


def refused(event: dict[str, Any], key: str | None, fragment: str = "") -> InvalidEvent:
    with pytest.raises(InvalidEvent) as caught:
        validate(event, vocabulary=VOCABULARY)
    assert caught.value.key == key, str(caught.value)
    assert fragment in str(caught.value)
    return caught.value


def changed(kind: str, /, **changes: Any) -> dict[str, Any]:
    event = copy.deepcopy(BY_TYPE[kind])
    for key, value in changes.items():
        if value is ...:
            event.pop(key, None)
        else:
            event[key] = value
    return event


def test_the_story_covers_every_type_and_is_accepted_unchanged() -> None:
    assert set(BY_TYPE) == set(SPEC)
    for event in STORY:
        assert validate(event, vocabulary=VOCABULARY) == event


@pytest.mark.parametrize("kind", sorted(SPEC))
def test_each_required_key_is_required(kind: str) -> None:
    required, _ = SPEC[kind]
    for key in ("type", "at", "actor", *sorted(required)):
        if key == "type":
            refused(changed(kind, type=...), "type", "required")
        else:
            refused(changed(kind, **{key: ...}), key, "required")


@pytest.mark.parametrize("kind", sorted(SPEC))
def test_unknown_keys_are_refused_listing_the_accepted_ones(kind: str) -> None:
    error = refused(changed(kind, colour="blue"), "colour", f"not a key of {kind}")
    assert "actor" in error.accepted and "id" in error.accepted


def test_subject_is_refused_on_breach_events() -> None:
    refused(changed("breach_closed", subject="cust-1"), "subject", "not a key")


def test_unknown_type_suggests_the_closest() -> None:
    error = refused(changed("collected", type="colected"), "type", "not an event type")
    assert error.accepted[0] == "collected"
    refused(changed("collected", type="ledger.vocabulary"), "type")


@pytest.mark.parametrize(
    ("key", "typo", "suggestion"),
    [
        ("purpose", "essential.service.operations.suport", "essential.service.operations.support"),
        ("categories", ["user.contact.emial"], "user.contact.email"),
        ("subject_category", "custmer", "customer"),
    ],
)
def test_unknown_vocabulary_names_the_closest_keys(key: str, typo: Any, suggestion: str) -> None:
    error = refused(changed("collected", **{key: typo}), key, "unknown")
    assert suggestion in error.accepted


def test_custom_vocabulary_is_accepted_only_when_configured() -> None:
    isp = BY_TYPE["shared"] | {"purpose": "essential.service.internet_provision"}
    assert validate(isp, vocabulary=VOCABULARY)["purpose"] == "essential.service.internet_provision"
    with pytest.raises(InvalidEvent):
        validate(isp, vocabulary=Vocabulary.default())


@pytest.mark.parametrize(
    "config",
    [
        {"data_uses": ["nonexistent.parent.thing"]},
        {"data_uses": ["toplevel"]},
        {"data_categories": ["user.bad key"]},
        {"colours": ["red"]},
        {"data_uses": "essential.service.x"},
    ],
)
def test_bad_vocabulary_configuration_is_refused(config: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        Vocabulary.from_config(config)


def test_custom_keys_may_build_on_each_other_and_change_the_digest() -> None:
    deeper = Vocabulary.from_config(
        {
            "data_uses": [
                "essential.service.internet_provision.fibre",
                "essential.service.internet_provision",
            ],
            "data_subjects": ["school_pupil"],
        }
    )
    assert "essential.service.internet_provision.fibre" in deeper.keys("purpose")
    assert deeper.digest != VOCABULARY.digest != Vocabulary.default().digest
    assert deeper.covers("user.contact", "user.contact.email")
    assert not deeper.covers("user.con", "user.contact")


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("2026-03-01T09:30:00", "no UTC offset"),
        ("2026-03-01", "no UTC offset"),
        ("2026-02-30T09:30:00Z", "not a real date"),
        ("1969-12-31T23:59:59Z", "1970-9999"),
        ("2026-03-01T09:30:60Z", "leap"),
        ("2026-03-01T09:30:00+24:00", "offset"),
        ("yesterday", "RFC 3339"),
        (1700000000, "must be a string"),
    ],
)
def test_bad_timestamps_are_refused(value: Any, fragment: str) -> None:
    refused(changed("accessed", at=value), "at", fragment)


@pytest.mark.parametrize(
    "value",
    [
        "2026-03-01T09:30:00Z",
        "2026-03-01t09:30:00z",
        "2026-03-01T09:30:00.123456789+05:30",
        "2026-03-01 09:30:00-08:00",
    ],
)
def test_rfc3339_timestamps_are_accepted(value: str) -> None:
    validate(changed("accessed", at=value), vocabulary=VOCABULARY)


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("location", "gb", "upper case"),
        ("location", "UK", "ISO 3166-1"),
        ("retention", "6 years", "ISO 8601 duration"),
        ("retention", "P0D", "longer than zero"),
        ("retention", "PT", "ISO 8601"),
        ("basis", "because", "accepted values"),
        ("categories", [], "empty"),
        ("categories", ["user.name", "user.name"], "twice"),
        ("categories", ["*"], "stands alone"),
        ("data", {"user.financial.credit_card": "4242"}, "not in the event's categories"),
        ("data", {}, "empty"),
        ("data", {"user.name": float("nan")}, "NaN"),
        ("data", {"user.name": 2**70}, "64 bits"),
        ("data", {"user.name": {1, 2}}, "not JSON"),
        ("source", "form filled in by jo@school.example", "email"),
        ("actor", "+44 20 7946 0958", "phone"),
        ("subject", "jo@school.example", "email"),
        ("subject", "447700900123", "phone"),
        ("system", "", "empty"),
        ("system", "crm\x00", "control"),
        ("system", "x" * 300, "longer"),
        ("id", "x" * 129, "longer"),
    ],
)
def test_bad_collected_values_are_refused(key: str, value: Any, fragment: str) -> None:
    refused(changed("collected", **{key: value}), key, fragment)


def test_errors_never_quote_the_refused_value() -> None:
    marker = "zebulon.quint@marker.example"
    for key in ("subject", "actor", "source"):
        error = refused(changed("collected", **{key: marker}), key)
        assert marker not in str(error)
    error = refused(changed("collected", data={"user.financial.credit_card": marker}), "data")
    assert marker not in str(error)


def test_transfers_outside_uk_and_eea_need_a_mechanism() -> None:
    refused(changed("shared", transfer=..., recipient_location="US"), "transfer", "outside the UK")
    for country in ("GB", "IE", "DE", "NO", "JP", "CH"):
        validate(changed("shared", transfer=..., recipient_location=country), vocabulary=VOCABULARY)
    for country in ("US", "IN", "CN", "BR"):
        refused(changed("shared", transfer=..., recipient_location=country), "transfer")
        validate(
            changed("shared", transfer="sccs", recipient_location=country), vocabulary=VOCABULARY
        )


def test_request_rules() -> None:
    refused(changed("request_received", kind="delete"), "kind", "accepted values")
    refused(changed("request_closed", outcome="refused"), "reason", "refused")
    validate(
        changed("request_closed", outcome="refused", reason="manifestly unfounded"),
        vocabulary=VOCABULARY,
    )
    refused(changed("request_extended", due="2026-06-31"), "due", "real date")
    refused(changed("request_extended", due="16/06/2026"), "due", "YYYY-MM-DD")


def test_breach_rules() -> None:
    refused(changed("breach_assessed", subjects_estimate=-1), "subjects_estimate")
    refused(changed("breach_assessed", subjects_estimate=True), "subjects_estimate")
    refused(changed("breach_assessed", risk="severe"), "risk")
    refused(changed("breach_reported", phase="second"), "phase")
    refused(changed("subjects_notified", subjects=["cust-1", "jo@school.example"]), "subjects")
    refused(
        changed("breach_detected", exposed_from="2026-04-08T00:00:00Z"),
        "exposed_from",
        "after aware_at",
    )
    refused(changed("breach_detected", categories=["user.nothing"]), "categories", "unknown")


def test_erasure_of_everything_is_star_alone() -> None:
    validate(changed("erased", categories=["*"]), vocabulary=VOCABULARY)
    refused(changed("erased", categories=["*", "user.name"]), "categories", "stands alone")


def test_an_export_line_is_refused_as_an_export() -> None:
    refused(changed("accessed", sequence=4, hash="ab"), "hash", "ledger export")


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        (b'{"type": "accessed", "type": "erased"}', "duplicate key"),
        (b'{"a": {"b": 1, "b": 2}}', "duplicate key"),
        (b'{"x": NaN}', "NaN"),
        (b'{"x": -Infinity}', "Infinity"),
        (b'{"x": 1e999}', "too large"),
        (b"[1, 2]", "one JSON object"),
        (b'{"type": ', "not valid JSON"),
        (b"\xff\xfe{}", "UTF-8"),
        (b"[" * 100_000, "JSON"),
    ],
)
def test_parse_line_is_strict(line: bytes, fragment: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_line(line, line=7)
    assert caught.value.line == 7
    assert fragment in str(caught.value)
    assert str(caught.value).startswith("line 7")


@pytest.mark.parametrize(
    "text",
    [
        "cust-1042",
        "staff:jsmith",
        "svc:helpdesk",
        "INC-2026-0042",
        "DSR-2026-001",
        "2026-03-01",
        "ICO-REF-12345678",
        "ICO-2026-000417",
        "2026-03-01T09:30:00Z",
        "erasure request DSR-2026-002",
        "ticket 4471 raised 2026-04-07 at 08:15",
        "v3.2.1",
        "room 101, building 7",
    ],
)
def test_ordinary_ids_and_text_are_not_taken_for_direct_identifiers(text: str) -> None:
    assert not looks_like_phone(text, whole=True)
    assert not looks_like_email(text)


@pytest.mark.parametrize(
    "text",
    [
        "+44 20 7946 0958",
        "020 7946 0958",
        "07700 900123",
        "(01632) 960 001",
        "call back on 07700900123",
        "+1 (555) 123-4567",
        "(555) 123-4567",
        "0044 20 7946 0958",
    ],
)
def test_phone_numbers_are_found(text: str) -> None:
    assert looks_like_phone(text)


events_strategy = st.sampled_from(STORY)


@given(
    events_strategy,
    st.dictionaries(st.text(max_size=12), st.none() | st.integers() | st.text(), max_size=3),
)
def test_random_extra_keys_give_a_clear_refusal_or_pass_unchanged(
    event: dict[str, Any], extra: dict[str, Any]
) -> None:
    candidate = {**event, **extra}
    try:
        assert validate(candidate, vocabulary=VOCABULARY) == candidate
    except InvalidEvent as exc:
        assert exc.key is not None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=12,
)


@given(
    st.dictionaries(
        st.sampled_from(
            ["type", "at", "actor", "subject", "categories", "data", "purpose", "basis", "x"]
        ),
        json_values,
        max_size=8,
    )
)
def test_arbitrary_json_objects_only_ever_raise_invalid_event(obj: dict[str, Any]) -> None:
    line = json.dumps(obj).encode()
    try:
        validate(parse_line(line, line=1), vocabulary=VOCABULARY)
    except InvalidEvent as exc:
        assert str(exc)
