"""Keeping the projections' tables in step with the chain: exactly once, rebuildable.

The tables live in the ledger's own database (through SQLAlchemy). Events are
pulled from eventsourcing's notification log after the last tracked position,
turned into fact rows, and written together with the new tracked position in one
transaction: a crash leaves either both or neither, so nothing is applied twice.
A rebuild empties the tables and replays the whole chain; both paths run the same
code, so they give the same tables.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import Tracking
from sqlalchemy import Engine, Table, create_engine, delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.pool import StaticPool

from ledger import chain
from ledger.api import Ledger
from ledger.store.engine import sqlalchemy_engine

from . import facts

NAME = "facts"
_CHUNK = 2000


@dataclass(frozen=True)
class Status:
    """How far the projections are behind the chain."""

    position: int
    head: int

    @property
    def behind(self) -> int:
        return self.head - self.position


def engine_for(url: str) -> Engine:
    """A SQLAlchemy engine on the ledger's own database."""
    return sqlalchemy_engine(url)[0]


class Runner:
    """Applies the chain to the fact tables of one ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        if ledger.store.read_only:
            # A read-only connection (a replica) cannot write the shared tables: keep this
            # process's own, in memory, built from the chain through the read-only connection.
            self.engine = create_engine("sqlite://", poolclass=StaticPool)
        else:
            self.engine = engine_for(ledger.store.url)
        facts.metadata.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def position(self, conn: Connection | None = None) -> int:
        query = select(facts.tracking.c.position).where(facts.tracking.c.name == NAME)
        if conn is not None:
            return int(conn.execute(query).scalar() or 0)
        with self.engine.connect() as own:
            return int(own.execute(query).scalar() or 0)

    def status(self) -> Status:
        return Status(self.position(), self.ledger.size)

    def catch_up(self, *, stop: int | None = None) -> int:
        """Apply every event after the tracked position (up to *stop*); how many were applied."""
        head = self.ledger.size if stop is None else stop
        applied = 0
        while True:
            with self.engine.begin() as conn:
                start = self.position(conn) + 1
                if start > head:
                    return applied
                notifications = self.ledger.store.notifications(start, _CHUNK, head)
                if not notifications:
                    return applied
                self._apply(conn, notifications)
                applied += len(notifications)
                self._track(conn, Tracking(NAME, notifications[-1][0]))

    def rebuild(self) -> int:
        """Empty the tables and replay the whole chain."""
        with self.engine.begin() as conn:
            for table in (*facts.FACT_TABLES, facts.tracking):
                conn.execute(delete(table))
        return self.catch_up()

    @staticmethod
    def _apply(conn: Connection, rows: list[tuple[int, bytes]]) -> None:
        batch: dict[Table, list[dict[str, Any]]] = defaultdict(list)
        for seq, state in rows:
            record = chain.parse(state)
            if record.type.startswith("ledger."):
                continue  # the ledger's own records hold no personal-data processing
            for table, new in facts.facts(seq, record.event).items():
                batch[table].extend(new)
        for table in facts.FACT_TABLES:
            if batch.get(table):
                conn.execute(insert(table), batch[table])

    @staticmethod
    def _track(conn: Connection, tracking: Tracking) -> None:
        table = facts.tracking
        moved = conn.execute(
            update(table)
            .where(table.c.name == tracking.application_name)
            .where(table.c.position < tracking.notification_id)
            .values(position=tracking.notification_id)
        ).rowcount
        if not moved:
            conn.execute(
                insert(table).values(
                    name=tracking.application_name, position=tracking.notification_id
                )
            )
