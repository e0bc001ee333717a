"""The standard library's JSON, as the verifier reads records without orjson, agrees with orjson:
the same value for what orjson accepts, a ValueError for everything it refuses."""

from __future__ import annotations

import json
import struct
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ledger.core import chain


def _same(a: Any, b: Any) -> bool:
    """Equal, and of the same types, dict keys in the same order, -0.0 apart from 0.0 (without
    recursion: the values may be nested 1,024 deep)."""
    pairs = [(a, b)]
    while pairs:
        x, y = pairs.pop()
        if type(x) is not type(y):
            return False
        if isinstance(x, dict):
            if list(x) != list(y):
                return False
            pairs.extend((x[k], y[k]) for k in x)
        elif isinstance(x, list):
            if len(x) != len(y):
                return False
            pairs.extend(zip(x, y, strict=True))
        elif isinstance(x, float):
            if struct.pack("<d", x) != struct.pack("<d", y):
                return False
        elif x != y:
            return False
    return True


def _outcome(loads: Any, raw: bytes) -> tuple[str, Any]:
    try:
        return "accepted", loads(raw)
    except ValueError:  # orjson.JSONDecodeError and UnicodeDecodeError are ValueErrors
        return "refused", None


def _agree(raw: bytes) -> None:
    ours, theirs = _outcome(chain.stdlib_loads, raw), _outcome(orjson.loads, raw)
    assert ours[0] == theirs[0], (raw[:200], ours[0], theirs[0])
    assert _same(ours[1], theirs[1]), raw[:200]


def _nested(depth: int, opener: str, closer: str, inner: str = "1") -> bytes:
    return (opener * depth + inner + closer * depth).encode()


HOSTILE = [
    b"NaN", b"[NaN]", b"Infinity", b"-Infinity", b'{"seq": NaN}', b"nan", b"inf",
    b"1e400", b"-1e400", b"1.7976931348623159e308", b"1e-400", b"-0", b"-0.0", b"0e0",
    b"18446744073709551615", b"18446744073709551616", b"-9223372036854775808",
    b"-9223372036854775809", b"9223372036854775808", b"99999999999999999999",
    b"1" * 21, b"1" * 308, b"1" * 309, b"1" * 5000, b"-" + b"1" * 5000, b"0." + b"1" * 400,
    b'"\\ud800"', b'"\\udc00"', b'"\\ud83d"', b'"\\ud83d\\ude00"', b'"\\uD83D\\uDE00"',
    b'"\\ud800\\u0041"', b'{"\\ud800": 1}', b'["\\ud800\\ud800"]', b'"\\\\ud800"',
    b'"\xed\xa0\x80"', b'"\xed\xb0\x80"', b'"\xff"', b'"\xc0\x80"', b'"\xf4\x90\x80\x80"',
    b'"\xf0\x9f\x98\x80"', b'"\xe2\x80\xa8"', b"\xef\xbb\xbf{}", b" \xef\xbb\xbf{}",
    b'"\x01"', b'"\x1f"', b'"\x7f"', b'"\\u0000"', b"{}\x00", b"\x00", b"", b" ", b"\x0c{}",
    b"\xc2\xa0[]", b" {} ", b"\t[]\r\n", b"[1,]", b'{"a":1,}', b"[1 , 2]", b"01", b"1.",
    b".5", b"+1", b"[-]", b"-", b"[1e]", b"1E+5", b"True", b"nul", b"[1,2", b'"\\x"',
    b'"\\u12"', b'"\\/"', b'{"a":1,"b":2,"a":3}', b'{"a":1,"a":{"b":2}}',
    b'{"seq": 1, "seq": "1"}', b'"\\u0661"', "[\u0661]".encode(), b"[\xd9\xa1]",
    b"1\xef\xbc\x90",
    _nested(1024, "[", "]", ""), _nested(1025, "[", "]", ""),
    _nested(1024, '{"a":', "}"), _nested(1025, '{"a":', "}"),
    _nested(512, '[{"a":', "}]"), _nested(513, '[{"a":', "}]"),
    b'["' + b"[" * 2000 + b'"]', b'["' + b"{" * 2000 + b'", ' + _nested(1024, "[", "]") + b"]",
    _nested(1200, "[", "]")[:-5], _nested(1100, "[", "]", '"\\"]"'),
]  # fmt: skip


