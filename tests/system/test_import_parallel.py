"""An import checked on several cores has the outcome of one core: the same refusal (line and
message) with nothing written, or the same rows, chain and readable values; erasures in it
still shred. Chunks and the threshold are made small so that small files take the pool."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import ENGINES, fresh_store

from ledger import Ledger
from ledger import workers as import_workers
from ledger.core.spec import RESERVED_ACTOR, RESERVED_SYSTEM
from ledger.demo.workload import generate
from ledger.errors import InvalidEvent
from ledger.importer import ImportResult, import_lines

FORKS = [0]  # processes this test process forked: proof that the pool was taken
os.register_at_fork(after_in_parent=lambda: FORKS.__setitem__(0, FORKS[0] + 1))

READER = {"actor": "staff:dpo", "purpose": "essential.legal_obligation"}


@pytest.fixture(autouse=True)
def small_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(import_workers, "MIN_EVENTS", 6)
    monkeypatch.setattr(import_workers, "CHUNK", 4)
    monkeypatch.setattr(import_workers, "IN_FLIGHT", 2)


def _bad(line: bytes, kind: int) -> bytes:
    """One of several ways a line breaks the contract, made from a good line."""
    event = orjson.loads(line)
    if kind == 0:
        return line[: len(line) // 2]  # cut short: not JSON
    if kind == 1:
        return line[:-1] + b',"actor":"staff:x"}'  # a key given twice
    if kind == 2:
        return orjson.dumps({k: v for k, v in event.items() if k != "actor"})
    if kind == 3:
        return orjson.dumps({**event, "at": "2026-13-01T09:00:00Z"})
    if kind == 4:
        return orjson.dumps({**event, "type": "colected"})
    if kind == 5:
        return b"[1, 2]"
    if kind == 6:
        return b'{"type": "\xff"}'
    return orjson.dumps({**event, "actor": "jo.bloggs@example.com"})


BAD_KINDS = 8


def _erasure(subject: str) -> bytes:
    return orjson.dumps({"type": "erased", "actor": "staff:dpo", "subject": subject,
                         "categories": ["*"], "reason": "erasure request",
                         "at": "2026-01-02T09:00:00Z"})  # fmt: skip


def _collected(subject: str, name: str) -> bytes:
    return orjson.dumps({"type": "collected", "actor": "staff:agent1", "subject": subject,
                         "categories": ["user.name"],
                         "purpose": "essential.service.operations.support",
                         "basis": "contract", "source": "web form", "system": "crm",
                         "location": "GB", "data": {"user.name": name},
                         "at": "2026-01-02T09:00:01Z"})  # fmt: skip


@st.composite
def files(draw: st.DrawFn) -> list[bytes]:
    """Lines of the demo workload, with erasures and later collections of erased subjects, blank
    lines, and (often) bad lines at random places."""
    count = draw(st.integers(6, 60))
    lines = [orjson.dumps(e) for e in generate(count, seed=draw(st.integers(0, 1000)))]
    good = list(lines)
    subjects = sorted({orjson.loads(x).get("subject") for x in lines} - {None})
    for _ in range(draw(st.integers(0, 3))):
        subject = draw(st.sampled_from(subjects))
        at = draw(st.integers(0, len(lines)))
        lines[at:at] = [_erasure(subject), _collected(subject, "Tom Reilly")]
    for _ in range(draw(st.integers(0, 2))):
        lines.insert(draw(st.integers(0, len(lines))), b"  \n")
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3]))):
        at = draw(st.integers(0, len(lines) - 1))
        source = draw(st.sampled_from(good))
        lines[at] = _bad(source, draw(st.integers(0, BAD_KINDS - 1)))
    return lines


def _outcome(url: str, keys: Path, lines: list[bytes], workers: int) -> tuple[Any, ...]:
    """What an import left: its refusal, or its result, and the ledger's rows as read back."""
    with Ledger.init(url, keys) as ledger:
        forks = FORKS[0]
        try:
            result: ImportResult | str = import_lines(ledger, lines, workers=workers)
        except InvalidEvent as exc:
            result = f"{exc.line}: {exc}"
        forked = FORKS[0] > forks
        assert ledger.verify().intact
        plain = [{k: v for k, v in e.items() if k in ("sequence", "type", "event")}
                 for e in ledger.export()]  # fmt: skip
        shown = [_readable(e) for e in ledger.export(decrypt=True, **READER)]
        if isinstance(result, ImportResult):
            result = (result.recorded, result.already_present, result.first_sequence,
                      result.last_sequence)  # fmt: skip
    return result, plain, shown, forked


