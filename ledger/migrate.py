"""Upgrading a store's schema with Alembic (`ledger migrate`), and stamping new stores."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from ledger.store.engine import sqlalchemy_engine

MIGRATIONS = Path(__file__).parent / "migrations"


def _config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["url"] = url
    return config


def head_revision() -> str:
    """The newest migration this release knows."""
    head = ScriptDirectory.from_config(_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def current_revision(url: str) -> str | None:
    """The migration the store is at (None before its first)."""
    engine, schema = sqlalchemy_engine(url)
    try:
        with engine.connect() as connection:
            if schema is not None:
                connection.execute(text(f'SET search_path TO "{schema}"'))
            context = MigrationContext.configure(connection, opts={"version_table_schema": schema})
            return context.get_current_revision()
    finally:
        engine.dispose()


def stamp(url: str) -> None:
    """Record that a store just created by this release is at the newest migration."""
    command.stamp(_config(url), "head")


def migrate(url: str) -> tuple[str | None, str]:
    """Upgrade the store to the newest migration; (revision before, revision after)."""
    before = current_revision(url)
    command.upgrade(_config(url), "head")
    return before, head_revision()
