"""The PostgreSQL store, built on `eventsourcing`'s PostgreSQL datastore and recorder.

The events table is eventsourcing's stored-events table with the chain beside it;
``notification_id`` is the ledger sequence, assigned from the head row. Every write
transaction starts with ``UPDATE ledger_head ... RETURNING``: the row lock makes
writers on any number of hosts take turns, and under READ COMMITTED the next
writer re-reads the head the previous one committed, so the chain stays one line.
Reads that must agree with each other (verify, proofs) run in one REPEATABLE READ,
READ ONLY transaction, which never blocks writers.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from eventsourcing.persistence import PersistenceError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier
from sqlalchemy.engine import URL

from ledger.errors import ReadOnlyStore, StoreError, StoreExists, StoreNotFound
from ledger.store.base import Head, PurgeResult
from ledger.store.schema import create_statements, table_names
from ledger.store.sql import RECORDER_REFUSAL, Dialect, Snapshot, SQLStore, Statements, Stream
from ledger.store.urls import check_connect, postgres_target, quote_schema

EVENTS_TABLE = "ledger_events"
_CURSORS = itertools.count()  # server-side cursors open at once need distinct names
# How long an erasure waits for older snapshots to end, and for VACUUM's lock, before it
# reports the purge as pending (a writer is never held for minutes behind a reader).
PURGE_WAIT = 2.0


class LedgerPostgresRecorder(PostgresApplicationRecorder):
    """eventsourcing's application recorder over the ledger's events table (reads only)."""

    def __init__(self, datastore: PostgresDatastore) -> None:
        super().__init__(datastore, events_table_name=EVENTS_TABLE)

    def _insert_events(self, *args: Any, **kwargs: Any) -> Any:
        raise StoreError(RECORDER_REFUSAL)

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Any:
        raise StoreError(RECORDER_REFUSAL)


def _driver_error(exc: BaseException) -> psycopg.Error | None:
    """psycopg's error behind *exc* (eventsourcing wraps what its pool's connections raise)."""
    if isinstance(exc, psycopg.Error):
        return exc
    return exc.__cause__ if isinstance(exc.__cause__, psycopg.Error) else None


_LOST, _READ_ONLY, _NOT_FOUND, _FULL = "lost", "read-only", "not found", "full"
# What a SQLSTATE (or its two-character class) means for the ledger. Class 08 and 57P01 to
# 57P03 are a dropped connection (terminated by an administrator, a crash or a shutdown).
_SQLSTATES = {
    "08": _LOST,
    "57P01": _LOST,  # AdminShutdown
    "57P02": _LOST,  # CrashShutdown
    "57P03": _LOST,  # CannotConnectNow
    "25006": _READ_ONLY,  # ReadOnlySqlTransaction
    "42P01": _NOT_FOUND,  # UndefinedTable
    "3F000": _NOT_FOUND,  # InvalidSchemaName
    "53100": _FULL,  # DiskFull
}


def error_kind(exc: BaseException) -> str | None:
    """What a driver error means for the ledger (one of this module's kinds), or None.

    By SQLSTATE; an OperationalError without one is the socket closed under the client
    (libpq found it, not the server), so a dropped connection too."""
    found = _driver_error(exc)
    if found is None:
        return None
    state = found.sqlstate
    if state is None:
        return _LOST if isinstance(found, psycopg.OperationalError) else None
    return _SQLSTATES.get(state, _SQLSTATES.get(state[:2]))


def _connection_lost(exc: BaseException) -> bool:
    return error_kind(exc) == _LOST


def _stream(conn: psycopg.Connection[Any]) -> Stream:
    def stream(query: str, params: Sequence[Any]) -> Iterator[Sequence[Any]]:
        # server-side: the rows come 2,000 at a time, however many the query covers
        with conn.cursor(name=f"ledger_rows_{next(_CURSORS)}") as cur:
            cur.itersize = 2000
            cur.execute(query, params)
            yield from cur

    return stream


class PostgresStore(SQLStore):
    """A ledger in one PostgreSQL schema (``?schema=NAME`` in the URL; ``public`` by default)."""

    def __init__(self, url: URL, *, raw_url: str, read_only: bool = False) -> None:
        self.url = raw_url
        self.read_only = read_only
        # ledger.store.urls, the one parser of store URLs: the checked schema, the same target
        # as every other connection to this ledger, and the URL as messages show it
        self._target = target = postgres_target(raw_url)
        self.schema, self._shown = target.schema, target.shown
        self.shown = self._shown
        self.sql = Statements(
            Dialect(
                param="%s", sequence="notification_id", schema=f"{quote_schema(self.schema)}.",
                xid="SELECT pg_current_xact_id()::text",
            )
        )  # fmt: skip
        self._dbname, self._host, self._port = target.database, target.host, target.port
        self._user, self._password = target.user, target.password
        self._datastore: PostgresDatastore | None = None
        self._recorder: LedgerPostgresRecorder | None = None

    @property
    def datastore(self) -> PostgresDatastore:
        if self._datastore is None:
            check_connect(self._target)  # a server it cannot reach is named at once, with why
            self._datastore = PostgresDatastore(
                self._dbname, self._host, self._port, self._user, self._password,
                schema=self.schema, pool_size=2, max_overflow=4, originator_id_type="text",
            )  # fmt: skip
        return self._datastore

    @property
    def recorder(self) -> LedgerPostgresRecorder:
        if self._recorder is None:
            self._recorder = LedgerPostgresRecorder(self.datastore)
        return self._recorder

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self._live_connection() as conn:
                # eventsourcing's pool hands out dict rows; ours are tuples, then put back
                factory = conn.row_factory
                conn.row_factory = tuple_row
                try:
                    yield conn
                finally:
                    conn.row_factory = factory
        except (psycopg.Error, PersistenceError) as exc:
            raise self.ledger_error(exc) from None

    @contextmanager
    def _live_connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection that answered a first statement.

        A connection the server dropped (restart, idle timeout, pg_terminate_backend) fails
        that statement, before any work: it is closed, so that the pool replaces it and
        never hands it out again, and the next one is tried. Each try uses up one of the
        connections the pool held, so one more try than the pool holds reaches a new one."""
        tries = self.datastore.pool.max_size + 1
        for attempt in range(1, tries + 1):
            with self.datastore.get_connection() as conn:
                try:
                    # a read-only open is read-only in the server too, as on a replica
                    conn.execute(
                        "SET default_transaction_read_only = " + ("on" if self.read_only else "off")
                    )
                except psycopg.OperationalError as exc:
                    if attempt == tries or not _connection_lost(exc):
                        raise
                    conn.close()
                    continue
                yield conn
                return

    def ledger_error(self, exc: BaseException) -> StoreError:
        """The ledger's error for a driver error, by its SQLSTATE (see ``error_kind``)."""
        first = (str(exc).strip().splitlines() or [""])[0]
        kind = error_kind(exc)
        if kind == _LOST:
            return StoreError(
                f"lost the connection to the PostgreSQL server of {self._shown} ({first}); "
                "the transaction under way was most likely not completed (if the connection "
                "fell during its commit, it may have been: events with an id can be sent "
                "again safely)"
            )
        if kind == _NOT_FOUND:
            return StoreNotFound(f"no ledger at {self._shown}: run `ledger init` first")
        if kind == _READ_ONLY:
            return ReadOnlyStore(f"{self._shown} is read-only: cannot write to it")
        if kind == _FULL:
            return StoreError(f"cannot write {self._shown}: {first} (is the disk full?)")
        return StoreError(f"store error on {self._shown}: {type(exc).__name__}: {first}")

    def exists(self) -> bool:
        with self._connection() as conn:
            found = conn.execute(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = %s "
                "AND table_name = 'ledger_meta'",
                (self.schema,),
            ).fetchone()
        return found is not None

    def create(self, meta: dict[str, str], head: Head, generations: dict[int, int]) -> None:
        if self.read_only:
            raise ReadOnlyStore(f"{self._shown} is opened read-only: cannot create it")
        if self.exists():
            raise StoreExists(f"a ledger already exists at {self._shown}: refusing to overwrite it")
        with self._connection() as conn, conn.transaction():
            conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(Identifier(self.schema)))
            for statement in create_statements("postgresql", schema=self.schema):
                conn.execute(statement)
            with conn.cursor() as cur:
                self._fill(cur, meta, head, generations)

    def remove(self) -> None:
        """Drop the tables of a store this process has just created (a failed `init`); the
        schema itself too when nothing else is left in it."""
        with self._connection() as conn, conn.transaction():
            for table in (*table_names("postgresql"), "alembic_version"):
                conn.execute(
                    SQL("DROP TABLE IF EXISTS {}.{}").format(
                        Identifier(self.schema), Identifier(table)
                    )
                )
            left = conn.execute(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s",
                (self.schema,),
            ).fetchone()
            if left is not None and left[0] == 0 and self.schema != "public":
                conn.execute(SQL("DROP SCHEMA IF EXISTS {}").format(Identifier(self.schema)))
        self.close()

    @contextmanager
    def _read(self) -> Iterator[psycopg.Cursor[Any]]:
        with self._connection() as conn, conn.cursor() as cur:
            yield cur

    @contextmanager
    def _write(self) -> Iterator[psycopg.Cursor[Any]]:
        with self._connection() as conn, conn.transaction(), conn.cursor() as cur:
            yield cur

    def purge(self, xids: Sequence[str] = ()) -> PurgeResult:
        """Vacuum the keys table once no snapshot older than the transactions *xids* is left,
        so that their deleted and re-wrapped key rows leave its pages. The server's WAL,
        archives, replicas and backups keep what they hold: that is why destroyed keys are
        wrapped under destroyed key generations."""
        if self.read_only:
            return PurgeResult(False, "the store is opened read-only")
        deadline = time.monotonic() + PURGE_WAIT
        newest = max((int(x) for x in xids), default=None)
        try:
            while True:
                holder = None if newest is None else self._older_snapshot(newest)
                if holder is None:
                    break
                if time.monotonic() >= deadline:
                    return PurgeResult(
                        False,
                        f"{holder} holds a snapshot older than the erasure, so PostgreSQL "
                        "cannot remove the deleted key rows until it ends",
                    )
                time.sleep(0.1)
            self._vacuum()
        except StoreError as exc:
            return PurgeResult(False, f"VACUUM of the keys table did not finish: {exc}")
        return PurgeResult(True)

    def _older_snapshot(self, xid: int) -> str | None:
        """A session, replication slot or prepared transaction whose snapshot is not newer
        than transaction *xid*, named (pid and application), or None."""
        x32 = str(xid % (1 << 32))
        with self._connection() as conn:
            found = conn.execute(
                "SELECT pid, coalesce(application_name, ''), coalesce(backend_type, '') "
                "FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                "AND (datname IS NULL OR datname = current_database()) AND ("
                "(backend_xmin IS NOT NULL AND age(backend_xmin) >= age(%s::xid)) OR "
                "(backend_xid IS NOT NULL AND age(backend_xid) >= age(%s::xid))) LIMIT 1",
                (x32, x32),
            ).fetchone()
            if found is not None:
                pid, application, kind = found
                name = "".join(ch for ch in str(application)[:40] if ch.isprintable())
                return f"a PostgreSQL session (pid {pid}, {name or kind or 'no application name'})"
            slot = conn.execute(
                "SELECT slot_name FROM pg_replication_slots WHERE xmin IS NOT NULL "
                "AND age(xmin) >= age(%s::xid) LIMIT 1",
                (x32,),
            ).fetchone()
            if slot is not None:
                return f"the replication slot {str(slot[0])[:64]!r}"
            prepared = conn.execute(
                "SELECT gid FROM pg_prepared_xacts WHERE age(transaction) >= age(%s::xid) LIMIT 1",
                (x32,),
            ).fetchone()
            if prepared is not None:
                return "a prepared transaction"
        return None

    def _vacuum(self) -> None:
        """VACUUM the keys table, waiting at most PURGE_WAIT for its lock. Run once no snapshot
        older than the erasure is left, it removes every row version the erasure deleted or
        replaced (a page a concurrent reader pins at that instant keeps its dead rows until
        the next VACUUM; they are wrapped under a destroyed generation either way)."""
        with self._connection() as conn:
            conn.execute(f"SET lock_timeout = {int(PURGE_WAIT * 1000)}")
            try:
                conn.execute(SQL("VACUUM {}.ledger_keys").format(Identifier(self.schema)))
            finally:
                conn.execute("RESET lock_timeout")

    @contextmanager
    def snapshot(self) -> Iterator[Snapshot]:
        """Reads inside one REPEATABLE READ, READ ONLY transaction: one state of the store,
        however long they take, without blocking writers."""
        with self._connection() as conn:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                yield Snapshot(conn.cursor, _stream(conn), self.sql)
            finally:
                conn.execute("ROLLBACK")

    def close(self) -> None:
        if self._datastore is not None:
            self._datastore.close()
            self._datastore = None
            self._recorder = None
