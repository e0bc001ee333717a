"""No personal data value anywhere the ledger writes, unless a decrypting read was asked for.

The story's every `data` value is a marker. After a whole working session through the CLI
(import, rejected imports, every question, exports, a bundle, a report, checkpoints,
proofs, a rebuild), each marker is searched for in: every line printed (stdout and
stderr), every log record, the database (SQLite: the file, its WAL and shared memory;
PostgreSQL: every row of every table of the ledger's schema, projections included), the
export, the bundle and the report. A decrypting export at the end must show them, or the
search could not find anything.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from click.testing import CliRunner

from ledger.cli.main import cli
from ledger.demo.story import events


def _values(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _values(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _values(v)]
    return [str(value)]


STORY = events()
MARKERS = sorted({v for e in STORY if "data" in e for v in _values(e["data"]) if len(v) >= 6})


def _forms(marker: str) -> list[bytes]:
    """The spellings a value could leak in: UTF-8, JSON-escaped, and UTF-16 (SQLite text)."""
    return [marker.encode(), orjson.dumps(marker)[1:-1], marker.encode("utf-16-le")]


def _leaks(where: str, blob: bytes) -> list[str]:
    return [f"{m!r} in {where}" for m in MARKERS if any(f in blob for f in _forms(m))]


def _database(url: str) -> dict[str, bytes]:
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        return {
            p.name: p.read_bytes()
            for p in path.parent.iterdir()
            if p.name.startswith(path.name)  # the file, -wal, -shm, -journal
        }
    server, schema = url.split("?schema=")
    found: dict[str, bytes] = {}
    with psycopg.connect(server) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (schema,),
            )
        ]
        assert "projection_holdings" in tables and "ledger_events" in tables
        for table in tables:
            rows = conn.execute(f'SELECT t::text FROM "{schema}"."{table}" t').fetchall()
            found[table] = "\n".join(r[0] for r in rows).encode()
    return found


def test_no_marker_value_escapes_a_whole_session(
    store_url: str, tmp_path: Path, config_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert len(MARKERS) >= 10  # names, emails, phones, workplaces... of the story
    caplog.set_level(logging.DEBUG)  # every logger, the libraries' included
    base = ["--db", store_url, "--keys", str(tmp_path / "keys"), "--config", str(config_path)]
    printed: list[bytes] = []

    def run(*args: str, input: bytes | None = None, ok: bool = True) -> None:
        result = CliRunner().invoke(cli, [*base, *args], input=input)
        printed.append(result.stdout_bytes + result.stderr_bytes)
        assert (result.exit_code == 0) == ok, (args, result.output)

    run("init")
    lines = b"\n".join(orjson.dumps(e) for e in STORY) + b"\n"
    run("import", "-", input=lines)
    # refused input that carries the values: the errors must not quote them
    first = next(e for e in STORY if "data" in e)
    collected = {k: v for k, v in first.items() if k != "id"}  # not already present
    for broken in (
        {**collected, "purpose": 7},  # a wrong type elsewhere in the event
        {**collected, "id": "leak-1", "categories": ["user.name"]},  # data beyond categories
        {**collected, "at": "yesterday"},
        {**collected, "subject": next(m for m in MARKERS if "@" in m)},  # a value as an id
        {**collected, "actor": next(m for m in MARKERS if m.startswith("+44"))},
    ):
        run("import", "-", input=orjson.dumps(broken) + b"\n", ok=False)
    run("import", "-", input=lines[:-1] + b"\n{not json " + MARKERS[1].encode(), ok=False)

    bundle, report, exported = tmp_path / "bundle", tmp_path / "r.html", tmp_path / "x.jsonl"
    for args in (
        ("verify",), ("verify", "--json", "--contract"), ("inventory",), ("inventory", "--json"),
        ("ropa", "--format", "csv"), ("ropa", "--format", "json"), ("consent", "--json"),
        ("requests", "--json"), ("breaches", "--json"), ("breach", "INC-2026-001"),
        ("subject", "cust-1002", "--json"), ("subject", "cust-1003"), ("history", "--json"),
        ("notices", "--all", "--json"), ("notices",), ("complaints", "--json"), ("complaints",),
        ("breach", "INC-2026-011", "--json"), ("ropa",), ("requests",),
        ("history", "--subject", "cust-1001"), ("export",), ("export", "-o", str(exported)),
        ("export", "--bundle", str(bundle)), ("checkpoint",), ("prove", "inclusion", "5"),
        ("prove", "consistency", "3"), ("report", "-o", str(report)),
        ("projections", "rebuild"), ("projections", "status"), ("keys", "public"),
    ):  # fmt: skip
        run(*args)

    leaks: list[str] = []
    for number, blob in enumerate(printed):
        leaks += _leaks(f"output #{number}", blob)
    leaks += _leaks("the log", caplog.text.encode())
    for name, blob in _database(store_url).items():
        leaks += _leaks(f"database {name}", blob)
    for path in [report, exported, *bundle.rglob("*")]:
        if path.is_file():
            leaks += _leaks(str(path.relative_to(tmp_path)), path.read_bytes())
    assert not leaks, leaks

    # the search finds them where they belong: a decrypting read (recorded as an access)
    shown = CliRunner().invoke(
        cli, [*base, "export", "--decrypt", "--actor", "staff:dpo", "--purpose",
              "essential.service.operations.support"],
    )  # fmt: skip
    assert shown.exit_code == 0, shown.output
    assert _leaks("decrypted export", shown.stdout_bytes)
