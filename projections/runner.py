"""Keeping the projections' tables in step with the chain: exactly once, rebuildable.

The tables live in the ledger's own database (through SQLAlchemy). Events are
read from the notification log (the stored-events table, in notification id order) after
the last tracked position,
turned into fact rows, and written together with the new tracked position in one
transaction: a crash leaves either both or neither, so nothing is applied twice.
A rebuild empties the tables and replays the whole chain; both paths run the same
code, so they give the same tables.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import Tracking
from sqlalchemy import Engine, Index, Table, create_engine, delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.pool import StaticPool

from ledger import chain
from ledger.api import Ledger
from ledger.store.engine import sqlalchemy_engine

from . import facts

NAME = "facts"
_CHUNK = 5000


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
        with self.engine.begin() as conn:  # an interrupted rebuild may have left some out
            for index in _indexes():
                index.create(conn, checkfirst=True)
        self._inserts = {table: _insert_sql(table, self.engine) for table in facts.FACT_TABLES}

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
                last = self._apply_from(conn, start, head)
                if last < start:
                    return applied
                applied += last - start + 1
                self._track(conn, Tracking(NAME, last))

    def rebuild(self) -> int:
        """Empty the tables and replay the whole chain, in one transaction: readers see the old
        tables until it commits, and a crash leaves them as they were. The secondary indexes
        are dropped for the replay and built again once, which is much faster than keeping
        them up to date row by row."""
        head = self.ledger.size
        with self.engine.begin() as conn:
            for table in (*facts.FACT_TABLES, facts.tracking):
                conn.execute(delete(table))
            indexes = _indexes()
            for index in indexes:
                index.drop(conn)
            position = 0
            while position < head:
                last = self._apply_from(conn, position + 1, head)
                if last <= position:
                    break
                position = last
            for index in indexes:
                index.create(conn)
            if position:
                self._track(conn, Tracking(NAME, position))
        return position

    def _apply_from(self, conn: Connection, start: int, head: int) -> int:
        """Apply up to a chunk of events from *start*; the last sequence applied."""
        with self.ledger.store.snapshot() as snapshot:
            rows = list(itertools.islice(snapshot.rows(start, head), _CHUNK))
        if not rows:
            return start - 1
        batch: dict[Table, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            if row.type.startswith("ledger."):
                continue  # the ledger's own records hold no personal-data processing
            for table, new in facts.facts(row.sequence, chain.parse(row.state).event).items():
                if new:
                    batch[table].extend(new)
        for table in facts.FACT_TABLES:
            if batch.get(table):
                conn.exec_driver_sql(self._inserts[table], batch[table])
        return rows[-1].sequence

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


def _indexes() -> list[Index]:
    """The fact tables' secondary indexes (their primary keys stay)."""
    return [index for table in facts.FACT_TABLES for index in sorted(table.indexes, key=str)]


def _insert_sql(table: Table, engine: Engine) -> str:
    """A plain INSERT with named parameters in the driver's own style: rows go to the driver's
    executemany as they are, without SQLAlchemy's per-row processing."""
    names = [column.name for column in table.columns]
    style = ":{}" if engine.dialect.name == "sqlite" else "%({})s"
    values = ", ".join(style.format(name) for name in names)
    return f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({values})"
