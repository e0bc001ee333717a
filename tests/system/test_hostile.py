"""Hostile input: the event contract fuzzed through the API, `ledger import` and the CLI options.

Every case must end in a clear refusal (a ``LedgerError`` naming the key or line; on the command
line exit 1 or 2, one ``error:`` line, no traceback) or a correct record (which verifies and
reads back as sent). A refusal writes nothing and never quotes a personal data value.

What ``test_contract`` and ``test_properties`` already cover (``validate``/``parse_line`` alone,
valid sequences) is not repeated: here the input goes through the whole stack, a store behind it.
The number of fuzz cases tried is counted (hypothesis examples + explicit cases): printed at the
end of the module (``-s``) and, when ``LEDGER_HOSTILE_COUNT`` names a file, appended to it.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import fresh_store, postgres_server

from ledger import Ledger
from ledger.cli.main import cli as ledger_cli
from ledger.config import Config, load_config
from ledger.core import chain
from ledger.core.contract import SPEC
from ledger.demo.story import CONFIG_TOML, events
from ledger.errors import InvalidEvent, LedgerError
from ledger.importer import import_lines
from ledger.sealing import Receipt

MARKER = "marker-7f3a@example.com"
MARKER_TOKEN = "7f3a"  # no part of the marker may leak either
READER = {"actor": "staff:auditor", "purpose": "essential.legal_obligation"}

# -- counting ----------------------------------------------------------------------------------

CASES: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def _report_cases() -> Iterator[None]:
    yield
    total = sum(CASES.values())
    detail = ", ".join(f"{name} {n}" for name, n in sorted(CASES.items()))
    line = f"hostile fuzz cases tried: {total} ({detail})"
    print("\n" + line)
    target = os.environ.get("LEDGER_HOSTILE_COUNT")
    if target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}\t{total}\t{detail}\n")


def fuzz(
    name: str, strategy: st.SearchStrategy[Any], body: Callable[[Any], None], examples: int
) -> None:
    """Run *body* on *examples* hypothesis examples, counting each one tried."""

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def run(value: Any) -> None:
        CASES[name] += 1
        body(value)

    run()


# -- the events --------------------------------------------------------------------------------


def _one_of_each() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for event in events():
        found.setdefault(event["type"], event)
    assert set(found) == set(SPEC)
    return found


EXAMPLES = _one_of_each()
TYPES = sorted(EXAMPLES)
# Without their ids, so that the same example drawn twice is recorded twice.
PLAIN = [{k: v for k, v in e.items() if k != "id"} for e in EXAMPLES.values()]
COLLECTED = EXAMPLES["collected"]


def _deep(levels: int) -> list[Any]:
    top: list[Any] = []
    cur = top
    for _ in range(levels):
        nxt: list[Any] = []
        cur.append(nxt)
        cur = nxt
    return top


class _Weird:
    def __repr__(self) -> str:
        return MARKER


class Lazy:
    """A huge value, made when drawn (hypothesis prints strategies: a short name here)."""

    def __init__(self, label: str, make: Callable[[], Any]) -> None:
        self.label, self.make = label, make

    def __repr__(self) -> str:
        return self.label


def real(value: Any) -> Any:
    return value.make() if isinstance(value, Lazy) else value


MEGABYTE = "x" * (1 << 20)
MILLION = Lazy("[0] * 10**6", lambda: [0] * 1_000_000)
DEEP = Lazy("[[[...]]] 10,000 deep", lambda: _deep(10_000))
HUGE = Lazy("'x' * 2**20", lambda: MEGABYTE)
# Unicode edge cases: lone surrogates, NUL, RTL override, non-NFC, BOM, zero width, noncharacter.
UNICODE = ["\ud800", "\udfff", "a\udc80b", "\x00", "a\x00b", "\u202ecust-1", "cust-\u202e1",
           "e\u0301", "\u00e9", "\ufeffcust-1", "cust\u200b-1", "\uffff", "\U0010ffff", "\u2028",
           "\x85", "\x7f", " ", "", "\t", "cust 1", " cust-1"]  # fmt: skip
TIMES = ["0000-01-01T00:00:00Z", "10000-01-01T00:00:00Z", "2026-03-01T24:00:00Z",
         "2026-12-31T23:59:60Z", "2026-03-01T09:30:00+25:00", "2026-03-01T09:30:00+23:60",
         "2026-03-01T09:30:00", "2026-03-01", "09:30:00Z", "2026-03-01T09:30Z",
         "2026-02-30T00:00:00Z", "2026-3-1T9:30:00Z", "1969-12-31T23:59:59Z",
         "9999-12-31T23:59:59-00:01", "2026-03-01T09:30:00.Z", "2026-03-01T09:30:00,5Z",
         "2026-03-01T09:30:00+0100", "2026-03-01T09:30:00 Z", "Sun, 01 Mar 2026 09:30:00 GMT",
         "\u0662\u0660\u0662\u0666-\u0660\u0663-\u0660\u0661T09:30:00Z",
         "2026-03-01T09:30:00Z\n", "1772357400", "now"]  # fmt: skip
ODD: list[Any] = [
    None, True, False, 0, -1, 2**63, -(2**63) - 1, 10**400, 1.5, -0.0, float("nan"),
    float("inf"), float("-inf"), 1e308, "", [], {}, [None], {"": None}, {1: 2}, {("a",): 1},
    {"a"}, b"bytes", bytearray(b"x"), ("tuple",), Decimal("1.1"), object(), _Weird(), HUGE,
    MILLION, DEEP, datetime(2026, 3, 1, 9, 30), datetime(1, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5))),
    datetime(2026, 3, 1, tzinfo=timezone(timedelta(hours=1, seconds=7))), date(2026, 3, 1),
    1772357400, 1772357400.5, *UNICODE, *TIMES, MARKER, [MARKER], {"user.name": MARKER},
]  # fmt: skip

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=8,
)  # fmt: skip
hostile = st.sampled_from(ODD).map(real) | json_values | st.text()
every_key = sorted({k for r, o in SPEC.values() for k in (*r, *o)} | {"type", "at", "actor", "id"})
key_names = st.sampled_from([*every_key, "sequence", "hash", "x", MARKER]) | st.text(max_size=12)


@st.composite
def mutated_events(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event of some type, then one to three hostile changes."""
    event = copy.deepcopy(EXAMPLES[draw(st.sampled_from(TYPES))])
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["replace", "replace", "add", "drop", "nest"]))
        if how == "replace" or (how == "drop" and not event):
            event[draw(st.sampled_from(sorted(event) or ["type"]))] = draw(hostile)
        elif how == "add":
            event[draw(key_names)] = draw(hostile)
        elif how == "drop":
            event.pop(draw(st.sampled_from(sorted(event))))
        else:  # the hostile value deep inside data
            given = event.get("categories")
            category = given[0] if isinstance(given, list) and given else "user.name"
            category = category if isinstance(category, str) else "user.name"
            event["data"] = {category: {"a": [draw(hostile)], "m": MARKER}}
    return event


