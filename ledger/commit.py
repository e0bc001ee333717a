"""Group commit: concurrent writers of one process share a transaction and its fsync.

Each ``record()`` call checks its events in its own thread, then queues them and waits.
Whichever caller finds no leader leads: it takes every batch queued so far (its own among
them), seals them in one transaction, and hands each caller its own receipts. Batches queue
while the previous transaction commits; a leader also waits, at most ``linger`` (2 ms), for
callers of this process that are still checking their events, and not at all once every one
of them has queued: a lone caller commits at once, alone.

Each caller's batch stays all-or-nothing, and a refusal in one caller's events never drops
another's: when a combined transaction fails before its commit (one event's ``id`` reused
with other content, one subject's keys misfiled, anything), nothing of it was written, and
every batch of the group is then sealed again on its own, each getting its own receipts or
its own refusal. A failure of the commit itself (a lost connection, a full disk), whose
outcome the ledger cannot know, reaches every caller of the group and is never retried. A
caller interrupted while its batch waits takes the batch out of the queue: it is not
recorded behind its back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from ledger.errors import LedgerError
from ledger.sealing import Pending, Receipt

Outcome = list[Receipt] | BaseException
"""A batch's receipts, or why it was not (or not wholly) recorded."""


@dataclass(eq=False)
class _Request:
    pending: list[Pending]
    outcome: Outcome | None = None  # set (under the queue's lock) once answered
    taken: bool = False  # a leader took it: it is being sealed


def own_copy(exc: BaseException) -> BaseException:
    """A copy of *exc* for one more caller to raise (each thread its own traceback), made
    without calling its constructor, whose signature need not match its ``args``."""
    try:
        new = type(exc).__new__(type(exc), *exc.args)
        new.__dict__.update(exc.__dict__)
        new.args = exc.args
    except Exception:  # an exception type that cannot be copied: share the one object
        return exc
    return new


class GroupCommit:
    """Queues batches of checked events and commits them in groups (see module docstring).

    *commit* seals the batches it is given in order under *lock* (which the caller holds)
    and returns one outcome for each, and the interruption (KeyboardInterrupt, ...) that cut
    it short, if any, for the leader to raise once every caller is answered."""

    def __init__(
        self,
        commit: Callable[[Sequence[list[Pending]]], tuple[list[Outcome], BaseException | None]],
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
        try:
            self._wait_or_lead(request)
        except BaseException:
            self._withdraw(request)
            raise
        outcome = request.outcome
        if isinstance(outcome, BaseException):
            raise outcome
        assert outcome is not None
        return outcome

    def _wait_or_lead(self, request: _Request) -> None:
        while True:
            with self._state:
                while request.outcome is None and self._leading:
                    self._state.wait()
                if request.outcome is not None:
                    return
                self._leading = True
            try:
                with self._lock:
                    self._lead()
            finally:
                with self._state:
                    self._leading = False
                    self._state.notify_all()

    def _withdraw(self, request: _Request) -> None:
        """An interrupted caller: its batch leaves the queue if no leader took it yet; if one
        did, the caller waits for the answer, so that nothing it sent is sealed after it
        returned."""
        with self._state:
            if not request.taken:
                if request in self._queue:
                    self._queue.remove(request)
                return
            while request.outcome is None:
                self._state.wait()

    def _lead(self) -> None:
        group = self._take()
        if not group:
            return
        outcomes: list[Outcome] = []
        interruption: BaseException | None = None
        try:
            outcomes, interruption = self._commit([request.pending for request in group])
            self.groups += 1
            self.batches += len(group)
        except BaseException as exc:  # a bug of ours: nobody may wait forever
            interruption = exc
        finally:
            self._answer(group, outcomes, interruption)
        if interruption is not None:
            raise interruption

    def _answer(
        self, group: list[_Request], outcomes: list[Outcome], interruption: BaseException | None
    ) -> None:
        """Every request of *group* answered: by its outcome, or, past the outcomes given, by
        an error saying the transaction was interrupted (nothing of the batch written)."""
        seen: set[int] = set()
        with self._state:
            for number, request in enumerate(group):
                outcome: Outcome
                if number < len(outcomes):
                    outcome = outcomes[number]
                else:
                    outcome = LedgerError(
                        "the transaction recording this batch was interrupted "
                        f"({type(interruption).__name__}); nothing of the batch was written"
                    )
                if isinstance(outcome, BaseException):
                    outcome = own_copy(outcome) if id(outcome) in seen else outcome
                    seen.add(id(outcome))
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
            for request in group:
                request.taken = True
        return group

    def _count(self) -> int:
        return sum(len(request.pending) for request in self._queue)
