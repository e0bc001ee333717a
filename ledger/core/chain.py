"""The hash chain: how one stored record is built, hashed and linked to its predecessor.

A record is the canonical JSON object below; its hash is SHA-256 over exactly
those bytes, and it names its predecessor's hash in ``prev``::

    {"data": {...}?, "event": {...}, "prev": "<hex>", "recorded_at": "<RFC 3339 UTC>",
     "seq": n, "shredded": [...]?, "uuid": "<event uuid>", "v": 1}

The first record's ``prev`` is 64 zeros. ``event`` holds the contract's keys
except ``data``; ``data`` holds one encrypted envelope per category.

Records are parsed with orjson; where it is not installed (the auditor's verifier, with only
``cryptography``), with the standard library's ``json``, held to exactly what orjson accepts
(``stdlib_loads``), so that a bundle verifies, or fails at the same place for the same
reason, with either.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import struct
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, NoReturn

from ledger.core.canonical import canonical, sha256

RECORD_VERSION = 1
GENESIS = bytes(32)
_RECORD_KEYS = frozenset({"v", "seq", "recorded_at", "prev", "uuid", "event", "data", "shredded"})


class Record(NamedTuple):
    """One stored record, parsed (a named tuple: built once per row when verifying)."""

    seq: int
    recorded_at: str
    prev: bytes
    uuid: str
    event: dict[str, Any]
    data: dict[str, dict[str, str]] | None
    shredded: list[str] | None

    @property
    def type(self) -> str:
        return str(self.event["type"])

    @property
    def subject(self) -> str | None:
        subject = self.event.get("subject")
        return subject if isinstance(subject, str) else None


def seal(
    *,
    seq: int,
    recorded_at: str,
    prev: bytes,
    uuid: str,
    event: dict[str, Any],
    data: dict[str, dict[str, str]] | None = None,
    shredded: list[str] | None = None,
) -> tuple[bytes, bytes]:
    """Canonical bytes of a record and their SHA-256 hash."""
    record: dict[str, Any] = {
        "v": RECORD_VERSION,
        "seq": seq,
        "recorded_at": recorded_at,
        "prev": prev.hex(),
        "uuid": uuid,
        "event": event,
    }
    if data:
        record["data"] = data
    if shredded is not None:
        record["shredded"] = shredded
    raw = canonical(record)
    return raw, sha256(raw)


# -- JSON as orjson reads it, from the standard library ------------------------------------------

_MAX_DEPTH = 1024  # orjson's: arrays and objects nested deeper are refused
_INTEGERS = (-(1 << 63), (1 << 64) - 1)  # orjson's: an integer outside them is read as a float
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[{\]}]', re.DOTALL)
_SURROGATE = re.compile("[\ud800-\udfff]")
_DEEP = threading.Lock()


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError("number is infinity when parsed as double")
    return value


def _integer(text: str) -> int | float:
    if len(text) <= 20:  # "-9223372036854775808", "18446744073709551615": no longer one fits
        value = int(text)
        if _INTEGERS[0] <= value <= _INTEGERS[1]:
            return value
    return _float(text)


_DECODER = json.JSONDecoder(parse_float=_float, parse_int=_integer, parse_constant=_no_constant)


def _check_depth(text: str) -> None:
    depth = 0
    for token in _TOKENS.finditer(text):  # a string is one token: its brackets do not count
        bracket = token.group()
        if bracket == "[" or bracket == "{":
            depth += 1
            if depth > _MAX_DEPTH:
                raise ValueError("depth limit exceeded")
        elif bracket == "]" or bracket == "}":
            depth -= 1


def _check_surrogates(text: str) -> None:
    """orjson refuses a ``\\u`` escape of half a surrogate pair, which ``json`` keeps: look at
    every string of the text, keys and values a later duplicate key replaced included."""
    for token in _TOKENS.finditer(text):
        string = token.group()
        if "\\u" in string and _SURROGATE.search(json.loads(string)):
            raise ValueError("a lone surrogate in a string")


def stdlib_loads(raw: bytes) -> Any:
    """*raw* parsed by the standard library, accepting exactly what ``orjson.loads`` accepts
    and giving the same value: strict UTF-8 without a byte order mark, no NaN or Infinity,
    no number beyond a double, integers beyond 64 bits as floats, no lone surrogate escape,
    at most 1,024 levels of nesting, the last of duplicate keys. ValueError otherwise."""
    text = raw.decode("utf-8")  # strict: invalid UTF-8 and encoded surrogates are refused
    if text.count("[") + text.count("{") > _MAX_DEPTH:
        _check_depth(text)
    try:
        value = _DECODER.decode(text)  # a leading BOM is refused here
    except RecursionError:  # deeper than this stack allows, though not deeper than orjson does
        with _DEEP:
            limit = sys.getrecursionlimit()
            sys.setrecursionlimit(limit + 2 * _MAX_DEPTH)
            try:
                value = _DECODER.decode(text)
            except RecursionError:
                raise ValueError("nested too deeply for this Python") from None
            finally:
                sys.setrecursionlimit(limit)
    if "\\u" in text:
        _check_surrogates(text)  # the text is valid JSON: every string token is one
    return value


loads: Callable[[bytes], Any]
"""Parse JSON bytes (orjson's reading, with orjson or without); ValueError if malformed."""
try:
    import orjson
except ModuleNotFoundError:  # the auditor's verifier, installed with only cryptography
    loads = stdlib_loads
else:
    loads = orjson.loads


def parse(raw: bytes) -> Record:
    """Parse stored record bytes; ValueError names what is malformed."""
    try:
        obj = loads(raw)
    except ValueError as exc:  # orjson.JSONDecodeError is one
        raise ValueError("record is not valid JSON") from exc
    if not isinstance(obj, dict):
        raise ValueError("record is not a JSON object")
    if not _RECORD_KEYS.issuperset(obj):
        unknown = obj.keys() - _RECORD_KEYS
        raise ValueError(f"record has unknown fields: {', '.join(sorted(unknown))}")
    if obj.get("v") != RECORD_VERSION:
        raise ValueError(f"record format version {obj.get('v')!r} is not {RECORD_VERSION}")
    try:
        seq = obj["seq"]
        prev = bytes.fromhex(obj["prev"])
        event = obj["event"]
        recorded_at = obj["recorded_at"]
        uuid = obj["uuid"]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"record field missing or malformed: {exc}") from exc
    if not isinstance(seq, int) or isinstance(seq, bool) or len(prev) != 32:
        raise ValueError("record sequence or predecessor hash is malformed")
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise ValueError("record event is malformed")
    if not isinstance(recorded_at, str) or not isinstance(uuid, str):
        raise ValueError("record time or uuid is malformed")
    return Record(seq, recorded_at, prev, uuid, event, obj.get("data"), obj.get("shredded"))


