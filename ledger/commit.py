"""Group commit: concurrent writers of one process share a transaction and its fsync.

Each ``record()`` call checks its events in its own thread, then queues them and waits.
Whichever caller takes the commit lock first leads: it takes every batch queued so far
(its own among them), seals them in one transaction, and hands each caller its own
receipts. Batches queue while the previous transaction commits, so a group forms without
any added wait: the longest a caller waits is the commit under way plus its own. A lone
caller commits alone, as before.

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ledger.sealing import Pending, Receipt

Outcome = list[Receipt] | BaseException
"""A batch's receipts, or why it was not (or not wholly) recorded."""


@dataclass(eq=False)
class _Request:
    pending: list[Pending]
    outcome: Outcome | None = None
    done: threading.Event = field(default_factory=threading.Event)


class GroupCommit:
    """Queues batches of checked events and commits them in groups (see module docstring).

    *commit* seals the batches it is given in order under *lock* (which the caller holds)
    and returns one outcome for each; it is the ledger's own transaction."""

    def __init__(
        self,
        commit: Callable[[Sequence[list[Pending]]], list[Outcome]],
        lock: threading.Lock,
        *,
        limit: int = 1000,
    ) -> None:
        self._commit = commit
        self._lock = lock  # the ledger's commit lock: one transaction of this process at a time
        self._limit = limit  # events per group, beyond which the rest waits for the next one
        self._queue: list[_Request] = []
        self._queued = threading.Lock()
        self.groups = 0  # transactions committed by groups (for tests and benchmarks)
        self.batches = 0  # batches they carried

    def submit(self, pending: list[Pending]) -> list[Receipt]:
        """Record *pending* (one caller's batch) with whatever else is queued; its receipts."""
        request = _Request(pending)
        with self._queued:
            self._queue.append(request)
        while not request.done.is_set():
            with self._lock:
                if request.done.is_set():
                    break  # an earlier leader committed it while we waited for the lock
                self._lead()
        outcome = request.outcome
        if isinstance(outcome, BaseException):
            raise outcome
        assert outcome is not None
        return outcome

    def _lead(self) -> None:
        group = self._take()
        if not group:
            return
        try:
            outcomes = self._commit([request.pending for request in group])
        except BaseException as exc:  # the leader's own interruption: nobody may wait forever
            for number, request in enumerate(group):
                request.outcome = exc if number == 0 else copy.copy(exc)
                request.done.set()
            raise
        self.groups += 1
        self.batches += len(group)
        shared: set[int] = set()
        for request, outcome in zip(group, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                # one exception object may answer several callers: each raises its own copy
                outcome = copy.copy(outcome) if id(outcome) in shared else outcome
                shared.add(id(outcome))
            request.outcome = outcome
            request.done.set()

    def _take(self) -> list[_Request]:
        """The queued batches, oldest first, up to the group's limit (always at least one)."""
        with self._queued:
            taken, count = 0, 0
            for request in self._queue:
                if taken and count + len(request.pending) > self._limit:
                    break
                taken += 1
                count += len(request.pending)
            group, self._queue = self._queue[:taken], self._queue[taken:]
        return group
