"""Stores: the adapters between the ledger and a database engine."""

from __future__ import annotations

from pathlib import Path

from ledger.errors import StoreError
from ledger.store.base import Head, Store, StoredRow, WrappedKey, WriteTx
from ledger.store.urls import parse_store_url

__all__ = ["Head", "Store", "StoredRow", "WrappedKey", "WriteTx", "open_store"]


def open_store(url: str, *, read_only: bool = False) -> Store:
    """The store named by a SQLAlchemy-style URL: ``sqlite:///path`` or
    ``postgresql://user@host/db?schema=NAME``; refused (StoreError) before anything connects
    if the URL or its schema name is not a good one."""
    target = parse_store_url(url)
    if target.backend == "sqlite":
        database = target.url.database
        if not database or database == ":memory:":
            raise StoreError("an in-memory SQLite ledger would vanish: name a file, sqlite:///path")
        from ledger.store.sqlite import SQLiteStore

        return SQLiteStore(Path(database), url=url, read_only=read_only)
    from ledger.store.postgres import PostgresStore

    return PostgresStore(target.url, raw_url=url, read_only=read_only)
