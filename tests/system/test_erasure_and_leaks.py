"""Values are encrypted at rest; erasure destroys them for good and the chain still verifies."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger import Ledger
from ledger.config import Config
from ledger.errors import KeyUnavailable, ReadOnlyStore

MARKERS = {
    "user.name": "Zebulon Marker-Quint",
    "user.contact.email": "zebulon.quint@marker.example",
    "user.contact.phone_number": "+44 161 496 0999",
    "user.content.private": "MARKER-TICKET-7f3a: printer on fire",
}


@pytest.fixture
def sqlite_ledger(tmp_path: Path, config: Config) -> Iterator[Ledger]:
    """For the tests that read the SQLite file and its WAL byte by byte."""
    url = f"sqlite:///{tmp_path / 'file-ledger.db'}"
    with Ledger.init(url, tmp_path / "file-keys", config=config) as opened:
        yield opened


def _collect(subject: str, at: str = "2026-06-01T09:00:00Z", **extra: Any) -> dict[str, Any]:
    return {
        "type": "collected",
        "at": at,
        "actor": "svc:helpdesk",
        "subject": subject,
        "categories": sorted(MARKERS),
        "purpose": "essential.service.operations.support",
        "basis": "contract",
        "source": "support form",
        "system": "helpdesk",
        "location": "GB",
        "data": dict(MARKERS),
        **extra,
    }


def _files(ledger_path: Path) -> dict[str, bytes]:
    found = {}
    for suffix in ("", "-wal", "-shm", "-journal"):
        path = Path(str(ledger_path) + suffix)
        if path.exists():
            found[path.name] = path.read_bytes()
    return found


def _path(ledger: Ledger) -> Path:
    return Path(ledger.store.url.removeprefix("sqlite:///"))


def _erase(ledger: Ledger, subject: str, reason: str) -> None:
    """The DPO erases everything held about *subject*."""
    ledger.record("erased", actor="staff:dpo", subject=subject, categories=["*"], reason=reason)


def test_no_marker_value_in_the_database_file_or_its_wal(sqlite_ledger: Ledger) -> None:
    ledger = sqlite_ledger
    ledger.record_many([_collect(f"cust-{n}") for n in range(1, 40)])
    files = _files(_path(ledger))
    assert any(name.endswith("-wal") for name in files), "the WAL must be checked while open"
    for name, content in files.items():
        for value in MARKERS.values():
            assert value.encode() not in content, f"{value!r} in clear in {name}"
            assert value.encode("utf-16-le") not in content


def test_decrypting_read_shows_values_and_is_recorded_as_an_access(ledger: Ledger) -> None:
    ledger.record(**_collect("cust-2001"))
    before = ledger.size
    rows = ledger.read("cust-2001", actor="staff:dpo", purpose="essential.legal_obligation")
    assert rows[0]["data"] == MARKERS
    assert ledger.size == before + 1
    access = list(ledger.export(subject="cust-2001"))[-1]
    assert access["type"] == "accessed"
    assert access["actor"] == "staff:dpo"
    assert access["system"] == "ledger"
    assert access["categories"] == sorted(MARKERS)


def test_erasing_one_category_leaves_the_others_readable(ledger: Ledger) -> None:
    ledger.record(**_collect("cust-3001"))
    receipt = ledger.record(
        "erased",
        at="2026-06-02T09:00:00Z",
        actor="staff:dpo",
        subject="cust-3001",
        categories=["user.contact"],
        reason="erasure request DSR-1",
    )
    erased = next(e for e in ledger.export(subject="cust-3001") if e["type"] == "erased")
    assert erased["sequence"] == receipt.sequence
    assert erased["shredded"] == ["user.contact.email", "user.contact.phone_number"]
    rows = ledger.read("cust-3001", actor="staff:dpo", purpose="essential.legal_obligation")
    assert rows[0]["data"] == {
        "user.name": MARKERS["user.name"],
        "user.content.private": MARKERS["user.content.private"],
    }
    assert rows[0]["data_erased"] == ["user.contact.email", "user.contact.phone_number"]
    assert ledger.verify().intact


def test_erasure_leaves_no_wrapped_key_in_the_file_or_wal(sqlite_ledger: Ledger) -> None:
    ledger = sqlite_ledger
    ledger.record(**_collect("cust-4001"))
    ledger.record(**_collect("cust-4002"))
    conn = sqlite3.connect(_path(ledger))
    wrapped = {
        category: bytes(blob)
        for category, blob in conn.execute(
            "SELECT category, wrapped FROM ledger_keys WHERE subject = 'cust-4001'"
        )
    }
    conn.close()
    assert len(wrapped) == len(MARKERS)
    _erase(ledger, "cust-4001", "erasure request DSR-2")
    for name, content in _files(_path(ledger)).items():
        for category, blob in wrapped.items():
            assert blob not in content, f"wrapped key of {category} survives in {name}"
    rows = ledger.read("cust-4002", actor="staff:dpo", purpose="essential.legal_obligation")
    assert rows[0]["data"] == MARKERS  # the other subject is untouched
    assert ledger.verify().intact


def test_erased_values_stay_unreadable_after_reopening_with_the_keys(
    store: tuple[str, Path], ledger: Ledger, config_path: Path
) -> None:
    ledger.record(**_collect("cust-5001"))
    _erase(ledger, "cust-5001", "erasure request DSR-3")
    ledger.close()
    url, keys = store
    with Ledger.open(url, keys, config=config_path) as reopened:
        rows = reopened.read("cust-5001", actor="staff:dpo", purpose="essential.legal_obligation")
        assert "data" not in rows[0]
        assert rows[0]["data_erased"] == sorted(MARKERS)
        assert reopened.verify().intact


def test_collection_after_erasure_uses_a_new_key_and_is_readable(ledger: Ledger) -> None:
    ledger.record(**_collect("cust-6001"))
    _erase(ledger, "cust-6001", "erasure request DSR-4")
    ledger.record(**_collect("cust-6001", at="2026-07-01T09:00:00Z"))
    rows = ledger.read("cust-6001", actor="staff:dpo", purpose="essential.legal_obligation")
    collected = [r for r in rows if r["type"] == "collected"]
    assert "data" not in collected[0] and collected[0]["data_erased"] == sorted(MARKERS)
    assert collected[1]["data"] == MARKERS


def test_erasure_in_the_same_batch_as_the_collection_destroys_its_keys(ledger: Ledger) -> None:
    receipts = ledger.record_many(
        [
            _collect("cust-6101"),
            {
                "type": "erased",
                "at": "2026-06-02T09:00:00Z",
                "actor": "staff:dpo",
                "subject": "cust-6101",
                "categories": ["user.name"],
                "reason": "request DSR-5",
            },
        ]
    )
    assert [r.recorded for r in receipts] == [True, True]
    rows = ledger.read("cust-6101", actor="staff:dpo", purpose="essential.legal_obligation")
    assert rows[0]["data_erased"] == ["user.name"]
    assert "user.name" not in rows[0]["data"]


def test_export_without_keys_keeps_data_encrypted(ledger: Ledger) -> None:
    ledger.record(**_collect("cust-7001"))
    exported = list(ledger.export(subject="cust-7001"))
    text = repr(exported)
    for value in MARKERS.values():
        assert value not in text
    assert set(exported[0]["data"]) == set(MARKERS)
    assert all(set(env) == {"key", "sealed"} for env in exported[0]["data"].values())


def test_decrypting_read_on_a_read_only_connection_is_refused(
    store: tuple[str, Path], ledger: Ledger, config_path: Path
) -> None:
    ledger.record(**_collect("cust-8001"))
    size = ledger.size
    ledger.close()
    url, keys = store
    with Ledger.open(url, keys, config=config_path, read_only=True) as reader:
        with pytest.raises(ReadOnlyStore, match="read-only"):
            reader.read("cust-8001", actor="staff:dpo", purpose="essential.legal_obligation")
        assert reader.size == size


def test_wrong_keys_are_named_before_anything_is_written(
    store: tuple[str, Path], ledger: Ledger, tmp_path: Path
) -> None:
    ledger.record(**_collect("cust-9001"))
    size = ledger.size
    ledger.close()
    url, _ = store
    other = tmp_path / "other-ledger.db"
    Ledger.init(f"sqlite:///{other}", tmp_path / "other-keys").close()
    with pytest.raises(KeyUnavailable, match="not this ledger's"):
        Ledger.open(url, tmp_path / "other-keys")
    with Ledger.open(url, tmp_path / "other-keys" / "missing", read_only=True) as reader:
        assert reader.size == size


def test_key_files_are_readable_by_their_owner_only(
    store: tuple[str, Path], ledger: Ledger
) -> None:
    _, keys = store
    assert (keys.stat().st_mode & 0o777) == 0o700
    for path in keys.iterdir():
        assert (path.stat().st_mode & 0o777) == 0o600
