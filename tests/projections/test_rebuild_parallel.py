"""A rebuild on several cores gives the one-core rebuild's tables, tracking and seal; one whose
worker dies leaves the old tables as they were and says so."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from support import ENGINES, NORTHGATE_DECLARATION, fresh_store

from ledger import Ledger
from ledger.demo.story import events as story_events
from ledger.demo.workload import generate
from ledger.errors import StoreError
from ledger.projections import Projections, facts, integrity, parallel


def _tables(p: Projections) -> dict[str, list[tuple[Any, ...]]]:
    """Every fact table's rows in key order, the tracking rows and the seal (its time aside:
    it says when)."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    with p.runner.engine.connect() as conn:
        for table in (*facts.FACT_TABLES, facts.tracking):
            keys = [c for c in table.columns if c.primary_key]
            found[table.name] = [tuple(r) for r in conn.execute(select(table).order_by(*keys))]
        seal = conn.execute(select(integrity.seals)).one()._asdict()
    del seal["full_at"]
    found["projection_seal"] = [tuple(sorted(seal.items()))]
    return found


@pytest.mark.parametrize("engine", ENGINES)
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    count=st.integers(min_value=0, max_value=400),
    with_story=st.booleans(),
    range_events=st.integers(min_value=1, max_value=60),
    workers=st.integers(min_value=2, max_value=4),
)
def test_parallel_rebuild_gives_the_one_core_tables_and_seal(
    engine: str,
    config_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    seed: int,
    count: int,
    with_story: bool,
    range_events: int,
    workers: int,
) -> None:
    """For random workloads (the story and a declaration among them or not), ranges cut
    anywhere and 2 to 4 workers, every fact table row for row, the tracking and the seal's
    digests are the one-core rebuild's; the tables then pass the check."""
    monkeypatch.setattr(parallel, "RANGE_EVENTS", range_events)
    with fresh_store(engine) as (url, keys), Ledger.init(url, keys, config=config_path) as ledger, \
            Projections(ledger) as p:  # fmt: skip
        if with_story:
            ledger.record_many(story_events())
            ledger.declare(NORTHGATE_DECLARATION)
        ledger.record_many(list(generate(count, seed=seed)))
        assert p.runner.rebuild(workers=1) == ledger.size
        one_core = _tables(p)
        assert len(one_core["projection_events"]) >= count  # every workload event has its row
        assert p.runner.rebuild(workers=workers) == ledger.size
        assert _tables(p) == one_core
        assert p.check().position == ledger.size


def _kill_first_worker(stop: threading.Event) -> None:
    """Kill the first child process this process starts (a rebuild worker), at once."""
    while not stop.is_set():
        children = multiprocessing.active_children()
        if children and children[0].pid is not None:
            os.kill(children[0].pid, signal.SIGKILL)
            return
        time.sleep(0.0005)


@pytest.mark.parametrize("engine", ENGINES)
def test_rebuild_whose_worker_is_killed_leaves_the_old_tables(
    engine: str, config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker killed mid-rebuild: StoreError says so, and the tables, tracking and seal are
    the ones before the rebuild, still passing the check; a rebuild after it succeeds."""
    # many small ranges: a worker's results fill its pipe, so it is still running when killed
    monkeypatch.setattr(parallel, "RANGE_EVENTS", 40)
    with fresh_store(engine) as (url, keys), Ledger.init(url, keys, config=config_path) as ledger, \
            Projections(ledger) as p:  # fmt: skip
        ledger.record_many(list(generate(2000, seed=7)))
        p.runner.rebuild(workers=1)
        before = _tables(p)
        ledger.record_many(list(generate(500, seed=8)))  # the rebuild would add these
        stop = threading.Event()
        killer = threading.Thread(target=_kill_first_worker, args=(stop,))
        killer.start()
        try:
            with pytest.raises(StoreError, match="rebuild worker stopped without its result"):
                p.runner.rebuild(workers=2)
        finally:
            stop.set()
            killer.join()
        assert multiprocessing.active_children() == []  # the other worker was ended too
        assert _tables(p) == before
        assert p.runner.status().problem is None
        assert p.runner.rebuild(workers=2) == ledger.size == 2501


def test_rebuilds_of_two_ledgers_in_two_threads_each_read_their_own(
    tmp_path: Path, config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two threads of one process rebuild two ledgers on several workers at once, while a
    third records: each gets its own one-core tables (no worker reads the other's chain, or
    inherits a lock or a pipe of the other thread), and none hangs."""
    monkeypatch.setattr(parallel, "RANGE_EVENTS", 25)
    ledgers, expected = [], []
    for n in range(2):
        ledger = Ledger.init(f"sqlite:///{tmp_path / f'l{n}.db'}", tmp_path / f"k{n}",
                             config=config_path)  # fmt: skip
        ledger.record_many(list(generate(150 + 60 * n, seed=n)))
        with Projections(ledger) as p:
            p.runner.rebuild(workers=1)
            expected.append(_tables(p))
        ledgers.append(ledger)
    found: dict[int, Any] = {}

    def rebuild(n: int) -> None:
        with Projections(ledgers[n]) as p:
            for _ in range(3):
                p.runner.rebuild(workers=2)
            found[n] = _tables(p)

    stop = threading.Event()

    def record() -> None:
        while not stop.is_set():
            ledgers[0].record_many(list(generate(3, seed=99)))

    writer = threading.Thread(target=record)
    writer.start()
    threads = [threading.Thread(target=rebuild, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    stop.set()
    writer.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a rebuild hung"
    assert found[1] == expected[1]
    # the first ledger grew while it was rebuilt: its tables are its own chain's, and check
    with Projections(ledgers[0]) as p:
        assert p.check().position >= len(expected[0]["projection_events"])
    for ledger in ledgers:
        ledger.close()