@st.composite
def with_marker_data(draw: st.DrawFn) -> dict[str, Any]:
    """An event carrying the marker in data, made invalid elsewhere."""
    event = copy.deepcopy(COLLECTED)
    event["data"] = {event["categories"][0]: {"email": MARKER, "note": [MARKER]}}
    key = draw(st.sampled_from(sorted(set(event) - {"data"})))
    event[key] = draw(hostile.filter(lambda v: v is not None))
    if draw(st.booleans()):
        event[draw(key_names)] = MARKER
    return event


# -- the ledger under test -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("config") / "ledger.toml"
    path.write_text(CONFIG_TOML, encoding="utf-8")
    return path


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def check(ledger: Ledger, attempt: Callable[[], list[Receipt]], sent: list[Any]) -> bool:
    """Run one write; refused: nothing written, clean message; accepted: reads back as sent."""
    before = ledger.size
    try:
        receipts = attempt()
    except LedgerError as exc:
        message = str(exc)
        assert message and "\n" not in message and "Traceback" not in message
        assert MARKER_TOKEN not in message, message
        if isinstance(exc, InvalidEvent):
            assert exc.line is not None, message  # the position in the batch or file
        assert ledger.size == before, "a refused write changed the ledger"
        assert ledger.verify().intact
        return False
    new = [r.sequence for r in receipts if r.recorded]
    by_seq = {row.sequence: chain.parse(row.state) for row in ledger.store.rows(before + 1)}
    assert sorted(by_seq) == list(range(before + 1, ledger.size + 1))
    # every new row is one of the receipts, or the ledger's own (the vocabulary, first)
    assert new == sorted(new) and set(new) <= set(by_seq)
    assert all(by_seq[n].type.startswith("ledger.") for n in set(by_seq) - set(new))
    erasing = any(isinstance(e, dict) and e.get("type") == "erased" for e in sent)
    for receipt, event in zip(receipts, sent, strict=True):
        if not receipt.recorded:
            continue
        stored = by_seq[receipt.sequence]
        expected = {k: _plain(v) for k, v in event.items() if k != "data"}
        if "at" not in expected:
            expected["at"] = stored.event["at"]
        assert stored.event == expected
        if "data" in event and not erasing:
            rows = ledger.read(event["subject"], **READER)
            (row,) = [r for r in rows if r["sequence"] == receipt.sequence]
            assert row["data"] == event["data"]
    assert ledger.verify().intact
    return True


