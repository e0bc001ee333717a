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
from ledger.merkle import leaf_hash
from ledger.store.base import SCHEMA_VERSION, Head, StoredRow, WrappedKey

EVENTS_TABLE = "ledger_events"
_LAST = 2**63 - 1  # no bound: bigint's largest value
_CURSORS = itertools.count()  # server-side cursors open at once need distinct names
# fresh connections tried when pooled ones turn out dropped: the pool holds at most 6
_RECONNECTS = 7
_COLUMNS = "notification_id, originator_id, topic, subject, client_id, state, hash, mac"


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


def _schema_statements(schema: str) -> list[Composed]:
    s = Identifier(schema)
    return [
        SQL("CREATE SCHEMA IF NOT EXISTS {}").format(s),
        SQL(
            "CREATE TABLE {}.ledger_events (originator_id text NOT NULL, "
            "originator_version bigint NOT NULL, topic text NOT NULL, state bytea NOT NULL, "
            "notification_id bigint PRIMARY KEY, hash bytea NOT NULL, mac bytea, subject text, "
            "client_id text, UNIQUE (originator_id, originator_version))"
        ).format(s),
        SQL(
            "CREATE UNIQUE INDEX ledger_events_client_id ON {}.ledger_events (client_id) "
            "WHERE client_id IS NOT NULL"
        ).format(s),
        SQL(
            "CREATE INDEX ledger_events_subject ON {}.ledger_events (subject, notification_id) "
            "WHERE subject IS NOT NULL"
        ).format(s),
        SQL(
            "CREATE TABLE {}.ledger_head (id integer PRIMARY KEY CHECK (id = 1), "
            "sequence bigint NOT NULL, hash bytea NOT NULL, key_epoch bigint NOT NULL, "
            "vocabulary text, seal bytea)"
        ).format(s),
        SQL("CREATE TABLE {}.ledger_meta (name text PRIMARY KEY, value text NOT NULL)").format(s),
        SQL(
            "CREATE TABLE {}.ledger_keys (key_id text PRIMARY KEY, subject text NOT NULL, "
            "category text NOT NULL, wrapped bytea NOT NULL, kek_id text NOT NULL, "
            "UNIQUE (subject, category))"
        ).format(s),
        SQL(
            "CREATE TABLE {}.ledger_tree (level integer NOT NULL, idx bigint NOT NULL, "
            "hash bytea NOT NULL, PRIMARY KEY (level, idx))"
        ).format(s),
        SQL(
            "CREATE TABLE {}.ledger_checkpoints (size bigint PRIMARY KEY, root bytea NOT NULL, "
            "note text NOT NULL, created_at text NOT NULL)"
        ).format(s),
    ]


def _connection_lost(exc: BaseException) -> bool:
    """Whether *exc* (psycopg's, or eventsourcing's wrapping of it) is a dropped connection:
    class 08 (connection exception), 57P01-57P03 (terminated by an administrator, a crash or
    a shutdown), or no SQLSTATE at all (the socket closed under the client)."""
    cause = exc if isinstance(exc, psycopg.Error) else exc.__cause__
    if not isinstance(cause, psycopg.OperationalError):
        return False
    state = cause.sqlstate
    return state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03")


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
        self.keys_destroyed = False

    def present(self, client_ids: Sequence[str]) -> dict[str, tuple[int, bytes]]:
        self._c.execute(
            _q(self._s, "SELECT client_id, notification_id, hash FROM {s}.ledger_events "
                        "WHERE client_id = ANY(%s)"),
            (list(dict.fromkeys(client_ids)),),
        )  # fmt: skip
        return {cid: (seq, bytes(digest)) for cid, seq, digest in self._c.fetchall()}

    def subject_keys(self, subjects: Sequence[str]) -> list[WrappedKey]:
        self._c.execute(
            _q(self._s, "SELECT key_id, subject, category, wrapped, kek_id FROM {s}.ledger_keys "
                        "WHERE subject = ANY(%s) ORDER BY subject, category"),
            (list(subjects),),
        )  # fmt: skip
        return [WrappedKey(k, s, c, bytes(w), kek) for k, s, c, w, kek in self._c.fetchall()]

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
        return [WrappedKey(k, s, c, bytes(w), kek) for k, s, c, w, kek in self._c.fetchall()]

    def rewrap(self, keys: Sequence[WrappedKey]) -> None:
        if keys:
            self._c.executemany(
                _q(self._s, "UPDATE {s}.ledger_keys SET wrapped = %s, kek_id = %s "
                            "WHERE key_id = %s"),
                [(k.wrapped, k.kek_id, k.key_id) for k in keys],
            )  # fmt: skip
        self.keys_destroyed = True

    def set_meta(self, name: str, value: str) -> None:
        self._c.execute(
            _q(self._s, "UPDATE {s}.ledger_meta SET value = %s WHERE name = %s"), (value, name)
        )

    def destroy_keys(self, key_ids: Sequence[str]) -> None:
        self._c.execute(
            _q(self._s, "DELETE FROM {s}.ledger_keys WHERE key_id = ANY(%s)"), (list(key_ids),)
        )
        self.keys_destroyed = True

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
                        "vocabulary = %s, seal = %s WHERE id = 1"),
            (head.sequence, head.hash, head.key_epoch, head.vocabulary, head.seal),
        )  # fmt: skip
        self.head = head


