"""Schema versions: stores record theirs, other versions are refused, `ledger migrate` upgrades,
including a store written by the release before schema 2 (tests/fixtures/schema1)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from support import schema1_store as _schema1_store
from support import sql as _sql

from ledger import Ledger
from ledger.cli.main import cli
from ledger.store.revisions import current_revision, head_revision

DPO = {"actor": "staff:dpo", "purpose": "essential.legal_obligation"}


def test_a_new_store_is_at_the_newest_revision(store: tuple[str, Path]) -> None:
    url, keys = store
    Ledger.init(url, keys).close()
    assert current_revision(url) == head_revision() == "0002"
    result = CliRunner().invoke(cli, ["--db", url, "--keys", str(keys), "migrate"])
    assert result.exit_code == 0
    assert "already at schema revision 0002" in result.stdout


@pytest.mark.parametrize("stamped", [True, False], ids=["at 0001", "before migrations"])
def test_a_schema_1_store_is_refused_then_migrated_with_its_keys(
    store_url: str, tmp_path: Path, stamped: bool
) -> None:
    url, keys = _schema1_store(store_url, tmp_path)
    if not stamped:
        _sql(url, "DROP TABLE alembic_version")
        _sql(url, "UPDATE ledger_meta SET value = '0' WHERE name = 'schema_version'")
    kek = (keys / "kek.key").read_bytes()
    args = ["--db", url, "--keys", str(keys)]
    refused = CliRunner().invoke(cli, [*args, "verify"])
    assert refused.exit_code == 2 and "ledger migrate" in refused.stderr
    keyless = CliRunner().invoke(cli, ["--db", url, "--keys", str(tmp_path / "none"), "migrate"])
    assert keyless.exit_code == 2 and "keys folder" in keyless.stderr
    assert current_revision(url) == ("0001" if stamped else None)  # nothing was written
    migrated = CliRunner().invoke(cli, [*args, "migrate"])
    assert migrated.exit_code == 0, migrated.output
    assert f"from revision {'0001' if stamped else 'none'} to 0002" in migrated.stdout
    assert not (keys / "kek.key").exists()  # the single old key is destroyed ...
    assert kek.strip() not in (keys / "kek.slots").read_bytes()
    verified = CliRunner().invoke(cli, [*args, "verify"])
    assert verified.exit_code == 0 and "chain and seals verified" in verified.stdout
    with Ledger.open(url, keys) as ledger:  # ... and every value survived the re-wrap
        rows = ledger.read("cust-1002", **DPO)
        assert rows[0]["data"]["user.name"] == "Tom Reilly"
        erased = ledger.read("cust-1004", **DPO)
        assert "data" not in erased[0] and erased[0]["data_erased"]
        ledger.record("erased", actor="staff:dpo", subject="cust-1002", categories=["*"],
                      reason="erasure request after migration")  # fmt: skip
        assert "data" not in ledger.read("cust-1002", **DPO)[0]
        assert ledger.verify().intact


def test_a_schema_1_store_whose_chain_was_changed_is_not_resealed(
    store_url: str, tmp_path: Path
) -> None:
    url, keys = _schema1_store(store_url, tmp_path)
    _sql(url, "UPDATE ledger_head SET vocabulary = 'forged'")  # unsealed in schema 1: ignored
    _sql(url, "UPDATE ledger_head SET sequence = sequence - 1")  # sealed: refused
    result = CliRunner().invoke(cli, ["--db", url, "--keys", str(keys), "migrate"])
    assert result.exit_code == 1, result.output
    assert "seal does not verify" in result.stderr and "nothing was migrated" in result.stderr
    assert (keys / "kek.key").exists() and not (keys / "kek.slots").exists()
    assert current_revision(url) == "0001"


def test_a_schema_1_store_with_a_forged_vocabulary_digest_gets_the_chains(
    store_url: str, tmp_path: Path
) -> None:
    url, keys = _schema1_store(store_url, tmp_path)
    _sql(url, "UPDATE ledger_head SET vocabulary = 'forged'")
    assert CliRunner().invoke(cli, ["--db", url, "--keys", str(keys), "migrate"]).exit_code == 0
    with Ledger.open(url, keys) as ledger:
        assert ledger.store.head().vocabulary != "forged"
        vocabulary = ledger.events_of_type("ledger.vocabulary")[-1]
        assert ledger.store.head().vocabulary == vocabulary["digest"]
        assert ledger.verify().intact