def _api_body(ledger: Ledger) -> Callable[[list[dict[str, Any]]], None]:
    def body(batch: list[dict[str, Any]]) -> None:
        check(ledger, lambda: ledger.record_many(batch), batch)

    return body


def _open_ledger(url: str, keys: Path, config: Path) -> Ledger:
    return Ledger.init(url, keys, config=config, origin="test/hostile")


batches = st.lists(
    mutated_events() | st.sampled_from(PLAIN).map(copy.deepcopy),
    min_size=1,
    max_size=4,
)


@pytest.mark.parametrize(("engine", "examples"), [("sqlite", 250), ("postgresql", 30)])
def test_the_api_refuses_hostile_events_cleanly_or_records_them_exactly(
    engine: str, examples: int, hostile_config: Path
) -> None:
    with fresh_store(engine) as (url, keys), _open_ledger(url, keys, hostile_config) as ledger:
        fuzz(f"api-record_many-{engine}", batches, _api_body(ledger), examples)

        def one(event: dict[str, Any]) -> None:
            fields = {k: v for k, v in event.items() if k != "type" and isinstance(k, str)}
            kind = event.get("type")
            check(ledger, lambda: [ledger.record(kind, **fields)], [{"type": kind, **fields}])

        fuzz(f"api-record-{engine}", mutated_events(), one, examples // 2)


def test_data_values_never_appear_in_refusals(hostile_config: Path) -> None:
    with fresh_store("sqlite") as (url, keys), _open_ledger(url, keys, hostile_config) as ledger:

        def body(event: dict[str, Any]) -> None:
            before = ledger.size
            if not check(ledger, lambda: ledger.record_many([event]), [event]):
                return
            # accepted (the change happened to be valid): the marker is only in the ciphertext,
            # unless it was put in a metadata key the contract does not check (system, id, ...)
            if MARKER not in [v for k, v in event.items() if k != "data"]:
                assert all(MARKER not in r.state.decode() for r in ledger.store.rows(before + 1))

        fuzz("marker-in-data", with_marker_data(), body, 150)


@pytest.mark.parametrize(
    "value",
    [pytest.param(v, id=f"odd{i}") for i, v in enumerate(ODD)],
)
def test_every_odd_value_in_every_key_of_one_event(value: Any, hostile_config: Path) -> None:
    """Each odd value, explicitly, in each key of a collected event: clean refusal or a record."""
    with fresh_store("sqlite") as (url, keys), _open_ledger(url, keys, hostile_config) as ledger:
        for key in [*sorted(COLLECTED), "id", "x", MARKER]:
            CASES["explicit-odd-values"] += 1
            event = {**copy.deepcopy(COLLECTED), key: real(value)}
            event["data"] = {"user.name": MARKER} if key != "data" else real(value)
            check(ledger, lambda event=event: ledger.record_many([event]), [event])


# -- timestamps against a model ----------------------------------------------------------------

timestamps = st.builds(
    lambda y, mo, d, h, mi, s, frac, sep, off: (
        f"{y:04d}-{mo:02d}-{d:02d}{sep}{h:02d}:{mi:02d}:{s:02d}{frac}{off}"
    ),
    st.integers(0, 10_000) | st.sampled_from([1969, 1970, 9999]),
    st.integers(0, 13),
    st.integers(0, 32),
    st.integers(0, 25),
    st.integers(0, 61),
    st.integers(0, 61),
    st.sampled_from(["", ".5", ".123456", ".123456789", "."]),
    st.sampled_from(["T", "t", " ", "_"]),
    st.sampled_from(["", "Z", "z"])
    | st.builds(
        lambda sg, h, m: f"{sg}{h:02d}:{m:02d}",
        st.sampled_from("+-"),
        st.integers(0, 26),
        st.integers(0, 61),
    ),
)

_MODEL = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(\.\d+)?(?:[Zz]|([+-])(\d\d):(\d\d))", re.ASCII
)