class _PostgresSnapshot:
    """Reads inside one REPEATABLE READ, READ ONLY transaction."""

    def __init__(self, conn: psycopg.Connection[Any], schema: str) -> None:
        self._conn = conn
        self._s = schema

    def head(self) -> Head:
        found = self._conn.execute(
            _q(self._s, "SELECT sequence, hash, key_epoch, vocabulary, seal FROM {s}.ledger_head")
        ).fetchone()
        if found is None:
            raise StoreNotFound("the store has no head row: not a ledger store")
        return Head(found[0], bytes(found[1]), found[2], found[3],
                    None if found[4] is None else bytes(found[4]))  # fmt: skip

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
        return [WrappedKey(k, s, c, bytes(w), kek) for k, s, c, w, kek in rows]

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
        query = dict(url.query)
        self.schema = str(query.pop("schema", "public"))
        self._dbname = url.database or "postgres"
        self._host = url.host or "127.0.0.1"
        self._port = url.port or 5432
        self._user = url.username or "postgres"
        self._password = url.password or ""
        self._datastore: PostgresDatastore | None = None
        self._recorder: LedgerPostgresRecorder | None = None

    @property
    def datastore(self) -> PostgresDatastore:
        if self._datastore is None:
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
            for attempt in range(_RECONNECTS + 1):
                with self.datastore.get_connection() as conn:
                    try:
                        # a read-only open is read-only in the server too, as on a replica
                        conn.execute(
                            "SET default_transaction_read_only = "
                            + ("on" if self.read_only else "off")
                        )
                    except psycopg.OperationalError as exc:
                        # A pooled connection the server dropped (restart, idle timeout,
                        # pg_terminate_backend) fails here, before any work: the pool
                        # discards it when it is handed back, and another is taken.
                        if attempt < _RECONNECTS and _connection_lost(exc):
                            continue
                        raise
                    # eventsourcing's pool hands out dict rows; ours are tuples, then put back
                    factory = conn.row_factory
                    conn.row_factory = tuple_row  # type: ignore[assignment]
                    try:
                        yield conn
                    finally:
                        conn.row_factory = factory
                    return
        except psycopg.errors.ReadOnlySqlTransaction:
            raise ReadOnlyStore(f"{self.url} is read-only: cannot write to it") from None
        except psycopg.errors.UndefinedTable:
            raise StoreNotFound(f"no ledger at {self.url}: run `ledger init` first") from None
        except (psycopg.Error, PersistenceError) as exc:
            first = (str(exc).strip().splitlines() or [""])[0]
            if _connection_lost(exc):
                raise StoreError(
                    f"lost the connection to the PostgreSQL server of {self.url} ({first}); "
                    "the transaction under way was most likely not completed (if the connection "
                    "fell during its commit, it may have been: events with an id can be sent "
                    "again safely)"
                ) from None
            if "does not exist" in first and ("relation" in first or "schema" in first):
                raise StoreNotFound(f"no ledger at {self.url}: run `ledger init` first") from None
            if "read-only transaction" in first:
                raise ReadOnlyStore(f"{self.url} is read-only: cannot write to it") from None
            raise StoreError(f"store error on {self.url}: {type(exc).__name__}: {first}") from None

    def exists(self) -> bool:
        with self._connection() as conn:
            found = conn.execute(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = %s "
                "AND table_name = 'ledger_meta'",
                (self.schema,),
            ).fetchone()
        return found is not None

    def create(self, meta: dict[str, str], head: Head) -> None:
        if self.read_only:
            raise ReadOnlyStore(f"{self.url} is opened read-only: cannot create it")
        if self.exists():
            raise StoreExists(f"a ledger already exists at {self.url}: refusing to overwrite it")
        with self._connection() as conn, conn.transaction():
            for statement in _schema_statements(self.schema):
                conn.execute(statement)
            conn.execute(
                _q(self.schema, "INSERT INTO {s}.ledger_head VALUES (1, %s, %s, %s, %s, %s)"),
                (head.sequence, head.hash, head.key_epoch, head.vocabulary, head.seal),
            )
            for name, value in sorted({**meta, "schema_version": str(SCHEMA_VERSION)}.items()):
                conn.execute(
                    _q(self.schema, "INSERT INTO {s}.ledger_meta VALUES (%s, %s)"), (name, value)
                )

    def meta(self) -> dict[str, str]:
        with self._connection() as conn:
            rows = conn.execute(_q(self.schema, "SELECT name, value FROM {s}.ledger_meta"))
            return dict(rows.fetchall())

    @contextmanager
    def writer(self) -> Iterator[_PostgresWriteTx]:
        if self.read_only:
            raise ReadOnlyStore(f"{self.url} is opened read-only: cannot write to it")
        destroyed = False
        with self._connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.execute(
                _q(self.schema, "UPDATE {s}.ledger_head SET sequence = sequence WHERE id = 1 "
                                "RETURNING sequence, hash, key_epoch, vocabulary, seal"),
            )  # fmt: skip
            found = cur.fetchone()
            if found is None:
                raise StoreNotFound(f"{self.url} has no head row: not a ledger store")
            head = Head(found[0], bytes(found[1]), found[2], found[3],
                        None if found[4] is None else bytes(found[4]))  # fmt: skip
            tx = _PostgresWriteTx(cur, self.schema, head)
            yield tx
            destroyed = tx.keys_destroyed
        if destroyed:
            self.purge()

    def purge(self) -> bool:
        """Vacuum the keys table so deleted wrapped keys leave its pages (not WAL or backups)."""
        with self._connection() as conn:
            conn.execute(_q(self.schema, "VACUUM {s}.ledger_keys"))
        return True

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
        return {k: WrappedKey(k, s, c, bytes(w), kek) for k, s, c, w, kek in rows}

    def nodes(self, positions: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        with self.snapshot() as snap:
            return snap.nodes(positions)

    def add_checkpoint(self, size: int, root: bytes, note: str, created_at: str) -> None:
        if self.read_only:
            raise ReadOnlyStore(f"{self.url} is opened read-only: cannot store a checkpoint")
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
