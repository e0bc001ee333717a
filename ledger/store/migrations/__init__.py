"""Alembic migrations of the store's schema; run with `ledger migrate`."""
