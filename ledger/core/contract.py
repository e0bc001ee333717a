"""The event contract: strict parsing of import lines and validation of every event.

One table (:data:`SPEC`) says which keys each type requires and allows; one rule per key says
what its value must be. Refusals name the key and the rule, never the value: it may be
personal data. Only the contract's own key names (and vocabulary keys) are ever quoted; any
other key is described by its position, since a key, too, can carry personal data.
"""

from __future__ import annotations

import difflib
import functools
import json
import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import orjson

from ledger.core.countries import COUNTRY_CODES, TRANSFER_MECHANISMS, transfer_needs_mechanism
from ledger.core.durations import Duration, add_duration, parse_duration
from ledger.core.identifiers import looks_like_email, looks_like_phone
from ledger.core.spec import RESERVED_ACTOR, RESERVED_SYSTEM
from ledger.core.vocabulary import Kind, Vocabulary
from ledger.errors import InvalidEvent, LedgerError

# type: (required keys besides type, at and actor; optional keys besides id). Keys are checked
# in this order, so the first refusal of a bad event is predictable.
SPEC: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "collected": (
        ("subject", "categories", "purpose", "basis", "source", "system", "location"),
        ("retention", "subject_category", "transfer", "role", "controller", "data"),
    ),
    "accessed": (("subject", "categories", "purpose", "system"), ()),
    "shared": (
        ("subject", "categories", "purpose", "basis", "recipient", "recipient_location"),
        ("transfer",),
    ),
    "rectified": (("subject", "categories", "system"), ("data",)),
    "erased": (("subject", "categories", "reason"), ("system",)),
    "consent_given": (("subject", "purpose", "method", "notice"), ()),
    "consent_withdrawn": (("subject", "purpose", "method"), ()),
    "objected": (("subject", "purpose"), ()),
    "request_received": (("request", "subject", "kind"), ()),
    "request_extended": (("request", "subject", "reason", "due"), ()),
    "request_closed": (("request", "subject", "outcome"), ("reason",)),
    "request_paused": (("request", "subject", "awaiting"), ()),
    "request_resumed": (("request", "subject", "awaiting"), ()),
    "restricted": (("subject", "categories", "ground"), ("system",)),
    "restriction_lifted": (("subject", "categories"), ("system",)),
    "recipients_notified": (("subject", "recipient", "categories", "change"), ()),
    "complaint_received": (("complaint", "channel"), ("subject",)),
    "complaint_acknowledged": (("complaint",), ()),
    "complaint_closed": (("complaint", "summary"), ()),
    "breach_detected": (
        ("breach", "description", "systems", "categories"),
        ("aware_at", "exposed_from", "contained_at", "records"),
    ),
    "breach_assessed": (
        ("breach", "risk", "subjects_estimate"),
        ("reason", "consequences", "measures"),
    ),
    "breach_reported": (("breach", "authority", "reference", "phase"), ("delay_reason",)),
    "subjects_notified": (("breach", "subjects", "channel"), ()),
    "breach_closed": (("breach", "summary"), ()),
    "controller_notified": (("breach", "controller"), ()),
    "subjects_not_notified": (("breach", "exemption"), ()),
}
EVENT_TYPES: frozenset[str] = frozenset(SPEC)
SUBJECT_TYPES: frozenset[str] = frozenset(
    {"collected", "accessed", "shared", "rectified", "erased", "consent_given",
     "consent_withdrawn", "objected", "restricted", "restriction_lifted", "recipients_notified"}
)  # fmt: skip
REQUEST_TYPES: frozenset[str] = frozenset({t for t in SPEC if t.startswith("request_")})
COMPLAINT_TYPES: frozenset[str] = frozenset({t for t in SPEC if t.startswith("complaint_")})
BREACH_TYPES: frozenset[str] = EVENT_TYPES - SUBJECT_TYPES - REQUEST_TYPES - COMPLAINT_TYPES
COMMON_KEYS = ("type", "at", "actor")
# What `ledger export` adds beside the contract's keys: such a line is an export, not an event.
EXPORT_FIELDS = frozenset(
    {"sequence", "recorded_at", "hash", "prev_hash", "uuid", "shredded", "data_erased"}
)
ENUMS: dict[str, tuple[str, ...]] = {
    "basis": ("consent", "contract", "legal_obligation", "vital_interests", "public_task",
              "legitimate_interests", "recognised_legitimate_interest"),
    "transfer": TRANSFER_MECHANISMS,
    "kind": ("access", "erasure", "rectification", "restriction", "objection", "portability",
             "automated_decision"),
    "outcome": ("fulfilled", "partially_fulfilled", "refused"),
    "risk": ("unlikely", "risk", "high"),
    "phase": ("initial", "follow_up", "final"),
    "awaiting": ("clarification", "identity", "fee"),
    "ground": ("accuracy_contested", "unlawful", "legal_claims", "objection_pending"),
    "change": ("erasure", "rectification", "restriction"),
    "exemption": ("unintelligible", "measures_taken", "public_communication"),
    "role": ("controller", "processor"),
}  # fmt: skip
FREE_TEXT = frozenset(
    {"description", "reason", "summary", "delay_reason", "source", "consequences", "measures"}
)
# Dates from which the Data (Use and Access) Act 2025 brought a rule into force (its
# commencement regulations): recognised legitimate interests (Art. 6(1)(ea)) from 5 February
# 2026; the complaint duties of DPA 2018 s.164A for complaints received from 19 June 2026.
RECOGNISED_LEGITIMATE_INTEREST_FROM = datetime(2026, 2, 5, tzinfo=UTC)
COMPLAINT_DUTIES_FROM = date(2026, 6, 19)
# Every key name the contract knows: the only ones a message may quote.
CONTRACT_KEYS: frozenset[str] = frozenset(
    {*COMMON_KEYS, "id", *(key for spec in SPEC.values() for keys in spec for key in keys)}
)

