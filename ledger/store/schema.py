"""The store's schema, declared once: SQLAlchemy Core tables for both engines.

Both stores create their tables from :data:`metadata` (:func:`create_statements` renders
it for one engine), and Alembic compares a store against it. The events table is
eventsourcing's stored-events table (originator id, version, topic, state) with the chain
beside it; on SQLite the row id is the ledger sequence, on PostgreSQL ``notification_id``
is, as in eventsourcing's recorders. Projection tables are not here: ``projections/`` owns
them.

SQLite keeps ``INTEGER`` where PostgreSQL has ``bigint`` (an ``INTEGER PRIMARY KEY`` is
SQLite's row id), hence :data:`BIG`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import postgresql as postgresql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Dialect
from sqlalchemy.schema import CreateIndex, CreateTable

BIG = BigInteger().with_variant(Integer(), "sqlite")
ENGINES = ("sqlite", "postgresql")


def _declare(engine: str) -> MetaData:
    """Every table of the store on *engine*. The one difference: the ledger sequence is
    SQLite's row id (every SQLite index ends with it), on PostgreSQL ``notification_id``."""
    metadata = MetaData()
    sqlite = engine == "sqlite"

    def key(name: str, kind: Any, *checks: CheckConstraint) -> Column[Any]:
        # A one-column primary key, never generated. The stores never declared these NOT
        # NULL, which SQLite takes at its word (PostgreSQL's primary keys are NOT NULL).
        return Column(name, kind, *checks, primary_key=True, autoincrement=False, nullable=sqlite)

    events = Table(
        "ledger_events",
        metadata,
        Column("originator_id", Text, nullable=False),
        Column("originator_version", BIG, nullable=False),
        Column("topic", Text, nullable=False),
        Column("state", LargeBinary, nullable=False),
        *([] if sqlite else [Column("notification_id", BigInteger, autoincrement=False)]),
        Column("hash", LargeBinary, nullable=False),
        Column("mac", LargeBinary),
        Column("subject", Text),
        Column("client_id", Text),
        *(
            [PrimaryKeyConstraint("originator_id", "originator_version")]
            if sqlite
            else [
                PrimaryKeyConstraint("notification_id"),
                UniqueConstraint("originator_id", "originator_version"),
            ]
        ),
    )
    Index(
        "ledger_events_client_id",
        events.c.client_id,
        unique=True,
        sqlite_where=events.c.client_id.isnot(None),
        postgresql_where=events.c.client_id.isnot(None),
    )
    Index(
        "ledger_events_subject",
        events.c.subject,
        *([] if sqlite else [events.c.notification_id]),
        sqlite_where=events.c.subject.isnot(None),
        postgresql_where=events.c.subject.isnot(None),
    )
    Table(
        "ledger_head",
        metadata,
        key("id", Integer, CheckConstraint("id = 1")),
        Column("sequence", BIG, nullable=False),
        Column("hash", LargeBinary, nullable=False),
        Column("key_epoch", BIG, nullable=False),
        Column("vocabulary", Text),
        Column("seal", LargeBinary),
        Column("keymap", LargeBinary, nullable=False),
    )
    Table(
        "ledger_meta",
        metadata,
        key("name", Text),
        Column("value", Text, nullable=False),
    )
    keys = Table(
        "ledger_keys",
        metadata,
        key("key_id", Text),
        Column("subject", Text, nullable=False),
        Column("category", Text, nullable=False),
        Column("wrapped", LargeBinary, nullable=False),
        Column("kek_id", Text, nullable=False),
        UniqueConstraint("subject", "category"),
    )
    Index("ledger_keys_kek", keys.c.kek_id)
    # every bucket's current key-encryption key generation (sealed by the head)
    Table(
        "ledger_buckets",
        metadata,
        key("bucket", Integer),
        Column("generation", BIG, nullable=False),
    )
    # erasures and rotations not yet beyond recovery (see ledger.api)
    Table(
        "ledger_purge",
        metadata,
        key("id", BIG),
        Column("kind", Text, nullable=False),
        Column("sequence", BIG, nullable=False),
        Column("since", Text, nullable=False),
        Column("retire", Text, nullable=False),
        Column("xid", Text),
        Column("reason", Text),
    )
    # Perfect subtrees of the Merkle tree above the leaves (level >= 1), so that proofs
    # read O(log n) rows instead of rescanning the events.
    Table(
        "ledger_tree",
        metadata,
        Column("level", Integer, nullable=False),
        Column("idx", BIG, nullable=False),
        Column("hash", LargeBinary, nullable=False),
        PrimaryKeyConstraint("level", "idx"),
        sqlite_with_rowid=False,
    )
    # signed checkpoint notes, the newest for each size
    Table(
        "ledger_checkpoints",
        metadata,
        key("size", BIG),
        Column("root", LargeBinary, nullable=False),
        Column("note", Text, nullable=False),
        Column("created_at", Text, nullable=False),
    )
    return metadata


_METADATA = {engine: _declare(engine) for engine in ENGINES}
_DIALECTS: dict[str, Dialect] = {
    "sqlite": sqlite_dialect.dialect(),
    "postgresql": postgresql_dialect.dialect(),  # type: ignore[no-untyped-call]
}


def metadata_for(engine: str) -> MetaData:
    """The store's tables on *engine* (a SQLAlchemy dialect name: "sqlite", "postgresql")."""
    return _METADATA[engine]


def create_statements(
    engine: str, *, schema: str | None = None, if_not_exists: bool = False
) -> list[str]:
    """The DDL creating every table and index of the store on *engine*, in *schema* (the
    connection's own when None), each statement as one string."""
    dialect = _DIALECTS[engine]
    options: dict[str, Any] = {}
    if schema is not None:
        options = {"schema_translate_map": {None: schema}, "render_schema_translate": True}
    statements = []
    for table in metadata_for(engine).sorted_tables:
        ddl: list[CreateTable | CreateIndex] = [CreateTable(table, if_not_exists=if_not_exists)]
        ddl += [CreateIndex(i, if_not_exists=if_not_exists) for i in _by_name(table.indexes)]
        statements += [str(d.compile(dialect=dialect, **options)).strip() for d in ddl]
    return statements


def create_statement(engine: str, table: str, *, if_not_exists: bool = False) -> str:
    """The DDL creating one table of the store (without its indexes) on *engine*."""
    ddl = CreateTable(metadata_for(engine).tables[table], if_not_exists=if_not_exists)
    return str(ddl.compile(dialect=_DIALECTS[engine])).strip()


def table_names(engine: str) -> list[str]:
    """The store's tables on *engine*, each after every table that could depend on it."""
    return [table.name for table in reversed(metadata_for(engine).sorted_tables)]


def _by_name(indexes: set[Index]) -> list[Index]:
    return sorted(indexes, key=lambda index: str(index.name))
