"""Tampering with the SQLite file behind the ledger's back is found, at the right position."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from ledger import Ledger
from ledger.cli.main import cli
from ledger.core import chain
from ledger.core.canonical import sha256
from ledger.verification import parallel


@pytest.fixture(autouse=True, params=["one core", "parallel"])
def verify_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every finding must be the same whether one process checks the chain or several do
    (tiny chunks, so the demo's events span several ranges and tree levels above them)."""
    if request.param == "parallel":
        monkeypatch.setenv("LEDGER_VERIFY_WORKERS", "2")
        monkeypatch.setattr(parallel, "CHUNK_LEVEL", 2)
        monkeypatch.setattr(parallel, "RANGE_CHUNKS", 3)
    else:
        monkeypatch.setenv("LEDGER_VERIFY_WORKERS", "1")
    return str(request.param)


@pytest.fixture
def store(tmp_path: Path) -> tuple[str, Path]:
    """These tests read and rewrite the SQLite file itself."""
    return f"sqlite:///{tmp_path / 'ledger.db'}", tmp_path / "keys"


def _db_path(ledger: Ledger) -> Path:
    return Path(ledger.store.url.removeprefix("sqlite:///"))


def _verify_cli(url: str, keys: Path, config: Path) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(
        cli, ["--db", url, "--keys", str(keys), "--config", str(config), "verify", "--json"]
    )
    return result.exit_code, orjson.loads(result.stdout)


@pytest.fixture
def closed(filled: Ledger, store: tuple[str, Path], config_path: Path) -> dict[str, Any]:
    """A filled ledger, closed, with the facts tampering tests need."""
    size = filled.size
    filled.close()
    url, keys = store
    return {
        "url": url,
        "keys": keys,
        "config": config_path,
        "size": size,
        "path": Path(url.removeprefix("sqlite:///")),
    }


def _sql(path: Path, *statements: tuple[str, tuple[Any, ...]]) -> None:
    conn = sqlite3.connect(path)
    with conn:
        for sql, params in statements:
            conn.execute(sql, params)
    conn.close()


def _row(path: Path, seq: int) -> tuple[bytes, bytes]:
    conn = sqlite3.connect(path)
    state, digest = conn.execute(
        "SELECT state, hash FROM ledger_events WHERE rowid = ?", (seq,)
    ).fetchone()
    conn.close()
    return bytes(state), bytes(digest)


def test_untouched_ledger_verifies_intact_with_seals(closed: dict[str, Any]) -> None:
    code, report = _verify_cli(closed["url"], closed["keys"], closed["config"])
    assert code == 0
    assert report["intact"] is True
    assert report["size"] == closed["size"] == report["checked"]
    assert report["seals_checked"] is True


def test_changed_byte_in_the_file_is_found_at_its_sequence(closed: dict[str, Any]) -> None:
    path = closed["path"]
    state, _ = _row(path, 15)  # demo-014: the access by staff:jsmith
    assert b'"actor":"staff:jsmith"' in state
    raw = path.read_bytes()
    assert raw.count(b"staff:jsmith") == 1, "the record must sit in the main file, once"
    path.write_bytes(raw.replace(b"staff:jsmith", b"staff:jsmitH"))
    code, report = _verify_cli(closed["url"], closed["keys"], closed["config"])
    assert code == 1
    assert report["first_bad"] == 15
    assert "changed" in report["reason"]


def test_changed_record_with_recomputed_hash_breaks_the_next_link(closed: dict[str, Any]) -> None:
    path = closed["path"]
    state, _ = _row(path, 8)  # demo-007: the call recording kept in Ireland
    forged = state.replace(b'"location":"IE"', b'"location":"GB"')
    assert forged != state
    _sql(
        path,
        ("UPDATE ledger_events SET state = ?, hash = ? WHERE rowid = 8", (forged, sha256(forged))),
    )
    code, report = _verify_cli(closed["url"], closed["keys"], closed["config"])
    assert code == 1
    # the row's own hash matches, but its seal was made for the old hash
    assert report["first_bad"] == 8
    assert "seal" in report["reason"]


def test_changed_record_found_without_keys_by_the_chain(closed: dict[str, Any]) -> None:
    path = closed["path"]
    state, _ = _row(path, 7)  # demo-006: the support ticket, kept two years
    forged = state.replace(b'"retention":"P2Y"', b'"retention":"P9Y"')
    assert forged != state
    _sql(
        path,
        ("UPDATE ledger_events SET state = ?, hash = ? WHERE rowid = 7", (forged, sha256(forged))),
    )
    with Ledger.open(closed["url"], closed["keys"] / "absent", read_only=True) as ledger:
        report = ledger.verify()
    assert not report.intact and not report.seals_checked
    assert report.first_bad == 8
    assert "predecessor" in (report.reason or "")


