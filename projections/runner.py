"""Keeping the projections' tables in step with the chain: exactly once, rebuildable, sealed.

The tables live in the ledger's own database (through SQLAlchemy). Events are read in
sequence order, a chunk at a time from one consistent snapshot of the store, after the
tracked position: the same rows, ids, types and record bytes that the ledger's notification
log (:attr:`ledger.api.Ledger.recorder`, eventsourcing's ``select_notifications``) gives out,
read without building a ``Notification`` for each, which would slow a rebuild by several per
cent. They are turned into fact rows, and written together with the new tracked position
(eventsourcing's ``Tracking``, kept by :class:`FactsTracking`, a ``TrackingRecorder``) and the
extended seal (see :mod:`.integrity`) in one transaction: a crash leaves either all or none,
so nothing is applied twice. A rebuild empties the tables and replays the whole chain; both
paths run the same code, so they give the same tables. Writers take turns (the seal's lock);
before extending the tables a writer checks that the tracked position and the seal agree with
the chain, and refuses by name when they do not.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import Tracking, TrackingRecorder
from sqlalchemy import Engine, Index, Table, create_engine, delete, insert, inspect, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError as DuplicateRow
from sqlalchemy.pool import StaticPool

from ledger.api import Ledger
from ledger.core import chain
from ledger.core.canonical import utc_timestamp
from ledger.errors import LedgerError
from ledger.store.engine import sqlalchemy_engine

from . import facts, integrity, parallel
from .integrity import NAME, Check, Comparison, ProjectionMismatch, Seal, Tally

_CHUNK = 5000
_REBUILD_CACHE_KIB = -131_072  # SQLite's page cache during a rebuild: 128 MiB


@dataclass(frozen=True)
class Status:
    """How far the projections are behind the chain, and whether they match it."""

    position: int  # the tracked position, as stored
    head: int
    problem: str | None = None  # why the tables do not match the chain (None: they do)
    check: Check | None = None  # what they were checked against, when they match

    @property
    def behind(self) -> int | None:
        """Events not applied yet; None when the tracked position is beyond the head."""
        return None if self.position > self.head else self.head - self.position


class FactsTracking(TrackingRecorder):
    """eventsourcing's tracking recorder over the projections' own ``projection_tracking``
    table: how far along the ledger's notification log the fact tables are, as ``Tracking``
    (application name :data:`.integrity.NAME`, notification id = ledger sequence).

    The position lives beside the fact rows and the seal, in the projections' database, and
    moves only in their transaction (:meth:`track`), which the integrity check relies on; so
    ``insert_tracking`` on its own, which would move it past the rows, is refused. Reading it
    (``max_tracking_id``, ``has_tracking_id``, ``wait``) is eventsourcing's own: a writer can
    ``wait(NAME, receipt.sequence)`` for the projections to have applied its event."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def insert_tracking(self, tracking: Tracking) -> None:
        """Refused: the position is written only with the rows and the seal (:meth:`track`)."""
        raise LedgerError(
            "the projections' tracked position moves only together with their rows and seal: "
            "Projections.catch_up() or rebuild() writes it"
        )

    def max_tracking_id(self, application_name: str) -> int | None:
        """The tracked position as stored (not checked against the chain), None before any
        event is applied; ProjectionMismatch when it is not a position."""
        if application_name != NAME:
            return None  # these tables track the ledger's events under one name only
        with self.engine.connect() as conn:
            return integrity.tracked(conn) or None

    @staticmethod
    def track(conn: Connection, tracking: Tracking) -> None:
        """Move the tracked position forward to *tracking*, in the transaction *conn* that
        writes the rows and the seal (never back: a position not beyond the stored one fails
        on the table's key, as eventsourcing's single-row tracking refuses it)."""
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


def engine_for(url: str) -> Engine:
    """A SQLAlchemy engine on the ledger's own database."""
    return sqlalchemy_engine(url)[0]


