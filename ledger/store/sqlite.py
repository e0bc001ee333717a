"""The embedded SQLite store, built on `eventsourcing`'s SQLite recorder.

The events table is eventsourcing's stored-events table (originator id, version,
topic, state) with the chain beside it: the row id *is* the ledger sequence,
assigned from the head row inside the write transaction, so it is gap-free and
never re-issued. Every write transaction starts by updating the head row, which
takes SQLite's write lock before anything is read: writers in several processes
queue on the lock instead of failing on a stale snapshot.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from eventsourcing.persistence import PersistenceError, StoredEvent
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteCursor,
    SQLiteDatastore,
)

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
from ledger.store.schema import create_statement, create_statements

EVENTS_TABLE = "ledger_events"
_CHUNK = 500  # parameters per IN (...) list, well under SQLite's limit
_ROW_COLUMNS = "rowid, originator_id, topic, subject, client_id, state, hash, mac"
_HEAD_COLUMNS = "sequence, hash, key_epoch, vocabulary, keymap, seal"
_PURGE_COLUMNS = "id, kind, sequence, since, retire, xid, reason"
# How long an erasure waits for readers to let go of the WAL before it reports the purge
# as pending (a writer is never held for minutes behind a reader).
PURGE_WAIT = 2.0


# stores made before the checkpoints table have none until the first checkpoint
CHECKPOINTS_TABLE = create_statement("sqlite", "ledger_checkpoints", if_not_exists=True)


def _has_checkpoints(c: sqlite3.Cursor) -> bool:
    """Whether the checkpoints table exists (stores older than it have none)."""
    c.execute("SELECT 1 FROM sqlite_master WHERE name = 'ledger_checkpoints'")
    return c.fetchone() is not None


def _checkpoints(c: sqlite3.Cursor) -> list[tuple[int, str]]:
    c.execute("SELECT size, note FROM ledger_checkpoints ORDER BY size")
    return [(size, note) for size, note in c.fetchall()]


def _driver_error(exc: BaseException) -> sqlite3.Error | None:
    """sqlite3's error behind *exc* (eventsourcing wraps what its transactions raise)."""
    if isinstance(exc, sqlite3.Error):
        return exc
    return exc.__cause__ if isinstance(exc.__cause__, sqlite3.Error) else None


_LOCKED, _READ_ONLY, _NOT_FOUND, _FULL, _IO = "locked", "read-only", "not found", "full", "I/O"
# What a primary SQLite result code (sqlite_errorcode & 0xff: SQLITE_BUSY_SNAPSHOT is
# SQLITE_BUSY, SQLITE_IOERR_WRITE is SQLITE_IOERR) means for the ledger.
_RESULT_CODES = {
    sqlite3.SQLITE_BUSY: _LOCKED,
    sqlite3.SQLITE_LOCKED: _LOCKED,
    sqlite3.SQLITE_READONLY: _READ_ONLY,  # the file, its folder, or PRAGMA query_only
    sqlite3.SQLITE_NOTADB: _NOT_FOUND,
    sqlite3.SQLITE_FULL: _FULL,
    sqlite3.SQLITE_IOERR: _IO,  # a failed write: a full disk, a file-size limit
}


def error_kind(exc: BaseException) -> str | None:
    """What a driver error means for the ledger (one of this module's kinds), or None.

    By result code; SQLITE_ERROR has no finer code for a missing table, which only its
    message ("no such table: ...") tells apart."""
    found = _driver_error(exc)
    code = getattr(found, "sqlite_errorcode", None)
    if found is None or code is None:
        return None
    if code == sqlite3.SQLITE_ERROR and str(found).startswith("no such table"):
        return _NOT_FOUND
    return _RESULT_CODES.get(code & 0xFF)


class _LedgerConnectionPool(SQLiteConnectionPool):
    """eventsourcing's pool, with the pragmas every connection of the ledger needs."""

    def __init__(self, *, db_name: str, lock_timeout: int, read_only: bool) -> None:
        self.read_only = read_only
        super().__init__(db_name=db_name, lock_timeout=lock_timeout)

    def _create_connection(self) -> SQLiteConnection:
        conn = super()._create_connection()
        raw: sqlite3.Connection = conn._sqlite_conn
        # secure_delete is per connection: without it a deleted wrapped key stays in free pages.
        raw.execute("PRAGMA secure_delete = ON")
        # FULL: each commit is fsynced to the WAL before it returns (durable by default).
        raw.execute("PRAGMA synchronous = FULL")
        # 64 MiB of page cache: a large import's index pages stay in memory instead of
        # spilling to the WAL in the middle of its transaction.
        raw.execute("PRAGMA cache_size = -65536")
        if self.read_only:
            raw.execute("PRAGMA query_only = ON")
        return conn


