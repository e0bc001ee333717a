"""Erasure beyond use, as a forensic byte scan sees it, whatever else is going on.

Each scenario erases a subject while something stands in the way of cleaning the store's
files (a reader holding a snapshot in another process, a file-size limit as on a full
disk, an open REPEATABLE READ snapshot, a VACUUM that is locked out and killed). Whatever
the ledger then says, these must hold:

- the key-encryption key generation the erased data keys were wrapped under is gone from
  the keys folder (its bytes are absent from ``kek.slots``), so every copy of those wrapped
  keys, anywhere, is beyond use: each one found is tried with the keys folder and must fail;
- a success exit means the store's files themselves hold no copy of the destroyed wrapped
  keys (SQLite: main file, WAL, shared memory, journal; PostgreSQL: no live or dead tuple);
- otherwise the command said so in one line with exit 4, ``status`` shows what is pending
  and since when, and the next write or open finishes it.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from click.testing import CliRunner

from ledger import Ledger
from ledger.cli.main import cli
from ledger.crypto.envelope import wrap_aad
from ledger.crypto.keys import Generation, load_keys
from ledger.errors import KeyUnavailable
from ledger.store.base import WrappedKey

VALUES = {
    "user.name": "Zebedee Quartermain-Oyelaran",
    "user.contact.email": "zebedee.q@forensic.example",
}
ERASE_AT = "2026-11-30T10:00:00Z"


def _collect(subject: str) -> dict[str, Any]:
    return {
        "type": "collected",
        "actor": "svc:helpdesk",
        "subject": subject,
        "categories": sorted(VALUES),
        "purpose": "essential.service.operations.support",
        "basis": "contract",
        "source": "support form",
        "system": "helpdesk",
        "location": "GB",
        "retention": "P2Y",
        "data": dict(VALUES),
    }


def _erasure_file(folder: Path, subject: str) -> Path:
    path = folder / f"erase-{subject}.jsonl"
    event = {"id": f"erase-{subject}", "type": "erased", "at": ERASE_AT, "actor": "staff:dpo",
             "subject": subject, "categories": ["*"], "reason": "erasure request"}  # fmt: skip
    path.write_bytes(orjson.dumps(event) + b"\n")
    return path


class Target:
    """What an erasure of *subject* must put beyond use: its wrapped data keys, and the key
    bytes of the generations they are wrapped under."""

    def __init__(self, ledger: Ledger, keys: Path, subject: str) -> None:
        with ledger.store.snapshot() as snapshot:
            self.wrapped: list[WrappedKey] = [
                k for k in snapshot.wrapped_keys() if k.subject == subject
            ]
        assert len(self.wrapped) == len(VALUES)
        source = load_keys(keys, env={})
        self.generations = {Generation.parse(k.kek_id) for k in self.wrapped}
        self.kek_bytes = [source._key(g) for g in self.generations]
        self.keys = keys

    def found_in(self, blob: bytes) -> list[WrappedKey]:
        return [k for k in self.wrapped if k.wrapped in blob]

    def assert_beyond_use(self, *blobs: bytes) -> None:
        """The generations are destroyed, and each copy found in *blobs* cannot be unwrapped."""
        slots = (self.keys / "kek.slots").read_bytes()
        for key in self.kek_bytes:
            assert key not in slots, "a destroyed key-encryption key is still in kek.slots"
        source = load_keys(self.keys, env={})
        for generation in self.generations:
            assert not source.holds(generation)
        for blob in blobs:
            for key in self.found_in(blob):
                with pytest.raises(KeyUnavailable):
                    source.unwrap(Generation.parse(key.kek_id), key.wrapped,
                                  wrap_aad(key.key_id, key.subject, key.category))  # fmt: skip


def _ledger_cli(
    url: str, keys: Path, *args: str, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ledger.cli", "--db", url, "--keys", str(keys), *args],
        capture_output=True, text=True, timeout=300, **kwargs,
    )  # fmt: skip


def _status(url: str, keys: Path) -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["--db", url, "--keys", str(keys), "status", "--json"])
    assert result.exit_code in (0, 4), result.output
    status: dict[str, Any] = orjson.loads(result.stdout)
    assert (result.exit_code == 4) == bool(status["pending"] or status["missing"])
    return status


def _assert_pending_then_finished(
    result: subprocess.CompletedProcess[str], url: str, keys: Path, why: str
) -> None:
    """Exit 4, one clear line naming *why*, and ``status`` showing it with its date."""
    assert result.returncode == 4, (result.stdout, result.stderr)
    assert "recorded 1 events" in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("purge pending:"), result.stderr
    assert re.search(why, lines[0]), lines[0]
    assert "NOT yet beyond recovery" not in lines[0]  # the generation itself is destroyed
    status = _status(url, keys)
    assert len(status["pending"]) == 1
    note = status["pending"][0]
    assert note["kind"] == "erasure" and note["since"] and re.search(why, note["reason"])
    verified = CliRunner().invoke(cli, ["--db", url, "--keys", str(keys), "verify"])
    assert verified.exit_code == 0, verified.output  # intact, and it says what is pending
    assert f"purge pending since {note['since']}: erasure at sequence" in verified.stdout


# -- SQLite ------------------------------------------------------------------------------------


def _sqlite_files(path: Path) -> dict[str, bytes]:
    return {
        suffix or "main": Path(f"{path}{suffix}").read_bytes()
        for suffix in ("", "-wal", "-shm", "-journal")
        if Path(f"{path}{suffix}").exists()
    }


@pytest.fixture
def sqlite_store(tmp_path: Path, config_path: Path) -> Iterator[tuple[str, Path, Path]]:
    path = tmp_path / "ledger.db"
    url, keys = f"sqlite:///{path}", tmp_path / "keys"
    with Ledger.init(url, keys, config=config_path) as ledger:
        ledger.record_many([_collect(f"cust-{i}") for i in range(40)])
    yield url, keys, path


def _target(url: str, keys: Path, subject: str) -> Target:
    with Ledger.open(url, keys) as ledger:
        return Target(ledger, keys, subject)


def test_sqlite_erasure_with_no_reader_leaves_nothing_in_any_file(
    sqlite_store: tuple[str, Path, Path], tmp_path: Path
) -> None:
    url, keys, path = sqlite_store
    target = _target(url, keys, "cust-7")
    assert any(target.found_in(b) for b in _sqlite_files(path).values())  # the scan sees them
    result = _ledger_cli(url, keys, "import", str(_erasure_file(tmp_path, "cust-7")))
    assert result.returncode == 0, result.stderr
    files = _sqlite_files(path)
    for name, blob in files.items():
        assert not target.found_in(blob), f"a destroyed wrapped key is still in {name}"
    target.assert_beyond_use(*files.values())
    assert _status(url, keys)["pending"] == []


_READER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN")
conn.execute("SELECT count(*) FROM ledger_keys").fetchone()
print("ready", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
"""