class Runner:
    """Applies the chain to the fact tables of one ledger."""

    def __init__(self, ledger: Ledger, engine: Engine | None = None) -> None:
        self.ledger = ledger
        # private: tables of this process's own (a replica's, or a scratch copy)
        self.private = engine is not None or ledger.store.read_only
        if engine is not None:
            self.engine = engine
        elif ledger.store.read_only:
            # A read-only connection (a replica) cannot write the shared tables: keep this
            # process's own, in memory, built from the chain through the read-only connection.
            self.engine = create_engine("sqlite://", poolclass=StaticPool)
        else:
            self.engine = engine_for(ledger.store.url)
        _create_tables(self.engine)
        integrity.prepare(self.engine)
        self.tracking = FactsTracking(self.engine)
        self._inserts = {table: _insert_sql(table, self.engine) for table in facts.FACT_TABLES}
        self.high = 0  # the highest position this process saw tracked: it never goes back

    def close(self) -> None:
        self.engine.dispose()

    def position(self, conn: Connection | None = None) -> int:
        """The tracked position as stored (not checked against the chain: see :meth:`check`);
        ProjectionMismatch when it is not a position at all."""
        if conn is not None:
            return integrity.tracked(conn)
        with self.engine.connect() as own:
            return integrity.tracked(own)

    def status(self) -> Status:
        """The tracked position against the head, and the per-question check of the tables
        (nothing is applied)."""
        with integrity.reading(self.engine) as conn:
            try:
                found = self.check(conn)
            except ProjectionMismatch as exc:
                return Status(_stored_position(conn), self.ledger.size, str(exc))
        return Status(found.position, found.head, None, found)

    def check(self, conn: Connection) -> Check:
        """The per-question check, in the reading transaction *conn* (see :mod:`.integrity`)."""
        found = integrity.check(conn, self.ledger, high=self.high)
        self.high = max(self.high, found.position)
        return found

    def compare(self) -> Comparison:
        """Every stored row against the chain (the full comparison); a match is noted on the
        seal, when these tables may be written."""
        with integrity.reading(self.engine) as conn:
            result = integrity.compare(conn, self.ledger, high=self.high)
        if result.matches and not self.ledger.store.read_only:
            with integrity.writing(self.engine) as conn:
                integrity.record_full(conn, result, "compared")
        return result

    def catch_up(self, *, stop: int | None = None) -> int:
        """Apply every event after the tracked position (up to *stop*); how many were applied.
        ProjectionMismatch when the tables cannot be extended as they stand."""
        head = self.ledger.size if stop is None else stop
        applied = 0
        while True:
            with self.engine.connect() as conn:  # a first look, without taking the lock
                if self.position(conn) >= head:
                    return applied
            with integrity.writing(self.engine) as conn:
                seal = integrity.check_extendable(conn, self.ledger, high=self.high)
                start = seal.position + 1
                if start > head:
                    return applied
                tally = Tally()
                try:
                    last, last_hash = self._apply_from(conn, start, head, tally)
                except DuplicateRow:
                    raise ProjectionMismatch(
                        "projection tables", None,
                        f"a row for an event after position {seal.position} is already there",
                    ) from None  # fmt: skip
                if last < start or last_hash is None:
                    return applied
                applied += last - start + 1
                self.tracking.track(conn, Tracking(NAME, last))
                integrity.write_seal(conn, seal.extended(last, last_hash, tally))
                self.high = max(self.high, last)

    def rebuild(self, *, workers: int | None = None) -> int:
        """Empty the tables and replay the whole chain, in one transaction: readers see the old
        tables until it commits, and a crash leaves them as they were. The secondary indexes
        are dropped for the replay and built again once, which is much faster than keeping
        them up to date row by row. The tables are sealed afresh, their guards reinstalled.
        With more than one worker (:func:`.parallel.workers_for` chooses when None), forked
        processes derive the rows and this one inserts them in order: the same tables."""
        head = self.ledger.size
        workers = parallel.workers_for(head, workers)
        with integrity.writing(self.engine) as conn, _bulk(conn):
            integrity.drop_guards(conn)
            for table in (*facts.FACT_TABLES, facts.tracking):
                conn.execute(delete(table))
            indexes = _indexes()
            for index in indexes:
                index.drop(conn)
            tally = Tally()
            if workers > 1:
                position, last_hash = self._insert_derived(conn, head, workers, tally)
            else:
                position, last_hash = 0, chain.GENESIS
                while position < head:
                    last, found = self._apply_from(conn, position + 1, head, tally)
                    if last <= position or found is None:
                        break
                    position, last_hash = last, found
            for index in indexes:
                index.create(conn)
            integrity.install_guards(conn)
            if position:
                self.tracking.track(conn, Tracking(NAME, position))
            now = utc_timestamp(datetime.now(UTC))
            made = Seal.empty().extended(position, last_hash, tally)
            integrity.write_seal(conn, replace(made, full_at=now, full_position=position,
                                               full_kind="rebuilt"))  # fmt: skip
        self.high = position
        return position

    def _insert_derived(
        self, conn: Connection, head: int, workers: int, tally: Tally
    ) -> tuple[int, bytes]:
        """Insert the rows *workers* processes derive from events 1 to *head*, in sequence
        order, adding them to *tally*; the last sequence applied and its hash in the chain."""
        position, last_hash = 0, chain.GENESIS
        for part in parallel.derived_ranges(self.ledger.store.url, head, workers):
            self._insert(conn, part.tables)
            tally.merge(part.tally)
            if part.last_hash is not None:
                position, last_hash = part.last, part.last_hash
        return position, last_hash

    def _apply_from(
        self, conn: Connection, start: int, head: int, tally: Tally
    ) -> tuple[int, bytes | None]:
        """Apply up to a chunk of events from *start*, adding the rows written to *tally*;
        the last sequence applied and its hash in the chain."""
        with self.ledger.store.snapshot() as snapshot:
            rows = list(itertools.islice(snapshot.rows(start, head), _CHUNK))
        if not rows:
            return start - 1, None
        tables = facts.fact_rows(rows)
        self._insert(conn, tables)
        tally.add_tables(tables)
        return rows[-1].sequence, rows[-1].hash

    def _insert(self, conn: Connection, tables: list[list[tuple[Any, ...]]]) -> None:
        """Insert fact rows, one list per table of :data:`.facts.FACT_TABLES`, in that order."""
        for table, made in zip(facts.FACT_TABLES, tables, strict=True):
            if made:
                conn.exec_driver_sql(self._inserts[table], made)


