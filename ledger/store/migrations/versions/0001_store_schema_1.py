"""Store schema version 1: events with the chain, head, meta, keys, tree, checkpoints.

`ledger init` creates this schema itself and stamps this revision; for a store made
before migrations existed, upgrading to it only records the version.

Revision ID: 0001
Revises: none
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.get_bind().execute(text("UPDATE ledger_meta SET value = '1' WHERE name = 'schema_version'"))


def downgrade() -> None:
    raise RuntimeError("schema version 1 is the first: there is nothing to go back to")