@pytest.mark.parametrize("victim", [1, 9, "last"])
def test_deleted_row_is_found(closed: dict[str, Any], victim: int | str) -> None:
    seq = closed["size"] if victim == "last" else victim
    _sql(closed["path"], ("DELETE FROM ledger_events WHERE rowid = ?", (seq,)))
    code, report = _verify_cli(closed["url"], closed["keys"], closed["config"])
    assert code == 1
    assert report["first_bad"] == seq
    assert "missing" in report["reason"]


def test_deleted_last_rows_with_head_rewritten_is_found_by_the_head_seal(
    closed: dict[str, Any],
) -> None:
    path, size = closed["path"], closed["size"]
    _, digest = _row(path, size - 2)
    _sql(
        path,
        ("DELETE FROM ledger_events WHERE rowid > ?", (size - 2,)),
        ("UPDATE ledger_head SET sequence = ?, hash = ?", (size - 2, digest)),
    )
    code, report = _verify_cli(closed["url"], closed["keys"], closed["config"])
    assert code == 1
    assert report["first_bad"] == size - 2
    assert "head" in report["reason"] and "seal" in report["reason"]


def test_swapped_rows_are_found_at_the_first_of_them(closed: dict[str, Any]) -> None:
    path = closed["path"]
    four, six = _row(path, 4), _row(path, 6)
    _sql(
        path,
        ("UPDATE ledger_events SET state = ?, hash = ? WHERE rowid = 4", six),
        ("UPDATE ledger_events SET state = ?, hash = ? WHERE rowid = 6", four),
    )
    code, report = _verify_cli(closed["url"], closed["keys"], closed["config"])
    assert code == 1
    assert report["first_bad"] == 4
    assert "moved" in report["reason"]


def _forge(path: Path, seq: int, prev: bytes) -> tuple[bytes, bytes]:
    return chain.seal(
        seq=seq,
        recorded_at="2026-11-24T00:00:00.000000Z",
        prev=prev,
        uuid="00000000-0000-7000-8000-000000000000",
        event={
            "type": "accessed",
            "at": "2026-11-24T00:00:00Z",
            "actor": "staff:mallory",
            "subject": "cust-1001",
            "categories": ["user.name"],
            "purpose": "essential.service",
            "system": "crm",
        },
    )


def test_forged_row_appended_with_a_valid_chain_is_found(closed: dict[str, Any]) -> None:
    path, size = closed["path"], closed["size"]
    _, last = _row(path, size)
    state, digest = _forge(path, size + 1, last)
    _sql(
        path,
        (
            "INSERT INTO ledger_events (rowid, originator_id, originator_version, topic, state, "
            "hash, subject) VALUES (?, ?, 1, 'accessed', ?, ?, 'cust-1001')",
            (size + 1, "00000000-0000-7000-8000-000000000000", state, digest),
        ),
        ("UPDATE ledger_head SET sequence = ?, hash = ?", (size + 1, digest)),
    )
    code, report = _verify_cli(closed["url"], closed["keys"], closed["config"])
    assert code == 1
    assert report["first_bad"] == size + 1
    assert "seal" in report["reason"]


def test_forged_row_appended_without_touching_the_head_is_found(closed: dict[str, Any]) -> None:
    path, size = closed["path"], closed["size"]
    _, last = _row(path, size)
    state, digest = _forge(path, size + 1, last)
    _sql(
        path,
        (
            "INSERT INTO ledger_events (rowid, originator_id, originator_version, topic, "
            "state, hash, subject) VALUES (?, ?, 1, 'accessed', ?, ?, 'cust-1001')",
            (size + 1, "00000000-0000-7000-8000-000000000000", state, digest),
        ),
    )
    with Ledger.open(closed["url"], closed["keys"] / "absent", read_only=True) as ledger:
        report = ledger.verify()
    assert not report.intact
    assert report.first_bad == size + 1
    assert "beyond the head" in (report.reason or "")