def _model(text: str) -> datetime | None:
    """What an RFC 3339 reader restricted to 1970-9999 (also in UTC), no leap second, accepts."""
    m = _MODEL.fullmatch(text)
    if m is None:
        return None
    y, mo, d, h, mi, s = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
    sign, oh, om = m.group(8, 9, 10)
    if not 1970 <= y <= 9999 or s == 60 or (sign and (int(oh) > 23 or int(om) > 59)):
        return None
    offset = timedelta(0)
    if sign:
        offset = timedelta(hours=int(oh), minutes=int(om)) * (-1 if sign == "-" else 1)
    micros = int((m.group(7) or ".")[1:7].ljust(6, "0"))
    try:
        moment = datetime(y, mo, d, h, mi, s, micros, timezone(offset))
        moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return moment


def test_timestamps_are_accepted_exactly_when_valid(hostile_config: Path) -> None:
    with fresh_store("sqlite") as (url, keys), _open_ledger(url, keys, hostile_config) as ledger:
        base = {k: v for k, v in EXAMPLES["accessed"].items() if k not in ("type", "at", "id")}

        def body(text: str) -> None:
            event = {"type": "accessed", **base, "at": text}
            accepted = check(ledger, lambda: [ledger.record("accessed", **base, at=text)], [event])
            assert accepted == (_model(text) is not None), text

        fuzz("timestamps", timestamps, body, 200)
        for text in TIMES:
            CASES["explicit-timestamps"] += 1
            body(text)


# -- a refusal after the first chunk -------------------------------------------------------------


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_refusal_deep_in_a_large_batch_or_file_writes_nothing(
    engine: str, hostile_config: Path
) -> None:
    """Batches are sealed in chunks of 1000 inside one transaction: a refusal at 1,500 (and an
    iterable that breaks there) must roll back the first chunk, keys made for it included."""
    with fresh_store(engine) as (url, keys), _open_ledger(url, keys, hostile_config) as ledger:
        ledger.record_many([copy.deepcopy(COLLECTED)])
        good = [
            {
                **copy.deepcopy(COLLECTED),
                "id": f"deep-{n}",
                "subject": f"cust-x{n}",
                "data": {"user.name": f"v{n}"},
            }
            for n in range(1600)
        ]
        bad = [*good[:1500], {**COLLECTED, "at": "2026-03-01T24:00:00Z"}, *good[1500:]]
        CASES["explicit-large-batch"] += 3
        with pytest.raises(InvalidEvent, match=r"^event 1501, key 'at'"):
            ledger.record_many(bad)
        assert ledger.size == 2 and ledger.verify().intact

        def breaking() -> Iterator[dict[str, Any]]:
            yield from good[:1500]
            raise RuntimeError("the caller's own iterator broke")

        with pytest.raises(RuntimeError):
            ledger.record_many(breaking())
        assert ledger.size == 2 and ledger.verify().intact

        lines = [json.dumps(e).encode() + b"\n" for e in bad]
        with pytest.raises(InvalidEvent, match=r"^line 1501, key 'at'"):
            import_lines(ledger, lines)
        assert ledger.size == 2 and ledger.verify().intact
        # the ledger still works, and keys rolled back were not kept in its cache
        check(ledger, lambda: ledger.record_many(good[:3]), good[:3])


# -- import: JSON Lines text ---------------------------------------------------------------------