@pytest.mark.parametrize("raw", HOSTILE, ids=lambda raw: repr(raw[:24]))
def test_both_loaders_agree_on_hostile_input(raw: bytes) -> None:
    _agree(raw)


def test_the_standard_library_refuses_what_orjson_refuses_for_the_documented_reasons() -> None:
    for raw in (b"[NaN]", b"1e400", b'"\\ud800"', b'"\xed\xa0\x80"', b"\xef\xbb\xbf{}"):
        with pytest.raises(ValueError):
            chain.stdlib_loads(raw)
    big = chain.stdlib_loads(b"[18446744073709551615, 18446744073709551616]")
    assert big == [(1 << 64) - 1, float(1 << 64)] and type(big[1]) is float
    assert chain.stdlib_loads(b'{"a":1,"b":2,"a":3}') == {"a": 3, "b": 2}
    assert chain.stdlib_loads(_nested(1024, "[", "]", "")) is not None


# -- generated JSON texts, then mutated ----------------------------------------------------------

_strings = st.text(st.characters(exclude_categories=()), max_size=12)  # surrogates included
_number_texts = st.from_regex(
    r"-?(0|[1-9][0-9]{0,24})(\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?", fullmatch=True
)
_scalars = st.one_of(
    st.none().map(json.dumps),
    st.booleans().map(json.dumps),
    st.integers(min_value=-(1 << 70), max_value=1 << 70).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    _number_texts,
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", '"\\ud800"', '"\\udc00\\ud800"']),
    st.tuples(_strings, st.booleans()).map(lambda s: json.dumps(s[0], ensure_ascii=s[1])),
)
_keys = st.one_of(
    st.sampled_from(['"seq"', '"prev"', '"event"', '"a"']),  # duplicates likely
    _strings.map(json.dumps),
)
_space = st.sampled_from(["", "", " ", "\n", "\t", "\r\n", "\x0c", "\u00a0", "\ufeff"])
_texts = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(st.tuples(_space, inner), max_size=5).map(
            lambda items: "[" + ",".join(s + v for s, v in items) + "]"
        ),
        st.lists(st.tuples(_keys, _space, inner), max_size=5).map(
            lambda items: "{" + ",".join(f"{k}{s}:{v}" for k, s, v in items) + "}"
        ),
    ),
    max_leaves=20,
)
_json_bytes = st.tuples(_space, _texts, _space).map(
    lambda parts: "".join(parts).encode("utf-8", "surrogatepass")  # raw surrogates: bad UTF-8
)
_hostile_bytes = st.sampled_from(
    [b"\x00", b"\xff", b"\xed\xa0\x80", b"\xef\xbb\xbf", b'"', b"\\", b"\\u", b"\\ud800", b",",
     b"]", b"}", b"[", b"{", b":", b"-", b"e", b".", b"0", b"9" * 25, b"\x1f", b" "]
)  # fmt: skip


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_json_bytes)
@example(b'{"a":1,"a":2}')
def test_both_loaders_agree_on_generated_json(raw: bytes) -> None:
    _agree(raw)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_json_bytes, st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 2), _hostile_bytes),
                             min_size=1, max_size=4))  # fmt: skip
def test_both_loaders_agree_on_mutated_json(
    raw: bytes, edits: list[tuple[int, int, bytes]]
) -> None:
    changed = bytearray(raw)
    for position, kind, piece in edits:
        at = position % (len(changed) + 1)
        if kind == 0:
            changed[at:at] = piece  # insert
        elif kind == 1:
            changed[at : at + len(piece)] = piece  # overwrite
        else:
            del changed[at : at + len(piece)]  # delete
    _agree(bytes(changed))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_both_loaders_agree_on_arbitrary_bytes(raw: bytes) -> None:
    _agree(raw)


def test_records_parse_alike_with_either_loader() -> None:
    record, _ = chain.seal(
        seq=7, recorded_at="2026-03-02T09:15:00.000000Z", prev=bytes(32), uuid="u-7",
        event={"type": "collected", "subject": "cust-1042", "categories": ["user.name"]},
    )  # fmt: skip
    assert _same(chain.stdlib_loads(record), orjson.loads(record))
    assert chain.parse(record).seq == 7
