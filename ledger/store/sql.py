"""The SQL both stores share, written once: statements, lookups in chunks, and the write
transaction, snapshot and store methods built on them (rows mapped by ledger.store.base).

What differs between the engines is in :class:`Dialect`: the placeholder, the column that
holds the sequence (SQLite's row id, PostgreSQL's ``notification_id``), the schema before
table names, and how a column is matched against many values (SQLite: ``IN`` lists of at
most 500, under its parameter limit; PostgreSQL: one array, ``= ANY(%s)``). The statements
are built once per store (:class:`Statements`); the write transaction and the snapshot run
them on a DB-API cursor of either driver, and :class:`SQLStore` holds what both stores do
alike. Connections, transactions, locking, error mapping and the purge stay in the two
engine modules. Level-0 tree nodes are hashed from the stored records by
:func:`ledger.store.base.tree_nodes`, not here: this module returns stored bytes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from ledger.errors import ReadOnlyStore, StoreError, StoreNotFound
from ledger.store.base import (
    SCHEMA_VERSION,
    Head,
    PendingPurge,
    StoredRow,
    WrappedKey,
    generation_rows,
    head_row,
    key_row,
    purge_rows,
    stored_row,
    tree_nodes,
)

# Inserting through eventsourcing's recorder would put an event beside the chain.
RECORDER_REFUSAL = (
    "events are appended only through the ledger, which chains them: record them with "
    "Ledger.record, Ledger.record_many or `ledger import`"
)
# A DB-API cursor of sqlite3 or psycopg (both: execute, executemany, fetchone, fetchall).
Cursor = Any
# Rows of a query read a batch at a time (a plain cursor on SQLite, a server-side one on
# PostgreSQL), for reads that may cover the whole ledger.
Stream = Callable[[str, Sequence[Any]], Iterator[Sequence[Any]]]
LAST = 2**63 - 1  # no upper bound: the largest 64-bit integer, on both engines

_ROW = "originator_id, topic, subject, client_id, state, hash, mac"
_HEAD = "sequence, hash, key_epoch, vocabulary, keymap, seal"
_PURGE = "id, kind, sequence, since, retire, xid, reason"
_KEY = "key_id, subject, category, wrapped, kek_id"


@dataclass(frozen=True)
class Dialect:
    """What differs between the engines' SQL."""

    param: str  # the placeholder: "?" or "%s"
    sequence: str  # the column holding the ledger sequence
    schema: str = ""  # the quoted schema and a dot before each table, or nothing
    chunk: int | None = None  # values per IN list; None: one array compared with = ANY
    xid: str | None = None  # the query for this transaction's id, where there is one
    # a query with a row when the checkpoints table exists (stores older than it lack it)
    has_checkpoints: str | None = None

    def table(self, name: str) -> str:
        return f"{self.schema}{name}"

    def matching(self, column: str, values: Sequence[Any]) -> Iterator[tuple[str, list[Any]]]:
        """``column`` matching any of *values*, as (condition, parameters) to run in turn."""
        if self.chunk is None:
            if values:
                yield f"{column} = ANY({self.param})", [list(values)]
            return
        for i in range(0, len(values), self.chunk):
            chunk = list(values[i : i + self.chunk])
            yield f"{column} IN ({','.join([self.param] * len(chunk))})", chunk


