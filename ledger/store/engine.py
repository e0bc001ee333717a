"""SQLAlchemy engines on a ledger's own database (projections and migrations use them)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url


def sqlalchemy_engine(url: str) -> tuple[Engine, str | None]:
    """An engine for *url*, and its PostgreSQL schema (None for SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute("PRAGMA synchronous = FULL")

        return engine, None
    query = dict(parsed.query)
    schema = str(query.pop("schema", "public"))
    engine = create_engine(
        parsed.set(drivername="postgresql+psycopg", query=query),
        connect_args={"options": f"-csearch_path={schema}"},
        pool_pre_ping=True,
    )
    return engine, schema
