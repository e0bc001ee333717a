"""Group commit: many threads of one process recording at once share transactions, and each
call still gets its own receipt or its own refusal (see ledger.commit)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import ENGINES, fresh_store, sql

from ledger import Ledger
from ledger.demo.workload import name_collected
from ledger.errors import ConfigError, IntegrityError, InvalidEvent, LedgerError
from ledger.sealing import Receipt


def _queued(ledger: Ledger, count: int) -> None:
    """Wait until *count* batches wait in the ledger's queue (the commit lock held)."""
    deadline = time.monotonic() + 30
    while len(ledger._group._queue) < count:
        assert time.monotonic() < deadline, "the callers never queued"
        time.sleep(0.001)


def _at_once(ledger: Ledger, calls: list[Callable[[], Any]]) -> list[Any]:
    """Run *calls* in threads that all queue while the commit lock is held, then let them
    go: one leader takes them all (a group, deterministically). Each call's result, or the
    exception it raised. They queue in the order given."""
    results: list[Any] = [None] * len(calls)

    def run(number: int) -> None:
        try:
            results[number] = calls[number]()
        except BaseException as exc:  # the outcome under test
            results[number] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    with ledger._commit_lock:
        for number, thread in enumerate(threads, start=1):
            thread.start()
            _queued(ledger, number)
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive()
    return results


def _names(ledger: Ledger) -> list[tuple[str, str]]:
    """(subject, name) of every collected event, in ledger order, decrypted."""
    return [
        (event["subject"], event.get("data", {}).get("user.name", "(erased)"))
        for event in ledger.export(
            decrypt=True, actor="staff:auditor", purpose="essential.legal_obligation"
        )
        if event["type"] == "collected"
    ]


