"""Driver errors are classified by class, SQLite result code and SQLSTATE, each engine in one
table, into the ledger's errors; every one provoked for real on SQLite files and the server."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ledger import Ledger
from ledger.errors import ReadOnlyStore, StoreError, StoreNotFound
from ledger.store import sqlite as sqlite_store
from ledger.store.sqlite import SQLiteStore

# -- SQLite ------------------------------------------------------------------------------------


@pytest.fixture
def ledger_file(tmp_path: Path) -> Path:
    """A SQLite ledger's file, closed."""
    path = tmp_path / "l.db"
    Ledger.init(f"sqlite:///{path}", tmp_path / "keys").close()
    return path


def _raised(path: Path, statement: str, **connect: object) -> sqlite3.Error:
    conn = sqlite3.connect(path, isolation_level=None, **connect)  # type: ignore[call-overload]
    try:
        conn.execute(statement)
    except sqlite3.Error as exc:
        return exc
    finally:
        conn.close()
    raise AssertionError(f"{statement} did not fail")


def _store(path: Path, lock_timeout: int = 30) -> SQLiteStore:
    return SQLiteStore(path, url=f"sqlite:///{path}", lock_timeout=lock_timeout)


def test_a_write_lock_held_elsewhere_is_locked(ledger_file: Path) -> None:
    holder = sqlite3.connect(ledger_file, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        exc = _raised(ledger_file, "BEGIN IMMEDIATE", timeout=0)
        assert exc.sqlite_errorname == "SQLITE_BUSY"
        assert sqlite_store.error_kind(exc) == "locked"
        store = _store(ledger_file, lock_timeout=0)
        try:
            with pytest.raises(StoreError) as refused, store.writer():
                pass
        finally:
            store.close()
        assert type(refused.value) is StoreError
        assert str(refused.value) == (
            f"sqlite:///{ledger_file} is locked by another writer (waited 0s); try again"
        )
    finally:
        holder.close()


@pytest.mark.parametrize("how", ["mode=ro", "query_only"])
def test_a_write_the_file_refuses_is_read_only(ledger_file: Path, how: str) -> None:
    update = "UPDATE ledger_meta SET value = value"
    if how == "mode=ro":
        exc = _raised(Path(f"file:{ledger_file}?mode=ro"), update, uri=True)
    else:
        conn = sqlite3.connect(ledger_file, isolation_level=None)
        conn.execute("PRAGMA query_only = ON")
        with pytest.raises(sqlite3.Error) as raised:
            conn.execute(update)
        conn.close()
        exc = raised.value
    assert exc.sqlite_errorname.startswith("SQLITE_READONLY")
    assert sqlite_store.error_kind(exc) == "read-only"
    refused = _store(ledger_file).ledger_error(exc)
    assert isinstance(refused, ReadOnlyStore)
    assert str(refused) == f"sqlite:///{ledger_file} is read-only: cannot write to it"


def test_a_file_that_is_not_a_database_is_not_a_ledger_store(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"minutes of the board meeting, not a database" * 100)
    store = _store(path)
    try:
        with pytest.raises(StoreNotFound) as refused:
            store.meta()
    finally:
        store.close()
    assert str(refused.value) == f"sqlite:///{path} is not a ledger store (file is not a database)"
    assert sqlite_store.error_kind(_raised(path, "SELECT * FROM ledger_meta")) == "not found"


def test_a_database_without_the_ledger_tables_is_not_a_ledger_store(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    sqlite3.connect(path).close()
    exc = _raised(path, "SELECT * FROM ledger_meta")
    assert exc.sqlite_errorname == "SQLITE_ERROR"
    assert sqlite_store.error_kind(exc) == "not found"
    store = _store(path)
    try:
        with pytest.raises(StoreNotFound) as refused:
            store.meta()
    finally:
        store.close()
    assert str(refused.value) == (
        f"sqlite:///{path} is not a ledger store (no such table: ledger_meta)"
    )
    # other SQLITE_ERRORs are no missing table
    assert sqlite_store.error_kind(_raised(path, "SELEKT 1")) is None


FILL = """
import resource, signal, sqlite3, sys
from ledger.store.sqlite import SQLiteStore, error_kind
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
path = sys.argv[1]
conn = sqlite3.connect(path, isolation_level=None)
conn.execute("CREATE TABLE filler (b BLOB)")
resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
try:
    for _ in range(100):
        conn.execute("INSERT INTO filler VALUES (randomblob(8192))")
except sqlite3.Error as exc:
    store = SQLiteStore(__import__("pathlib").Path(path), url="sqlite:///ledger.db")
    print(exc.sqlite_errorname, error_kind(exc), str(store.ledger_error(exc)), sep="|")
"""


def test_a_write_past_a_file_size_limit_cannot_write_and_says_why(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", FILL, str(tmp_path / "full.db")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    name, kind, message = result.stdout.strip().split("|")
    assert name.startswith(("SQLITE_IOERR", "SQLITE_FULL")), result.stderr
    assert kind in ("I/O", "full")
    assert message.startswith("cannot write sqlite:///ledger.db: ")
    if kind == "I/O":
        assert message.endswith("(is the disk full, or a file-size limit reached?)")


# -- PostgreSQL --------------------------------------------------------------------------------


@pytest.fixture
def pg_store(postgres_url: str, tmp_path: Path) -> Iterator[object]:
    from ledger.store import open_store

    Ledger.init(postgres_url, tmp_path / "keys").close()
    store = open_store(postgres_url)
    yield store
    store.close()


def test_postgres_sqlstates_map_to_the_ledgers_errors(server: str) -> None:
    from ledger.store import postgres

    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute("SET default_transaction_read_only = on")
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction) as read_only:
            conn.execute("CREATE TABLE refused (x int)")
        conn.execute("SET default_transaction_read_only = off")
        with pytest.raises(psycopg.errors.UndefinedTable) as undefined:
            conn.execute("SELECT * FROM ledger_no_such_table")
        with pytest.raises(psycopg.errors.InvalidSchemaName) as no_schema:
            conn.execute("CREATE TABLE ledger_no_such_schema.t (x int)")
        conn.execute("CREATE TEMP TABLE t (x int PRIMARY KEY)")
        with pytest.raises(psycopg.errors.UniqueViolation) as other:
            conn.execute("INSERT INTO t VALUES (1), (1)")
    victim = psycopg.connect(server, autocommit=True)
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (victim.info.backend_pid,))
    with pytest.raises(psycopg.errors.AdminShutdown) as terminated:
        victim.execute("SELECT 1")
    with pytest.raises(psycopg.OperationalError) as closed:
        victim.execute("SELECT 1")  # the socket is gone: libpq says so, with no SQLSTATE
    victim.close()
    assert closed.value.sqlstate is None
    kinds = {
        "read-only": read_only.value,
        "not found": undefined.value,
        "lost": terminated.value,
        None: other.value,
    }
    for kind, exc in kinds.items():
        assert postgres.error_kind(exc) == kind, exc
    assert postgres.error_kind(no_schema.value) == "not found"
    assert postgres.error_kind(closed.value) == "lost"
    # a full disk cannot be provoked here; its class carries the SQLSTATE the table maps
    assert postgres.error_kind(psycopg.errors.DiskFull()) == "full"


def test_postgres_errors_become_the_ledgers_errors_with_their_messages(
    server: str, tmp_path: Path
) -> None:
    from ledger.store import open_store

    schema = f"ledger_test_{uuid.uuid4().hex[:12]}"
    url = f"{server}?schema={schema}"
    store = open_store(url)
    try:
        for read in (store.meta, store.head, store.pending):
            with pytest.raises(StoreNotFound) as missing:
                read()
            assert str(missing.value) == f"no ledger at {url}: run `ledger init` first"
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute("SET default_transaction_read_only = on")
            with pytest.raises(psycopg.Error) as raised:
                conn.execute("CREATE TABLE refused (x int)")
        refused = store.ledger_error(raised.value)  # type: ignore[attr-defined]
        assert isinstance(refused, ReadOnlyStore)
        assert str(refused) == f"{url} is read-only: cannot write to it"
    finally:
        store.close()


def test_a_connection_dropped_during_a_read_is_named_as_lost(pg_store: object, server: str) -> None:
    from ledger.store.postgres import PostgresStore

    assert isinstance(pg_store, PostgresStore)
    with pytest.raises(StoreError) as lost, pg_store.snapshot() as snapshot:
        snapshot.head()
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND backend_xmin IS NOT NULL"
            )
        snapshot.head()
    assert str(lost.value).startswith(
        f"lost the connection to the PostgreSQL server of {pg_store.url} ("
    )
    assert pg_store.head().sequence >= 0  # and the next read gets a connection that works