# Caps, so that hostile input gets a clear refusal rather than a slow or huge write.
MAX_ID = 256
MAX_CLIENT_ID = 128
MAX_TEXT = 4096
MAX_LIST = 10_000
MAX_ESTIMATE = 10_000_000_000  # subjects, and records
MAX_DATA_BYTES = 1 << 20
MAX_DEPTH = 32

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_BIDI_CONTROL = re.compile("[\u202a-\u202e\u2066-\u2069]")  # embeddings, overrides, isolates
# RFC 3339 §5.6; a space for T is allowed by its §5.6 note, lower-case t and z by §5.6 itself.
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
    r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
)
_LOCAL_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[Tt ][0-9]{2}:[0-9]{2}(?::[0-9.]+)?)?")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_UTC_ZONE = timezone(timedelta(0))


def _refuse(why: str, key: str | None = None, accepted: tuple[str, ...] = ()) -> InvalidEvent:
    return InvalidEvent(why, key=key, accepted=accepted)


def _json_type(value: Any) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string",
             list: "a list", dict: "an object", type(None): "null"}  # fmt: skip
    return names.get(type(value), "not JSON")


# -- parsing -----------------------------------------------------------------------------------


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) == len(pairs):  # the usual case, built in C: no key given twice
        return obj
    obj = {}
    for position, (key, value) in enumerate(pairs, start=1):
        if key in obj:
            why = (
                f"duplicate key in one object: field {position} repeats the name of an earlier "
                "field; write each key once"
            )
            raise _refuse(why, key=key if key in CONTRACT_KEYS else None)
        obj[key] = value
    return obj


