"""The same ledger on PostgreSQL, end to end through the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from ledger import Ledger
from ledger.cli.main import cli


def test_the_whole_cli_works_on_postgresql(
    postgres_url: str, tmp_path: Path, config_path: Path, story: list[dict[str, Any]]
) -> None:
    base = ["--db", postgres_url, "--keys", str(tmp_path / "k"), "--config", str(config_path),
            "--signing-key", str(tmp_path / "s")]  # fmt: skip

    def run(*args: str, input: bytes | None = None) -> Any:
        result = CliRunner().invoke(cli, [*base, *args], input=input)
        return result

    assert run("init", "--origin", "northgate-it/ledger").exit_code == 0
    assert run("init").exit_code == 2  # never overwrites, on PostgreSQL either
    lines = b"".join(orjson.dumps(e) + b"\n" for e in story)
    assert f"recorded {len(story)} events" in run("import", "-", input=lines).stdout
    assert run("verify").exit_code == 0
    note = run("checkpoint").stdout
    (tmp_path / "cp.note").write_text(note)
    assert run("verify", "--checkpoint", str(tmp_path / "cp.note")).exit_code == 0
    proof = orjson.loads(run("prove", "inclusion", "5", "--json").stdout)
    assert proof["treeSize"] == len(story) + 2  # the vocabulary and signing-key records
    inventory = orjson.loads(run("inventory", "--subject", "cust-1004", "--json").stdout)
    assert inventory[0]["status"] == "erased"
    assert run("export", "--bundle", str(tmp_path / "evidence")).exit_code == 0
    bundle = CliRunner().invoke(cli, ["verify-bundle", str(tmp_path / "evidence"), "--key",
                                      str(tmp_path / "s" / "verifier.key")])  # fmt: skip
    assert bundle.exit_code == 0, bundle.output


def test_erasure_on_postgresql_leaves_the_rest_readable(postgres_url: str, tmp_path: Path) -> None:
    event = {"type": "collected", "actor": "svc:crm", "subject": "cust-1", "source": "form",
             "categories": ["user.name", "user.contact.email"], "purpose": "essential.service",
             "basis": "contract", "system": "crm", "location": "GB",
             "data": {"user.name": "Zebulon Quint",
                      "user.contact.email": "zq@marker.example"}}  # fmt: skip
    with Ledger.init(postgres_url, tmp_path / "k") as ledger:
        ledger.record(**event)
        ledger.record("erased", actor="staff:dpo", subject="cust-1",
                      categories=["user.contact"], reason="request")  # fmt: skip
        rows = ledger.read("cust-1", actor="staff:dpo", purpose="essential.legal_obligation")
        assert rows[0]["data"] == {"user.name": "Zebulon Quint"}
        assert rows[0]["data_erased"] == ["user.contact.email"]
        assert ledger.verify().intact


def test_copy_from_sqlite_to_postgresql_verifies_against_the_original_checkpoint(
    postgres_url: str, tmp_path: Path, config_path: Path, story: list[dict[str, Any]]
) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'l.db'}"
    common = ["--keys", str(tmp_path / "k"), "--config", str(config_path),
              "--signing-key", str(tmp_path / "s")]  # fmt: skip

    def run(url: str, *args: str, input: bytes | None = None) -> Any:
        return CliRunner().invoke(cli, ["--db", url, *common, *args], input=input)

    assert run(sqlite_url, "init").exit_code == 0
    run(sqlite_url, "import", "-", input=b"".join(orjson.dumps(e) + b"\n" for e in story))
    (tmp_path / "cp.note").write_text(run(sqlite_url, "checkpoint").stdout)
    copied = run(sqlite_url, "copy", "--to", postgres_url)
    assert copied.exit_code == 0, copied.output
    assert run(sqlite_url, "copy", "--to", postgres_url).exit_code == 2  # never overwrites
    check = run(postgres_url, "verify", "--checkpoint", str(tmp_path / "cp.note"), "--key",
                str(tmp_path / "s" / "verifier.key"), "--json")  # fmt: skip
    assert check.exit_code == 0, check.output
    assert orjson.loads(check.stdout)["seals_checked"] is True
    subject = run(postgres_url, "subject", "cust-1002", "--decrypt", "--actor", "staff:dpo",
                  "--purpose", "essential.legal_obligation")  # fmt: skip
    assert "Tom Reilly" in subject.stdout  # the wrapped keys came along
    back = f"sqlite:///{tmp_path / 'back.db'}"
    assert run(postgres_url, "copy", "--to", back).exit_code == 0
    assert run(back, "verify", "--checkpoint", str(tmp_path / "cp.note")).exit_code == 0


def test_a_read_only_open_reads_and_verifies_while_a_writer_appends(
    postgres_url: str, tmp_path: Path, story: list[dict[str, Any]], config_path: Path
) -> None:
    from ledger.crypto.signing import create_signer
    from ledger.errors import ReadOnlyStore
    from ledger.transparency import VerifiableLog

    with Ledger.init(postgres_url, tmp_path / "k", config=config_path) as writer:
        writer.record_many(story)
        VerifiableLog(writer).checkpoint(create_signer(tmp_path / "s", "t/ledger"))
        with Ledger.open(postgres_url, tmp_path / "k", read_only=True) as reader:
            with reader.store.snapshot() as snapshot:
                seen = snapshot.head().sequence
                writer.record_many([*story[:3], {**story[3], "id": "late-1"}])  # not blocked
                assert snapshot.head().sequence == seen  # the reader's snapshot holds still
            assert reader.verify().intact
            assert VerifiableLog(reader).prove_inclusion(5)["treeSize"] == seen
            assert next(e["type"] for e in reader.export(subject="cust-1004")) == "collected"
            with pytest.raises(ReadOnlyStore):
                reader.read("cust-1002", actor="staff:dpo", purpose="essential.legal_obligation")


def test_a_missing_postgresql_ledger_is_named_in_one_line(postgres_url: str) -> None:
    result = CliRunner().invoke(cli, ["--db", postgres_url, "verify"])
    assert result.exit_code == 2
    assert "no ledger" in result.stderr and len(result.stderr.strip().splitlines()) == 1
