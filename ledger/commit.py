"""Group commit: concurrent writers of one process share a transaction and its fsync.

Each ``record()`` call checks its events in its own thread, then queues them and waits.
Whichever caller takes the commit lock first leads: it takes every batch queued so far
(its own among them), seals them in one transaction, and hands each caller its own
receipts. Batches queue while the previous transaction commits; a leader also waits, at
most ``linger`` (2 ms), for callers of this process that are still checking their events,
and not at all once every one of them has queued: a lone caller commits at once, alone.

Each caller's batch stays all-or-nothing, and a refusal in one caller's events never drops
another's: when a combined transaction is refused because of one event (an ``id`` reused
with other content), nothing of it was written, and every batch of the group is then sealed
again on its own, each getting its own receipts or its own refusal. A failure of the store
itself (a lost connection, a full disk) reaches every caller of the group, as it would have
reached each alone.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from ledger.sealing import Pending, Receipt

Outcome = list[Receipt] | BaseException
"""A batch's receipts, or why it was not (or not wholly) recorded."""


@dataclass(eq=False)
class _Request:
    pending: list[Pending]
    outcome: Outcome | None = None  # set (under the queue's lock) once answered


class GroupCommit:
    """Queues batches of checked events and commits them in groups (see module docstring).

    *commit* seals the batches it is given in order under *lock* (which the caller holds)
    and returns one outcome for each; it is the ledger's own transaction. A leader waits at
    most *linger* seconds for callers that are still checking their events (never for a lone
    caller, nor once every caller under way has queued)."""

    def __init__(
        self,
        commit: Callable[[Sequence[list[Pending]]], list[Outcome]],
        lock: threading.Lock,
        *,
        limit: int = 1000,
        linger: float = 0.002,
    ) -> None:
        self._commit = commit
        self._lock = lock  # the ledger's commit lock: one transaction of this process at a time
        self._limit = limit  # events per group, beyond which the rest waits for the next one
        self.linger = linger
        self._queue: list[_Request] = []
        self._state = threading.Condition()  # guards the queue, the counts and the leader
        self._arriving = 0  # callers checking their events, not yet queued
        self._leading = False
        self.groups = 0  # transactions committed by groups (for tests and benchmarks)
        self.batches = 0  # batches they carried

    @contextmanager
    def arriving(self) -> Iterator[None]:
        """Around a caller's checking of its events: a leader may wait (briefly) for it."""
        with self._state:
            self._arriving += 1
        try:
            yield
        finally:
            with self._state:
                self._arriving -= 1
                self._state.notify_all()

    def submit(self, pending: list[Pending]) -> list[Receipt]:
        """Record *pending* (one caller's batch) with whatever else is queued; its receipts."""
        request = _Request(pending)
        with self._state:
            self._queue.append(request)
            self._state.notify_all()
        while True:
            with self._state:
                while request.outcome is None and self._leading:
                    self._state.wait()
                if request.outcome is not None:
                    break
                self._leading = True
            try:
                with self._lock:
                    self._lead()
            finally:
                with self._state:
                    self._leading = False
                    self._state.notify_all()
        outcome = request.outcome
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def _lead(self) -> None:
        group = self._take()
        if not group:
            return
        try:
            outcomes = self._commit([request.pending for request in group])
        except BaseException as exc:  # the leader's own interruption: nobody may wait forever
            self._answer(group, [exc] * len(group))
            raise
        self.groups += 1
        self.batches += len(group)
        self._answer(group, outcomes)

    def _answer(self, group: list[_Request], outcomes: list[Outcome]) -> None:
        shared: set[int] = set()
        with self._state:
            for request, outcome in zip(group, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    # one exception object may answer several callers: each raises its own
                    outcome = copy.copy(outcome) if id(outcome) in shared else outcome
                    shared.add(id(outcome))
                request.outcome = outcome
            self._state.notify_all()

    def _take(self) -> list[_Request]:
        """The queued batches, oldest first, up to the group's limit (always at least one),
        once the callers still checking their events have queued or *linger* has passed."""
        with self._state:
            deadline = time.monotonic() + self.linger
            while self._arriving and self._count() < self._limit:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._state.wait(left)
            taken, count = 0, 0
            for request in self._queue:
                if taken and count + len(request.pending) > self._limit:
                    break
                taken += 1
                count += len(request.pending)
            group, self._queue = self._queue[:taken], self._queue[taken:]
        return group

    def _count(self) -> int:
        return sum(len(request.pending) for request in self._queue)
