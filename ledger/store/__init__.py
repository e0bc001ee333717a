"""Stores: the adapters between the ledger and a database engine."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ledger.errors import StoreError
from ledger.store.base import Head, Store, StoredRow, WrappedKey, WriteTx

__all__ = ["Head", "Store", "StoredRow", "WrappedKey", "WriteTx", "open_store"]


def open_store(url: str, *, read_only: bool = False) -> Store:
    """The store named by a SQLAlchemy-style URL: ``sqlite:///path`` (later ``postgresql://``)."""
    try:
        parsed = make_url(url)
        parsed.get_backend_name()
    except (ArgumentError, ValueError):
        raise StoreError(
            f"cannot parse store URL {url!r}: expected e.g. sqlite:///ledger.db"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise StoreError("an in-memory SQLite ledger would vanish: name a file, sqlite:///path")
        from ledger.store.sqlite import SQLiteStore

        return SQLiteStore(Path(parsed.database), url=url, read_only=read_only)
    if backend == "postgresql":
        from ledger.store.postgres import PostgresStore

        return PostgresStore(parsed, raw_url=url, read_only=read_only)
    raise StoreError(
        f"unsupported store {backend!r} in {url!r}: use sqlite:///path or postgresql://..."
    )
