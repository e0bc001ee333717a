"""The event contract: strict parsing of import lines and validation of every event.

One table (:data:`SPEC`) says which keys each type requires and allows; one
checker per key says what its value must be. Refusals are :class:`InvalidEvent`
naming the key and the rule, never the value: it may be personal data.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any

from ledger.countries import country_codes, transfer_needs_mechanism
from ledger.errors import InvalidEvent
from ledger.vocabulary import Kind, Vocabulary

_SUBJECT = frozenset({"subject"})
SPEC: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    # type: (required keys besides type/at/actor, optional keys besides id)
    "collected": (
        _SUBJECT | {"categories", "purpose", "basis", "source", "system", "location"},
        frozenset({"retention", "subject_category", "data"}),
    ),
    "accessed": (_SUBJECT | {"categories", "purpose", "system"}, frozenset()),
    "shared": (
        _SUBJECT | {"categories", "purpose", "basis", "recipient", "recipient_location"},
        frozenset({"transfer"}),
    ),
    "rectified": (_SUBJECT | {"categories", "system"}, frozenset({"data"})),
    "erased": (_SUBJECT | {"categories", "reason"}, frozenset({"system"})),
    "consent_given": (_SUBJECT | {"purpose", "method", "notice"}, frozenset()),
    "consent_withdrawn": (_SUBJECT | {"purpose", "method"}, frozenset()),
    "objected": (_SUBJECT | {"purpose"}, frozenset()),
    "request_received": (_SUBJECT | {"request", "kind"}, frozenset()),
    "request_extended": (_SUBJECT | {"request", "reason", "due"}, frozenset()),
    "request_closed": (_SUBJECT | {"request", "outcome"}, frozenset({"reason"})),
    "breach_detected": (
        frozenset({"breach", "description", "systems", "categories"}),
        frozenset({"aware_at", "exposed_from"}),
    ),
    "breach_assessed": (frozenset({"breach", "risk", "subjects_estimate"}), frozenset()),
    "breach_reported": (
        frozenset({"breach", "authority", "reference", "phase"}),
        frozenset({"delay_reason"}),
    ),
    "subjects_notified": (frozenset({"breach", "subjects", "channel"}), frozenset()),
    "breach_closed": (frozenset({"breach", "summary"}), frozenset()),
}
EVENT_TYPES = frozenset(SPEC)
SUBJECT_TYPES = frozenset(
    {"collected", "accessed", "shared", "rectified", "erased", "consent_given",
     "consent_withdrawn", "objected"}
)  # fmt: skip
REQUEST_TYPES = frozenset({"request_received", "request_extended", "request_closed"})
BREACH_TYPES = EVENT_TYPES - SUBJECT_TYPES - REQUEST_TYPES
COMMON_REQUIRED = ("type", "at", "actor")
EXPORT_FIELDS = frozenset(
    {"sequence", "recorded_at", "hash", "prev_hash", "uuid", "shredded", "data_erased"}
)

ENUMS: dict[str, tuple[str, ...]] = {
    "basis": ("consent", "contract", "legal_obligation", "vital_interests", "public_task",
              "legitimate_interests"),
    "transfer": ("adequacy", "dpf", "sccs", "idta", "bcr", "derogation"),
    "kind": ("access", "erasure", "rectification", "restriction", "objection", "portability"),
    "outcome": ("fulfilled", "refused"),
    "risk": ("unlikely", "risk", "high"),
    "phase": ("initial", "follow_up", "final"),
}  # fmt: skip
IDENTIFIERS = frozenset(
    {"actor", "subject", "recipient", "id", "request", "breach", "system", "authority",
     "reference", "channel", "method", "notice"}
)  # fmt: skip
DIRECT_ID_CHECKED = frozenset({"actor", "subject", "recipient"})
FREE_TEXT = frozenset({"description", "reason", "summary", "delay_reason", "source"})
TIMESTAMPS = frozenset({"at", "aware_at", "exposed_from"})

MAX_ID = 256
MAX_CLIENT_ID = 128
MAX_TEXT = 4096
MAX_LIST = 10_000
MAX_DATA_BYTES = 1 << 20
MAX_DEPTH = 32

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)
_NO_OFFSET = re.compile(r"\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?")
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_DURATION = re.compile(
    r"P(?:(\d{1,6})Y)?(?:(\d{1,6})M)?(?:(\d{1,6})W)?(?:(\d{1,6})D)?"
    r"(?:T(?:(\d{1,6})H)?(?:(\d{1,6})M)?(?:(\d{1,6})S)?)?"
)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# A phone number: international (+), national (leading 0) or North American (NNN) NNN-NNNN,
# with digits in groups; an id like INC-2026-0042 or a date never starts that way.
_PHONE_IN_TEXT = re.compile(
    r"(?<![\w+])(?:\+\s?\(?\d|\(?0\d)[\d\s().-]{6,22}\d(?!\w)"
    r"|(?<!\w)\(\d{3}\)\s?\d{3}[-.\s]\d{4}(?!\w)"
)
_PHONE_WHOLE = re.compile(r"\+?[\d\s().-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _refuse(why: str, key: str | None = None, accepted: tuple[str, ...] = ()) -> InvalidEvent:
    return InvalidEvent(why, key=key, accepted=accepted)


# -- parsing -----------------------------------------------------------------------------------


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _refuse("duplicate key in one object", key=key)
        obj[key] = value
    return obj


def _no_constant(name: str) -> Any:
    raise _refuse(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _refuse("a number too large to represent")
    return value


def parse_line(raw: bytes | str, *, line: int | None = None) -> dict[str, Any]:
    """Strict JSON object from one import line: no duplicate keys, NaN or Infinity."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise InvalidEvent("the line is not valid UTF-8", line=line) from None
    try:
        obj = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constant,
            parse_float=_finite_float,
        )
    except InvalidEvent as exc:
        raise exc.at_line(line) if line is not None else exc from None
    except json.JSONDecodeError as exc:
        raise InvalidEvent(f"not valid JSON ({exc.msg} at column {exc.colno})", line=line) from None
    except RecursionError:
        raise InvalidEvent("JSON nested too deeply", line=line) from None
    if not isinstance(obj, dict):
        raise InvalidEvent("each line must be one JSON object", line=line)
    return obj


