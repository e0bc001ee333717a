"""Schema versions: stores record theirs, other versions are refused, `ledger migrate` upgrades."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import text

from ledger import Ledger
from ledger.cli.main import cli
from ledger.migrate import current_revision, head_revision
from ledger.store.engine import sqlalchemy_engine


def _sql(url: str, statement: str) -> None:
    engine, schema = sqlalchemy_engine(url)
    with engine.begin() as conn:
        if schema:
            conn.execute(text(f'SET search_path TO "{schema}"'))
        conn.execute(text(statement))
    engine.dispose()


def test_a_new_store_is_at_the_newest_revision(store: tuple[str, Path]) -> None:
    url, keys = store
    Ledger.init(url, keys).close()
    assert current_revision(url) == head_revision() == "0001"
    result = CliRunner().invoke(cli, ["--db", url, "--keys", str(keys), "migrate"])
    assert result.exit_code == 0
    assert "already at schema revision 0001" in result.stdout


def test_a_store_from_before_migrations_is_refused_then_migrated(store: tuple[str, Path]) -> None:
    url, keys = store
    with Ledger.init(url, keys) as ledger:
        ledger.record("objected", actor="svc:web", subject="cust-1",
                      purpose="marketing.communications.email")  # fmt: skip
    _sql(url, "DROP TABLE alembic_version")
    _sql(url, "UPDATE ledger_meta SET value = '0' WHERE name = 'schema_version'")
    args = ["--db", url, "--keys", str(keys)]
    refused = CliRunner().invoke(cli, [*args, "verify"])
    assert refused.exit_code == 2 and "ledger migrate" in refused.stderr
    migrated = CliRunner().invoke(cli, [*args, "migrate"])
    assert migrated.exit_code == 0, migrated.output
    assert "from revision none to 0001" in migrated.stdout
    assert CliRunner().invoke(cli, [*args, "verify"]).exit_code == 0
