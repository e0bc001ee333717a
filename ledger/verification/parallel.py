"""Verification on several cores: ranges of the chain checked at once, joined by stored hashes.

The chain is cut into ranges whose first leaf is a multiple of ``2**CHUNK_LEVEL``. A
worker process checks each range as the one-core path checks the whole chain (each
record re-hashed, re-linked to the *stored* hash of the row before the range, its
columns and seal checked) and recomputes the perfect Merkle subtrees of each chunk,
comparing every stored node of levels 1 to ``CHUNK_LEVEL``. The range before checks
that stored hash against its own record, so every link is checked by someone. The
parent then folds the chunks' roots into the upper levels, compares those stored
nodes, checks the head, and reports the first bad position over all ranges: the
same report the one-core path gives.

Workers are forked (they inherit the seal key; nothing secret crosses a pipe) and
each opens its own read-only connection; every range is bounded by the head the
parent read, and rows and tree nodes below the head are never rewritten by the
ledger, so what concurrent writers append cannot be seen.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

from ledger.core.chain import GENESIS, keymap_digest
from ledger.errors import IntegrityError, LedgerError, StoreError
from ledger.log.merkle import TreeBuilder, leaf_hash
from ledger.store import open_store
from ledger.store.base import Head, Snapshot
from ledger.verification.checker import (
    STRAY,
    ChainChecker,
    Mac,
    VerifyReport,
    check_head_seal,
    stray_row,
)

CHUNK_LEVEL = 10  # chunks of 1,024 leaves: perfect subtrees a worker checks whole
RANGE_CHUNKS = 8  # at most this many chunks per task (8,192 events): progress moves
MIN_EVENTS = 5_000  # below this, starting workers costs more than it saves


@dataclass
class _Job:
    url: str
    ledger_id: str
    mac: Mac | None
    size: int
    chunk_level: int


@dataclass
class RangeResult:
    """What a worker found in leaves [start, stop)."""

    start: int
    stop: int
    roots: list[bytes] = field(default_factory=list)  # complete chunks' roots, in order
    edge: list[bytes] = field(default_factory=list)  # a final partial chunk's perfect subtrees
    error: tuple[int, str] | None = None  # first bad sequence and why
    failure: str | None = None  # the store could not be read


_JOB: _Job | None = None  # set in the parent just before forking; workers inherit it


def workers_for(size: int, requested: int | None = None) -> int:
    """How many processes to verify *size* events with: 1 means the one-core path."""
    if requested is None:
        env = os.environ.get("LEDGER_VERIFY_WORKERS")
        if env:
            try:
                requested = int(env)
            except ValueError:
                raise LedgerError(
                    f"LEDGER_VERIFY_WORKERS must be a whole number, not {env!r}"
                ) from None
        elif size < MIN_EVENTS:
            return 1
        else:
            requested = min(len(os.sched_getaffinity(0)), 8)
    if requested < 1:
        raise LedgerError(f"the number of verify workers must be at least 1, not {requested}")
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return requested


def ranges(size: int, chunk_level: int, chunks: int) -> list[tuple[int, int]]:
    """[start, stop) leaf ranges of *chunks* chunks each; the last may end in a partial chunk."""
    span = chunks << chunk_level
    return [(start, min(start + span, size)) for start in range(0, size, span)]


def _work(tasks: list[tuple[int, int]], sender: Connection) -> None:
    """A worker process (forked): check its ranges in order through its own read-only
    connection, sending each result as soon as it is ready."""
    job = _JOB
    assert job is not None, "the verify job is set before the workers fork"
    try:
        store = open_store(job.url, read_only=True)
        try:
            with store.snapshot() as snapshot:
                for start, stop in tasks:
                    result = RangeResult(start, stop)
                    try:
                        _check(snapshot, job, result)
                    except IntegrityError as exc:
                        result.error = (exc.sequence or 0, exc.what)
                    sender.send(result)
        finally:
            store.close()
    except Exception as exc:  # reported to the parent, which raises it as a StoreError
        sender.send(RangeResult(0, 0, failure=f"{type(exc).__name__}: {exc}"))
    sender.close()


def _check(snapshot: Snapshot, job: _Job, result: RangeResult) -> None:
    start, stop, top = result.start, result.stop, job.chunk_level
    prev = GENESIS
    if start > 0:
        before = next(snapshot.rows(start, start), None)
        # A missing row before the range is reported by the range that holds it (earlier).
        prev = before.hash if before is not None else b""
    checker = ChainChecker(job.ledger_id, job.mac, start=start + 1, prev=prev)
    streams: dict[int, Iterator[tuple[int, bytes]]] = {}
    builder, chunk_start, chunk_size = TreeBuilder(), start, 1 << top
    for row in snapshot.rows(start + 1, stop):
        checker.check(row)
        for level, index, digest in builder.append(leaf_hash(row.state))[1:]:
            stream = streams.get(level)
            if stream is None:
                stream = streams[level] = snapshot.level(level, start >> level, stop >> level)
            position = (chunk_start >> level) + index
            if next(stream, None) != (position, digest):
                raise IntegrityError(
                    row.sequence,
                    f"the stored Merkle tree node (level {level}, index {position}) does not "
                    "match the events: the tree was changed",
                )
        if builder.size == chunk_size:
            result.roots.append(builder.root())
            builder, chunk_start = TreeBuilder(), chunk_start + chunk_size
    if checker.expected <= stop:
        following = next(snapshot.rows(checker.expected, job.size), None)
        if following is not None:
            raise IntegrityError(
                checker.expected,
                f"event {checker.expected} is missing "
                f"(the next stored row is {following.sequence})",
            )
        raise IntegrityError(
            checker.expected,
            f"event {checker.expected} is missing: the head records {job.size} events",
        )
    result.edge = builder.peaks()


def verify_parallel(
    snapshot: Snapshot,
    *,
    url: str,
    ledger_id: str,
    mac: Mac | None,
    workers: int,
    progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Verify the store behind *snapshot* with *workers* processes; see the module's doc."""
    global _JOB
    chunk_level = CHUNK_LEVEL  # read now: tests make them small
    head = snapshot.head()
    size = head.sequence
    # at least four tasks a worker where the chain allows, so the work balances
    range_chunks = max(1, min(RANGE_CHUNKS, (size >> chunk_level) // (4 * workers)))
    _JOB = _Job(url, ledger_id, mac, size, chunk_level)
    found: list[tuple[int, int, str]] = []  # (sequence, stage, reason)
    upper = _Upper(snapshot, chunk_level, size)
    tasks = ranges(size, chunk_level, range_chunks)
    context = multiprocessing.get_context("fork")
    pipes, processes = [], []
    # The workers inherit this process's objects: frozen, the collector leaves them alone, so
    # they are not copied page by page into every worker (and are not scanned here meanwhile).
    gc.freeze()
    try:
        for number in range(min(workers, len(tasks))):
            receiver, sender = context.Pipe(duplex=False)
            process = context.Process(
                target=_work, args=(tasks[number::workers], sender), daemon=True
            )
            process.start()
            sender.close()
            pipes.append(receiver)
            processes.append(process)
        for number in range(len(tasks)):  # in order: the first bad range found ends the search
            try:
                result: RangeResult = pipes[number % len(pipes)].recv()
            except EOFError:
                raise StoreError("a verification worker stopped without a result") from None
            if result.failure is not None:
                raise StoreError(f"verification could not read the store: {result.failure}")
            if result.error is not None:
                found.append((result.error[0], 0, result.error[1]))
                break
            upper.partial = result.edge
            try:
                upper.add(result.roots)
            except IntegrityError as exc:
                found.append((exc.sequence or 0, 1, exc.what))
                break
            if progress is not None:
                progress(result.stop)
    finally:
        _JOB = None
        gc.unfreeze()
        for process in processes:
            if process.is_alive():
                process.terminate()  # read-only work: nothing to lose
            process.join()
        for receiver in pipes:
            receiver.close()
    if not found:
        try:
            root = _finish(snapshot, head, upper, ledger_id, mac)
        except IntegrityError as exc:
            found.append((exc.sequence or 0, 2, exc.what))
    sealed = mac is not None
    if found:
        first_bad, stage, reason = min(found)
        return VerifyReport(
            intact=False,
            size=size,
            checked=size if stage == 2 else max(0, min(first_bad - 1, size)),
            first_bad=first_bad,
            reason=reason,
            seals_checked=sealed,
        )
    return VerifyReport(intact=True, size=size, checked=size, seals_checked=sealed, root=root)


class _Upper:
    """The levels above the chunks: fold the chunks' roots, compare the stored nodes."""

    def __init__(self, snapshot: Snapshot, chunk_level: int, size: int) -> None:
        self.snapshot, self.base, self.size = snapshot, chunk_level, size
        self.builder = TreeBuilder()
        self.streams: dict[int, Iterator[tuple[int, bytes]]] = {}
        self.partial: list[bytes] = []  # the final partial chunk's perfect subtrees

    def add(self, roots: list[bytes]) -> None:
        for chunk_root in roots:
            for height, index, digest in self.builder.append(chunk_root)[1:]:
                level = self.base + height
                stream = self.streams.get(level)
                if stream is None:
                    stream = self.streams[level] = self.snapshot.level(level, 0, self.size >> level)
                if next(stream, None) != (index, digest):
                    raise IntegrityError(
                        (index + 1) << level,
                        f"the stored Merkle tree node (level {level}, index {index}) does not "
                        "match the events: the tree was changed",
                    )


def _finish(snapshot: Snapshot, head: Head, upper: _Upper, ledger_id: str, mac: Mac | None) -> str:
    """The checks after the last row, in the one-core path's order; the root (hex)."""
    size = head.sequence
    stray = stray_row(snapshot)
    if stray is not None:
        raise IntegrityError(stray, STRAY.format(stray))
    beyond = next(snapshot.rows(size + 1), None)
    if beyond is not None:
        raise IntegrityError(
            beyond.sequence,
            f"event {beyond.sequence} lies beyond the head ({size} events): "
            "it was appended outside the ledger",
        )
    last = next(snapshot.rows(size, size), None)
    if last is None or head.hash != last.hash:
        raise IntegrityError(size, "the head's hash is not the newest event's hash")
    check_head_seal(
        head, ledger_id=ledger_id, mac=mac, keymap=keymap_digest(snapshot.generations())
    )
    for level in snapshot.levels():
        extra = next(snapshot.level(level, size >> level), None)
        if extra is not None:
            raise IntegrityError(
                size,
                f"the stored Merkle tree has a node (level {level}, index {extra[0]}) "
                "that no event accounts for",
            )
    return TreeBuilder.resume(size, upper.builder.peaks() + upper.partial).root().hex()


__all__ = ["verify_parallel", "workers_for"]