# Raw fragments put in place of a value in an import line.
RAW = [b'"\\ud800"', b'"\\udc00\\ud800"', b'"a\\u0000b"', b'"\\u202e"', b'"e\\u0301"', b"NaN",
       b"Infinity", b"-Infinity", b"1e309", b"-1e309", b"-0.0", b"1" + b"0" * 400,
       b"9" * 5000, b"[" * 10_000 + b"]" * 10_000, b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
       b'{"type":"a","type":"b"}', b'{"k":1,"k":1}', b'"\xff"', b'"\xc0\xaf"', b'"\xed\xa0\x80"',
       b'"\xf4\x90\x80\x80"', b'"\x00"', b"tru", b"'x'", b'"x" "y"', b"1.5", b"true",
       b"null", b"[]", b"{}", b'"' + MEGABYTE.encode() + b'"', b'"' + MARKER.encode() + b'"',
       b"[" + b"0," * 1_000_000 + b"0]"]  # fmt: skip
# Whole lines.
LINES = [b"\xef\xbb\xbf" + json.dumps(COLLECTED).encode(), b"\xff\xfe{}", b"{", b"}", b"[]",
         b"null", b'"text"', b"1", b"\x00", b"\x1a", b"{}\x00", b'{"type":"collected"}{}',
         json.dumps(COLLECTED).encode() + b" trailing", b"\xed\xa0\x80",
         json.dumps(COLLECTED).encode().replace(b"{", b'{"type":"accessed",', 1),
         json.dumps({**COLLECTED, "sequence": 5, "hash": "00"}).encode(),
         json.dumps(COLLECTED, ensure_ascii=False).encode("utf-16")]  # fmt: skip


def _dumps(event: dict[str, Any]) -> bytes:
    """Any mutated event as one line of JSON text (odd values as their repr)."""
    try:
        return json.dumps(event, default=repr, skipkeys=True).encode("utf-8", "surrogatepass")
    except (RecursionError, ValueError):
        return b"[" * 10_000 + b"]" * 10_000


def _with_raw(event: dict[str, Any], key: str, raw: bytes) -> bytes:
    hole = "\x00HOLE\x00"
    text = json.dumps({**event, key: hole}, ensure_ascii=False).encode()
    return text.replace(json.dumps(hole).encode(), raw)


@st.composite
def import_files(draw: st.DrawFn) -> tuple[list[bytes], int | None]:
    """Some valid lines (with blank ones) and maybe one hostile line; its number (or None)."""
    valid = [json.dumps(e).encode() for e in draw(st.lists(st.sampled_from(PLAIN), max_size=3))]
    lines = [*valid]
    bad_line: int | None = None
    how = draw(st.sampled_from(["raw", "raw", "line", "bytes", "event", "dup", "none"]))
    if how != "none":
        if how == "raw":
            event = EXAMPLES[draw(st.sampled_from(TYPES))]
            key = draw(st.sampled_from(sorted(event))) if draw(st.booleans()) else draw(key_names)
            if draw(st.booleans()) and "categories" in event:
                key = "data"
                raw = b'{"' + event["categories"][0].encode() + b'":' + draw(st.sampled_from(RAW))
                line = _with_raw(event, key, raw + b"}")
            else:
                line = _with_raw(event, key, draw(st.sampled_from(RAW)))
        elif how == "line":
            line = draw(st.sampled_from(LINES))
        elif how == "bytes":
            line = draw(st.binary(max_size=80)).replace(b"\n", b" ")
        elif how == "dup":
            event = EXAMPLES[draw(st.sampled_from(TYPES))]
            body = json.dumps(event)[1:-1].encode()
            key = draw(st.sampled_from(sorted(event)))
            line = b"{" + body + b"," + json.dumps(key).encode() + b":" + b'"x"' + b"}"
        else:
            line = _dumps(draw(mutated_events()))
        at = draw(st.integers(0, len(lines)))
        lines.insert(at, line)
        bad_line = at + 1
    blank = draw(st.integers(0, len(lines)))
    if draw(st.booleans()):
        lines.insert(blank, b"   ")
        if bad_line is not None and blank < bad_line:
            bad_line += 1
    return [line + b"\n" for line in lines], bad_line