def _no_constant(name: str) -> Any:
    raise _refuse(f"{name} is not a JSON number (NaN and Infinity are refused)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _refuse("a number too large to represent (it would read as Infinity)")
    return value


# json.loads with these hooks, made once (json.loads makes a decoder for every call)
_STRICT = json.JSONDecoder(
    object_pairs_hook=_no_duplicates, parse_constant=_no_constant, parse_float=_finite_float
)


def parse_line(raw: bytes | str, *, line: int | None = None) -> dict[str, Any]:
    """Strict JSON object from one import line: no duplicate keys, NaN or Infinity."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        if text.startswith("\ufeff"):  # as json.loads refuses it
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        obj = _STRICT.decode(text)
    except InvalidEvent as exc:
        raise (exc if line is None else exc.at_line(line)) from None
    except UnicodeDecodeError:
        raise InvalidEvent("the line is not valid UTF-8", line=line) from None
    except json.JSONDecodeError as exc:
        raise InvalidEvent(f"not valid JSON ({exc.msg} at column {exc.colno})", line=line) from None
    except RecursionError:
        raise InvalidEvent("not valid JSON here: nested too deeply", line=line) from None
    except ValueError:  # an integer of more digits than Python converts (4300 by default)
        raise InvalidEvent("a number with too many digits", line=line) from None
    if not isinstance(obj, dict):
        raise InvalidEvent(f"each line must be one JSON object, not {_json_type(obj)}", line=line)
    return obj


# -- direct identifiers ------------------------------------------------------------------------


def _no_direct_identifier(key: str, text: str) -> None:
    if key in FREE_TEXT:
        where, fix = "contains", "free text stays readable and must not carry personal data"
    else:
        where, fix = "looks like", "use a pseudonymous id such as cust-1042"
    checks = (("an email address", looks_like_email), ("a phone number", looks_like_phone))
    for kind, found in checks:
        if found(text):
            raise _refuse(f"{where} {kind}; {fix} (values belong in data)", key)


# -- values ------------------------------------------------------------------------------------


def _text(key: str, value: Any, limit: int) -> str:
    if not isinstance(value, str):
        raise _refuse(f"must be a string, not {_json_type(value)}", key)
    if not value.strip():
        raise _refuse("must not be empty", key)
    if len(value) > limit:
        raise _refuse(f"is longer than {limit} characters", key)
    if value.isascii() and value.isprintable():  # the usual case: nothing more to check
        return value
    if _CONTROL.search(value):
        raise _refuse("contains control characters (such as a tab or a line break)", key)
    if not _encodable(value):
        raise _refuse("is not valid Unicode (it holds an unpaired surrogate)", key)
    return value


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _identifier(key: str, value: Any, limit: int = MAX_ID) -> str:
    if type(value) is str:  # the same ids recur in nearly every event: checked once each
        return _checked_identifier(key, value, limit)
    return _check_identifier(key, value, limit)


@functools.lru_cache(maxsize=65536)
def _checked_identifier(key: str, value: str, limit: int) -> str:
    """An id that passed (a refusal raises, and is never remembered)."""
    return _check_identifier(key, value, limit)


def _check_identifier(key: str, value: Any, limit: int) -> str:
    text = _text(key, value, limit)
    if text != text.strip():
        raise _refuse("has spaces at the start or end (ids are compared exactly)", key)
    if not text.isascii() and any(unicodedata.category(c) == "Cf" for c in text):
        # invisible: two ids that look alike would differ, and an override reorders a table
        raise _refuse(
            "contains an invisible formatting character (such as a right-to-left override "
            "or a zero-width space)",
            key,
        )
    _no_direct_identifier(key, text)  # ids stay readable: none may be an email or phone
    return text


def _free_text(key: str, value: Any) -> None:
    text = _text(key, value, MAX_TEXT)
    if _BIDI_CONTROL.search(text):
        raise _refuse(
            "contains a bidirectional control character (it would reorder how the text, and "
            "what follows it, is shown)",
            key,
        )
    _no_direct_identifier(key, text)


def _identifiers(key: str, value: Any) -> list[str]:
    if not isinstance(value, list):
        raise _refuse(f"must be a list, not {_json_type(value)}", key)
    if not value:
        raise _refuse("must not be an empty list", key)
    if len(value) > MAX_LIST:
        raise _refuse(f"has more than {MAX_LIST} items", key)
    items = [_identifier(key, item) for item in value]
    if len(set(items)) != len(items):
        raise _refuse("lists the same item twice", key)
    return items


def parse_timestamp(text: Any, key: str = "at") -> datetime:
    """An RFC 3339 date-time with a UTC offset as an aware datetime; InvalidEvent naming *key*."""
    text = _text(key, text, 64)
    match = _RFC3339.fullmatch(text)
    if match is None:
        if _LOCAL_TIME.fullmatch(text):
            raise _refuse("timestamp has no UTC offset; write e.g. 2026-03-01T09:30:00Z", key)
        raise _refuse("is not an RFC 3339 timestamp; write e.g. 2026-03-01T09:30:00Z", key)
    year, month, day, hour, minute, second = map(int, match.group(1, 2, 3, 4, 5, 6))
    if not 1970 <= year <= 9999:
        raise _refuse("the year must be within 1970-9999", key)
    if second == 60:
        raise _refuse("leap seconds (:60) are not accepted; write :59", key)
    fraction, sign, hours, minutes = match.group(7, 8, 9, 10)
    zone = _UTC_ZONE  # Z, and +00:00, are the zone timezone(timedelta(0)) would make
    if sign:
        if int(hours) > 23 or int(minutes) > 59:
            raise _refuse("the UTC offset is out of range (at most 23:59 either way)", key)
        offset = timedelta(hours=int(hours), minutes=int(minutes)) * (-1 if sign == "-" else 1)
        zone = timezone(offset)
    micros = int(fraction[1:7].ljust(6, "0")) if fraction else 0
    try:
        moment = datetime(year, month, day, hour, minute, second, micros, zone)
    except ValueError:
        raise _refuse("is not a real date and time (check the day, hour and minute)", key) from None
    if year == 9999:  # only a time in the last year can pass the year 9999 in UTC
        try:
            moment.astimezone(UTC)
        except OverflowError:
            raise _refuse("is after the year 9999 in UTC", key) from None
    return moment


def _date(key: str, value: Any) -> date:
    match = _DATE.fullmatch(_text(key, value, 64))
    if match is None:
        raise _refuse("must be a date written YYYY-MM-DD, e.g. 2026-04-30", key)
    year, month, day = (int(g) for g in match.groups())
    if not 1970 <= year <= 9999:
        raise _refuse("the year must be within 1970-9999", key)
    try:
        return date(year, month, day)
    except ValueError:
        raise _refuse("is not a real date (check the day of the month)", key) from None


def _duration(key: str, value: Any) -> Duration:
    duration = parse_duration(_text(key, value, 64))
    if duration is None:
        raise _refuse(
            "must be an ISO 8601 duration such as P30D, P6Y, P1Y6M, P2W or PT12H "
            "(whole numbers, upper case, no sign)",
            key,
        )
    if not any(duration):
        raise _refuse("must be longer than zero (leave retention out for no fixed period)", key)
    return duration


def _country(key: str, value: Any) -> str:
    text = _text(key, value, 64)
    if text in COUNTRY_CODES:
        return text
    if text.upper() in COUNTRY_CODES:
        raise _refuse("country codes are written in upper case (e.g. GB, not gb)", key)
    raise _refuse(
        "is not an ISO 3166-1 alpha-2 country code such as GB, IE, DE or US "
        "(the United Kingdom is GB)",
        key,
    )


def check_identifier(key: str, value: Any) -> str:
    """An id as events admit one (no email address or phone number); InvalidEvent naming
    *key*. For the declaration (``ledger.declaration``), which shares the value rules."""
    return _identifier(key, value)


def check_country(key: str, value: Any) -> str:
    """An ISO 3166-1 alpha-2 code in upper case; InvalidEvent naming *key*."""
    return _country(key, value)


def check_duration(key: str, value: Any) -> Duration:
    """An ISO 8601 duration longer than zero; InvalidEvent naming *key*."""
    return _duration(key, value)


def _enum(key: str, value: Any) -> None:
    _text(key, value, 64)
    if value not in ENUMS[key]:
        raise _refuse("is not one of the accepted values", key, ENUMS[key])


def _estimate(key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        what = "records" if key == "records" else "subjects"
        raise _refuse(f"must be a whole number of {what}, not {_json_type(value)}", key)
    if not 0 <= value <= MAX_ESTIMATE:
        raise _refuse(f"must be between 0 and {MAX_ESTIMATE:,}", key)


def _json_value(category: str, value: Any, depth: int) -> None:
    """One value held in ``data``: any JSON, finite, 64-bit integers, bounded nesting."""
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise _refuse(f"the value of {category} holds an integer beyond 64 bits", "data")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _refuse(f"the value of {category} holds NaN or Infinity", "data")
    elif isinstance(value, str):
        if not _encodable(value):
            raise _refuse(f"the value of {category} is not valid Unicode", "data")
    elif isinstance(value, list | dict):
        if depth > MAX_DEPTH:
            raise _refuse(f"the value of {category} is nested deeper than {MAX_DEPTH}", "data")
        if isinstance(value, dict):
            for inner in value:
                if not isinstance(inner, str) or not _encodable(inner):
                    why = f"the value of {category} has an object key that is not text"
                    raise _refuse(why, "data")
            value = value.values()
        for item in value:
            _json_value(category, item, depth + 1)
    else:
        raise _refuse(f"the value of {category} is not JSON", "data")


def _check_data(value: Any, categories: list[str], vocabulary: Vocabulary) -> None:
    if not isinstance(value, dict):
        raise _refuse(f"must be an object keyed by category, not {_json_type(value)}", "data")
    if not value:
        raise _refuse("must not be empty (leave it out instead)", "data")
    known = vocabulary.keys("category")
    for position, category in enumerate(value, start=1):
        if category not in categories:
            name = f"'{category}'" if category in known else f"at position {position}"
            raise _refuse(
                f"the data key {name} is not one of the event's categories; each key of data "
                "is a category listed in categories",
                "data",
            )
    for category, item in value.items():
        _json_value(category, item, 1)
    try:
        size = len(orjson.dumps(value))
    except (TypeError, orjson.JSONEncodeError):
        raise _refuse("is not JSON", "data") from None
    if size > MAX_DATA_BYTES:
        raise _refuse(f"is larger than {MAX_DATA_BYTES:,} bytes when encoded", "data")


# -- events ------------------------------------------------------------------------------------


def validate(
    event: Mapping[str, Any],
    *,
    vocabulary: Vocabulary,
    line: int | None = None,
    ledger_own: bool = False,
) -> dict[str, Any]:
    """Check one event against the contract; a new dict of its keys and values, as given.

    *ledger_own*: the ledger's own record of a decrypting read, which names the ledger as
    its system (the actor is still the reader's, and never the ledger's own)."""
    try:
        return _validate(event, vocabulary, ledger_own)
    except InvalidEvent as exc:
        raise (exc if line is None else exc.at_line(line)) from None


def _validate(
    event: Mapping[str, Any], vocabulary: Vocabulary, ledger_own: bool = False
) -> dict[str, Any]:
    if not isinstance(event, Mapping):
        raise _refuse(f"an event must be a JSON object, not {_json_type(event)}")
    if not all(isinstance(key, str) for key in event):
        raise _refuse("event keys must be strings")
    exported = sorted(EXPORT_FIELDS & event.keys())
    if exported:
        raise _refuse(
            "this looks like a ledger export (it has the ledger's own fields), which cannot be "
            "imported; use `ledger copy` to move a ledger",
            exported[0],
        )
    kind = event.get("type")
    if kind is None:
        raise _refuse("is required", "type", tuple(sorted(SPEC)))
    if not isinstance(kind, str) or kind not in SPEC:
        closest = []
        if isinstance(kind, str):
            closest = difflib.get_close_matches(kind[:64], sorted(SPEC), n=3, cutoff=0.5)
        raise _refuse("is not an event type", "type", tuple(closest or sorted(SPEC)))
    required = SPEC[kind][0]
    order, known = _ORDER[kind]
    for position, key in enumerate(event, start=1):
        if key not in known:
            accepted = tuple(sorted({*COMMON_KEYS, *order}))
            if key in CONTRACT_KEYS:  # a key of another type: its name is the contract's own
                raise _refuse(f"is not a key of {kind} events", key, accepted)
            why = f"an unknown field (position {position}) is not a key of {kind} events"
            raise _refuse(why, None, accepted)
    for key in (*COMMON_KEYS[1:], *required):
        if key not in event:
            raise _refuse(f"is required on {kind} events", key)
    for key in order:
        if key in event:
            _RULES[key](key, event[key], vocabulary, kind)
    _check_reserved(event, system_allowed=ledger_own)
    _check_together(kind, event, vocabulary)
    return dict(event)


# Each type's keys in the order they are checked, and with type the set of its keys.
_ORDER: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    kind: (order, frozenset({"type", *order}))
    for kind, (required, optional) in SPEC.items()
    for order in [(*COMMON_KEYS[1:], "id", *required, *optional)]
}


# The ledger's own names: it records its events (``ledger.*``) as this actor, and the reads it
# decrypts as accesses through this system. Nobody else may use them, in any letter case.


def _check_reserved(event: Mapping[str, Any], *, system_allowed: bool = False) -> None:
    actor = event.get("actor")
    if isinstance(actor, str) and actor.casefold() == RESERVED_ACTOR:
        raise _refuse(f'"{RESERVED_ACTOR}" is the ledger\'s own actor: use your own', "actor")
    if system_allowed:
        return
    systems = [event.get("system"), *(event.get("systems") or [])]
    if any(isinstance(x, str) and x.casefold() == RESERVED_SYSTEM for x in systems):
        raise _refuse(
            f'"{RESERVED_SYSTEM}" is the ledger\'s own system (its decrypting reads): name '
            "your own system",
            "systems" if event.get("system") is None else "system",
        )


Rule = Callable[[str, Any, Vocabulary, str], object]


def _vocabulary_rule(kind: Kind) -> Rule:
    return lambda key, value, vocabulary, _: vocabulary.check(
        kind, _identifier(key, value), field=key
    )


def _categories(key: str, value: Any, vocabulary: Vocabulary, event_type: str) -> None:
    items = _identifiers(key, value)
    if "*" in items:
        if event_type != "erased":
            raise _refuse('"*" (everything held on the subject) is accepted only on erased', key)
        if len(items) > 1:
            raise _refuse('"*" (everything held on the subject) stands alone: ["*"]', key)
        return
    for item in items:
        vocabulary.check("category", item, field=key)


def _plain(check: Callable[[str, Any], object]) -> Rule:
    return lambda key, value, _vocabulary, _type: check(key, value)


_RULES: dict[str, Rule] = {
    **dict.fromkeys(
        ("actor", "subject", "recipient", "request", "breach", "system", "authority",
         "reference", "channel", "method", "notice", "complaint", "controller"),
        _plain(_identifier),
    ),
    "id": _plain(lambda key, value: _identifier(key, value, MAX_CLIENT_ID)),
    **dict.fromkeys(FREE_TEXT, _plain(_free_text)),
    **dict.fromkeys(
        ("at", "aware_at", "exposed_from", "contained_at"),
        _plain(lambda key, value: parse_timestamp(value, key)),
    ),
    **dict.fromkeys(ENUMS, _plain(_enum)),
    **dict.fromkeys(("location", "recipient_location"), _plain(_country)),
    "due": _plain(_date),
    "retention": _plain(_duration),
    "subjects_estimate": _plain(_estimate),
    "records": _plain(_estimate),
    "systems": _plain(_identifiers),
    "subjects": _plain(_identifiers),
    "categories": _categories,
    "purpose": _vocabulary_rule("purpose"),
    "subject_category": _vocabulary_rule("subject_category"),
    "data": _plain(lambda key, value: None),  # checked with its categories, below
}  # fmt: skip


def _check_together(kind: str, event: Mapping[str, Any], vocabulary: Vocabulary) -> None:
    """The rules that tie one key to another."""
    if "data" in event:
        _check_data(event["data"], event["categories"], vocabulary)
    if "retention" in event:
        _retention_ends(parse_timestamp(event["at"]), _duration("retention", event["retention"]))
    if (
        kind == "shared"
        and "transfer" not in event
        and transfer_needs_mechanism(event["recipient_location"])
    ):
        raise _refuse(
            "is required: the recipient is outside the UK and the EEA, in a country without "
            "UK adequacy regulations",
            "transfer",
            TRANSFER_MECHANISMS,
        )
    if kind == "request_closed" and "reason" not in event:
        if event["outcome"] == "refused":
            raise _refuse("is required when a request is refused", "reason")
        if event["outcome"] == "partially_fulfilled":
            why = "is required when a request is partially fulfilled (say what was not done)"
            raise _refuse(why, "reason")
    if (
        event.get("basis") == "recognised_legitimate_interest"
        and parse_timestamp(event["at"]) < RECOGNISED_LEGITIMATE_INTEREST_FROM
    ):
        raise _refuse(
            "recognised_legitimate_interest is a lawful basis only from 2026-02-05 (UK GDPR "
            "Art. 6(1)(ea), inserted by the Data (Use and Access) Act 2025); this event's at "
            "is earlier",
            "basis",
        )
    if kind == "collected":
        _check_role(event)
    if kind == "breach_detected" and "exposed_from" in event:
        aware = parse_timestamp(event.get("aware_at", event["at"]), "aware_at")
        exposed = parse_timestamp(event["exposed_from"], "exposed_from")
        if exposed > aware:
            why = "must not be after aware_at (or at, when aware_at is absent)"
            raise _refuse(why, "exposed_from")
        # a breach may be contained before anyone noticed it, but not before it began
        if "contained_at" in event and parse_timestamp(event["contained_at"]) < exposed:
            why = "must not be before exposed_from: a breach is contained after it began"
            raise _refuse(why, "contained_at")


def _check_role(event: Mapping[str, Any]) -> None:
    """A processor's collection names the controller it processes for; only a processor's."""
    role = event.get("role", "controller")
    if role == "processor" and "controller" not in event:
        why = "is required when role is processor: the organisation processed for (Art. 30(2))"
        raise _refuse(why, "controller")
    if role != "processor" and "controller" in event:
        why = 'is given only with role "processor" (the organisation processed for)'
        raise _refuse(why, "controller")


def _retention_ends(start: datetime, duration: Duration) -> None:
    """Refuse a retention running past year 9999, where no date can say when it ends."""
    try:
        add_duration(start, duration).astimezone(UTC)
    except (OverflowError, ValueError):  # a year beyond 9999, by months or by elapsed time
        raise _refuse("runs past the year 9999 from at", "retention") from None


MAX_FILTER = 512  # longer than any identifier or category key the contract admits


def filter_text(name: str, value: str | None) -> str | None:
    """A query's filter value, checked: text that a database can hold, of a sane length.
    LedgerError names the filter (never quoting the value: it could be personal data)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise LedgerError(f"the {name} filter must be text, not {type(value).__name__}")
    if len(value) > MAX_FILTER:
        raise LedgerError(f"the {name} filter is longer than {MAX_FILTER} characters")
    if not _encodable(value):
        raise LedgerError(f"the {name} filter is not valid UTF-8 text")
    return value