class Statements:
    """Every statement of the stores, built once for a dialect."""

    def __init__(self, d: Dialect) -> None:
        p, seq = d.param, d.sequence
        events, head, meta = (
            d.table("ledger_events"),
            d.table("ledger_head"),
            d.table("ledger_meta"),
        )
        keys, buckets, purge = (
            d.table("ledger_keys"),
            d.table("ledger_buckets"),
            d.table("ledger_purge"),
        )
        tree, checkpoints = d.table("ledger_tree"), d.table("ledger_checkpoints")
        self.dialect = d

        def values(n: int) -> str:
            return ", ".join([p] * n)

        rows = f"SELECT {seq}, {_ROW} FROM {events}"
        self.rows_range = f"{rows} WHERE {seq} >= {p} AND {seq} <= {p} ORDER BY {seq}"
        self.rows_where = rows + " WHERE {} ORDER BY " + seq
        self.rows_of_type = f"{rows} WHERE topic = {p} ORDER BY {seq}"
        self.subject_rows = f"{rows} WHERE subject = {p} ORDER BY {seq}"
        self.present = (
            f"SELECT client_id, {seq}, hash, state FROM {events} WHERE {{}} "
            f"AND {seq} >= 1 AND {seq} <= {p}"
        )
        self.subject_states = (
            f"SELECT state FROM {events} WHERE subject = {p} AND {seq} >= 1 AND {seq} <= {p} "
            "AND topic IN ('collected', 'rectified')"
        )
        self.states_where = f"SELECT {seq}, state FROM {events} WHERE {{}}"
        self.insert_rows = (
            f"INSERT INTO {events} ({seq}, originator_id, originator_version, topic, state, "
            f"hash, mac, subject, client_id) VALUES ({p}, {p}, 1, {values(6)})"
        )
        self.head = f"SELECT {_HEAD} FROM {head}"
        self.lock_head = f"UPDATE {head} SET sequence = sequence WHERE id = 1 RETURNING {_HEAD}"
        self.insert_head = f"INSERT INTO {head} (id, {_HEAD}) VALUES (1, {values(6)})"
        self.set_head = (
            f"UPDATE {head} SET sequence = {p}, hash = {p}, key_epoch = {p}, vocabulary = {p}, "
            f"keymap = {p}, seal = {p} WHERE id = 1"
        )
        self.meta = f"SELECT name, value FROM {meta}"
        self.insert_meta = f"INSERT INTO {meta} (name, value) VALUES ({p}, {p})"
        self.set_meta = f"UPDATE {meta} SET value = {p} WHERE name = {p}"
        self.keys_where = f"SELECT {_KEY} FROM {keys} WHERE {{}}"
        self.all_keys = f"SELECT {_KEY} FROM {keys}"
        self.wrapped_keys = f"{self.all_keys} ORDER BY key_id"
        self.add_keys = f"INSERT INTO {keys} ({_KEY}) VALUES ({values(5)})"
        self.rewrap = f"UPDATE {keys} SET wrapped = {p}, kek_id = {p} WHERE key_id = {p}"
        self.destroy_keys_where = f"DELETE FROM {keys} WHERE {{}}"
        self.generations = f"SELECT bucket, generation FROM {buckets} ORDER BY bucket"
        self.insert_generations = f"INSERT INTO {buckets} (bucket, generation) VALUES ({p}, {p})"
        self.set_generations = (
            f"{self.insert_generations} "
            "ON CONFLICT (bucket) DO UPDATE SET generation = excluded.generation"
        )
        self.next_purge = f"SELECT coalesce(max(id), 0) + 1 FROM {purge}"
        self.add_purge = f"INSERT INTO {purge} ({_PURGE}) VALUES ({values(7)})"
        self.pending = f"SELECT {_PURGE} FROM {purge} ORDER BY id"
        self.end_purges_where = f"DELETE FROM {purge} WHERE {{}}"
        self.note_purge = f"UPDATE {purge} SET reason = {p} WHERE id = {p}"
        self.nodes_where = f"SELECT idx, hash FROM {tree} WHERE level = {p} AND {{}}"
        self.add_nodes = f"INSERT INTO {tree} (level, idx, hash) VALUES ({p}, {p}, {p})"
        self.level = (
            f"SELECT idx, hash FROM {tree} WHERE level = {p} AND idx >= {p} AND idx < {p} "
            "ORDER BY idx"
        )
        self.levels = f"SELECT DISTINCT level FROM {tree} ORDER BY level"
        self.checkpoints = f"SELECT size, note FROM {checkpoints} ORDER BY size"
        self.checkpoint_made = f"SELECT created_at FROM {checkpoints} WHERE size = {p}"
        self.add_checkpoint = (
            f"INSERT INTO {checkpoints} (size, root, note, created_at) VALUES ({values(4)}) "
            "ON CONFLICT (size) DO UPDATE SET note = excluded.note, root = excluded.root, "
            "created_at = excluded.created_at"
        )


# -- reads and writes on one cursor, for both engines -------------------------------------------


def keys_matching(
    c: Cursor, sql: Statements, column: str, values: Sequence[str]
) -> list[WrappedKey]:
    """The live wrapped keys whose *column* (one of the keys table's) is in *values*."""
    found: list[WrappedKey] = []
    for condition, params in sql.dialect.matching(column, values):
        c.execute(sql.keys_where.format(condition), params)
        found.extend(key_row(row) for row in c.fetchall())
    return found