def _readable(event: dict[str, Any]) -> dict[str, Any]:
    """An exported event without what differs between two writes of it (uuid, times, hashes,
    and the envelopes, random by design): its sequence, keys, values and what was erased."""
    mine = {"uuid", "recorded_at", "hash", "prev_hash"}
    if RESERVED_ACTOR in (event.get("actor"), event.get("system")) or RESERVED_SYSTEM in (
        event.get("actor"),
        event.get("system"),
    ):
        mine.add("at")  # the ledger's own records (vocabulary, decrypting reads) are timed now
    return {k: v for k, v in event.items() if k not in mine}


def _both(engine: str, lines: list[bytes]) -> Iterator[tuple[Any, ...]]:
    for workers in (1, 2):
        with fresh_store(engine) as (url, keys):
            yield _outcome(url, keys, lines, workers)


@pytest.mark.parametrize("engine", ENGINES)
def test_parallel_import_has_the_outcome_of_one_core(engine: str) -> None:
    @settings(max_examples=12 if engine == "postgresql" else 25, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
    @given(files())
    def check(lines: list[bytes]) -> None:
        one, many = _both(engine, lines)
        assert many[3], "the pool was not used: this example tested nothing"
        assert not one[3]
        assert one[:3] == many[:3]
        if isinstance(one[0], str):  # refused: nothing written, not even the vocabulary
            assert one[1] == []

    check()


@pytest.mark.parametrize("engine", ENGINES)
def test_first_bad_line_reported_even_when_a_later_chunk_is_bad_too(engine: str) -> None:
    lines = [orjson.dumps(e) for e in generate(40)]
    lines[31] = _bad(lines[31], 4)  # a later chunk, likely checked first by the other worker
    lines[17] = _bad(lines[17], 2)
    one, many = _both(engine, lines)
    assert many[3]
    assert (
        one[0]
        == many[0]
        == "18: line 18, key 'actor': is required on "
        + (f"{orjson.loads(lines[17])['type']} events")
    )
    assert one[1] == many[1] == []


@pytest.mark.parametrize("engine", ENGINES)
def test_erasure_inside_a_parallel_import_shreds(engine: str) -> None:
    lines = [orjson.dumps(e) for e in generate(30)]
    lines += [_collected("cust-erased", "Jo Bloggs"), _erasure("cust-erased"),
              _collected("cust-erased", "Jo Newname")]  # fmt: skip
    lines += [orjson.dumps(e) for e in generate(20, seed=7)]
    with fresh_store(engine) as (url, keys), Ledger.init(url, keys) as ledger:
        import_lines(ledger, lines, workers=2)
        assert ledger.verify().intact
        mine = [e for e in ledger.export(subject="cust-erased", decrypt=True, **READER)
                if e["type"] == "collected"]  # fmt: skip
        assert mine[0].get("data") is None and mine[0]["data_erased"] == ["user.name"]
        assert mine[1]["data"] == {"user.name": "Jo Newname"}
        envelopes = [e["data"]["user.name"] for e in ledger.export(subject="cust-erased")
                     if e["type"] == "collected"]  # fmt: skip
        assert envelopes[0]["key"] != envelopes[1]["key"]  # a fresh key after the erasure


def test_a_line_too_long_after_a_bad_line_leaves_the_bad_line_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ledger import importer

    monkeypatch.setattr(importer, "MAX_IMPORT_LINE", 400)
    good = [orjson.dumps(e) + b"\n" for e in generate(60) if len(orjson.dumps(e)) < 400][:30]
    good[9] = b"{not json\n"
    good[25] = b'{"type": "' + b"x" * 500 + b'"}\n'
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(good))
    messages = []
    for workers in (1, 2):
        with fresh_store("sqlite") as (url, keys), Ledger.init(url, keys) as ledger:
            with path.open("rb") as handle, pytest.raises(InvalidEvent) as caught:
                import_lines(ledger, handle, workers=workers)
            assert ledger.size == 0
            messages.append(str(caught.value))
    assert messages[0] == messages[1]
    assert messages[0].startswith("line 10: not valid JSON")


def test_a_read_error_after_a_bad_line_leaves_the_bad_line_reported(tmp_path: Path) -> None:
    """The reader failing (an I/O error) a few lines after a bad line: on one core and on two
    workers the bad line is what is reported, and nothing is written."""
    good = [orjson.dumps(e) for e in generate(30)]
    good[9] = _bad(good[9], 4)

    def lines() -> Any:
        yield from good[:14]
        raise OSError(5, "Input/output error")

    outcomes = []
    for workers in (1, 2):
        url, keys = f"sqlite:///{tmp_path / f'l{workers}.db'}", tmp_path / f"k{workers}"
        with Ledger.init(url, keys) as ledger:
            with pytest.raises(InvalidEvent) as refused:
                import_lines(ledger, lines(), workers=workers)
            outcomes.append(str(refused.value))
            assert ledger.size == 0
    assert outcomes[0] == outcomes[1] and outcomes[0].startswith("line 10")