def test_inserted_row_in_the_middle_is_found(closed: dict[str, Any]) -> None:
    path, size = closed["path"], closed["size"]
    _sql(
        path,
        ("UPDATE ledger_events SET rowid = rowid + 1000 WHERE rowid > 10", ()),
        ("UPDATE ledger_events SET rowid = rowid - 999 WHERE rowid > 1000", ()),
    )
    _, tenth = _row(path, 10)
    state, digest = _forge(path, 11, tenth)
    _sql(
        path,
        (
            "INSERT INTO ledger_events (rowid, originator_id, originator_version, topic, "
            "state, hash, subject) VALUES (11, ?, 1, 'accessed', ?, ?, 'cust-1001')",
            ("00000000-0000-7000-8000-000000000000", state, digest),
        ),
    )
    with Ledger.open(closed["url"], closed["keys"] / "absent", read_only=True) as ledger:
        report = ledger.verify()
    assert not report.intact
    assert report.first_bad == 12  # the forged 11 links well; the moved original 11 does not
    assert report.size == size


@pytest.mark.parametrize(
    ("column", "value"),
    [("subject", "cust-9999"), ("topic", "erased"), ("client_id", "demo-999")],
)
def test_changed_column_beside_the_record_is_found(
    closed: dict[str, Any], column: str, value: str
) -> None:
    _sql(closed["path"], (f"UPDATE ledger_events SET {column} = ? WHERE rowid = 5", (value,)))
    code, report = _verify_cli(closed["url"], closed["keys"], closed["config"])
    assert code == 1
    assert report["first_bad"] == 5
    assert "columns" in report["reason"]


def test_verify_of_a_missing_store_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 'none.db'}", "verify"])
    assert result.exit_code == 2
    assert "no ledger" in result.stderr
    assert "Traceback" not in result.output


def test_verify_of_a_file_that_is_not_a_ledger_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not a database" * 100)
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{path}", "verify"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error:")


def test_a_store_of_another_schema_version_is_refused_clearly(closed: dict[str, Any]) -> None:
    _sql(closed["path"], ("UPDATE ledger_meta SET value = '99' WHERE name = 'schema_version'", ()))
    result = CliRunner().invoke(cli, ["--db", closed["url"], "verify"])
    assert result.exit_code == 2
    assert "schema version 99" in result.stderr and "ledger migrate" in result.stderr


def _node(path: Path, level: int, index: int) -> bytes:
    conn = sqlite3.connect(path)
    (digest,) = conn.execute(
        "SELECT hash FROM ledger_tree WHERE level = ? AND idx = ?", (level, index)
    ).fetchone()
    conn.close()
    return bytes(digest)


@pytest.mark.parametrize("level", [1, 2, 3, 4])
def test_changed_merkle_node_is_found_at_the_event_that_completes_it(
    closed: dict[str, Any], level: int
) -> None:
    path = closed["path"]
    index = 1  # leaves [2**level, 2**(level+1)): completed by event 2**(level+1)
    _sql(path, ("UPDATE ledger_tree SET hash = ? WHERE level = ? AND idx = ?",
                (bytes(32), level, index)))  # fmt: skip
    code, report = _verify_cli(closed["url"], closed["keys"], closed["config"])
    assert code == 1
    assert report["first_bad"] == (index + 1) << level
    assert f"(level {level}, index {index})" in report["reason"]


def test_deleted_merkle_node_is_found(closed: dict[str, Any]) -> None:
    path = closed["path"]
    _sql(path, ("DELETE FROM ledger_tree WHERE level = 3 AND idx = 2", ()))
    code, report = _verify_cli(closed["url"], closed["keys"], closed["config"])
    assert code == 1
    assert report["first_bad"] == 3 << 3
    assert "tree" in report["reason"]


def test_extra_merkle_node_beyond_the_events_is_found(closed: dict[str, Any]) -> None:
    path, size = closed["path"], closed["size"]
    _sql(path, ("INSERT INTO ledger_tree (level, idx, hash) VALUES (1, ?, ?)",
                (size // 2 + 5, bytes(32))))  # fmt: skip
    code, report = _verify_cli(closed["url"], closed["keys"], closed["config"])
    assert code == 1
    assert report["first_bad"] == size
    assert "no event accounts for" in report["reason"]


def test_intact_root_is_the_same_both_ways(closed: dict[str, Any]) -> None:
    with Ledger.open(closed["url"], closed["keys"], config=closed["config"]) as ledger:
        one, several = ledger.verify(workers=1), ledger.verify(workers=2)
    assert one.intact and several.intact
    assert one.root == several.root and one.root is not None
    assert _node(closed["path"], 1, 0)  # the tree is stored, so both compared it
