"""A projection of your own, written the eventsourcing way and run over the ledger.

eventsourcing's ``ProjectionRunner`` follows an application's notification log, hands each
event with its ``Tracking`` to a ``Projection``, and the projection writes its view (a
``TrackingRecorder``) and the position in one transaction, so a restarted runner resumes
after the last event it applied. :class:`LedgerApplication` is the ledger seen as such an
application, read only: its recorder is :attr:`ledger.api.Ledger.recorder` (notification id =
ledger sequence), its mapper turns each notification into a :class:`LedgerEvent` (the
event's metadata; personal data values stay encrypted envelopes, never decrypted here).

The example, :class:`SharesPerRecipient`, answers "which recipients received whose data,
which categories" (the recipients Art. 19 says must be told of a rectification or erasure),
into a view on SQLite (:class:`SQLiteSharesView`) or PostgreSQL (``PostgresSharesView`` in
:mod:`ledger.demo.own_projection_postgres`, which needs ``pip install -e '.[postgres]'``)::

    env = {"LEDGER_DB": "sqlite:///ledger.db",
           "PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": "shares.db"}
    with ProjectionRunner(application_class=LedgerApplication,
                          projection_class=SharesPerRecipient,
                          view_class=SQLiteSharesView, env=env) as runner:
        runner.wait(runner.app.ledger.size)
        print(runner.view.recipients())
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import (
    ApplicationRecorder,
    InfrastructureFactory,
    Mapper,
    StoredEvent,
    Tracking,
    TrackingRecorder,
)
from eventsourcing.popo import POPOFactory
from eventsourcing.projection import Projection
from eventsourcing.sqlite import SQLiteTrackingRecorder
from eventsourcing.utils import Environment

from ledger.api import Ledger
from ledger.core import chain

# -- the ledger as an eventsourcing application (read only) --------------------------------------


@dataclass(frozen=True)
class LedgerEvent:
    """One event of the ledger as a projection sees it: its place and its metadata (the
    contract's keys but ``data``; no personal data value)."""

    originator_id: str  # the event's uuid
    originator_version: int
    sequence: int  # its position on the ledger: the notification id
    type: str
    event: dict[str, Any]  # the contract's keys, as recorded: at, actor, subject, ...

    @property
    def categories(self) -> list[str]:
        return [str(c) for c in self.event.get("categories", [])]


class LedgerMapper(Mapper[UUID]):
    """Turns a stored record (canonical JSON) into a :class:`LedgerEvent`."""

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        record = chain.parse(stored_event.state)
        return LedgerEvent(
            originator_id=str(stored_event.originator_id),
            originator_version=stored_event.originator_version,
            sequence=record.seq,
            type=stored_event.topic,
            event=record.event,
        )


class LedgerApplication(Application[UUID]):
    """The ledger as an eventsourcing application for ``ProjectionRunner``: opened read only
    from ``LEDGER_DB`` in its environment (as the command line is), nothing of its own stored.
    Saving through it is refused: events are recorded with :meth:`Ledger.record`."""

    def __init__(self, env: Any = None) -> None:
        self._ledger: Ledger | None = None
        super().__init__(env)

    @property
    def ledger(self) -> Ledger:
        """The ledger this application reads."""
        if self._ledger is None:
            raise RuntimeError("the ledger is not open")  # only before __init__ has run
        return self._ledger

    def construct_factory(self, env: Environment) -> InfrastructureFactory[Any]:
        return POPOFactory(env)  # the view's persistence module is the projection's business

    def construct_mapper(self) -> Mapper[UUID]:
        return LedgerMapper(transcoder=self.construct_transcoder())

    def construct_recorder(self) -> ApplicationRecorder:
        self._ledger = Ledger.open(self.env.get("LEDGER_DB"), read_only=True)
        return self._ledger.recorder

    def close(self) -> None:
        super().close()
        if self._ledger is not None:
            self._ledger.close()


# -- the example: shares per recipient -----------------------------------------------------------


class SharesView(TrackingRecorder, ABC):
    """The view: which recipient received which categories of whose data, and how far along
    the ledger it is (eventsourcing's tracking, in the same transaction as the rows)."""

    @abstractmethod
    def add_share(self, share: LedgerEvent, tracking: Tracking) -> None:
        """Record one ``shared`` event's rows and its tracking, all or nothing."""

    @abstractmethod
    def recipients(self) -> dict[str, dict[str, list[str]]]:
        """recipient -> subject -> categories shared, sorted."""


class SharesPerRecipient(Projection[SharesView]):
    """Every ``shared`` event into the view; every other event only moves the tracking."""

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        if isinstance(domain_event, LedgerEvent) and domain_event.type == "shared":
            self.view.add_share(domain_event, tracking)
        else:
            self.view.insert_tracking(tracking)


def share_rows(share: LedgerEvent) -> list[tuple[int, str, str, str]]:
    """The view's rows for one share: (sequence, recipient, subject, category)."""
    recipient, subject = str(share.event["recipient"]), str(share.event["subject"])
    return [(share.sequence, recipient, subject, c) for c in sorted(set(share.categories))]


def nested(rows: list[tuple[str, str, str]]) -> dict[str, dict[str, list[str]]]:
    """(recipient, subject, category) rows, sorted, as recipient -> subject -> categories."""
    found: dict[str, dict[str, list[str]]] = {}
    for recipient, subject, category in rows:
        categories = found.setdefault(recipient, {}).setdefault(subject, [])
        if category not in categories:
            categories.append(category)
    return found


class SQLiteSharesView(SharesView, SQLiteTrackingRecorder):
    """The view in SQLite (``PERSISTENCE_MODULE=eventsourcing.sqlite``, ``SQLITE_DBNAME``)."""

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            "CREATE TABLE IF NOT EXISTS shares_per_recipient (seq INTEGER NOT NULL, "
            "recipient TEXT NOT NULL, subject TEXT NOT NULL, category TEXT NOT NULL, "
            "PRIMARY KEY (seq, category))",
        ]

    def add_share(self, share: LedgerEvent, tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.executemany("INSERT INTO shares_per_recipient VALUES (?, ?, ?, ?)", share_rows(share))
            self._insert_tracking(c, tracking)

    def recipients(self) -> dict[str, dict[str, list[str]]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT recipient, subject, category FROM shares_per_recipient "
                "ORDER BY recipient, subject, category"
            )
            return nested([(r[0], r[1], r[2]) for r in c.fetchall()])