def test_sqlite_erasure_under_a_reader_in_another_process_is_pending_then_finished(
    sqlite_store: tuple[str, Path, Path], tmp_path: Path
) -> None:
    url, keys, path = sqlite_store
    target = _target(url, keys, "cust-3")
    reader = subprocess.Popen([sys.executable, "-c", _READER, str(path)], text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
    try:
        assert reader.stdout is not None and reader.stdout.readline().strip() == "ready"
        result = _ledger_cli(url, keys, "import", str(_erasure_file(tmp_path, "cust-3")))
        _assert_pending_then_finished(result, url, keys, "read snapshot")
        target.assert_beyond_use(*_sqlite_files(path).values())  # held, but beyond use
        with Ledger.open(url, keys, read_only=True) as ledger:  # the erasure stays recorded
            assert [e["subject"] for e in ledger.events_of_type("erased")] == ["cust-3"]
        assert reader.stdin is not None
        reader.stdin.write("\n")
        reader.stdin.flush()
        assert reader.wait(timeout=60) == 0
    finally:
        reader.kill()
    # the reader let go: the next open (here `status`) finishes the purge
    assert _status(url, keys)["pending"] == []
    files = _sqlite_files(path)
    for name, blob in files.items():
        assert not target.found_in(blob), f"a destroyed wrapped key is still in {name}"
    target.assert_beyond_use(*files.values())


def test_sqlite_erasure_while_another_process_streams_an_export(
    sqlite_store: tuple[str, Path, Path], tmp_path: Path
) -> None:
    """The issue's 'done when': either nothing is recoverable afterwards, or the ledger said
    plainly that the purge is pending, and later finished it."""
    url, keys, path = sqlite_store
    with Ledger.open(url, keys) as ledger:
        ledger.record_many([_collect(f"bulk-{i}") for i in range(1500)])
    target = _target(url, keys, "cust-5")
    export = subprocess.Popen(
        [sys.executable, "-m", "ledger.cli", "--db", url, "--keys", str(keys), "export"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert export.stdout is not None
        export.stdout.read(1024)  # the export has started, and now blocks on a full pipe
        result = _ledger_cli(url, keys, "import", str(_erasure_file(tmp_path, "cust-5")))
        assert result.returncode in (0, 4), result.stderr
        if result.returncode == 4:
            _assert_pending_then_finished(result, url, keys, "read snapshot")
        else:
            for name, blob in _sqlite_files(path).items():
                assert not target.found_in(blob), f"success, yet a wrapped key is in {name}"
        target.assert_beyond_use(*_sqlite_files(path).values())
        rest = export.stdout.read()
        assert export.wait(timeout=120) == 0
        assert rest.count(b"\n") > 1000
    finally:
        export.kill()
    assert _status(url, keys)["pending"] == []
    for name, blob in _sqlite_files(path).items():
        assert not target.found_in(blob), f"a destroyed wrapped key is still in {name}"


def _limited(limit: int) -> Any:
    def apply() -> None:
        import resource
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_sqlite_erasure_on_a_full_disk_is_reported_and_a_retry_finishes_it(
    sqlite_store: tuple[str, Path, Path], tmp_path: Path
) -> None:
    """With a file-size limit at the store's current size (as a full disk would), the
    erasure's commit fits in the WAL but checkpointing it into the file cannot grow it."""
    url, keys, path = sqlite_store
    with Ledger.open(url, keys) as ledger:
        ledger.record_many([_collect(f"bulk-{i}") for i in range(1500)])
    target = _target(url, keys, "cust-9")
    erase = _erasure_file(tmp_path, "cust-9")
    limit = path.stat().st_size // 2  # the WAL fits; pages written back near the end do not
    result = _ledger_cli(url, keys, "import", str(erase), preexec_fn=_limited(limit))
    assert result.returncode == 4, (result.stdout, result.stderr)  # never a crash (3)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    if result.returncode == 4:  # recorded, not yet clean
        assert "disk is full" in result.stderr or "file-size limit" in result.stderr
        target.assert_beyond_use(*_sqlite_files(path).values())
    # the same erasure again (same id), with room: it is not recorded twice, and the purge
    # is finished (or, if the first attempt wrote nothing, the erasure is recorded now)
    again = _ledger_cli(url, keys, "import", str(erase))
    assert again.returncode == 0, again.stderr
    if result.returncode == 4:
        assert "1 already present" in again.stdout
    files = _sqlite_files(path)
    for name, blob in files.items():
        assert not target.found_in(blob), f"a destroyed wrapped key is still in {name}"
    target.assert_beyond_use(*files.values())
    assert _status(url, keys)["pending"] == []
    with Ledger.open(url, keys) as ledger:
        assert ledger.verify().intact
        assert [e["subject"] for e in ledger.events_of_type("erased")] == ["cust-9"]


# -- PostgreSQL --------------------------------------------------------------------------------


@pytest.fixture
def pg_store(
    postgres_database_url: str, tmp_path: Path, config_path: Path
) -> Iterator[tuple[str, Path, str]]:
    """A database of its own: any snapshot open in the same database holds VACUUM up."""
    postgres_url = postgres_database_url
    keys = tmp_path / "keys"
    with Ledger.init(postgres_url, keys, config=config_path) as ledger:
        ledger.record_many([_collect(f"cust-{i}") for i in range(40)])
    server, schema = postgres_url.split("?schema=")
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
    yield postgres_url, keys, schema


def _server(url: str) -> str:
    return url.split("?")[0]


def _heap_tuples(url: str, schema: str) -> bytes:
    """Every tuple's bytes in the keys table's heap pages, live or dead (pageinspect)."""
    with psycopg.connect(_server(url), autocommit=True) as conn:
        table = f'"{schema}".ledger_keys'
        pages = conn.execute("SELECT pg_relation_size(%s::regclass) / 8192", (table,)).fetchone()
        assert pages is not None
        found = b""
        for page in range(int(pages[0])):
            rows = conn.execute(
                "SELECT t_data FROM heap_page_items(get_raw_page(%s, %s)) WHERE t_data IS NOT NULL",
                (table, page),
            ).fetchall()
            found += b"".join(bytes(row[0]) for row in rows)
        return found


def _raw_relation_and_wal(url: str, schema: str) -> list[bytes]:
    """The keys table's file as the server wrote it, and its WAL segments (read through the
    server, so the test needs no access to its data folder). The WAL is read first: the
    checkpoint that writes the table's pages out may recycle the older segments."""
    blobs: list[bytes] = []
    with psycopg.connect(_server(url), autocommit=True) as conn:
        for (name,) in conn.execute("SELECT name FROM pg_ls_waldir() ORDER BY name").fetchall():
            if re.fullmatch(r"[0-9A-F]{24}", name):
                blob = conn.execute("SELECT pg_read_binary_file(%s)", (f"pg_wal/{name}",))
                blobs.append(bytes(blob.fetchone()[0]))
        conn.execute("CHECKPOINT")
        path = conn.execute("SELECT pg_relation_filepath(%s::regclass)",
                            (f'"{schema}".ledger_keys',)).fetchone()  # fmt: skip
        assert path is not None
        relation = conn.execute("SELECT pg_read_binary_file(%s)", (path[0],)).fetchone()
        assert relation is not None
        blobs.insert(0, bytes(relation[0]))
    return blobs


def test_postgres_erasure_with_no_reader_leaves_no_tuple_and_wal_copies_are_beyond_use(
    pg_store: tuple[str, Path, str], tmp_path: Path
) -> None:
    url, keys, schema = pg_store
    target = _target(url, keys, "cust-7")
    assert target.found_in(_heap_tuples(url, schema))
    result = _ledger_cli(url, keys, "import", str(_erasure_file(tmp_path, "cust-7")))
    assert result.returncode == 0, result.stderr
    assert not target.found_in(_heap_tuples(url, schema))  # no live or dead tuple holds them
    raw = _raw_relation_and_wal(url, schema)
    assert any(target.found_in(blob) for blob in raw[1:])  # the WAL holds them regardless ...
    target.assert_beyond_use(*raw)  # ... wrapped under a key-encryption key that is gone


def test_postgres_erasure_under_an_open_repeatable_read_snapshot(
    pg_store: tuple[str, Path, str], tmp_path: Path
) -> None:
    url, keys, schema = pg_store
    target = _target(url, keys, "cust-3")
    with psycopg.connect(_server(url)) as reader:
        reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        reader.execute(f'SELECT count(*) FROM "{schema}".ledger_keys').fetchone()
        result = _ledger_cli(url, keys, "import", str(_erasure_file(tmp_path, "cust-3")))
        _assert_pending_then_finished(result, url, keys, "holds a snapshot older than the erasure")
        held = _heap_tuples(url, schema)
        assert target.found_in(held)  # dead tuples the snapshot may still see ...
        target.assert_beyond_use(held)  # ... but beyond use already
        reader.rollback()
    assert _status(url, keys)["pending"] == []
    assert not target.found_in(_heap_tuples(url, schema))
    target.assert_beyond_use(*_raw_relation_and_wal(url, schema))


def test_postgres_erasure_whose_vacuum_is_locked_out_and_killed_is_retried(
    pg_store: tuple[str, Path, str], tmp_path: Path
) -> None:
    url, keys, schema = pg_store
    target = _target(url, keys, "cust-4")
    stop = threading.Event()
    killed: list[int] = []

    def kill_vacuum() -> None:  # an operator (or the OOM killer) ends the VACUUM backend
        with psycopg.connect(_server(url), autocommit=True) as admin:
            while not stop.is_set():
                for (pid,) in admin.execute(
                    "SELECT pid FROM pg_stat_activity WHERE query ILIKE 'VACUUM%%ledger_keys%%' "
                    "AND state = 'active' AND datname = current_database()"
                ).fetchall():
                    admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
                    killed.append(pid)
                time.sleep(0.02)

    killer = threading.Thread(target=kill_vacuum, daemon=True)
    with psycopg.connect(_server(url)) as locker:
        locker.execute(f'LOCK TABLE "{schema}".ledger_keys IN SHARE UPDATE EXCLUSIVE MODE')
        killer.start()
        try:
            result = _ledger_cli(url, keys, "import", str(_erasure_file(tmp_path, "cust-4")))
        finally:
            stop.set()
            killer.join(timeout=30)
        _assert_pending_then_finished(result, url, keys, "VACUUM")
        target.assert_beyond_use(_heap_tuples(url, schema))
        locker.rollback()
    assert killed, "the VACUUM was never seen running"
    assert _status(url, keys)["pending"] == []
    assert not target.found_in(_heap_tuples(url, schema))