def test_import_lines_all_or_nothing_on_hostile_files(hostile_config: Path) -> None:
    with fresh_store("sqlite") as (url, keys), _open_ledger(url, keys, hostile_config) as ledger:

        def body(case: tuple[list[bytes], int | None]) -> None:
            lines, bad_line = case
            before = ledger.size
            try:
                result = import_lines(ledger, lines)
            except LedgerError as exc:
                message = str(exc)
                assert isinstance(exc, InvalidEvent), message
                assert "\n" not in message and MARKER_TOKEN not in message, message
                assert exc.line is not None and message.startswith(f"line {exc.line}")
                if bad_line is not None:
                    assert exc.line == bad_line, (message, bad_line)
                assert ledger.size == before and ledger.verify().intact
                return
            stored = [chain.parse(r.state).event for r in ledger.store.rows(before + 1)]
            stored = [e for e in stored if not e["type"].startswith("ledger.")]
            assert len(stored) == result.recorded
            if not result.already_present:
                sent = [json.loads(line) for line in lines if line.strip()]
                assert stored == [{k: v for k, v in e.items() if k != "data"} for e in sent]
            assert ledger.verify().intact

        fuzz("import_lines", import_files(), body, 250)
        for raw in RAW:
            for key in ("subject", "at", "x", "data"):
                CASES["explicit-import-raw"] += 1
                inner = raw if key != "data" else b'{"user.name":' + raw + b"}"
                body(([_with_raw(COLLECTED, key, inner) + b"\n"], 1))
        for line in LINES:
            CASES["explicit-import-lines"] += 1
            body(([line + b"\n"], 1))


def test_the_duplicate_key_rule_is_documented_and_applied_at_any_depth() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    assert "duplicate keys" in readme.lower()
    with fresh_store("sqlite") as (url, keys), Ledger.init(url, keys) as ledger:
        for line in [b'{"type":"accessed","type":"erased"}', b'{"type":"x","type":"x"}',
                     _with_raw(COLLECTED, "data", b'{"user.name":1,"user.name":1}'),
                     _with_raw(COLLECTED, "data", b'{"user.name":[{"a":1,"a":2}]}'),
                     _with_raw(COLLECTED, "data", b'{"user.name":{"' + MARKER.encode() + b'":1,"'
                               + MARKER.encode() + b'":2}}')]:  # fmt: skip
            CASES["explicit-duplicate-keys"] += 1
            with pytest.raises(InvalidEvent, match="duplicate key") as caught:
                import_lines(ledger, [line])
            assert caught.value.line == 1 and MARKER_TOKEN not in str(caught.value)
        assert ledger.size == 0


# -- the command line ----------------------------------------------------------------------------


class Cli:
    def __init__(self, folder: Path, config: Path, url: str) -> None:
        self.folder = folder
        self.base = ["--db", url, "--keys", str(folder / "keys"), "--config", str(config),
                     "--signing-key", str(folder / "signing")]  # fmt: skip

    def __call__(self, *args: str, input: bytes | None = None, db: str | None = None) -> Result:
        base = self.base if db is None else ["--db", db, *self.base[2:]]
        return CliRunner().invoke(ledger_cli, [*base, *args], input=input)


def clean_failure(result: Result, codes: tuple[int, ...] = (1, 2), *, marker: bool = True) -> str:
    """A refusal as the README promises: exit 1 or 2, one `error:` line, no traceback; with
    *marker*, the marker put in the input's data is nowhere in the output."""
    output = result.stdout + result.stderr
    assert result.exit_code in codes, (result.exit_code, output, result.exception)
    assert "Traceback" not in output, output
    assert not marker or MARKER_TOKEN not in output, output
    if result.exit_code == 2 and "Usage:" not in result.stderr:
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return result.stderr


@pytest.fixture(scope="module")
def cli_ledger(tmp_path_factory: pytest.TempPathFactory, hostile_config: Path) -> Cli:
    """A ledger holding the seed company's story, with a checkpoint."""
    folder = tmp_path_factory.mktemp("cli")
    run = Cli(folder, hostile_config, f"sqlite:///{folder / 'ledger.db'}")
    assert run("init").exit_code == 0
    with Ledger.open(run.base[1], folder / "keys", config=hostile_config) as ledger:
        ledger.record_many(events())
    assert run("checkpoint").exit_code == 0
    return run


