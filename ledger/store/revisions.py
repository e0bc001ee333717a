"""The store's schema revisions with Alembic: the newest this release knows, the one a
store is at, stamping a new store, and upgrading (the steps live in ``migrations/``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

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
    engine, schema = sqlalchemy_engine(url)  # its connections' search_path is the schema
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"version_table_schema": schema})
            return context.get_current_revision()
    finally:
        engine.dispose()


def stamp(url: str) -> None:
    """Record that a store just created by this release is at the newest migration."""
    command.stamp(_config(url), "head")


def upgrade(url: str, **attributes: Any) -> None:
    """Run every migration the store lacks; *attributes* reach the migrations' steps (the
    key migration of schema 1 to 2 travels as ``key_migration``)."""
    config = _config(url)
    config.attributes.update(attributes)
    command.upgrade(config, "head")