class _LedgerDatastore(SQLiteDatastore):
    """eventsourcing's SQLite datastore, opened on the ledger's connection pool."""

    def __init__(self, db_name: str, *, lock_timeout: int, read_only: bool) -> None:
        self.pool = _LedgerConnectionPool(
            db_name=db_name, lock_timeout=lock_timeout, read_only=read_only
        )
        self.single_row_tracking = True
        self.originator_id_type = "uuid"


class LedgerSQLiteRecorder(SQLiteApplicationRecorder):
    """The application recorder of the ledger: eventsourcing's table plus the chain columns.

    Reading (``select_notifications``) is eventsourcing's own; writing goes only
    through :meth:`SQLiteStore.writer`, because an insert outside the chain would break it.
    """

    def __init__(self, datastore: SQLiteDatastore) -> None:
        super().__init__(datastore, events_table_name=EVENTS_TABLE)

    def construct_create_table_statements(self) -> list[str]:
        return create_statements("sqlite", if_not_exists=True)

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        raise StoreError("events are appended only through the ledger, which chains them")


class _SQLiteWriteTx:
    """The write transaction of :class:`SQLiteStore` (see ``WriteTx``)."""

    def __init__(self, cursor: sqlite3.Cursor, head: Head) -> None:
        self._c = cursor
        self.head = head

    def present(self, client_ids: Sequence[str]) -> dict[str, tuple[int, bytes, bytes]]:
        found: dict[str, tuple[int, bytes, bytes]] = {}
        unique = list(dict.fromkeys(client_ids))
        for i in range(0, len(unique), _CHUNK):
            chunk = unique[i : i + _CHUNK]
            self._c.execute(
                f"SELECT client_id, rowid, hash, state FROM {EVENTS_TABLE} "
                f"WHERE client_id IN ({','.join('?' * len(chunk))}) "
                "AND rowid >= 1 AND rowid <= ?",
                (*chunk, self.head.sequence),
            )
            for client_id, sequence, digest, state in self._c.fetchall():
                found[client_id] = (sequence, bytes(digest), bytes(state))
        return found

    def subject_keys(self, subjects: Sequence[str]) -> list[WrappedKey]:
        found = _keys_in(self._c, "subject", subjects)
        return sorted(found, key=lambda key: (key.subject, key.category))

    def keys_by_id(self, key_ids: Sequence[str]) -> list[WrappedKey]:
        return _keys_in(self._c, "key_id", list(dict.fromkeys(key_ids)))

    def subject_states(self, subject: str) -> list[bytes]:
        self._c.execute(
            f"SELECT state FROM {EVENTS_TABLE} WHERE subject = ? AND rowid >= 1 AND rowid <= ? "
            "AND topic IN ('collected', 'rectified')",
            (subject, self.head.sequence),
        )
        return [bytes(state) for (state,) in self._c.fetchall()]

    def add_keys(self, keys: Sequence[WrappedKey]) -> None:
        self._c.executemany(
            "INSERT INTO ledger_keys (key_id, subject, category, wrapped, kek_id) "
            "VALUES (?, ?, ?, ?, ?)",
            [(k.key_id, k.subject, k.category, k.wrapped, k.kek_id) for k in keys],
        )

    def all_keys(self) -> list[WrappedKey]:
        self._c.execute("SELECT key_id, subject, category, wrapped, kek_id FROM ledger_keys")
        return [key_row(row) for row in self._c.fetchall()]

    def keys_under(self, kek_ids: Sequence[str]) -> list[WrappedKey]:
        return _keys_in(self._c, "kek_id", kek_ids)

    def rewrap(self, keys: Sequence[WrappedKey]) -> None:
        self._c.executemany(
            "UPDATE ledger_keys SET wrapped = ?, kek_id = ? WHERE key_id = ?",
            [(k.wrapped, k.kek_id, k.key_id) for k in keys],
        )

    def generations(self) -> dict[int, int]:
        return _generations(self._c)

    def set_generations(self, generations: dict[int, int]) -> None:
        self._c.executemany(
            "INSERT INTO ledger_buckets (bucket, generation) VALUES (?, ?) "
            "ON CONFLICT (bucket) DO UPDATE SET generation = excluded.generation",
            sorted(generations.items()),
        )

    def add_purge(self, purge: PendingPurge) -> int:
        self._c.execute("SELECT coalesce(max(id), 0) + 1 FROM ledger_purge")
        purge_id = int(self._c.fetchone()[0])
        self._c.execute(
            f"INSERT INTO ledger_purge ({_PURGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (purge_id, purge.kind, purge.sequence, purge.since, " ".join(purge.retire),
             purge.xid, purge.reason),
        )  # fmt: skip
        return purge_id

    def xid(self) -> str | None:
        return None

    def set_meta(self, name: str, value: str) -> None:
        self._c.execute("UPDATE ledger_meta SET value = ? WHERE name = ?", (value, name))

    def destroy_keys(self, key_ids: Sequence[str]) -> None:
        for i in range(0, len(key_ids), _CHUNK):
            chunk = list(key_ids[i : i + _CHUNK])
            self._c.execute(
                f"DELETE FROM ledger_keys WHERE key_id IN ({','.join('?' * len(chunk))})", chunk
            )

    def insert(self, rows: Sequence[StoredRow]) -> None:
        self._c.executemany(
            f"INSERT INTO {EVENTS_TABLE} (rowid, originator_id, originator_version, topic, "
            "state, hash, mac, subject, client_id) VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?)",
            [
                (r.sequence, r.uuid, r.type, r.state, r.hash, r.mac, r.subject, r.client_id)
                for r in rows
            ],
        )

    def nodes(self, positions: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        return _select_nodes(self._c, positions)

    def add_nodes(self, nodes: Sequence[tuple[int, int, bytes]]) -> None:
        self._c.executemany("INSERT INTO ledger_tree (level, idx, hash) VALUES (?, ?, ?)", nodes)

    def set_head(self, head: Head) -> None:
        self._c.execute(
            "UPDATE ledger_head SET sequence = ?, hash = ?, key_epoch = ?, vocabulary = ?, "
            "keymap = ?, seal = ? WHERE id = 1",
            (head.sequence, head.hash, head.key_epoch, head.vocabulary, head.keymap, head.seal),
        )
        self.head = head


def _head(found: Sequence[Any] | None) -> Head:
    return head_row(found)


def _generations(c: sqlite3.Cursor) -> dict[int, int]:
    c.execute("SELECT bucket, generation FROM ledger_buckets ORDER BY bucket")
    return generation_rows(c.fetchall())


def _pending(c: sqlite3.Cursor) -> list[PendingPurge]:
    c.execute(f"SELECT {_PURGE_COLUMNS} FROM ledger_purge ORDER BY id")
    return purge_rows(c.fetchall())


def _keys_in(c: sqlite3.Cursor, column: str, values: Sequence[str]) -> list[WrappedKey]:
    """The live wrapped keys whose *column* (one of this module's names) is in *values*,
    queried in chunks that stay under SQLite's parameter limit."""
    found: list[WrappedKey] = []
    for i in range(0, len(values), _CHUNK):
        chunk = list(values[i : i + _CHUNK])
        c.execute(
            "SELECT key_id, subject, category, wrapped, kek_id FROM ledger_keys "
            f"WHERE {column} IN ({','.join('?' * len(chunk))})",
            chunk,
        )
        found.extend(key_row(row) for row in c.fetchall())
    return found


def _select_nodes(
    c: sqlite3.Cursor, positions: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], bytes]:
    """Tree nodes by (level, index); level 0 is the leaf hash of the event at that index."""
    found: dict[tuple[int, int], bytes] = {}
    leaves = sorted({index for level, index in positions if level == 0})
    inner = sorted({(level, index) for level, index in positions if level > 0})
    for i in range(0, len(leaves), _CHUNK):
        chunk = [index + 1 for index in leaves[i : i + _CHUNK]]
        c.execute(
            f"SELECT rowid, state FROM {EVENTS_TABLE} WHERE rowid IN "
            f"({','.join('?' * len(chunk))})",
            chunk,
        )
        for sequence, state in c.fetchall():
            found[(0, sequence - 1)] = leaf_hash(bytes(state))
    by_level: dict[int, list[int]] = {}
    for level, index in inner:
        by_level.setdefault(level, []).append(index)
    for level, indexes in by_level.items():  # one primary-key range probe per level
        for i in range(0, len(indexes), _CHUNK):
            chunk = indexes[i : i + _CHUNK]
            c.execute(
                "SELECT idx, hash FROM ledger_tree WHERE level = ? AND idx IN "
                f"({','.join('?' * len(chunk))})",
                [level, *chunk],
            )
            for index, digest in c.fetchall():
                found[(level, index)] = bytes(digest)
    return found


