"""Store schema version 2: data keys wrapped under per-bucket key-encryption keys.

Adds the key map (``ledger_buckets``), pending purges (``ledger_purge``) and the head's
key-map digest; re-wraps every data key from the single ``kek.key`` of schema 1 under
generation 1 of its bucket in a new ``kek.slots``; reseals the head in the v2 format.
It needs the store's keys folder: `ledger migrate --keys FOLDER` (the work is done by
:class:`ledger.migrate.KeyMigration`, which verifies the chain first).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

from ledger.errors import ConfigError

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    plan = op.get_context().config.attributes.get("key_migration")  # type: ignore[union-attr]
    if plan is None:
        raise ConfigError(
            "store schema 2 moves the data keys under per-bucket key-encryption keys: run "
            "`ledger migrate` with the store's keys folder (--keys)"
        )
    plan.apply(op.get_bind())


def downgrade() -> None:
    raise RuntimeError("schema 2 destroys the single key-encryption key of schema 1: no way back")
