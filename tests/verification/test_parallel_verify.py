"""Verification on several cores gives the same report as on one, whatever was tampered with."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import ENGINES, fresh_store

from ledger import Ledger
from ledger.demo.workload import generate
from ledger.verification import parallel

SIZE = 150  # 150 events of the workload, plus the ledger's own records


@pytest.fixture(scope="module")
def pristine() -> Iterator[Path]:
    """One filled SQLite ledger; each example tampers with its own copy."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with Ledger.init(f"sqlite:///{folder / 'l.db'}", folder / "keys") as ledger:
            events = list(generate(SIZE))
            for start in range(0, SIZE, 40):
                ledger.record_many(events[start : start + 40])
        yield folder


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "CHUNK_LEVEL", 3)
    monkeypatch.setattr(parallel, "RANGE_CHUNKS", 2)


def _both(url: str, keys: Path | None) -> tuple[dict[str, object], dict[str, object]]:
    with Ledger.open(url, keys) as ledger:
        one, several = ledger.verify(workers=1), ledger.verify(workers=3)
    return one.to_dict(), several.to_dict()


TAMPER = st.sampled_from(
    ["delete row", "change state", "change hash", "change mac", "change column",
     "swap rows", "change node", "delete node", "extra node", "delete last rows"]
)  # fmt: skip


def _tamper(path: Path, kind: str, seq: int, size: int) -> None:
    conn = sqlite3.connect(path)
    with conn:
        if kind == "delete row":
            conn.execute("DELETE FROM ledger_events WHERE rowid = ?", (seq,))
        elif kind == "change state":
            conn.execute(
                "UPDATE ledger_events SET state = CAST(replace(CAST(state AS TEXT), "
                "'\"seq\"', '\"seQ\"') AS BLOB) WHERE rowid = ?",
                (seq,),
            )
        elif kind == "change hash":
            conn.execute("UPDATE ledger_events SET hash = zeroblob(32) WHERE rowid = ?", (seq,))
        elif kind == "change mac":
            conn.execute("UPDATE ledger_events SET mac = zeroblob(32) WHERE rowid = ?", (seq,))
        elif kind == "change column":
            conn.execute("UPDATE ledger_events SET topic = 'tampered' WHERE rowid = ?", (seq,))
        elif kind == "swap rows":
            other = seq + 1 if seq < size else seq - 1
            rows = {
                s: conn.execute(
                    "SELECT state, hash, mac FROM ledger_events WHERE rowid = ?", (s,)
                ).fetchone()
                for s in (seq, other)
            }
            for s, t in ((seq, other), (other, seq)):
                conn.execute(
                    "UPDATE ledger_events SET state = ?, hash = ?, mac = ? WHERE rowid = ?",
                    (*rows[t], s),
                )
        elif kind in ("change node", "delete node"):
            level = 1 + seq % 6
            index = min((seq - 1) >> level, (size >> level) - 1)  # a node that is stored
            if kind == "change node":
                conn.execute(
                    "UPDATE ledger_tree SET hash = zeroblob(32) WHERE level = ? AND idx = ?",
                    (level, index),
                )
            else:
                conn.execute("DELETE FROM ledger_tree WHERE level = ? AND idx = ?", (level, index))
        elif kind == "extra node":
            conn.execute(
                "INSERT OR REPLACE INTO ledger_tree (level, idx, hash) VALUES (?, ?, zeroblob(32))",
                (1 + seq % 4, seq),
            )
        elif kind == "delete last rows":
            conn.execute("DELETE FROM ledger_events WHERE rowid >= ?", (seq,))
    conn.close()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(kind=TAMPER, where=st.floats(0, 1), keys=st.booleans())
def test_parallel_and_one_core_reports_agree_after_any_tampering(
    pristine: Path, kind: str, where: float, keys: bool
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "l.db"
        shutil.copy(pristine / "l.db", path)
        size = sqlite3.connect(path).execute("SELECT max(rowid) FROM ledger_events").fetchone()[0]
        seq = 1 + int(where * (size - 1))
        _tamper(path, kind, seq, size)
        one, several = _both(f"sqlite:///{path}", pristine / "keys" if keys else None)
    assert one == several
    if kind != "change mac" or keys:  # a seal can only be checked with the key
        assert not one["intact"], (kind, seq, one)


@pytest.mark.parametrize("engine", ENGINES)
def test_untouched_ledgers_of_every_size_agree_on_the_root(engine: str) -> None:
    with fresh_store(engine) as (url, keys), Ledger.init(url, keys) as ledger:
        events = list(generate(70))
        done = 2  # the ledger's own records at init
        for size in (1, 6, 8, 9, 31, 70):
            ledger.record_many(events[done - 2 : size])
            done = size + 2
            one, several = ledger.verify(workers=1), ledger.verify(workers=2)
            assert one.intact and several.intact, (size, one, several)
            assert one.root == several.root and one.checked == several.checked


def test_postgres_row_deleted_is_found_the_same_way(postgres_url: str, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    with Ledger.init(postgres_url, keys) as ledger:
        ledger.record_many(list(generate(60)))
    server, schema = postgres_url.split("?schema=")
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DELETE FROM "{schema}".ledger_events WHERE notification_id = 37')
    one, several = _both(postgres_url, keys)
    assert one == several
    assert one["first_bad"] == 37 and not one["intact"]


def test_a_bad_worker_count_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """Verify, import and rebuild read a worker count alike, and refuse a bad one by name."""
    from ledger import workers
    from ledger.errors import LedgerError
    from ledger.projections import parallel as rebuild

    counts = {
        "verify": (lambda n: parallel.workers_for(100, n), "LEDGER_VERIFY_WORKERS"),
        "import": (workers.workers_for, "LEDGER_IMPORT_WORKERS"),
        "rebuild": (lambda n: rebuild.workers_for(100, n), "LEDGER_REBUILD_WORKERS"),
    }
    for what, (count, variable) in counts.items():
        for bad in (0, -1, 65):
            with pytest.raises(LedgerError, match=f"{what} workers must be from 1 to 64"):
                count(bad)
        assert count(3) == 3
        monkeypatch.setenv(variable, "two")
        with pytest.raises(LedgerError, match=f"{variable} must be a whole number"):
            count(None)
        monkeypatch.setenv(variable, "2")
        assert count(None) == 2
        monkeypatch.delenv(variable)


def test_cli_workers_option_gives_the_same_report(pristine: Path) -> None:
    from click.testing import CliRunner

    from ledger.cli.main import cli

    base = ["--db", f"sqlite:///{pristine / 'l.db'}", "--keys", str(pristine / "keys")]
    reports = []
    for workers in ("1", "2"):
        result = CliRunner().invoke(cli, [*base, "verify", "--json", "--workers", workers])
        assert result.exit_code == 0, result.output
        reports.append(result.stdout)
    assert reports[0] == reports[1]
    refused = CliRunner().invoke(cli, [*base, "verify", "--workers", "0"])
    assert refused.exit_code == 2 and "--workers" in refused.output