def states_at(c: Cursor, sql: Statements, sequences: Sequence[int]) -> dict[int, bytes]:
    """The stored record bytes at the given sequences (those that are stored)."""
    found: dict[int, bytes] = {}
    for condition, params in sql.dialect.matching(sql.dialect.sequence, sorted(set(sequences))):
        c.execute(sql.states_where.format(condition), params)
        found.update((sequence, bytes(state)) for sequence, state in c.fetchall())
    return found


def inner_nodes(
    c: Cursor, sql: Statements, positions: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], bytes]:
    """The stored tree nodes (level >= 1) at *positions*, by (level, index)."""
    by_level: dict[int, set[int]] = {}
    for level, index in positions:
        by_level.setdefault(level, set()).add(index)
    found: dict[tuple[int, int], bytes] = {}
    for level, indexes in sorted(by_level.items()):  # one primary-key range probe per level
        for condition, params in sql.dialect.matching("idx", sorted(indexes)):
            c.execute(sql.nodes_where.format(condition), [level, *params])
            found.update(((level, index), bytes(digest)) for index, digest in c.fetchall())
    return found


class WriteTransaction:
    """One write transaction on either engine (see ``WriteTx``): the head row is locked."""

    def __init__(self, cursor: Cursor, sql: Statements, head: Head) -> None:
        self._c = cursor
        self._sql = sql
        self.head = head

    def present(self, client_ids: Sequence[str]) -> dict[str, tuple[int, bytes, bytes]]:
        found: dict[str, tuple[int, bytes, bytes]] = {}
        unique = list(dict.fromkeys(client_ids))
        for condition, params in self._sql.dialect.matching("client_id", unique):
            self._c.execute(self._sql.present.format(condition), [*params, self.head.sequence])
            for client_id, sequence, digest, state in self._c.fetchall():
                found[client_id] = (sequence, bytes(digest), bytes(state))
        return found

    def subject_keys(self, subjects: Sequence[str]) -> list[WrappedKey]:
        found = keys_matching(self._c, self._sql, "subject", list(subjects))
        return sorted(found, key=lambda key: (key.subject, key.category))

    def keys_by_id(self, key_ids: Sequence[str]) -> list[WrappedKey]:
        return keys_matching(self._c, self._sql, "key_id", list(dict.fromkeys(key_ids)))

    def subject_states(self, subject: str) -> list[bytes]:
        self._c.execute(self._sql.subject_states, (subject, self.head.sequence))
        return [bytes(state) for (state,) in self._c.fetchall()]

    def add_keys(self, keys: Sequence[WrappedKey]) -> None:
        if keys:
            self._c.executemany(
                self._sql.add_keys,
                [(k.key_id, k.subject, k.category, k.wrapped, k.kek_id) for k in keys],
            )

    def all_keys(self) -> list[WrappedKey]:
        self._c.execute(self._sql.all_keys)
        return [key_row(row) for row in self._c.fetchall()]

    def keys_under(self, kek_ids: Sequence[str]) -> list[WrappedKey]:
        return keys_matching(self._c, self._sql, "kek_id", list(kek_ids))

    def rewrap(self, keys: Sequence[WrappedKey]) -> None:
        if keys:
            self._c.executemany(self._sql.rewrap, [(k.wrapped, k.kek_id, k.key_id) for k in keys])

    def generations(self) -> dict[int, int]:
        self._c.execute(self._sql.generations)
        return generation_rows(self._c.fetchall())

    def set_generations(self, generations: dict[int, int]) -> None:
        if generations:
            self._c.executemany(self._sql.set_generations, sorted(generations.items()))

    def add_purge(self, purge: PendingPurge) -> int:
        self._c.execute(self._sql.next_purge)
        found = self._c.fetchone()
        purge_id = int(found[0]) if found else 1
        self._c.execute(
            self._sql.add_purge,
            (purge_id, purge.kind, purge.sequence, purge.since, " ".join(purge.retire),
             purge.xid, purge.reason),
        )  # fmt: skip
        return purge_id

    def xid(self) -> str | None:
        if self._sql.dialect.xid is None:
            return None
        self._c.execute(self._sql.dialect.xid)
        found = self._c.fetchone()
        return None if found is None else str(found[0])

    def set_meta(self, name: str, value: str) -> None:
        self._c.execute(self._sql.set_meta, (value, name))

    def destroy_keys(self, key_ids: Sequence[str]) -> None:
        for condition, params in self._sql.dialect.matching("key_id", list(key_ids)):
            self._c.execute(self._sql.destroy_keys_where.format(condition), params)

    def insert(self, rows: Sequence[StoredRow]) -> None:
        if rows:
            self._c.executemany(
                self._sql.insert_rows,
                [(r.sequence, r.uuid, r.type, r.state, r.hash, r.mac, r.subject, r.client_id)
                 for r in rows],
            )  # fmt: skip

    def states_at(self, sequences: Sequence[int]) -> dict[int, bytes]:
        """The stored record bytes at the given sequences."""
        return states_at(self._c, self._sql, sequences)

    def inner_nodes(self, positions: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """The stored tree nodes (level >= 1) at *positions*."""
        return inner_nodes(self._c, self._sql, positions)

    def nodes(self, positions: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        return tree_nodes(self, positions)

    def add_nodes(self, nodes: Sequence[tuple[int, int, bytes]]) -> None:
        if nodes:
            self._c.executemany(self._sql.add_nodes, list(nodes))

    def set_head(self, head: Head) -> None:
        self._c.execute(
            self._sql.set_head,
            (head.sequence, head.hash, head.key_epoch, head.vocabulary, head.keymap, head.seal),
        )
        self.head = head


class Snapshot:
    """Reads inside one read transaction of either engine (see ``Snapshot``)."""

    def __init__(self, cursor: Callable[[], Cursor], stream: Stream, sql: Statements) -> None:
        self._cursor = cursor
        self._stream = stream
        self._sql = sql

    def _all(self, query: str, params: Sequence[Any] = ()) -> list[Any]:
        c = self._cursor()
        c.execute(query, params)
        return list(c.fetchall())

    def head(self) -> Head:
        found = self._all(self._sql.head)
        return head_row(found[0] if found else None)

    def generations(self) -> dict[int, int]:
        return generation_rows(self._all(self._sql.generations))

    def pending(self) -> list[PendingPurge]:
        return purge_rows(self._all(self._sql.pending))

    def rows(self, start: int = 1, stop: int | None = None) -> Iterator[StoredRow]:
        bounds = (start, LAST if stop is None else stop)
        for values in self._stream(self._sql.rows_range, bounds):
            yield stored_row(values)

    def level(
        self, level: int, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[int, bytes]]:
        bounds = (level, start, LAST if stop is None else stop)
        for index, digest in self._stream(self._sql.level, bounds):
            yield index, bytes(digest)

    def levels(self) -> list[int]:
        return [level for (level,) in self._all(self._sql.levels)]

    def states_at(self, sequences: Sequence[int]) -> dict[int, bytes]:
        """The stored record bytes at the given sequences."""
        return states_at(self._cursor(), self._sql, sequences)

    def inner_nodes(self, positions: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """The stored tree nodes (level >= 1) at *positions*."""
        return inner_nodes(self._cursor(), self._sql, positions)

    def nodes(self, positions: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        return tree_nodes(self, positions)

    def checkpoints(self) -> list[tuple[int, str]]:
        check = self._sql.dialect.has_checkpoints
        if check is not None and not self._all(check):
            return []
        return [(size, note) for size, note in self._all(self._sql.checkpoints)]

    def wrapped_keys(self) -> list[WrappedKey]:
        return [key_row(row) for row in self._all(self._sql.wrapped_keys)]


class SQLStore(ABC):
    """What both stores do alike, on the transactions each engine module provides (each
    engine implements the three abstract methods; a store lacking one cannot be made)."""

    url: str
    read_only: bool
    shown: str  # the URL as messages show it (a password hidden)
    sql: Statements
    # statements that make a table the store may lack before it is written to
    before_checkpoint: tuple[str, ...] = ()

    @abstractmethod
    def _read(self) -> AbstractContextManager[Cursor]:
        """A cursor for reads that need not agree with each other."""

    @abstractmethod
    def _write(self) -> AbstractContextManager[Cursor]:
        """A cursor in a write transaction, committed when the block ends without error."""

    @abstractmethod
    def snapshot(self) -> AbstractContextManager[Snapshot]:
        """Reads that all see the store at one moment (REPEATABLE READ / one transaction)."""

    def _fill(
        self, c: Cursor, meta: dict[str, str], head: Head, generations: dict[int, int]
    ) -> None:
        """The first rows of a new store: the head, the meta rows and the key map."""
        c.execute(
            self.sql.insert_head,
            (head.sequence, head.hash, head.key_epoch, head.vocabulary, head.keymap, head.seal),
        )
        c.executemany(
            self.sql.insert_meta, sorted({**meta, "schema_version": str(SCHEMA_VERSION)}.items())
        )
        c.executemany(self.sql.insert_generations, sorted(generations.items()))

    def meta(self) -> dict[str, str]:
        with self._read() as c:
            c.execute(self.sql.meta)
            return dict(c.fetchall())

    @contextmanager
    def writer(self) -> Iterator[WriteTransaction]:
        """A write transaction holding the head; commits when the block ends without error."""
        if self.read_only:
            raise ReadOnlyStore(f"{self.shown} is opened read-only: cannot write to it")
        with self._write() as c:
            # A write first: it takes the write lock (SQLite) or the head row's lock
            # (PostgreSQL) before anything is read, so writers take turns.
            c.execute(self.sql.lock_head)
            found = c.fetchone()
            if found is None:
                raise StoreNotFound(f"{self.shown} has no head row: not a ledger store")
            yield WriteTransaction(c, self.sql, head_row(found))

    def head(self) -> Head:
        with self.snapshot() as snapshot:
            return snapshot.head()

    def rows(self, start: int = 1, stop: int | None = None) -> Iterator[StoredRow]:
        """Stored rows in sequence order from *start* to *stop* (inclusive), one snapshot."""
        with self.snapshot() as snapshot:
            yield from snapshot.rows(start, stop)

    def rows_at(self, sequences: Sequence[int]) -> list[StoredRow]:
        """The stored rows at the given sequence numbers, in sequence order."""
        found: list[StoredRow] = []
        unique = sorted(set(sequences))
        with self._read() as c:
            for condition, params in self.sql.dialect.matching(self.sql.dialect.sequence, unique):
                c.execute(self.sql.rows_where.format(condition), params)
                found.extend(stored_row(values) for values in c.fetchall())
        return found

    def rows_of_type(self, kind: str) -> list[StoredRow]:
        """The stored rows of one event type, in sequence order."""
        with self._read() as c:
            c.execute(self.sql.rows_of_type, (kind,))
            return [stored_row(values) for values in c.fetchall()]

    def subject_rows(self, subject: str) -> Iterator[StoredRow]:
        """Stored rows whose subject is *subject*, in sequence order."""
        with self._read() as c:
            c.execute(self.sql.subject_rows, (subject,))
            while batch := c.fetchmany(2000):
                for values in batch:
                    yield stored_row(values)

    def keys(self, key_ids: Sequence[str]) -> dict[str, WrappedKey]:
        with self._read() as c:
            found = keys_matching(c, self.sql, "key_id", list(dict.fromkeys(key_ids)))
        return {key.key_id: key for key in found}

    def nodes(self, positions: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """Merkle tree nodes by (level, index), level 0 being the events' leaf hashes."""
        with self.snapshot() as snapshot:
            return snapshot.nodes(positions)

    def pending(self) -> list[PendingPurge]:
        with self.snapshot() as snapshot:
            return snapshot.pending()

    def end_purges(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        with self._write() as c:
            for condition, params in self.sql.dialect.matching("id", list(ids)):
                c.execute(self.sql.end_purges_where.format(condition), params)

    def note_purge(self, purge_id: int, reason: str) -> None:
        try:
            with self._write() as c:
                c.execute(self.sql.note_purge, (reason[:500], purge_id))
        except StoreError:
            pass  # best effort: the disk may be full, and the note says so another time

    def add_checkpoint(self, size: int, root: bytes, note: str, created_at: str) -> None:
        """Keep a signed checkpoint (the newest note for a size replaces an older one)."""
        if self.read_only:
            raise ReadOnlyStore(f"{self.shown} is opened read-only: cannot store a checkpoint")
        with self._write() as c:
            for statement in self.before_checkpoint:
                c.execute(statement)
            c.execute(self.sql.add_checkpoint, (size, root, note, created_at))

    def checkpoints(self) -> list[tuple[int, str]]:
        """Every stored checkpoint note, by size."""
        with self.snapshot() as snapshot:
            return snapshot.checkpoints()

    def checkpoint_made(self, size: int) -> str | None:
        with self._read() as c:
            check = self.sql.dialect.has_checkpoints
            if check is not None:
                c.execute(check)
                if c.fetchone() is None:
                    return None
            c.execute(self.sql.checkpoint_made, (size,))
            found = c.fetchone()
        return None if found is None else str(found[0])
