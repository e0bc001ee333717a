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

import contextlib
import itertools
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from eventsourcing.persistence import PersistenceError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Identifier
from sqlalchemy.engine import URL

from ledger.errors import ReadOnlyStore, StoreError, StoreExists, StoreNotFound
from ledger.log.merkle import leaf_hash
from ledger.store.base import (
    SCHEMA_VERSION,
    Head,
    PendingPurge,
    PurgeResult,
    StoredRow,
    WrappedKey,
    generation_rows,
    head_row,
    key_row,
    purge_rows,
)
from ledger.store.schema import create_statements, table_names
from ledger.store.urls import check_connect, postgres_target

EVENTS_TABLE = "ledger_events"
_LAST = 2**63 - 1  # no bound: bigint's largest value
_CURSORS = itertools.count()  # server-side cursors open at once need distinct names
_COLUMNS = "notification_id, originator_id, topic, subject, client_id, state, hash, mac"
_HEAD_COLUMNS = "sequence, hash, key_epoch, vocabulary, keymap, seal"
_PURGE_COLUMNS = "id, kind, sequence, since, retire, xid, reason"
# How long an erasure waits for older snapshots to end, and for VACUUM's lock, before it
# reports the purge as pending (a writer is never held for minutes behind a reader).
PURGE_WAIT = 2.0


def _row(values: Sequence[Any]) -> StoredRow:
    return StoredRow(
        sequence=values[0], uuid=values[1], type=values[2], subject=values[3],
        client_id=values[4], state=bytes(values[5]), hash=bytes(values[6]),
        mac=None if values[7] is None else bytes(values[7]),
    )  # fmt: skip


class LedgerPostgresRecorder(PostgresApplicationRecorder):
    """eventsourcing's application recorder over the ledger's events table (reads only)."""

    def __init__(self, datastore: PostgresDatastore) -> None:
        super().__init__(datastore, events_table_name=EVENTS_TABLE)

    def _insert_events(self, *args: Any, **kwargs: Any) -> Any:
        raise StoreError("events are appended only through the ledger, which chains them")

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Any:
        raise StoreError("events are appended only through the ledger, which chains them")


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


def _q(schema: str, text: str) -> Composed:
    """SQL text with ``{s}`` standing for the schema."""
    return SQL(text).format(s=Identifier(schema))


def _nodes(
    cur: psycopg.Cursor[Any], schema: str, positions: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], bytes]:
    found: dict[tuple[int, int], bytes] = {}
    leaves = sorted({index + 1 for level, index in positions if level == 0})
    if leaves:
        cur.execute(
            _q(schema, "SELECT notification_id, state FROM {s}.ledger_events "
                       "WHERE notification_id = ANY(%s)"),
            (leaves,),
        )  # fmt: skip
        for sequence, state in cur.fetchall():
            found[(0, sequence - 1)] = leaf_hash(bytes(state))
    by_level: dict[int, list[int]] = {}
    for level, index in positions:
        if level > 0:
            by_level.setdefault(level, []).append(index)
    for level, indexes in by_level.items():
        cur.execute(
            _q(schema, "SELECT idx, hash FROM {s}.ledger_tree WHERE level = %s AND idx = ANY(%s)"),
            (level, sorted(set(indexes))),
        )
        for index, digest in cur.fetchall():
            found[(level, index)] = bytes(digest)
    return found