_LAST = 2**63 - 1  # no bound: SQLite's largest integer


def _row(values: Sequence[Any]) -> StoredRow:
    return StoredRow(
        sequence=values[0],
        uuid=values[1],
        type=values[2],
        subject=values[3],
        client_id=values[4],
        state=bytes(values[5]),
        hash=bytes(values[6]),
        mac=None if values[7] is None else bytes(values[7]),
    )


class _SQLiteSnapshot:
    """Reads inside one read transaction (see ``Snapshot``): WAL gives them one state."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def head(self) -> Head:
        return _head(self._conn.execute(f"SELECT {_HEAD_COLUMNS} FROM ledger_head").fetchone())

    def generations(self) -> dict[int, int]:
        return _generations(self._conn.cursor())

    def pending(self) -> list[PendingPurge]:
        return _pending(self._conn.cursor())

    def rows(self, start: int = 1, stop: int | None = None) -> Iterator[StoredRow]:
        c = self._conn.execute(
            f"SELECT {_ROW_COLUMNS} FROM {EVENTS_TABLE} WHERE rowid >= ? AND rowid <= ? "
            "ORDER BY rowid",
            (start, _LAST if stop is None else stop),
        )
        while batch := c.fetchmany(2000):
            for values in batch:
                yield _row(values)

    def level(
        self, level: int, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[int, bytes]]:
        c = self._conn.execute(
            "SELECT idx, hash FROM ledger_tree WHERE level = ? AND idx >= ? AND idx < ? "
            "ORDER BY idx",
            (level, start, _LAST if stop is None else stop),
        )
        while batch := c.fetchmany(2000):
            for index, digest in batch:
                yield index, bytes(digest)

    def nodes(self, positions: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        return _select_nodes(self._conn.cursor(), positions)

    def checkpoints(self) -> list[tuple[int, str]]:
        c = self._conn.cursor()
        return _checkpoints(c) if _has_checkpoints(c) else []

    def wrapped_keys(self) -> list[WrappedKey]:
        c = self._conn.execute(
            "SELECT key_id, subject, category, wrapped, kek_id FROM ledger_keys ORDER BY key_id"
        )
        return [key_row(row) for row in c.fetchall()]

    def levels(self) -> list[int]:
        return [
            row[0]
            for row in self._conn.execute("SELECT DISTINCT level FROM ledger_tree ORDER BY level")
        ]


class SQLiteStore:
    """A ledger in one SQLite file (WAL mode, synchronous=FULL, secure_delete on)."""

    def __init__(
        self, path: Path, *, url: str, read_only: bool = False, lock_timeout: int = 30
    ) -> None:
        self.path = path
        self.url = url
        self.read_only = read_only
        self._lock_timeout = lock_timeout
        self._datastore: _LedgerDatastore | None = None
        self._recorder: LedgerSQLiteRecorder | None = None

    # -- opening ---------------------------------------------------------------------------

    @property
    def recorder(self) -> LedgerSQLiteRecorder:
        """eventsourcing's application recorder over this store (opened on first use)."""
        if self._recorder is None:
            if not self.path.exists():
                raise StoreNotFound(f"no ledger at {self.url}: run `ledger init` first")
            mode = "ro" if self.read_only else "rw"
            db_name = f"file:{self.path}?mode={mode}"
            self._datastore = _LedgerDatastore(
                db_name, lock_timeout=self._lock_timeout, read_only=self.read_only
            )
            self._recorder = LedgerSQLiteRecorder(self._datastore)
        return self._recorder

    @contextmanager
    def _transaction(self, *, commit: bool) -> Iterator[sqlite3.Cursor]:
        datastore = self.recorder.datastore
        try:
            with datastore.transaction(commit=commit) as curs:
                yield curs.sqlite_cursor
        except (sqlite3.Error, PersistenceError) as exc:
            raise self.ledger_error(exc) from None

    def ledger_error(self, exc: Exception) -> StoreError:
        """The ledger's error for a driver error, by its SQLite result code (see
        ``error_kind``)."""
        text = str(exc)
        kind = error_kind(exc)
        if kind == _LOCKED:
            return StoreError(
                f"{self.url} is locked by another writer (waited {self._lock_timeout}s); try again"
            )
        if kind == _READ_ONLY:
            return ReadOnlyStore(f"{self.url} is read-only: cannot write to it")
        if kind == _NOT_FOUND:
            return StoreNotFound(f"{self.url} is not a ledger store ({text})")
        if kind in (_FULL, _IO):
            return StoreError(f"cannot write {self.url}: {self._why(exc, _IO)}")
        return StoreError(f"store error on {self.url}: {type(exc).__name__}: {text}")

    def exists(self) -> bool:
        if not self.path.exists():
            return False
        try:
            with self._transaction(commit=False) as c:
                c.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ledger_meta'"
                )
                return c.fetchone() is not None
        except StoreError:
            return True  # something is there that is not ours: never overwrite it

    def create(self, meta: dict[str, str], head: Head, generations: dict[int, int]) -> None:
        """Create the schema, the head, the meta rows and the key map in a new file, readable
        by its owner only (the WAL and shared-memory files SQLite makes beside it take the
        same mode)."""
        if self.read_only:
            raise ReadOnlyStore(f"{self.url} is opened read-only: cannot create it")
        if self.path.exists() or self.path.is_symlink():
            raise StoreExists(f"{self.path} already exists: refusing to overwrite it")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
        recorder = self.recorder
        with self._transaction(commit=True) as c:
            for statement in recorder.create_table_statements:
                c.execute(statement)
            c.execute(
                f"INSERT INTO ledger_head (id, {_HEAD_COLUMNS}) VALUES (1, ?, ?, ?, ?, ?, ?)",
                (head.sequence, head.hash, head.key_epoch, head.vocabulary, head.keymap,
                 head.seal),
            )  # fmt: skip
            c.executemany(
                "INSERT INTO ledger_meta (name, value) VALUES (?, ?)",
                sorted({**meta, "schema_version": str(SCHEMA_VERSION)}.items()),
            )
            c.executemany(
                "INSERT INTO ledger_buckets (bucket, generation) VALUES (?, ?)",
                sorted(generations.items()),
            )

    def remove(self) -> None:
        """Delete a store this process has just created (a failed `init`)."""
        self.close()
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                Path(f"{self.path}{suffix}").unlink()

    def meta(self) -> dict[str, str]:
        with self._transaction(commit=False) as c:
            c.execute("SELECT name, value FROM ledger_meta")
            return dict(c.fetchall())

    # -- writing ---------------------------------------------------------------------------

    @contextmanager
    def writer(self) -> Iterator[_SQLiteWriteTx]:
        """A write transaction holding the head; commits when the block ends without error."""
        if self.read_only:
            raise ReadOnlyStore(f"{self.url} is opened read-only: cannot write to it")
        with self._transaction(commit=True) as c:
            # A write first: it takes the write lock before any read (see module docstring).
            c.execute(
                f"UPDATE ledger_head SET sequence = sequence WHERE id = 1 RETURNING {_HEAD_COLUMNS}"
            )
            found = c.fetchone()
            if found is None:
                raise StoreNotFound(f"{self.url} has no head row: not a ledger store")
            yield _SQLiteWriteTx(c, _head(found))

    def purge(self, xids: Sequence[str] = ()) -> PurgeResult:
        """Checkpoint the WAL into the file and truncate it, so that the bytes of deleted key
        rows (zeroed in their pages by secure_delete) leave the WAL and the file's old pages.

        A reader holding a snapshot stops the checkpoint from finishing: each attempt waits
        at most 0.1 s, and after PURGE_WAIT seconds the purge is reported as not done."""
        if self.read_only:
            return PurgeResult(False, "the store is opened read-only")
        deadline = time.monotonic() + PURGE_WAIT
        while True:
            try:
                busy = self._checkpoint()
            except sqlite3.Error as exc:
                return PurgeResult(
                    False, f"the WAL could not be checkpointed: {self._why(exc, _IO, _FULL)}"
                )
            if busy == 0:
                return PurgeResult(True)
            if time.monotonic() >= deadline:
                return PurgeResult(
                    False,
                    "another connection holds a read snapshot of the store (a long export, a "
                    "verify, a replica reader), so the WAL cannot be cleared until it ends",
                )
            time.sleep(0.05)

    def _checkpoint(self) -> int:
        pool = self.recorder.datastore.pool
        conn = pool.get_connection(is_writer=True)
        try:
            raw: sqlite3.Connection = conn._sqlite_conn
            raw.execute("PRAGMA busy_timeout = 100")
            try:
                return int(raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0])
            finally:
                raw.execute(f"PRAGMA busy_timeout = {int(self._lock_timeout * 1000)}")
        finally:
            pool.put_connection(conn)

    def _why(self, exc: Exception, *hinted: str) -> str:
        if error_kind(exc) in hinted:
            return f"{exc} (is the disk full, or a file-size limit reached?)"
        return str(exc)

    def pending(self) -> list[PendingPurge]:
        with self.snapshot() as snapshot:
            return snapshot.pending()

    def end_purges(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        with self._transaction(commit=True) as c:
            c.executemany("DELETE FROM ledger_purge WHERE id = ?", [(i,) for i in ids])

    def note_purge(self, purge_id: int, reason: str) -> None:
        with contextlib.suppress(StoreError), self._transaction(commit=True) as c:
            c.execute("UPDATE ledger_purge SET reason = ? WHERE id = ?", (reason[:500], purge_id))

    # -- reading ---------------------------------------------------------------------------

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
        with self._transaction(commit=False) as c:
            for i in range(0, len(unique), _CHUNK):
                chunk = unique[i : i + _CHUNK]
                c.execute(
                    f"SELECT {_ROW_COLUMNS} FROM {EVENTS_TABLE} "
                    f"WHERE rowid IN ({','.join('?' * len(chunk))}) ORDER BY rowid",
                    chunk,
                )
                found.extend(_row(values) for values in c.fetchall())
        return found

    def rows_of_type(self, kind: str) -> list[StoredRow]:
        """The stored rows of one event type, in sequence order."""
        with self._transaction(commit=False) as c:
            c.execute(
                f"SELECT {_ROW_COLUMNS} FROM {EVENTS_TABLE} WHERE topic = ? ORDER BY rowid", (kind,)
            )
            return [_row(values) for values in c.fetchall()]

    def subject_rows(self, subject: str) -> Iterator[StoredRow]:
        """Stored rows whose subject is *subject*, in sequence order."""
        with self._transaction(commit=False) as c:
            c.execute(
                f"SELECT {_ROW_COLUMNS} FROM {EVENTS_TABLE} WHERE subject = ? ORDER BY rowid",
                (subject,),
            )
            while batch := c.fetchmany(2000):
                for values in batch:
                    yield _row(values)

    def nodes(self, positions: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """Merkle tree nodes by (level, index), level 0 being the events' leaf hashes."""
        with self.snapshot() as snapshot:
            return snapshot.nodes(positions)

    @contextmanager
    def snapshot(self) -> Iterator[_SQLiteSnapshot]:
        """Consistent reads of the head, rows and tree: one read transaction."""
        with self._transaction(commit=False) as c:
            yield _SQLiteSnapshot(c.connection)

    def add_checkpoint(self, size: int, root: bytes, note: str, created_at: str) -> None:
        """Keep a signed checkpoint (the newest note for a size replaces an older one)."""
        if self.read_only:
            raise ReadOnlyStore(f"{self.url} is opened read-only: cannot store a checkpoint")
        with self._transaction(commit=True) as c:
            c.execute(CHECKPOINTS_TABLE)
            c.execute(
                "INSERT INTO ledger_checkpoints (size, root, note, created_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (size) DO UPDATE SET note = excluded.note, root = excluded.root, "
                "created_at = excluded.created_at",
                (size, root, note, created_at),
            )

    def checkpoints(self) -> list[tuple[int, str]]:
        """Every stored checkpoint note, by size."""
        with self.snapshot() as snapshot:
            return snapshot.checkpoints()

    def checkpoint_made(self, size: int) -> str | None:
        with self._transaction(commit=False) as c:
            if not _has_checkpoints(c):
                return None
            c.execute("SELECT created_at FROM ledger_checkpoints WHERE size = ?", (size,))
            found = c.fetchone()
        return None if found is None else str(found[0])

    def keys(self, key_ids: Sequence[str]) -> dict[str, WrappedKey]:
        with self._transaction(commit=False) as c:
            found = _keys_in(c, "key_id", list(dict.fromkeys(key_ids)))
        return {key.key_id: key for key in found}

    def close(self) -> None:
        if self._datastore is not None:
            self._datastore.close()
            self._datastore = None
            self._recorder = None
