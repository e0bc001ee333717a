"""The store's schema is declared once (ledger.store.schema): a new store on either engine is
exactly what is declared, and migration 0001 creates on an empty database exactly the tables
the release before schema 2 made (tests/fixtures/schema1)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, inspect
from support import postgres_server
from support import schema1_store as _schema1_store

from ledger import Ledger
from ledger.store.engine import sqlalchemy_engine
from ledger.store.revisions import _config, current_revision
from ledger.store.schema import metadata_for


def _differences(url: str, target: MetaData | None = None) -> list[Any]:
    """What Alembic finds between the store at *url* and *target* (the declared schema)."""
    engine, _ = sqlalchemy_engine(url)  # its search_path is the store's schema: the default
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, target or metadata_for(conn.dialect.name)))
    finally:
        engine.dispose()


def _reflected(url: str) -> MetaData:
    engine, _ = sqlalchemy_engine(url)
    try:
        reflected = MetaData()
        with engine.connect() as conn:
            reflected.reflect(conn)
        reflected.remove(reflected.tables["alembic_version"])
        return reflected
    finally:
        engine.dispose()


def test_a_new_store_is_exactly_the_declared_schema(store: tuple[str, Path]) -> None:
    url, keys = store
    Ledger.init(url, keys).close()
    assert _differences(url) == []
    engine, _ = sqlalchemy_engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    declared = set(metadata_for(engine.dialect.name).tables)
    assert tables == declared | {"alembic_version"}


def test_a_table_changed_outside_the_ledger_is_a_difference(store: tuple[str, Path]) -> None:
    from support import sql as _sql

    url, keys = store
    Ledger.init(url, keys).close()
    _sql(url, "DROP INDEX ledger_keys_kek")
    found = _differences(url)
    assert [d[0] for d in found] == ["add_index"] and found[0][1].name == "ledger_keys_kek"


@pytest.fixture
def empty_store_url(store_url: str) -> str:
    """The URL of an empty database (PostgreSQL: its schema made, as `init` makes it)."""
    if store_url.startswith("postgresql"):
        server, schema = store_url.split("?schema=")
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    return store_url


def test_migration_0001_creates_the_schema_1_tables_on_an_empty_database(
    empty_store_url: str, tmp_path: Path
) -> None:
    command.upgrade(_config(empty_store_url), "0001")
    assert current_revision(empty_store_url) == "0001"
    # what the release before schema 2 wrote, loaded from its dump into a store of its own
    if empty_store_url.startswith("sqlite"):
        written = f"sqlite:///{tmp_path / 'schema1.db'}"
    else:
        server = postgres_server()
        assert server is not None
        written = f"{server}?schema=ledger_test_{uuid.uuid4().hex[:12]}"
    try:
        _schema1_store(written, tmp_path / "fixture")
        schema1 = _reflected(written)
        assert sorted(schema1.tables) == sorted(_reflected(empty_store_url).tables)
        assert _differences(empty_store_url, schema1) == []
    finally:
        if written.startswith("postgresql"):
            server, schema = written.split("?schema=")
            with psycopg.connect(server, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
