"""Store schema version 1: events with the chain, head, meta, keys, tree, checkpoints.

On an empty database this creates the schema-1 tables, as the release before schema 2
made them (written out here, not taken from :mod:`ledger.store.schema`: a migration
stays what it was when it shipped). A store made before migrations existed already has
them: upgrading it to this revision only records the version. `ledger init` creates the
newest schema itself and stamps the newest revision.

Revision ID: 0001
Revises: none
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if sa.inspect(bind).has_table("ledger_meta"):
        bind.execute(sa.text("UPDATE ledger_meta SET value = '1' WHERE name = 'schema_version'"))
        return
    sqlite = bind.dialect.name == "sqlite"
    big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "ledger_events",
        sa.Column("originator_id", sa.Text, nullable=False),
        sa.Column("originator_version", big, nullable=False),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("state", sa.LargeBinary, nullable=False),
        *([] if sqlite else [sa.Column("notification_id", sa.BigInteger, autoincrement=False)]),
        sa.Column("hash", sa.LargeBinary, nullable=False),
        sa.Column("mac", sa.LargeBinary),
        sa.Column("subject", sa.Text),
        sa.Column("client_id", sa.Text),
        *(
            [sa.PrimaryKeyConstraint("originator_id", "originator_version")]
            if sqlite
            else [
                sa.PrimaryKeyConstraint("notification_id"),
                sa.UniqueConstraint("originator_id", "originator_version"),
            ]
        ),
    )
    op.create_index(
        "ledger_events_client_id", "ledger_events", ["client_id"], unique=True,
        sqlite_where=sa.text("client_id IS NOT NULL"),
        postgresql_where=sa.text("client_id IS NOT NULL"),
    )  # fmt: skip
    op.create_index(
        "ledger_events_subject", "ledger_events",
        ["subject"] if sqlite else ["subject", "notification_id"],
        sqlite_where=sa.text("subject IS NOT NULL"),
        postgresql_where=sa.text("subject IS NOT NULL"),
    )  # fmt: skip
    op.create_table(
        "ledger_head",
        sa.Column("id", sa.Integer, sa.CheckConstraint("id = 1"), primary_key=True,
                  autoincrement=False, nullable=sqlite),
        sa.Column("sequence", big, nullable=False),
        sa.Column("hash", sa.LargeBinary, nullable=False),
        sa.Column("key_epoch", big, nullable=False),
        sa.Column("vocabulary", sa.Text),
        sa.Column("seal", sa.LargeBinary),
    )  # fmt: skip
    op.create_table(
        "ledger_meta",
        sa.Column("name", sa.Text, primary_key=True, nullable=sqlite),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "ledger_keys",
        sa.Column("key_id", sa.Text, primary_key=True, nullable=sqlite),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("category", sa.Text, nullable=False),
        sa.Column("wrapped", sa.LargeBinary, nullable=False),
        sa.Column("kek_id", sa.Text, nullable=False),
        sa.UniqueConstraint("subject", "category"),
    )
    op.create_table(
        "ledger_tree",
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("idx", big, nullable=False),
        sa.Column("hash", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("level", "idx"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "ledger_checkpoints",
        sa.Column("size", big, primary_key=True, autoincrement=False, nullable=sqlite),
        sa.Column("root", sa.LargeBinary, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
    )


def downgrade() -> None:
    raise RuntimeError("schema version 1 is the first: there is nothing to go back to")