# -- values ------------------------------------------------------------------------------------


def _string(key: str, value: Any, limit: int, *, text: bool = False) -> str:
    if not isinstance(value, str):
        raise _refuse(f"must be a string, not {_json_type(value)}", key)
    if not value.strip():
        raise _refuse("must not be empty", key)
    if len(value) > limit:
        raise _refuse(f"is longer than {limit} characters", key)
    if (_CONTROL_IN_TEXT if text else _CONTROL).search(value):
        raise _refuse("contains control characters", key)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _refuse("contains an unpaired surrogate (not valid Unicode)", key) from None
    return value


def _json_type(value: Any) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string",
             list: "a list", dict: "an object", type(None): "null"}  # fmt: skip
    return names.get(type(value), type(value).__name__)


def looks_like_email(text: str) -> bool:
    return _EMAIL.search(text) is not None


def looks_like_phone(text: str, *, whole: bool = False) -> bool:
    """A phone number in *text*; with *whole*, also any value made only of 9-15 digits."""
    if whole and _PHONE_WHOLE.fullmatch(text.strip()):
        digits = sum(c.isdigit() for c in text)
        if 9 <= digits <= 15:
            return True
    for match in _PHONE_IN_TEXT.finditer(text):
        digits = sum(c.isdigit() for c in match.group())
        if 9 <= digits <= 15:
            return True
    return False


def _no_direct_identifier(key: str, value: str, *, whole: bool) -> None:
    if looks_like_email(value):
        raise _refuse(
            "looks like an email address: identifiers and free text must not be direct "
            "identifiers; use a pseudonymous id such as cust-1042, and put values in data",
            key,
        )
    if looks_like_phone(value, whole=whole):
        raise _refuse(
            "looks like a phone number: identifiers and free text must not be direct "
            "identifiers; use a pseudonymous id such as cust-1042, and put values in data",
            key,
        )


def _timestamp(key: str, value: Any) -> datetime:
    text = _string(key, value, 64)
    match = _RFC3339.fullmatch(text)
    if match is None:
        if _NO_OFFSET.fullmatch(text):
            raise _refuse(
                "timestamp has no UTC offset; write e.g. 2026-03-01T09:30:00Z "
                "or 2026-03-01T10:30:00+01:00",
                key,
            )
        raise _refuse("is not an RFC 3339 timestamp such as 2026-03-01T09:30:00Z", key)
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    if not 1970 <= year <= 9999:
        raise _refuse("year is outside 1970-9999", key)
    if second == 60:
        raise _refuse("leap seconds (:60) are not accepted; use :59", key)
    offset = timedelta(0)
    if match.group(9):
        off_h, off_m = int(match.group(10)), int(match.group(11))
        if off_h > 23 or off_m > 59:
            raise _refuse("the UTC offset is out of range", key)
        offset = timedelta(hours=off_h, minutes=off_m)
        if match.group(9) == "-":
            offset = -offset
    fraction = match.group(7) or ""
    micros = int((fraction[1:] + "000000")[:6]) if fraction else 0
    try:
        return datetime(year, month, day, hour, minute, second, micros, timezone(offset))
    except ValueError:
        raise _refuse("is not a real date and time", key) from None


