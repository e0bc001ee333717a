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
from contextlib import AbstractContextManager, contextmanager
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
from ledger.store.base import Head, PurgeResult
from ledger.store.schema import create_statement, create_statements
from ledger.store.sql import RECORDER_REFUSAL, Dialect, Snapshot, SQLStore, Statements, Stream

EVENTS_TABLE = "ledger_events"
# How long an erasure waits for readers to let go of the WAL before it reports the purge
# as pending (a writer is never held for minutes behind a reader).
PURGE_WAIT = 2.0


# stores made before the checkpoints table have none until the first checkpoint
CHECKPOINTS_TABLE = create_statement("sqlite", "ledger_checkpoints", if_not_exists=True)


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

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        raise StoreError(RECORDER_REFUSAL)

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        raise StoreError(RECORDER_REFUSAL)


def _stream(conn: sqlite3.Connection) -> Stream:
    def stream(query: str, params: Sequence[Any]) -> Iterator[Sequence[Any]]:
        c = conn.execute(query, params)
        while batch := c.fetchmany(2000):
            yield from batch

    return stream


class SQLiteStore(SQLStore):
    """A ledger in one SQLite file (WAL mode, synchronous=FULL, secure_delete on)."""

    sql = Statements(
        Dialect(
            param="?", sequence="rowid", chunk=500,  # parameters per IN list, under the limit
            has_checkpoints="SELECT 1 FROM sqlite_master WHERE name = 'ledger_checkpoints'",
        )
    )  # fmt: skip
    before_checkpoint = (CHECKPOINTS_TABLE,)

    def __init__(
        self, path: Path, *, url: str, read_only: bool = False, lock_timeout: int = 30
    ) -> None:
        self.path = path
        self.url = self.shown = url
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
            self._fill(c, meta, head, generations)

    def remove(self) -> None:
        """Delete a store this process has just created (a failed `init`)."""
        self.close()
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                Path(f"{self.path}{suffix}").unlink()

    def _read(self) -> AbstractContextManager[sqlite3.Cursor]:
        return self._transaction(commit=False)

    def _write(self) -> AbstractContextManager[sqlite3.Cursor]:
        return self._transaction(commit=True)

    @contextmanager
    def snapshot(self) -> Iterator[Snapshot]:
        """Consistent reads of the head, rows and tree: one read transaction (WAL gives it
        one state of the file)."""
        with self._transaction(commit=False) as c:
            yield Snapshot(c.connection.cursor, _stream(c.connection), self.sql)

    # -- cleaning --------------------------------------------------------------------------

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

    def close(self) -> None:
        if self._datastore is not None:
            self._datastore.close()
            self._datastore = None
            self._recorder = None
