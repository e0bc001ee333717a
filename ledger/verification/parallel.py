"""Verification on several cores: ranges of the chain checked at once, joined by stored hashes.

The chain is cut into ranges whose first leaf is a multiple of ``2**CHUNK_LEVEL``. A
worker process checks each range as the one-core path checks the whole chain (each
record re-hashed, re-linked to the *stored* hash of the row before the range, its
columns and seal checked) and recomputes the perfect Merkle subtrees of each chunk,
comparing every stored node of levels 1 to ``CHUNK_LEVEL``. The range before checks
that stored hash against its own record, so every link is checked by someone. The
parent then folds the chunks' roots into the upper levels, compares those stored
nodes, checks the head, and reports the first bad position over all ranges: the
same report the one-core path gives, made by the same checks (:mod:`checker`'s
ChainChecker, TreeChecker, check_stray and check_end), stray rows first as there.

Workers are forked (they inherit the seal key; nothing secret crosses a pipe) and
each opens its own read-only connection; every range is bounded by the head the
parent read, and rows and tree nodes below the head are never rewritten by the
ledger, so what concurrent writers append cannot be seen.
"""

from __future__ import annotations

import gc
import multiprocessing
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

from ledger.core.chain import GENESIS, keymap_digest
from ledger.errors import IntegrityError, StoreError
from ledger.log.merkle import TreeBuilder
from ledger.store import open_store
from ledger.store.base import Head, Snapshot
from ledger.verification.checker import (
    ChainChecker,
    Finding,
    FindingError,
    FindingKind,
    Mac,
    TreeChecker,
    VerifyReport,
    beyond_head,
    check_end,
    check_stray,
    finding_of,
    missing,
    stored_after,
)
from ledger.workers import process_count

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
    error: Finding | None = None  # the first bad position and why
    failure: str | None = None  # the store could not be read


_JOB: _Job | None = None  # set in the parent just before forking; workers inherit it


def workers_for(size: int, requested: int | None = None) -> int:
    """How many processes to verify *size* events with: 1 means the one-core path."""
    return process_count(
        "verify", "LEDGER_VERIFY_WORKERS", requested, small=size < MIN_EVENTS, start_method="fork"
    )


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
                        result.error = finding_of(exc)
                    sender.send(result)
        finally:
            store.close()
    except Exception as exc:  # reported to the parent, which raises it as a StoreError
        sender.send(RangeResult(0, 0, failure=f"{type(exc).__name__}: {exc}"))
    sender.close()


def _check(snapshot: Snapshot, job: _Job, result: RangeResult) -> None:
    """Leaves [start, stop) as the one-core path checks them; the complete chunks' roots and
    the final partial chunk's subtrees into *result*."""
    start, stop = result.start, result.stop
    prev = GENESIS
    if start > 0:
        before = next(snapshot.rows(start, start), None)
        # A missing row before the range is reported by the range that holds it (earlier).
        prev = before.hash if before is not None else b""
    checker = ChainChecker(job.ledger_id, job.mac, start=start + 1, prev=prev)
    tree = TreeChecker(lambda level: snapshot.level(level, start >> level, stop >> level))
    tree.offset, chunk_size = start, 1 << job.chunk_level
    for row in snapshot.rows(start + 1, stop):
        checker.check(row)
        tree.add(row.sequence, row.state)
        if tree.builder.size == chunk_size:
            result.roots.append(tree.builder.root())
            tree.builder = TreeBuilder()
            tree.offset += chunk_size
    if checker.expected <= stop:  # the parent names the row after the gap (see _named)
        raise missing(checker.expected, size=job.size).error()
    result.edge = tree.builder.peaks()


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
    sealed = mac is not None
    try:  # first, as on one core: no range needs checking to report it
        check_stray(snapshot)
    except FindingError as exc:
        return VerifyReport.failed(exc.finding, size=size, checked=0, seals_checked=sealed)
    # at least four tasks a worker where the chain allows, so the work balances
    range_chunks = max(1, min(RANGE_CHUNKS, (size >> chunk_level) // (4 * workers)))
    _JOB = _Job(url, ledger_id, mac, size, chunk_level)
    found: list[tuple[int, int, Finding, int]] = []  # (sequence, stage, finding, checked)
    upper = TreeChecker(lambda level: snapshot.level(level, 0, size >> level), base=chunk_level)
    tasks = ranges(size, chunk_level, range_chunks)
    context = multiprocessing.get_context("fork")
    pipes, processes = [], []
    edge: list[bytes] = []  # the final partial chunk's perfect subtrees
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
            # the chunks checked whole before any bad row: their upper nodes come first
            for chunk, chunk_root in enumerate(result.roots):
                end = result.start + ((chunk + 1) << chunk_level)
                try:
                    upper.add_hash(end, chunk_root)
                except FindingError as exc:
                    found.append((end, 1, exc.finding, end - 1))
                    break
            if result.error is not None:
                bad = result.error.sequence  # None: a row the store could not read
                at, checked = (result.start, result.start) if bad is None else (bad, bad - 1)
                found.append((at, 0, _named(snapshot, result.error, size), min(checked, size)))
            if found:
                break
            edge = result.edge
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
        final = TreeBuilder.resume(size, upper.builder.peaks() + edge)
        try:
            _finish(snapshot, head, final, ledger_id, mac)
        except IntegrityError as exc:
            found.append((size, 2, finding_of(exc), size))
    if found:
        _, _, finding, checked = min(found, key=lambda entry: entry[:2])
        return VerifyReport.failed(finding, size=size, checked=checked, seals_checked=sealed)
    return VerifyReport(intact=True, size=size, checked=size, seals_checked=sealed,
                        root=final.root().hex())  # fmt: skip


def _named(snapshot: Snapshot, finding: Finding, size: int) -> Finding:
    """A missing event named, as on one core, by the next row the parent's snapshot holds
    (which may lie beyond the head); a worker's own connection may see rows appended since."""
    if finding.kind is not FindingKind.MISSING or finding.sequence is None:
        return finding
    following = next(snapshot.rows(finding.sequence), None)
    return missing(finding.sequence, following=None if following is None else following.sequence,
                   size=size)  # fmt: skip


def _finish(snapshot: Snapshot, head: Head, final: TreeBuilder, ledger_id: str,
            mac: Mac | None) -> None:  # fmt: skip
    """The checks after the last row, the one-core path's, in its order; *final*: the tree
    of every event, folded from the ranges."""
    size = head.sequence
    beyond = next(snapshot.rows(size + 1), None)
    if beyond is not None:
        raise beyond_head(beyond.sequence, size).error()
    last = GENESIS if size == 0 else next((r.hash for r in snapshot.rows(size, size)), None)
    check_end(head, expected=size + 1, last=last, ledger_id=ledger_id, mac=mac,
              keymap=keymap_digest(snapshot.generations()))  # fmt: skip
    tree = TreeChecker(stored_after(snapshot, size), snapshot.levels(), builder=final)
    tree.finish()


__all__ = ["verify_parallel", "workers_for"]