def parse_timestamp(text: str, key: str = "at") -> datetime:
    """An RFC 3339 timestamp (with offset) as an aware datetime; InvalidEvent if it is not one."""
    return _timestamp(key, text)


def _date(key: str, value: Any) -> date:
    text = _string(key, value, 10)
    match = _DATE.fullmatch(text)
    if match is None:
        raise _refuse("must be a date YYYY-MM-DD", key)
    try:
        return date(*(int(g) for g in match.groups()))
    except ValueError:
        raise _refuse("is not a real date", key) from None


def _duration(key: str, value: Any) -> None:
    text = _string(key, value, 64)
    match = _DURATION.fullmatch(text)
    if match is None or text in ("P", "PT") or text.endswith("T"):
        raise _refuse("must be an ISO 8601 duration such as P30D, P6Y or P1Y6M", key)
    if not any(int(g) for g in match.groups() if g):
        raise _refuse("must be a duration longer than zero", key)


def _country(key: str, value: Any) -> str:
    text = _string(key, value, 2)
    if text.upper() in country_codes() and text != text.upper():
        raise _refuse(f"country codes are upper case: write {text.upper()}", key)
    if text not in country_codes():
        raise _refuse("is not an ISO 3166-1 alpha-2 country code such as GB, IE, DE or US", key)
    return text