def row_seal_message(ledger_id: str, seq: int, digest: bytes) -> bytes:
    """What a row's MAC covers: ledger id, sequence (8 bytes, big-endian) and record hash."""
    return b"ledger-row/v1\x00" + ledger_id.encode() + b"\x00" + seq.to_bytes(8, "big") + digest


def head_seal_message(
    ledger_id: str,
    seq: int,
    digest: bytes,
    *,
    key_epoch: int,
    keymap: bytes,
    vocabulary: str | None,
) -> bytes:
    """What the head's MAC covers: everything a writer trusts before it writes. The ledger's
    size (8 bytes, big-endian) and newest hash, the key epoch (8 bytes, big-endian), the
    digest of the key-encryption key map, then the vocabulary digest as UTF-8 text (empty
    before the first event)."""
    return (
        b"ledger-head/v2\x00"
        + ledger_id.encode()
        + b"\x00"
        + seq.to_bytes(8, "big")
        + digest
        + key_epoch.to_bytes(8, "big")
        + keymap
        + (vocabulary or "").encode("utf-8", "surrogatepass")
    )


def keymap_digest(generations: Mapping[int, int]) -> bytes:
    """SHA-256 over the current generation of every bucket, in bucket order: what the head's
    seal covers so that nobody without the keys can point a writer at another key."""
    buckets = sorted(generations)
    flat = [number for bucket in buckets for number in (bucket, generations[bucket])]
    return hashlib.sha256(b"ledger-keymap/v1\x00" + struct.pack(f">{len(flat)}I", *flat)).digest()
