"""Checking events on several cores: import lines parsed and validated in forked processes.

The writer (the parent) reads the lines and hands them out in chunks of ``CHUNK`` to a pool
of forked workers, which parse and validate each line exactly as the one-core path does
(:func:`check`, the one function both paths call) and send back the checked events. The
parent takes the results in the order of the lines, so the first refusal it meets is the one
of the lowest line number, with the message the one-core path gives; it raises it then, and
as on one core nothing has been committed. At most ``IN_FLIGHT`` chunks a worker are handed
out and not yet taken back, so memory stays flat however long the file.

Workers are forked before the write transaction begins and only compute: they inherit the
vocabulary, open no connection and touch no key; what crosses a pipe is the lines and the
checked events.
"""

from __future__ import annotations

import gc
import itertools
import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from ledger.core.contract import parse_line, validate
from ledger.core.vocabulary import Vocabulary
from ledger.errors import InvalidEvent, LedgerError

MAX_WORKERS = 64  # a typo of --workers must not fork thousands of processes
CHUNK = 500  # lines a task: large enough that a task's overhead is small beside its work
IN_FLIGHT = 4  # tasks a worker handed out and not yet taken back: memory stays flat
MIN_EVENTS = 5_000  # below this, starting workers costs more than it saves

Checked = tuple[int, dict[str, Any], dict[str, Any] | None, bool]
"""An event that passed: its number, its contract keys but data, its data, ``at`` filled in."""


@dataclass(frozen=True)
class Job:
    """What every check of one batch shares (inherited by the forked workers)."""

    vocabulary: Vocabulary
    label: str
    default_at: bool
    ledger_own: bool
    raw: bool  # the events are import lines (bytes), to be parsed strictly first


def check(job: Job, index: int, event: Any, now: str | None = None) -> Checked:
    """One event parsed (if a line) and checked against the contract; InvalidEvent names its
    number. *now*: the time ``at`` defaults to, when the job defaults it."""
    if job.raw:
        event = parse_line(event, line=index)
    if not isinstance(event, Mapping):
        raise InvalidEvent("an event must be a JSON object", line=index, label=job.label)
    event = {k: v.isoformat() if isinstance(v, date) else v for k, v in event.items()}
    defaulted = "at" not in event and job.default_at
    if defaulted:
        event["at"] = now or datetime.now(UTC).isoformat()
    try:
        checked = validate(event, vocabulary=job.vocabulary, ledger_own=job.ledger_own)
    except InvalidEvent as exc:
        raise exc.at_line(index, job.label) from None
    data = checked.pop("data", None)
    return index, checked, data, defaulted


def process_count(
    what: str,
    variable: str,
    requested: int | None,
    *,
    small: bool = False,
    start_method: str = "fork",
) -> int:
    """How many processes to *what* with (1: the one-core path): *requested*, else the
    environment's *variable*, else every core up to 8, or 1 when the work is *small*; 1 too
    where processes cannot be started by *start_method*. Bad values are refused by name."""
    if requested is None:
        env = os.environ.get(variable)
        if env:
            try:
                requested = int(env)
            except ValueError:
                raise LedgerError(f"{variable} must be a whole number, not {env!r}") from None
        elif small:
            return 1
        else:
            requested = min(len(os.sched_getaffinity(0)), 8)
    if not 1 <= requested <= MAX_WORKERS:
        raise LedgerError(
            f"the number of {what} workers must be from 1 to {MAX_WORKERS}, not {requested}"
        )
    if start_method not in multiprocessing.get_all_start_methods():
        return 1
    return requested


def workers_for(requested: int | None = None) -> int:
    """How many processes to check a large batch with: 1 means the one-core path."""
    return process_count("import", "LEDGER_IMPORT_WORKERS", requested)


# -- the pool ----------------------------------------------------------------------------------

_JOB: Job | None = None  # the job of this worker process (set by its initializer)
Refusal = tuple[str, str | None, tuple[str, ...], int | None, str]  # InvalidEvent's fields


