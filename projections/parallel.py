"""A rebuild on several cores: worker processes read and turn ranges of the chain into fact
rows, the parent writes them in order.

Reading the records, parsing them, building the fact rows and their digests for the seal
(:class:`.integrity.Tally`, an order-independent sum) is most of a rebuild, and every event's
rows depend on that event alone, so worker processes do it for ranges of sequences, each through
its own read-only connection to the store. The parent receives the ranges' rows in sequence
order and inserts them into the emptied tables inside its one rebuild transaction, adding up
the ranges' tallies: the tables, the tracked position and the seal are those of the one-core
rebuild, and a failure anywhere (a worker that stops, a store it cannot read) raises before
the transaction commits, so the old tables stay as they were.

Every range is bounded by the head the parent read, and rows below the head are never
rewritten by the ledger, so what concurrent writers append is not seen.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from ledger.errors import StoreError
from ledger.store import open_store
from ledger.workers import process_count

from . import facts
from .integrity import Tally

RANGE_EVENTS = 5_000  # events a task: small enough that the parent's inserts start early
MIN_EVENTS = 20_000  # below this, starting workers costs more than it saves


@dataclass
class RangeRows:
    """What a worker made of the events [start, stop]: their fact rows, one list per table of
    :data:`.facts.FACT_TABLES`, with their tally, and the last event read and its hash."""

    start: int
    stop: int
    tables: list[list[tuple[Any, ...]]] = field(default_factory=list)
    tally: Tally = field(default_factory=Tally)
    last: int = 0  # the last sequence read (0: the range held no row)
    last_hash: bytes | None = None
    failure: str | None = None  # the store could not be read, or a record not parsed


def workers_for(size: int, requested: int | None = None) -> int:
    """How many processes to rebuild *size* events with: 1 means the one-core path."""
    small = size < MIN_EVENTS
    return process_count(
        "rebuild", "LEDGER_REBUILD_WORKERS", requested, small=small, start_method="forkserver"
    )


def ranges(head: int, size: int = RANGE_EVENTS) -> list[tuple[int, int]]:
    """[start, stop] sequence ranges of *size* events each, up to *head*."""
    return [(start, min(start + size - 1, head)) for start in range(1, head + 1, size)]


def _work(url: str, tasks: list[tuple[int, int]], sender: Connection) -> None:
    """A worker process: derive its ranges' fact rows in order through its own read-only
    connection to the store at *url*, sending each as soon as it is ready."""
    try:
        store = open_store(url, read_only=True)
        try:
            with store.snapshot() as snapshot:
                for start, stop in tasks:
                    rows = list(snapshot.rows(start, stop))
                    result = RangeRows(start, stop, facts.fact_rows(rows))
                    result.tally.add_tables(result.tables)
                    if rows:
                        result.last, result.last_hash = rows[-1].sequence, rows[-1].hash
                    sender.send(result)
        finally:
            store.close()
    except Exception as exc:  # reported to the parent, which raises it as a StoreError
        sender.send(RangeRows(0, 0, failure=f"{type(exc).__name__}: {exc}"))
    sender.close()


def derived_ranges(url: str, head: int, workers: int) -> Iterator[RangeRows]:
    """The fact rows of events 1 to *head*, a range at a time in sequence order, made by
    *workers* processes reading the store at *url*. StoreError when a worker stops
    without its result or cannot read the store; the workers are ended either way."""
    tasks = ranges(head, RANGE_EVENTS)  # read now: tests make ranges small
    # Started from a fork server, not forked from this process: a worker forked while another
    # thread of ours was inside SQLite (a recording thread, another rebuild) could inherit a
    # lock nobody would release, or another rebuild's pipe, and hang for good.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    pipes: list[Connection] = []
    processes: list[Any] = []
    try:
        for number in range(min(workers, len(tasks))):
            receiver, sender = context.Pipe(duplex=False)
            process = context.Process(
                target=_work, args=(url, tasks[number::workers], sender), daemon=True
            )
            process.start()
            sender.close()
            pipes.append(receiver)
            processes.append(process)
        for number in range(len(tasks)):
            try:
                result: RangeRows = pipes[number % len(pipes)].recv()
            except EOFError:
                raise StoreError(
                    "a rebuild worker stopped without its result; the projection tables are "
                    "left as they were: run the rebuild again"
                ) from None
            if result.failure is not None:
                raise StoreError(f"the rebuild could not read the chain: {result.failure}")
            yield result
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()  # read-only work: nothing to lose
            process.join()
        for receiver in pipes:
            receiver.close()


__all__ = ["RangeRows", "derived_ranges", "workers_for"]
