"""Alembic environment: the store named by the `ledger migrate` caller, online only. Its
target is the store's declared schema (ledger.store.schema) on the store's engine."""

from __future__ import annotations

from alembic import context

from ledger.store.engine import sqlalchemy_engine
from ledger.store.schema import metadata_for

url = context.config.attributes["url"]
engine, schema = sqlalchemy_engine(url)  # its connections' search_path is the schema
with engine.connect() as connection:
    context.configure(
        connection=connection,
        version_table_schema=schema,
        target_metadata=metadata_for(connection.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
engine.dispose()
