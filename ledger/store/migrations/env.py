"""Alembic environment: the store named by the `ledger migrate` caller, online only."""

from __future__ import annotations

from alembic import context

from ledger.store.engine import sqlalchemy_engine

url = context.config.attributes["url"]
engine, schema = sqlalchemy_engine(url)  # its connections' search_path is the schema
with engine.connect() as connection:
    context.configure(connection=connection, version_table_schema=schema)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
engine.dispose()