def test_cli_import_of_hostile_files(cli_ledger: Cli, tmp_path: Path) -> None:
    size = json.loads(cli_ledger("verify", "--json").stdout)["size"]

    def body(case: tuple[list[bytes], int | None]) -> None:
        nonlocal size
        lines, bad_line = case
        path = tmp_path / "events.jsonl"
        path.write_bytes(b"".join(lines))
        result = cli_ledger("import", str(path))
        if result.exit_code == 0:
            size += int(result.stdout.split()[1])
        else:
            message = clean_failure(result, (2,))
            if bad_line is not None:
                assert message.startswith(f"error: line {bad_line}"), message
        report = cli_ledger("verify", "--json")
        assert report.exit_code == 0 and json.loads(report.stdout)["size"] == size

    fuzz("cli-import", import_files(), body, 40)
    body(([b"[" * 10_000 + b"]" * 10_000 + b"\n"], 1))
    body(([b'{"type":"' + b"\xff\xfe" + b'"}\n'], 1))
    CASES["explicit-cli-import"] += 2


def test_a_real_process_import_of_a_hostile_file_prints_one_line(
    cli_ledger: Cli, tmp_path: Path
) -> None:
    """CliRunner catches exceptions itself: once as a real process, to see stderr as users do."""
    for content in [b"[" * 100_000 + b"\n", b'{"type": "\xff"}\n',
                    _with_raw(COLLECTED, "data", b'{"user.name":"' + MARKER.encode() + b'"}')
                    .replace(b'"GB"', b"1e309") + b"\n"]:  # fmt: skip
        CASES["explicit-process-import"] += 1
        path = tmp_path / "hostile.jsonl"
        path.write_bytes(content)
        done = subprocess.run(
            [sys.executable, "-m", "ledger.cli", *cli_ledger.base, "import", str(path)],
            capture_output=True,
            timeout=60,
            env={**os.environ, "LEDGER_DEBUG": ""},
        )
        assert done.returncode == 2, done.stderr
        assert done.stdout == b"" and done.stderr.count(b"\n") == 1, done.stderr
        assert done.stderr.startswith(b"error: line 1") and b"Traceback" not in done.stderr
        assert MARKER_TOKEN.encode() not in done.stderr


TIME_OPTIONS = [("history", "--since"), ("history", "--until"), ("inventory", "--as-of"),
                ("consent", "--as-of"), ("requests", "--as-of"), ("breaches", "--as-of"),
                ("ropa", "--as-of")]  # fmt: skip
FILTERS = [("history", "--subject"), ("history", "--actor"), ("history", "--system"),
           ("history", "--category"), ("history", "--type"), ("inventory", "--subject"),
           ("consent", "--subject"), ("export", "--subject")]  # fmt: skip
cli_text = st.text(max_size=40) | st.sampled_from(
    [*UNICODE, *TIMES, MARKER, "2026-13-45", "0000-01-01", "9999-12-31", "2026-02-29"]
)


def _run_option(cli_ledger: Cli, args: tuple[str, ...]) -> None:
    result = cli_ledger(*args)
    if result.exit_code == 0:
        assert "Traceback" not in result.stdout + result.stderr
        return
    # the user's own argument may be echoed back ("no breach 'x'"): no marker check here
    clean_failure(result, marker=False)


@st.composite
def option_cases(draw: st.DrawFn) -> tuple[str, ...]:
    kind = draw(st.sampled_from(["time", "filter", "id", "prove"]))
    if kind == "time":
        command, option = draw(st.sampled_from(TIME_OPTIONS))
        return (command, option, draw(cli_text))
    if kind == "filter":
        command, option = draw(st.sampled_from(FILTERS))
        return (command, option, draw(cli_text))
    if kind == "id":
        return (draw(st.sampled_from(["breach", "subject"])), draw(cli_text))
    numbers = st.integers(-(10**30), 10**30).map(str) | cli_text
    if draw(st.booleans()):
        return ("prove", "inclusion", "--", draw(numbers))
    return ("prove", "consistency", "--", draw(numbers), draw(numbers))