def _list(key: str, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise _refuse(f"must be a list, not {_json_type(value)}", key)
    if not value:
        raise _refuse("must not be an empty list", key)
    if len(value) > MAX_LIST:
        raise _refuse(f"has more than {MAX_LIST} items", key)
    return value


def _string_list(key: str, value: Any, limit: int) -> list[str]:
    items = [_string(key, item, limit) for item in _list(key, value)]
    if len(set(items)) != len(items):
        raise _refuse("lists the same item twice", key)
    return items


def _data_value(category: str, value: Any, depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise _refuse(f"value of {category} is nested deeper than {MAX_DEPTH}", "data")
    if value is None or isinstance(value, bool | str):
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise _refuse(f"value of {category} is not valid Unicode", "data") from None
        return
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise _refuse(f"value of {category} holds an integer beyond 64 bits", "data")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _refuse(f"value of {category} holds NaN or Infinity", "data")
        return
    if isinstance(value, list):
        for item in value:
            _data_value(category, item, depth + 1)
        return
    if isinstance(value, dict):
        for inner_key, item in value.items():
            if not isinstance(inner_key, str):
                raise _refuse(f"value of {category} has an object key that is not text", "data")
            _data_value(category, inner_key, depth + 1)
            _data_value(category, item, depth + 1)
        return
    raise _refuse(f"value of {category} is not JSON ({type(value).__name__})", "data")


# -- events ------------------------------------------------------------------------------------


def validate(
    event: Mapping[str, Any], *, vocabulary: Vocabulary, line: int | None = None
) -> dict[str, Any]:
    """Check one event against the contract; returns a plain copy of it, unchanged."""
    try:
        return _validate(event, vocabulary)
    except InvalidEvent as exc:
        raise exc.at_line(line) if line is not None else exc from None


def _validate(event: Mapping[str, Any], vocabulary: Vocabulary) -> dict[str, Any]:
    if not isinstance(event, Mapping):
        raise _refuse("an event must be a JSON object")
    export_keys = sorted(EXPORT_FIELDS & set(event))
    if export_keys:
        raise _refuse(
            "this looks like a ledger export, which cannot be imported "
            "(use `ledger copy` to move a ledger)",
            export_keys[0],
        )
    for key in event:
        if not isinstance(key, str):
            raise _refuse("event keys must be text")
    kind = event.get("type")
    if kind is None:
        raise _refuse("is required", "type")
    if not isinstance(kind, str) or kind not in SPEC:
        closest = _closest(kind if isinstance(kind, str) else "", sorted(SPEC))
        raise _refuse("is not an event type", "type", closest)
    required, optional = SPEC[kind]
    allowed = set(COMMON_REQUIRED) | {"id"} | required | optional
    for key in event:
        if key not in allowed:
            raise _refuse(f"is not a key of {kind} events", key, tuple(sorted(allowed)))
    for key in (*COMMON_REQUIRED, *sorted(required)):
        if key not in event:
            raise _refuse(f"is required on {kind} events", key)
    for key, value in event.items():
        _check_key(key, value, vocabulary, kind)
    _check_rules(kind, event)
    return dict(event)


def _closest(word: str, choices: list[str]) -> tuple[str, ...]:
    import difflib

    return tuple(difflib.get_close_matches(word, choices, n=3, cutoff=0.5) or choices)


_VOCABULARY_KEYS: dict[str, Kind] = {"purpose": "purpose", "subject_category": "subject_category"}


def _check_key(key: str, value: Any, vocabulary: Vocabulary, kind: str) -> None:
    checker = _CHECKERS.get(key)
    if checker is not None:
        checker(key, value)
    elif key in IDENTIFIERS:
        _string(key, value, MAX_CLIENT_ID if key == "id" else MAX_ID)
        if key in DIRECT_ID_CHECKED:
            _no_direct_identifier(key, value, whole=True)
    elif key in FREE_TEXT:
        _string(key, value, MAX_TEXT, text=True)
        _no_direct_identifier(key, value, whole=False)
    elif key in ENUMS:
        if value not in ENUMS[key]:
            raise _refuse("is not one of the accepted values", key, ENUMS[key])
    elif key in _VOCABULARY_KEYS:
        vocabulary.check(_VOCABULARY_KEYS[key], _string(key, value, MAX_ID), field=key)
    elif key == "categories":
        if kind == "erased" and value == ["*"]:
            return
        for category in _string_list(key, value, MAX_ID):
            if category == "*":
                raise _refuse('"*" (everything) stands alone, and only on erased events', key)
            vocabulary.check("category", category, field=key)
    elif key == "systems":
        _string_list(key, value, MAX_ID)
    elif key == "subjects":
        for subject in _string_list(key, value, MAX_ID):
            _no_direct_identifier(key, subject, whole=True)
    elif key == "subjects_estimate":
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 10**12:
            raise _refuse("must be a whole number of subjects, 0 or more", key)
    elif key == "data":
        _check_data(value)
    elif key == "type":
        pass
    else:  # every key in SPEC has a rule above; this guards the table against drift
        raise _refuse("has no rule in the contract", key)


_CHECKERS: dict[str, Callable[[str, Any], Any]] = {
    **dict.fromkeys(TIMESTAMPS, _timestamp),
    "due": _date,
    "retention": _duration,
    "location": _country,
    "recipient_location": _country,
}


def _check_data(value: Any) -> None:
    if not isinstance(value, dict):
        raise _refuse(f"must be an object keyed by category, not {_json_type(value)}", "data")
    if not value:
        raise _refuse("must not be empty (leave it out instead)", "data")
    for category, item in value.items():
        _data_value(str(category), item)
    import orjson

    try:
        size = len(orjson.dumps(value))
    except (TypeError, orjson.JSONEncodeError):
        raise _refuse("is not JSON", "data") from None
    if size > MAX_DATA_BYTES:
        raise _refuse(f"is larger than {MAX_DATA_BYTES} bytes", "data")


def _check_rules(kind: str, event: Mapping[str, Any]) -> None:
    if "data" in event:
        categories = event["categories"]
        for category in event["data"]:
            if category not in categories:
                raise _refuse(
                    f"data holds a category ({category}) that is not in the event's categories",
                    "data",
                )
    if (
        kind == "shared"
        and "transfer" not in event
        and transfer_needs_mechanism(event["recipient_location"])
    ):
        raise _refuse(
            "is required: the recipient is outside the UK and EEA, in a country without a "
            "UK adequacy decision",
            "transfer",
            ENUMS["transfer"],
        )
    if kind == "request_closed" and event["outcome"] == "refused" and "reason" not in event:
        raise _refuse("is required when a request is refused", "reason")
    if kind == "breach_detected" and "exposed_from" in event:
        aware = _timestamp("aware_at", event.get("aware_at", event["at"]))
        if _timestamp("exposed_from", event["exposed_from"]) > aware:
            raise _refuse("must not be after aware_at (or at)", "exposed_from")