@contextmanager
def _bulk(conn: Connection) -> Iterator[None]:
    """On SQLite, a page cache large enough for the rebuild's writes and index builds, for
    the transaction only (the connection returns to the pool as it
    was); PostgreSQL is left to its own settings."""
    if conn.dialect.name != "sqlite":
        yield
        return
    cache = int(conn.exec_driver_sql("PRAGMA cache_size").scalar() or 0)
    conn.exec_driver_sql(f"PRAGMA cache_size = {_REBUILD_CACHE_KIB}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {cache}")


def _create_tables(engine: Engine) -> None:
    """The tables and their indexes, where missing (an interrupted rebuild may have left some
    indexes out), one process at a time: two creating them at once would collide."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext('ledger projections'))")
        _drop_if_outdated(conn)
        facts.metadata.create_all(conn)
        integrity.metadata.create_all(conn)
        for index in _indexes():
            index.create(conn, checkfirst=True)


def _drop_if_outdated(conn: Connection) -> None:
    """Tables laid out by an earlier release (a fact table missing, or its columns not this
    release's) are dropped with their tracking and seal, so they are built again from the
    chain: they hold nothing the chain does not, and rows of another layout could be neither
    extended nor compared with the rows derived now."""
    found = inspect(conn)
    present = set(found.get_table_names())
    tables = [table for table in facts.FACT_TABLES if table.name in present]
    if not tables:
        return  # new tables: nothing to drop
    if len(tables) == len(facts.FACT_TABLES) and all(
        [column["name"] for column in found.get_columns(table.name)]
        == [column.name for column in table.columns]
        for table in tables
    ):
        return
    integrity.drop_guards(conn)
    for table in (*facts.FACT_TABLES, facts.tracking, integrity.seals):
        table.drop(conn, checkfirst=True)


def _stored_position(conn: Connection) -> int:
    """The tracked position for display, 0 when it is not a number."""
    try:
        return integrity.tracked(conn)
    except ProjectionMismatch:
        return 0


def _indexes() -> list[Index]:
    """The fact tables' secondary indexes (their primary keys stay)."""
    return [index for table in facts.FACT_TABLES for index in sorted(table.indexes, key=str)]


def _insert_sql(table: Table, engine: Engine) -> str:
    """A plain INSERT with positional parameters in the driver's own style: rows (values in
    column order) go to the driver's executemany as they are, without SQLAlchemy's per-row
    processing."""
    names = [column.name for column in table.columns]
    mark = "?" if engine.dialect.name == "sqlite" else "%s"
    values = ", ".join(mark for _ in names)
    return f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({values})"
