"""What tests share besides fixtures: the test PostgreSQL server, fresh stores for
hypothesis examples, raw SQL on a store, and the earlier release's store (imported by tests
as ``support``; pytest puts this folder on the path)."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from ledger.store.engine import sqlalchemy_engine

ENGINES = ["sqlite", "postgresql"]
FIXTURES = Path(__file__).parent / "fixtures" / "schema1"


def postgres_server() -> str | None:
    """The test server's URL; a missing server fails the run when LEDGER_REQUIRE_POSTGRES=1."""
    url = os.environ.get("LEDGER_TEST_POSTGRES_URL")
    required = os.environ.get("LEDGER_REQUIRE_POSTGRES") == "1"
    if not url:
        if required:
            pytest.fail("LEDGER_REQUIRE_POSTGRES=1 but LEDGER_TEST_POSTGRES_URL is not set")
        return None
    try:
        psycopg.connect(url.split("?")[0], connect_timeout=5).close()
    except psycopg.Error as exc:
        if required:
            pytest.fail(f"the PostgreSQL server at {url} is unreachable: {exc}")
        return None
    return _process_database(url.split("?")[0])


_DATABASES: dict[str, str] = {}


def _process_database(server: str) -> str:
    """A database of this test process's own on *server*, made at first use and dropped when
    the process ends. Tests in one process run one at a time, so no other test's open
    snapshot holds up the VACUUM an erasure runs (PostgreSQL keeps deleted rows while any
    transaction in the same database may still see them), and parallel runs never meet."""
    found = _DATABASES.get(server)
    if found is None:
        name = f"ledger_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        found = _DATABASES[server] = f"{server.rsplit('/', 1)[0]}/{name}"

        def drop() -> None:
            with contextlib.suppress(psycopg.Error), psycopg.connect(server, autocommit=True) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        atexit.register(drop)
    return found


@contextlib.contextmanager
def fresh_store(engine: str) -> Iterator[tuple[str, Path]]:
    """A new store URL and keys folder for one hypothesis example, removed afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        if engine == "sqlite":
            yield f"sqlite:///{Path(tmp) / 'l.db'}", Path(tmp) / "keys"
            return
        server = postgres_server()
        if server is None:
            pytest.skip("no PostgreSQL server (set LEDGER_TEST_POSTGRES_URL)")
        schema = f"ledger_test_{uuid.uuid4().hex[:12]}"
        try:
            yield f"{server}?schema={schema}", Path(tmp) / "keys"
        finally:
            with psycopg.connect(server, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def sql(url: str, statement: str, params: dict[str, Any] | None = None, **named: Any) -> list[Any]:
    """Run *statement* on the store at *url* directly, as anyone with SQL access to the file or
    server would (on PostgreSQL in the store's schema); the rows it returns, if any."""
    engine, _schema = sqlalchemy_engine(url)  # on PostgreSQL, search_path is the schema
    try:
        with engine.begin() as conn:
            result = conn.execute(text(statement), {**(params or {}), **named})
            return list(result.fetchall()) if result.returns_rows else []
    finally:
        engine.dispose()


def schema1_store(store_url: str, tmp_path: Path) -> tuple[str, Path]:
    """The earlier release's store and its keys folder, as that release left them."""
    engine = "sqlite" if store_url.startswith("sqlite") else "postgresql"
    keys = tmp_path / "keys"
    shutil.copytree(FIXTURES / f"keys-{engine}", keys)
    keys.chmod(0o700)
    for path in keys.iterdir():
        path.chmod(0o600)  # git keeps no modes
    if engine == "sqlite":
        path = Path(store_url.removeprefix("sqlite:///"))
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA journal_mode = WAL")  # as the earlier release kept its stores
        conn.executescript((FIXTURES / "sqlite.sql").read_text())
        conn.close()
    else:
        server, schema = store_url.split("?schema=")
        dump = (FIXTURES / "postgresql.sql").read_text().replace("{schema}", f'"{schema}"')
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(dump.encode())
    return store_url, keys


# Northgate's declaration, as its DPO writes it (line numbers matter to the refusals below).
NORTHGATE_DECLARATION = """\
notices = ["privacy-notice-v3"]

[purposes."essential.service.operations.support"]
bases = ["contract", "legitimate_interests"]
categories = ["user.name", "user.contact", "user.content.private"]
subject_categories = ["customer"]
locations = ["GB", "IE"]
retention = { "user.content.private" = "P30D", "user.contact" = "P6Y" }

[[purposes."essential.service.operations.support".recipients]]
id = "isp:fibrelink"
country = "GB"
categories = ["user.name", "user.contact.address"]

[[purposes."essential.service.operations.support".recipients]]
id = "proc:payflow-us"
country = "US"
transfer = "dpf"
categories = ["user.name"]

[purposes."essential.service.payment_processing"]
basis = "contract"
categories = ["user.financial"]
"""