class _PostgresWriteTx:
    """The write transaction of :class:`PostgresStore` (see ``WriteTx``)."""

    def __init__(self, cur: psycopg.Cursor[Any], schema: str, head: Head) -> None:
        self._c = cur
        self._s = schema
        self.head = head

    def present(self, client_ids: Sequence[str]) -> dict[str, tuple[int, bytes, bytes]]:
        self._c.execute(
            _q(self._s, "SELECT client_id, notification_id, hash, state FROM {s}.ledger_events "
                        "WHERE client_id = ANY(%s) AND notification_id BETWEEN 1 AND %s"),
            (list(dict.fromkeys(client_ids)), self.head.sequence),
        )  # fmt: skip
        return {
            cid: (seq, bytes(digest), bytes(state))
            for cid, seq, digest, state in self._c.fetchall()
        }

    def keys_by_id(self, key_ids: Sequence[str]) -> list[WrappedKey]:
        self._c.execute(
            _q(self._s, "SELECT key_id, subject, category, wrapped, kek_id FROM {s}.ledger_keys "
                        "WHERE key_id = ANY(%s)"),
            (list(dict.fromkeys(key_ids)),),
        )  # fmt: skip
        return [key_row(row) for row in self._c.fetchall()]

    def subject_states(self, subject: str) -> list[bytes]:
        self._c.execute(
            _q(self._s, "SELECT state FROM {s}.ledger_events WHERE subject = %s "
                        "AND notification_id BETWEEN 1 AND %s "
                        "AND topic IN ('collected', 'rectified')"),
            (subject, self.head.sequence),
        )  # fmt: skip
        return [bytes(state) for (state,) in self._c.fetchall()]

    def subject_keys(self, subjects: Sequence[str]) -> list[WrappedKey]:
        self._c.execute(
            _q(self._s, "SELECT key_id, subject, category, wrapped, kek_id FROM {s}.ledger_keys "
                        "WHERE subject = ANY(%s) ORDER BY subject, category"),
            (list(subjects),),
        )  # fmt: skip
        return [key_row(row) for row in self._c.fetchall()]

    def add_keys(self, keys: Sequence[WrappedKey]) -> None:
        self._c.executemany(
            _q(self._s, "INSERT INTO {s}.ledger_keys (key_id, subject, category, wrapped, kek_id) "
                        "VALUES (%s, %s, %s, %s, %s)"),
            [(k.key_id, k.subject, k.category, k.wrapped, k.kek_id) for k in keys],
        )  # fmt: skip

    def all_keys(self) -> list[WrappedKey]:
        self._c.execute(
            _q(self._s, "SELECT key_id, subject, category, wrapped, kek_id FROM {s}.ledger_keys")
        )
        return [key_row(row) for row in self._c.fetchall()]

    def keys_under(self, kek_ids: Sequence[str]) -> list[WrappedKey]:
        self._c.execute(
            _q(self._s, "SELECT key_id, subject, category, wrapped, kek_id FROM {s}.ledger_keys "
                        "WHERE kek_id = ANY(%s)"),
            (list(kek_ids),),
        )  # fmt: skip
        return [key_row(row) for row in self._c.fetchall()]

    def rewrap(self, keys: Sequence[WrappedKey]) -> None:
        if keys:
            self._c.executemany(
                _q(self._s, "UPDATE {s}.ledger_keys SET wrapped = %s, kek_id = %s "
                            "WHERE key_id = %s"),
                [(k.wrapped, k.kek_id, k.key_id) for k in keys],
            )  # fmt: skip

    def generations(self) -> dict[int, int]:
        return _generations(self._c, self._s)

    def set_generations(self, generations: dict[int, int]) -> None:
        if generations:
            self._c.executemany(
                _q(self._s, "INSERT INTO {s}.ledger_buckets (bucket, generation) VALUES (%s, %s) "
                            "ON CONFLICT (bucket) DO UPDATE SET generation = excluded.generation"),
                sorted(generations.items()),
            )  # fmt: skip

    def add_purge(self, purge: PendingPurge) -> int:
        self._c.execute(_q(self._s, "SELECT coalesce(max(id), 0) + 1 FROM {s}.ledger_purge"))
        found = self._c.fetchone()
        purge_id = int(found[0]) if found else 1
        self._c.execute(
            _q(self._s, f"INSERT INTO {{s}}.ledger_purge ({_PURGE_COLUMNS}) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s)"),
            (purge_id, purge.kind, purge.sequence, purge.since, " ".join(purge.retire),
             purge.xid, purge.reason),
        )  # fmt: skip
        return purge_id

    def xid(self) -> str | None:
        self._c.execute("SELECT pg_current_xact_id()::text")
        found = self._c.fetchone()
        return None if found is None else str(found[0])

    def set_meta(self, name: str, value: str) -> None:
        self._c.execute(
            _q(self._s, "UPDATE {s}.ledger_meta SET value = %s WHERE name = %s"), (value, name)
        )

    def destroy_keys(self, key_ids: Sequence[str]) -> None:
        self._c.execute(
            _q(self._s, "DELETE FROM {s}.ledger_keys WHERE key_id = ANY(%s)"), (list(key_ids),)
        )

    def insert(self, rows: Sequence[StoredRow]) -> None:
        if not rows:
            return
        self._c.executemany(
            _q(self._s, "INSERT INTO {s}.ledger_events (notification_id, originator_id, "
                        "originator_version, topic, state, hash, mac, subject, client_id) "
                        "VALUES (%s, %s, 1, %s, %s, %s, %s, %s, %s)"),
            [(r.sequence, r.uuid, r.type, r.state, r.hash, r.mac, r.subject, r.client_id)
             for r in rows],
        )  # fmt: skip

    def nodes(self, positions: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        return _nodes(self._c, self._s, positions)

    def add_nodes(self, nodes: Sequence[tuple[int, int, bytes]]) -> None:
        if nodes:
            self._c.executemany(
                _q(self._s, "INSERT INTO {s}.ledger_tree (level, idx, hash) VALUES (%s, %s, %s)"),
                list(nodes),
            )

    def set_head(self, head: Head) -> None:
        self._c.execute(
            _q(self._s, "UPDATE {s}.ledger_head SET sequence = %s, hash = %s, key_epoch = %s, "
                        "vocabulary = %s, keymap = %s, seal = %s WHERE id = 1"),
            (head.sequence, head.hash, head.key_epoch, head.vocabulary, head.keymap, head.seal),
        )  # fmt: skip
        self.head = head


def _head(found: Sequence[Any] | None) -> Head:
    return head_row(found)


def _generations(cur: Any, schema: str) -> dict[int, int]:
    rows = cur.execute(
        _q(schema, "SELECT bucket, generation FROM {s}.ledger_buckets ORDER BY bucket")
    ).fetchall()
    return generation_rows(rows)


def _pending(cur: Any, schema: str) -> list[PendingPurge]:
    rows = cur.execute(
        _q(schema, f"SELECT {_PURGE_COLUMNS} FROM {{s}}.ledger_purge ORDER BY id")
    ).fetchall()
    return purge_rows(rows)


class _PostgresSnapshot:
    """Reads inside one REPEATABLE READ, READ ONLY transaction."""

    def __init__(self, conn: psycopg.Connection[Any], schema: str) -> None:
        self._conn = conn
        self._s = schema

    def head(self) -> Head:
        return _head(
            self._conn.execute(
                _q(self._s, f"SELECT {_HEAD_COLUMNS} FROM {{s}}.ledger_head")
            ).fetchone()
        )

    def generations(self) -> dict[int, int]:
        return _generations(self._conn, self._s)

    def pending(self) -> list[PendingPurge]:
        return _pending(self._conn, self._s)

    def rows(self, start: int = 1, stop: int | None = None) -> Iterator[StoredRow]:
        with self._conn.cursor(name=f"ledger_rows_{next(_CURSORS)}") as cur:
            cur.itersize = 2000
            cur.execute(
                _q(self._s, f"SELECT {_COLUMNS} FROM {{s}}.ledger_events "
                            "WHERE notification_id >= %s AND notification_id <= %s "
                            "ORDER BY notification_id"),
                (start, _LAST if stop is None else stop),
            )  # fmt: skip
            for values in cur:
                yield _row(values)

    def level(
        self, level: int, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[int, bytes]]:
        with self._conn.cursor(name=f"ledger_level_{next(_CURSORS)}") as cur:
            cur.itersize = 2000
            cur.execute(
                _q(self._s, "SELECT idx, hash FROM {s}.ledger_tree "
                            "WHERE level = %s AND idx >= %s AND idx < %s ORDER BY idx"),
                (level, start, _LAST if stop is None else stop),
            )  # fmt: skip
            for index, digest in cur:
                yield index, bytes(digest)

    def levels(self) -> list[int]:
        return [
            row[0]
            for row in self._conn.execute(
                _q(self._s, "SELECT DISTINCT level FROM {s}.ledger_tree ORDER BY level")
            )
        ]

    def nodes(self, positions: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        return _nodes(self._conn.cursor(), self._s, positions)

    def wrapped_keys(self) -> list[WrappedKey]:
        rows = self._conn.execute(
            _q(self._s, "SELECT key_id, subject, category, wrapped, kek_id FROM {s}.ledger_keys "
                        "ORDER BY key_id")
        ).fetchall()  # fmt: skip
        return [key_row(row) for row in rows]

    def checkpoints(self) -> list[tuple[int, str]]:
        return [
            (size, note)
            for size, note in self._conn.execute(
                _q(self._s, "SELECT size, note FROM {s}.ledger_checkpoints ORDER BY size")
            )
        ]


class PostgresStore:
    """A ledger in one PostgreSQL schema (``?schema=NAME`` in the URL; ``public`` by default)."""

    def __init__(self, url: URL, *, raw_url: str, read_only: bool = False) -> None:
        self.url = raw_url
        self.read_only = read_only
        # ledger.store.urls, the one parser of store URLs: the checked schema, the same target
        # as every other connection to this ledger, and the URL as messages show it
        self._target = target = postgres_target(raw_url)
        self.schema, self._shown = target.schema, target.shown
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
            conn.execute(
                _q(self.schema, f"INSERT INTO {{s}}.ledger_head (id, {_HEAD_COLUMNS}) "
                                "VALUES (1, %s, %s, %s, %s, %s, %s)"),
                (head.sequence, head.hash, head.key_epoch, head.vocabulary, head.keymap,
                 head.seal),
            )  # fmt: skip
            for name, value in sorted({**meta, "schema_version": str(SCHEMA_VERSION)}.items()):
                conn.execute(
                    _q(self.schema, "INSERT INTO {s}.ledger_meta VALUES (%s, %s)"), (name, value)
                )
            with conn.cursor() as cur:
                cur.executemany(
                    _q(self.schema, "INSERT INTO {s}.ledger_buckets VALUES (%s, %s)"),
                    sorted(generations.items()),
                )

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

    def meta(self) -> dict[str, str]:
        with self._connection() as conn:
            rows = conn.execute(_q(self.schema, "SELECT name, value FROM {s}.ledger_meta"))
            return dict(rows.fetchall())

    @contextmanager
    def writer(self) -> Iterator[_PostgresWriteTx]:
        if self.read_only:
            raise ReadOnlyStore(f"{self._shown} is opened read-only: cannot write to it")
        with self._connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.execute(
                _q(self.schema, "UPDATE {s}.ledger_head SET sequence = sequence WHERE id = 1 "
                                f"RETURNING {_HEAD_COLUMNS}"),
            )  # fmt: skip
            found = cur.fetchone()
            if found is None:
                raise StoreNotFound(f"{self._shown} has no head row: not a ledger store")
            yield _PostgresWriteTx(cur, self.schema, _head(found))

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
                conn.execute(_q(self.schema, "VACUUM {s}.ledger_keys"))
            finally:
                conn.execute("RESET lock_timeout")

    def pending(self) -> list[PendingPurge]:
        with self.snapshot() as snap:
            return snap.pending()

    def end_purges(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        with self._connection() as conn, conn.transaction():
            conn.execute(
                _q(self.schema, "DELETE FROM {s}.ledger_purge WHERE id = ANY(%s)"), (list(ids),)
            )

    def note_purge(self, purge_id: int, reason: str) -> None:
        with contextlib.suppress(StoreError), self._connection() as conn, conn.transaction():
            conn.execute(
                _q(self.schema, "UPDATE {s}.ledger_purge SET reason = %s WHERE id = %s"),
                (reason[:500], purge_id),
            )

    @contextmanager
    def snapshot(self) -> Iterator[_PostgresSnapshot]:
        with self._connection() as conn:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                yield _PostgresSnapshot(conn, self.schema)
            finally:
                conn.execute("ROLLBACK")

    def head(self) -> Head:
        with self.snapshot() as snap:
            return snap.head()

    def rows(self, start: int = 1, stop: int | None = None) -> Iterator[StoredRow]:
        with self.snapshot() as snap:
            yield from snap.rows(start, stop)

    def _select(self, sql: str, params: Sequence[Any]) -> list[StoredRow]:
        with self._connection() as conn:
            cursor = conn.execute(_q(self.schema, sql), params)
            return [_row(values) for values in cursor.fetchall()]

    def subject_rows(self, subject: str) -> Iterator[StoredRow]:
        yield from self._select(
            f"SELECT {_COLUMNS} FROM {{s}}.ledger_events WHERE subject = %s "
            "ORDER BY notification_id", (subject,),
        )  # fmt: skip

    def rows_at(self, sequences: Sequence[int]) -> list[StoredRow]:
        return self._select(
            f"SELECT {_COLUMNS} FROM {{s}}.ledger_events WHERE notification_id = ANY(%s) "
            "ORDER BY notification_id", (sorted(set(sequences)),),
        )  # fmt: skip

    def rows_of_type(self, kind: str) -> list[StoredRow]:
        return self._select(
            f"SELECT {_COLUMNS} FROM {{s}}.ledger_events WHERE topic = %s "
            "ORDER BY notification_id", (kind,),
        )  # fmt: skip

    def keys(self, key_ids: Sequence[str]) -> dict[str, WrappedKey]:
        with self._connection() as conn:
            rows = conn.execute(
                _q(self.schema, "SELECT key_id, subject, category, wrapped, kek_id "
                                "FROM {s}.ledger_keys WHERE key_id = ANY(%s)"),
                (list(dict.fromkeys(key_ids)),),
            ).fetchall()  # fmt: skip
        return {key.key_id: key for key in map(key_row, rows)}

    def nodes(self, positions: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        with self.snapshot() as snap:
            return snap.nodes(positions)

    def add_checkpoint(self, size: int, root: bytes, note: str, created_at: str) -> None:
        if self.read_only:
            raise ReadOnlyStore(f"{self._shown} is opened read-only: cannot store a checkpoint")
        with self._connection() as conn, conn.transaction():
            conn.execute(
                _q(self.schema, "INSERT INTO {s}.ledger_checkpoints VALUES (%s, %s, %s, %s) "
                                "ON CONFLICT (size) DO UPDATE SET note = excluded.note, "
                                "root = excluded.root, created_at = excluded.created_at"),
                (size, root, note, created_at),
            )  # fmt: skip

    def checkpoints(self) -> list[tuple[int, str]]:
        with self.snapshot() as snap:
            return snap.checkpoints()

    def checkpoint_made(self, size: int) -> str | None:
        with self._connection() as conn:
            found = conn.execute(
                _q(self.schema, "SELECT created_at FROM {s}.ledger_checkpoints WHERE size = %s"),
                (size,),
            ).fetchone()
        return None if found is None else str(found[0])

    def close(self) -> None:
        if self._datastore is not None:
            self._datastore.close()
            self._datastore = None
            self._recorder = None