def test_many_threads_share_transactions_and_each_gets_its_own_receipt(
    ledger: Ledger,
) -> None:
    threads, each = 8, 40
    receipts: dict[int, list[Receipt]] = {}

    def write(writer: int) -> None:
        receipts[writer] = [
            ledger.record(**name_collected(f"cust-{writer}", f"Name {writer}-{n}"))
            for n in range(each)
        ]

    workers = [threading.Thread(target=write, args=(w,)) for w in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    sequences = sorted(r.sequence for mine in receipts.values() for r in mine)
    assert len(sequences) == threads * each == len(set(sequences))
    assert ledger.verify().intact
    # each writer's events are on the ledger in the order it recorded them, with its values
    names = _names(ledger)
    for writer in range(threads):
        mine = [name for subject, name in names if subject == f"cust-{writer}"]
        assert mine == [f"Name {writer}-{n}" for n in range(each)]
    by_sequence = {r.sequence: r.hash for mine in receipts.values() for r in mine}
    with ledger.store.snapshot() as snapshot:
        for row in snapshot.rows():
            if row.sequence in by_sequence:
                assert by_sequence[row.sequence] == row.hash.hex()


def test_queued_callers_commit_in_one_transaction(ledger: Ledger) -> None:
    before = ledger._group.groups
    calls = [lambda n=n: ledger.record(**name_collected(f"cust-{n}", f"N{n}")) for n in range(6)]
    results = _at_once(ledger, calls)
    assert all(isinstance(r, Receipt) and r.recorded for r in results)
    assert ledger._group.groups == before + 1  # six callers, one transaction
    assert len({r.sequence for r in results}) == 6
    assert ledger.verify().intact


def test_a_refusal_in_one_callers_event_never_drops_anothers(ledger: Ledger) -> None:
    first = ledger.record(**name_collected("cust-1", "Ann"), id="req-1")
    calls = [
        lambda: ledger.record(**name_collected("cust-2", "Bob")),
        # the same id with other content: refused, naming it
        lambda: ledger.record(**name_collected("cust-1", "Someone else"), id="req-1"),
        lambda: ledger.record_many(
            [name_collected("cust-3", "Cy"), name_collected("cust-4", "Di")]
        ),
    ]
    bob, refused, pair = _at_once(ledger, calls)
    assert isinstance(refused, InvalidEvent)
    assert "req-1" in str(refused) and "Nothing was written" in str(refused)
    assert "Someone else" not in str(refused)  # no personal data in the error
    assert isinstance(bob, Receipt) and bob.recorded
    assert isinstance(pair, list) and [r.recorded for r in pair] == [True, True]
    assert [n for _, n in _names(ledger)] == ["Ann", "Bob", "Cy", "Di"]
    assert first.sequence < bob.sequence
    assert ledger.verify().intact


def test_the_same_id_from_two_callers_in_one_group_is_recorded_once(ledger: Ledger) -> None:
    event = name_collected("cust-1", "Ann", id="req-7", at="2026-12-01T10:00:00Z")
    one, two = _at_once(ledger, [lambda: ledger.record(**event), lambda: ledger.record(**event)])
    assert isinstance(one, Receipt) and isinstance(two, Receipt)
    assert (one.sequence, one.hash) == (two.sequence, two.hash)
    assert sorted([one.recorded, two.recorded]) == [False, True]
    assert _names(ledger) == [("cust-1", "Ann")]


def test_a_failure_of_the_ledger_reaches_every_caller_of_the_group(ledger: Ledger) -> None:
    ledger.record(**name_collected("cust-0", "Zed"))
    calls = [lambda n=n: ledger.record(**name_collected(f"cust-{n}", f"N{n}")) for n in range(3)]
    ledger.config_problem = "the recorded configuration could not be read"
    try:
        results = _at_once(ledger, calls)
    finally:
        ledger.config_problem = None
    assert all(isinstance(r, ConfigError) for r in results)
    assert len({id(r) for r in results}) == 3  # each caller raises its own exception object
    assert _names(ledger) == [("cust-0", "Zed")]


def test_an_erasure_in_a_group_shreds_and_concerns_only_its_caller(ledger: Ledger) -> None:
    ledger.record(**name_collected("cust-1", "Ann"))
    ledger.record(**name_collected("cust-2", "Bob"))
    erasure = {
        "type": "erased",
        "actor": "staff:dpo",
        "subject": "cust-1",
        "categories": ["*"],
        "reason": "erasure request DSR-1",
    }
    calls = [
        lambda: ledger.record(**name_collected("cust-2", "Bob again")),
        lambda: ledger.record(**erasure),
        lambda: ledger.record(**name_collected("cust-1", "Ann anew")),
    ]
    results = _at_once(ledger, calls)
    assert all(isinstance(r, Receipt) for r in results), results
    names = _names(ledger)
    # Ann's first value went with its key; the one collected after the erasure is readable
    assert ("cust-1", "Ann") not in names and ("cust-1", "Ann anew") in names
    assert ("cust-2", "Bob again") in names
    assert ledger.status().pending == []
    assert ledger.verify().intact


_BATCH = st.lists(
    st.tuples(st.integers(0, 3), st.sampled_from(["Ann", "Bob"]), st.integers(0, 4)),
    min_size=1,
    max_size=3,
)


@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=st.lists(_BATCH, min_size=2, max_size=5))
def test_a_group_records_what_the_same_batches_one_after_another_record(
    engine: str, batches: list[list[tuple[int, str, int]]]
) -> None:
    """Whatever the batches (ids reused with the same or other content, within a batch and
    across batches), one group gives each caller the outcome it gets alone, in turn, and the
    ledger ends up with the same events."""

    def event(subject: int, name: str, ident: int) -> dict[str, Any]:
        extra = {} if ident == 0 else {"id": f"req-{ident}"}
        return name_collected(f"cust-{subject}", name, at="2026-12-01T10:00:00Z", **extra)

    def outcome(result: Any) -> Any:
        if isinstance(result, LedgerError):
            return type(result).__name__, str(result)
        return [(r.sequence, r.recorded) for r in result]

    results = []
    for grouped in (True, False):
        with fresh_store(engine) as (url, keys), Ledger.init(url, keys) as ledger:
            calls = [lambda b=b: ledger.record_many([event(*e) for e in b]) for b in batches]
            if grouped:
                found = _at_once(ledger, calls)
            else:
                found = []
                for call in calls:
                    try:
                        found.append(call())
                    except LedgerError as exc:
                        found.append(exc)
            results.append(([outcome(r) for r in found], _names(ledger)))
            assert ledger.verify().intact
    assert results[0] == results[1]


def test_threads_keep_recording_while_another_reads(tmp_path: Path) -> None:
    """Group commit beside readers: the SQLite file's one writer at a time is this process's
    leader, readers never block it, and every call is answered."""
    url, keys = f"sqlite:///{tmp_path / 'l.db'}", tmp_path / "keys"
    with Ledger.init(url, keys) as ledger:
        stop = threading.Event()
        seen: list[int] = []

        def read() -> None:
            with Ledger.open(url, read_only=True) as reader:
                while not stop.is_set():
                    seen.append(reader.size)

        reader = threading.Thread(target=read)
        reader.start()
        writers = [
            threading.Thread(
                target=lambda w=w: [
                    ledger.record(**name_collected(f"c-{w}", f"N{n}")) for n in range(25)
                ]
            )
            for w in range(4)
        ]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join()
        stop.set()
        reader.join()
        assert ledger.size == 100 + 1  # and the vocabulary the first write recorded
        assert seen == sorted(seen)  # a reader never sees the chain go back
        assert ledger.verify().intact


