"""SQLAlchemy engines on a ledger's own database (projections and migrations use them)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import ExceptionContext

from ledger.store.urls import PostgresTarget, connect_failure, parse_store_url, quote_schema


def sqlalchemy_engine(url: str) -> tuple[Engine, str | None]:
    """An engine for *url*, and its PostgreSQL schema (None for SQLite).

    The URL is checked first (ledger.store.urls): a bad one is refused before anything
    connects. On PostgreSQL every connection's search_path is the schema, quoted, so it is
    the exact schema the store writes; a connection that cannot be made raises StoreError
    saying why, with the password hidden.
    """
    target = parse_store_url(url)
    if target.postgres is None:
        engine = create_engine(target.url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute("PRAGMA synchronous = FULL")

        return engine, None
    postgres = target.postgres
    engine = create_engine(
        postgres.engine_url(),
        connect_args={"options": f"-csearch_path={quote_schema(postgres.schema)}"},
        pool_pre_ping=True,
    )
    _name_connect_failures(engine, postgres)
    return engine, postgres.schema


def _name_connect_failures(engine: Engine, target: PostgresTarget) -> None:
    import psycopg  # PostgreSQL only (the optional postgres extra)

    @event.listens_for(engine, "handle_error")
    def _connect_failed(context: ExceptionContext) -> None:
        # no connection yet: the error is the server refusing or not answering, not SQL
        failed = context.original_exception
        if (
            context.connection is None
            and not context.is_pre_ping
            and isinstance(failed, psycopg.OperationalError)
        ):
            raise connect_failure(failed, target) from None
