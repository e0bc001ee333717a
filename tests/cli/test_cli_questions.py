"""The projection commands through CliRunner: JSON shapes, dates, tables and exit codes."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result

from ledger.cli.main import cli

RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?Z")


@pytest.fixture
def run(tmp_path: Path, config_path: Path, story: list[dict[str, Any]]) -> Any:
    base = ["--db", f"sqlite:///{tmp_path / 'l.db'}", "--keys", str(tmp_path / "k"),
            "--config", str(config_path), "--signing-key", str(tmp_path / "s")]  # fmt: skip

    def invoke(*args: str, input: bytes | None = None) -> Result:
        return CliRunner().invoke(cli, [*base, *args], input=input)

    invoke("init")
    lines = b"".join(orjson.dumps(e) + b"\n" for e in story)
    assert invoke("import", "-", input=lines).exit_code == 0
    return invoke


def test_inventory_json_uses_rfc3339_utc(run: Any) -> None:
    result = run("inventory", "--subject", "cust-1004", "--json")
    assert result.exit_code == 0, result.output
    found = orjson.loads(result.stdout)
    assert found[0]["status"] == "erased"
    assert found[0]["categories"][0]["erased_at"] == "2026-03-24T15:00:00Z"
    assert RFC3339_UTC.fullmatch(found[0]["categories"][0]["history"][0]["at"])


def test_inventory_as_of_a_date_means_the_end_of_that_day(run: Any) -> None:
    held = orjson.loads(run("inventory", "--subject", "cust-1004", "--as-of", "2026-03-23",
                            "--json").stdout)  # fmt: skip
    assert held[0]["status"] == "held"
    erased = orjson.loads(run("inventory", "--subject", "cust-1004", "--as-of", "2026-03-24",
                              "--json").stdout)  # fmt: skip
    assert erased[0]["status"] == "erased"


def test_bad_as_of_is_a_usage_error_naming_it(run: Any) -> None:
    result = run("consent", "--as-of", "last tuesday")
    assert result.exit_code == 2
    assert "as_of" in result.stderr and "Traceback" not in result.output


def test_requests_json_has_date_only_dues(run: Any) -> None:
    clocks = orjson.loads(run("requests", "--json").stdout)
    first = {c["request"]: c for c in clocks}["DSR-2026-001"]
    assert (first["received"], first["due"], first["target"]) == (
        "2026-03-16",
        "2026-06-16",
        "2026-04-13",
    )
    still_open = orjson.loads(run("requests", "--open", "--as-of", "2026-04-10", "--json").stdout)
    assert [c["request"] for c in still_open] == ["DSR-2026-001"]


def test_ropa_csv_opens_as_a_spreadsheet(run: Any) -> None:
    result = run("ropa", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    payments = next(r for r in rows if r["purpose"] == "essential.service.payment_processing")
    assert payments["controller"] == "Northgate IT Services Ltd"
    assert payments["transfers"] == "recipient US proc:payflow-us (dpf)"
    assert orjson.loads(run("ropa", "--format", "json").stdout)["controller"]["name"] == (
        "Northgate IT Services Ltd"
    )


def test_breach_commands(run: Any) -> None:
    table = run("breaches")
    assert table.exit_code == 0 and "INC-2026-001" in table.stdout
    one = run("breach", "INC-2026-001")
    assert "late, reason given" in one.stdout
    assert "affected subjects (1): cust-1002" in one.stdout
    missing = run("breach", "INC-9999")
    assert missing.exit_code == 2 and "no breach" in missing.stderr


def test_subject_report_and_history(run: Any) -> None:
    report = run("subject", "cust-1004")
    assert "Art. 19: after erased" in report.stdout and "sup:skills-academy" in report.stdout
    assert "Sam Patel" not in report.stdout
    refused = run("subject", "cust-1002", "--actor", "staff:dpo")
    assert refused.exit_code == 2
    opened = run("subject", "cust-1002", "--decrypt", "--actor", "staff:dpo", "--purpose",
                 "essential.legal_obligation")  # fmt: skip
    assert "Tom Reilly" in opened.stdout
    history = orjson.loads(run("history", "--actor", "staff:dpo", "--type", "accessed",
                               "--json").stdout)  # fmt: skip
    assert [e["system"] for e in history] == ["ledger"]  # the decrypting read above


def test_projections_status_and_rebuild(run: Any) -> None:
    run("inventory")
    status = orjson.loads(run("projections", "status", "--json").stdout)
    assert status["behind"] == 0 and status["position"] == status["head"]
    rebuilt = run("projections", "rebuild")
    assert rebuilt.stdout.startswith(f"rebuilt from {status['head']} events")


def test_read_only_answers_questions_from_its_own_tables_and_refuses_writes(
    run: Any, tmp_path: Path, story: list[dict[str, Any]]
) -> None:
    """--read-only (a replica): the same answers, nothing written, writing commands refused."""
    expected = run("requests", "--json").stdout
    db = tmp_path / "l.db"
    before = db.read_bytes()
    replica = run("--read-only", "requests", "--json")
    assert replica.exit_code == 0, replica.output
    assert orjson.loads(replica.stdout) == orjson.loads(expected)
    report = run("--read-only", "report", "-o", str(tmp_path / "r.html"))
    assert report.exit_code == 0, report.output
    fresh = {**story[0], "id": "read-only-1"}
    refused = run("--read-only", "import", "-", input=orjson.dumps(fresh) + b"\n")
    assert refused.exit_code == 2 and "read-only" in refused.stderr
    assert db.read_bytes() == before