def test_cli_options_refuse_hostile_values_cleanly(cli_ledger: Cli) -> None:
    fuzz("cli-options", option_cases(), lambda args: _run_option(cli_ledger, args), 80)
    explicit = [
        *((c, o, v) for c, o in TIME_OPTIONS[:3] for v in
          ["2026-13-45", "0000-01-01", "10000-01-01", "2026-03-01T24:00:00Z", "1772357400",
           "9999-12-31", "2026-03-01T09:30:00+25:00", "\ud800"]),
        *((c, o, v) for c, o in FILTERS for v in ["a\x00b", "\udcff", MARKER, "x" * 100_000]),
        ("prove", "inclusion", "0"), ("prove", "inclusion", str(10**400)),
        ("prove", "inclusion", "1", "--size", str(2**63)), ("prove", "inclusion", "--", "-1"),
        ("prove", "consistency", "0"), ("prove", "consistency", str(10**30)),
        ("prove", "consistency", "3", "2"), ("prove", "consistency", "--", "-5", "-1"),
        ("prove", "inclusion", "1e3"), ("breach", MARKER), ("subject", "\x00"),
    ]  # fmt: skip
    for args in explicit:
        CASES["explicit-cli-options"] += 1
        _run_option(cli_ledger, args)


def test_verify_checkpoint_with_garbage_files(cli_ledger: Cli, tmp_path: Path) -> None:
    good = cli_ledger("checkpoint").stdout.encode()
    path, key = tmp_path / "note", tmp_path / "vkey"
    key.write_bytes(cli_ledger("keys", "public").stdout.encode())

    def body(content: bytes) -> None:
        path.write_bytes(content)
        result = cli_ledger("verify", "--checkpoint", str(path), "--key", str(key))
        if result.exit_code != 0:
            clean_failure(result)
        else:  # (read as text: a CRLF copy of the note is the same note)
            assert "intact" in result.stdout
        key_result = cli_ledger("verify", "--checkpoint", str(key), "--key", str(path))
        clean_failure(key_result)

    mangled = st.builds(
        lambda i, b: good[:i] + b + good[i + len(b) :],
        st.integers(0, len(good)),
        st.binary(min_size=1, max_size=4),
    )
    fuzz("verify-checkpoint", st.binary(max_size=300) | mangled | st.just(b""), body, 40)
    root_line = good.split(b"\n")[2]
    for content in [good.replace(root_line, b"\xc2\xb2" + root_line[2:]),
                    good.replace(b"\n", b"\r\n"), b"\xef\xbb\xbf" + good, good * 2, b"\x00" * 10,
                    good.replace(b"\n\n", b"\n"), good[:-1], b"x\n" * 100_000]:  # fmt: skip
        CASES["explicit-verify-checkpoint"] += 1
        body(content)
    CASES["explicit-verify-checkpoint"] += 1
    clean_failure(cli_ledger("verify", "--checkpoint", str(tmp_path / "missing")))


def test_odd_store_urls_are_refused_in_one_line(
    cli_ledger: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    urls = ["", "foo", "sqlite://", "sqlite:///", "sqlite:///:memory:", "sqlite:////no/such/dir/l",
            "mysql://x/y", "http://x", "sqlite:///\x00",
            "postgresql://[::1", "sqlite:///%", "sqlite:///" + "x" * 5000,
            "sqlite:///\udcff", "SQLITE:///x", MARKER,
            f"sqlite:///{tmp_path}"]  # fmt: skip

    server = postgres_server()
    if server is not None:
        pg = f"{server}?schema="
        urls += [f'{pg}a"b', f"{pg}{'x' * 100}", f"{pg}a%00b", f"{pg}\udcff"]

    def body(url: str) -> None:
        _run_db(cli_ledger, url)
        assert not [p for p in tmp_path.iterdir() if not p.is_dir()], "verify created a file"

    for url in urls:
        CASES["explicit-db-urls"] += 1
        body(url)
    fuzz("db-urls", st.text(max_size=30).map(lambda t: f"sqlite:///{tmp_path}/{t}") |
         st.text(max_size=30).filter(lambda t: ":" not in t), body, 30)  # fmt: skip


def _run_db(cli_ledger: Cli, url: str) -> None:
    result = cli_ledger("verify", db=url)
    clean_failure(result, (2,), marker=False)


def test_the_config_loaded_here_matches_the_demo(hostile_config: Path) -> None:
    """The fuzzing above records the demo's events: they must be valid under this config."""
    config = load_config(hostile_config)
    assert isinstance(config, Config)
    with fresh_store("sqlite") as (url, keys), _open_ledger(url, keys, hostile_config) as ledger:
        CASES["explicit-story"] += 1
        story = events()
        check(ledger, lambda: ledger.record_many(story), story)