def _check_chunk(
    items: list[tuple[int, Any]], now: str | None
) -> tuple[list[Checked], Refusal | None]:
    """A worker's task: the events of one chunk that passed, up to the first refusal."""
    job = _JOB
    assert job is not None, "the check job is set before the workers fork"
    done: list[Checked] = []
    for index, event in items:
        try:
            done.append(check(job, index, event, now))
        except InvalidEvent as exc:  # an exception does not pickle with its fields
            return done, (exc.why, exc.key, exc.accepted, exc.line, exc.label)
    return done, None


def _refusal(fields: Refusal) -> InvalidEvent:
    why, key, accepted, line, label = fields
    return InvalidEvent(why, key=key, accepted=accepted, line=line, label=label)


def check_all(
    job: Job, events: Iterable[tuple[int, Any]], workers: int, now: str | None = None
) -> Iterator[Checked]:
    """Every event checked, in order, on *workers* processes (on this one for fewer than
    MIN_EVENTS events, or one worker); the first refusal, by number, raises InvalidEvent
    once every event before it has been yielded, as on one core."""
    iterator = iter(events)
    if workers <= 1:
        for index, event in iterator:
            yield check(job, index, event, now)
        return
    head, failure = _take(iterator, MIN_EVENTS)  # failure: the input's own (a line too long)
    if failure is not None or len(head) < MIN_EVENTS:
        for index, event in head:
            yield check(job, index, event, now)
        if failure is not None:
            raise failure
        return
    yield from _pooled(job, itertools.chain(head, iterator), workers, now)


def _take(
    events: Iterator[tuple[int, Any]], count: int
) -> tuple[list[tuple[int, Any]], Exception | None]:
    """Up to *count* events, and the refusal of the input itself if reading it failed (the
    events read before it are kept: they are checked, and may hold an earlier refusal)."""
    items: list[tuple[int, Any]] = []
    try:
        for item in events:
            items.append(item)
            if len(items) == count:
                break
    except Exception as exc:  # a refusal, or the reader's own failure (an I/O error)
        return items, exc
    return items, None


def _pooled(
    job: Job, events: Iterator[tuple[int, Any]], workers: int, now: str | None
) -> Iterator[Checked]:
    # The workers inherit this process's objects: frozen, the collector leaves them alone, so
    # they are not copied page by page into every worker, and no worker's collector finalises
    # an object of ours (a store connection) that it shares. An executor rather than a
    # multiprocessing Pool: a Pool's terminate() can hang for good when it stops workers
    # mid-task (seen here), an executor's shutdown waits for the tasks under way (a few
    # chunks at most) and says when a worker died.
    context = multiprocessing.get_context("fork")
    gc.freeze()
    try:
        pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_begin, initargs=(job,))
        pool.submit(_begin, job).result()  # every worker forks now, before any transaction
    finally:
        gc.unfreeze()
    try:
        yield from _in_order(pool, events, workers, now)
    except BrokenProcessPool:
        raise LedgerError(
            "a worker process checking the lines stopped; nothing was written: try again (or "
            "with --workers 1)"
        ) from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _in_order(
    pool: ProcessPoolExecutor, events: Iterator[tuple[int, Any]], workers: int, now: str | None
) -> Iterator[Checked]:
    """The pool's results, chunk by chunk in order, with a bounded number in flight; the
    first refusal (or failure of the input) once every line before it has been yielded."""
    pending: deque[Future[tuple[list[Checked], Refusal | None]]] = deque()
    failure: BaseException | None = None
    while True:
        while failure is None and len(pending) < workers * IN_FLIGHT:
            items, failure = _take(events, CHUNK)  # raised once the lines before are checked
            if not items:
                break
            pending.append(pool.submit(_check_chunk, items, now))
        if not pending:
            break
        done, refused = pending.popleft().result()
        yield from done
        if refused is not None:
            raise _refusal(refused)
    if failure is not None:
        raise failure


def _begin(job: Job) -> None:
    """A worker's start (and the first task, which makes every worker fork at once)."""
    global _JOB
    _JOB = job


__all__ = ["Job", "check", "check_all", "process_count", "workers_for"]