def test_a_leader_waits_for_callers_still_checking_their_events(ledger: Ledger) -> None:
    """A caller checking its events when the leader is ready joins the leader's group; the
    leader's wait is bounded (linger) when the caller never comes."""
    ledger.record(**name_collected("cust-0", "Zed"))
    before = ledger._group.groups
    ledger._group.linger = 60.0  # far longer than the test: only the caller's arrival ends it
    late: list[Any] = []
    with ledger._group.arriving():  # a caller of this process, still checking its events
        first = threading.Thread(
            target=lambda: late.append(ledger.record(**name_collected("cust-1", "Ann")))
        )
        first.start()
        _queued(ledger, 1)
        second = threading.Thread(
            target=lambda: late.append(ledger.record(**name_collected("cust-2", "Bob")))
        )
        second.start()
        _queued(ledger, 2)
    first.join(timeout=60)
    second.join(timeout=60)
    assert len(late) == 2 and ledger._group.groups == before + 1  # one transaction for both
    ledger._group.linger = 0.05
    with ledger._group.arriving():  # this caller never queues: the leader goes on without it
        alone = ledger.record(**name_collected("cust-3", "Cy"))
    assert alone.recorded and ledger._group.groups == before + 2


def test_damage_found_while_sealing_a_group_reaches_each_caller_and_nobody_hangs(
    ledger: Ledger, store: tuple[str, Path]
) -> None:
    """The head's seal broken outside the ledger: every caller of the group is refused with
    its own IntegrityError (a type whose constructor differs from its args), and returns."""
    ledger.record(**name_collected("cust-0", "Zed"))
    sql(store[0], "UPDATE ledger_head SET seal = :seal", seal=b"\x00" * 32)
    calls = [lambda n=n: ledger.record(**name_collected(f"cust-{n}", f"N{n}")) for n in range(3)]
    results = _at_once(ledger, calls)
    assert all(isinstance(r, IntegrityError) for r in results), results
    assert all("seal" in str(r) for r in results)
    assert len({id(r) for r in results}) == 3


def test_one_subjects_damaged_keys_refuse_only_that_callers_batch(
    ledger: Ledger, store: tuple[str, Path]
) -> None:
    """A refusal that is not about the event's own content (one subject's data key filed
    under another subject) is still one caller's: the rest of the group is recorded."""
    ledger.record(**name_collected("cust-1", "Ann"))
    sql(store[0], "UPDATE ledger_keys SET subject = 'cust-9' WHERE subject = 'cust-1'")
    erasure = {"type": "erased", "actor": "staff:dpo", "subject": "cust-1",
               "categories": ["*"], "reason": "erasure request DSR-2"}  # fmt: skip
    calls = [
        lambda: ledger.record(**name_collected("cust-2", "Bob")),
        lambda: ledger.record(**erasure),
        lambda: ledger.record(**name_collected("cust-3", "Cy")),
    ]
    bob, refused, cy = _at_once(ledger, calls)
    assert isinstance(refused, IntegrityError) and "filed" in str(refused)
    assert isinstance(bob, Receipt) and isinstance(cy, Receipt)
    assert [e["type"] for e in ledger.export()][-2:] == ["collected", "collected"]


def test_recording_from_inside_the_events_being_recorded_is_refused_not_hung(
    ledger: Ledger,
) -> None:
    """An events iterable that records (or reads, which records an access) while the ledger
    consumes it inside its own transaction: refused, nothing of the batch written."""

    def events() -> Any:
        for n in range(1500):  # more than one chunk: consumed inside the transaction
            if n == 1200:
                ledger.record(**name_collected("cust-x", "Inner"))
            yield name_collected(f"cust-{n % 7}", f"N{n}")

    before = ledger.size
    with pytest.raises(LedgerError, match="inside a batch being recorded"):
        ledger.record_many(events())
    assert ledger.size == before
    assert ledger.record(**name_collected("cust-1", "After")).recorded  # and it goes on
