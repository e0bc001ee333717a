"""Faults a writer meets in production: a locked SQLite file, a read-only file or folder, a
full disk, a PostgreSQL connection dropped between and during writes.

Each must end in a clear error (a LedgerError naming the problem; from the command line a
one-line message and a non-zero exit, never a traceback) or a bounded retry, and never in
a half-written batch or a broken chain: afterwards the store verifies, and holds every
batch whole or not at all.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from ledger import Ledger
from ledger.crypto.keys import load_keys
from ledger.demo.workload import generate
from ledger.errors import ReadOnlyStore, StoreError
from ledger.store.sqlite import SQLiteStore

WORKER = Path(__file__).with_name("crash_worker.py")
LEDGER_CLI = Path(sys.executable).with_name("ledger")


def _events(count: int, tag: str, seed: int = 7) -> list[dict[str, Any]]:
    events = list(generate(count, seed=seed))
    for i, event in enumerate(events):
        event["id"] = f"{tag}-{i}"
    return events


def _jsonl(events: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(event) + b"\n" for event in events)


def _state(url: str, keys: Path) -> tuple[int, Counter[str]]:
    """Verify the store (it must be intact) and count its events by id prefix."""
    with Ledger.open(url, keys) as ledger:
        report = ledger.verify()
        assert report.intact, f"{report.first_bad}: {report.reason}"
        assert report.seals_checked
        tags = Counter(
            row.client_id.rsplit("-", 1)[0] for row in ledger.store.rows() if row.client_id
        )
        return report.size, tags


def _cli(
    url: str, keys: Path, *args: str, preexec: Callable[[], None] | None = None, timeout: int = 90
) -> subprocess.CompletedProcess[str]:
    command = [str(LEDGER_CLI)] if LEDGER_CLI.exists() else [sys.executable, "-m", "ledger.cli"]
    return subprocess.run(
        [*command, "--db", url, "--keys", str(keys), "--signing-key", str(keys.parent / "sig"),
         *args],
        capture_output=True, text=True, timeout=timeout, preexec_fn=preexec,
    )  # fmt: skip


def _one_line_error(result: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.fixture
def sqlite_ledger(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A SQLite ledger holding 50 events (ids ``base-N``), closed."""
    url, keys = f"sqlite:///{tmp_path / 'db' / 'l.db'}", tmp_path / "keys"
    with Ledger.init(url, keys) as ledger:
        ledger.record_many(_events(50, "base"))
    yield url, keys


# -- a locked SQLite database -----------------------------------------------------------------

LOCKER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN " + sys.argv[2])
conn.execute("UPDATE ledger_meta SET value = value WHERE name = 'origin'")
print("locked", flush=True)
time.sleep(float(sys.argv[3]))
conn.execute("ROLLBACK")
"""


def _lock(path: Path, mode: str, seconds: float) -> subprocess.Popen[str]:
    """Another process holding the write lock on *path* for *seconds*."""
    proc = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(path), mode, str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "locked\n"
    return proc


def _short_timeout_ledger(url: str, keys: Path, seconds: int) -> Ledger:
    """The ledger on a store whose busy timeout is *seconds* (the default is 30)."""
    store = SQLiteStore(Path(url.removeprefix("sqlite:///")), url=url, lock_timeout=seconds)
    return Ledger(store, load_keys(keys), Ledger.open(url, keys).config, store.meta())


def test_the_default_busy_timeout_is_thirty_seconds(sqlite_ledger: tuple[str, Path]) -> None:
    url, keys = sqlite_ledger
    with Ledger.open(url, keys) as ledger:
        assert isinstance(ledger.store, SQLiteStore)
        conn = ledger.store.recorder.datastore.pool.get_connection()
        try:
            assert conn._sqlite_conn.execute("PRAGMA busy_timeout").fetchone()[0] == 30_000
        finally:
            ledger.store.recorder.datastore.pool.put_connection(conn)


@pytest.mark.parametrize("mode", ["IMMEDIATE", "EXCLUSIVE"])
def test_a_lock_held_past_the_busy_timeout_fails_cleanly_and_writes_nothing(
    sqlite_ledger: tuple[str, Path], mode: str
) -> None:
    url, keys = sqlite_ledger
    base, _ = _state(url, keys)  # 50 events and what init records
    path = Path(url.removeprefix("sqlite:///"))
    locker = _lock(path, mode, 4)
    with _short_timeout_ledger(url, keys, 1) as ledger:
        began = time.monotonic()
        with pytest.raises(StoreError) as refused:
            ledger.record_many(_events(300, "locked", seed=3))
        waited = time.monotonic() - began
        assert 0.9 <= waited < 3.5
        assert str(refused.value) == f"{url} is locked by another writer (waited 1s); try again"
        # readers are not blocked by a writer (WAL): verify works under the lock
        assert ledger.verify().intact
    locker.wait(10)
    size, tags = _state(url, keys)
    assert size == base and "locked" not in tags
    with Ledger.open(url, keys) as ledger:  # and once the lock is gone, writing works
        ledger.record_many(_events(300, "locked", seed=3))
    assert _state(url, keys) == (base + 300, Counter({"base": 50, "locked": 300}))


def test_a_lock_released_within_the_busy_timeout_is_waited_for(
    sqlite_ledger: tuple[str, Path],
) -> None:
    url, keys = sqlite_ledger
    base, _ = _state(url, keys)  # 50 events and what init records
    locker = _lock(Path(url.removeprefix("sqlite:///")), "EXCLUSIVE", 1.0)
    with Ledger.open(url, keys) as ledger:
        began = time.monotonic()
        receipts = ledger.record_many(_events(300, "waited", seed=3))
        assert time.monotonic() - began >= 0.5  # it did wait for the lock
        assert [r.sequence for r in receipts] == list(range(base + 1, base + 301))
    locker.wait(10)
    assert _state(url, keys) == (base + 300, Counter({"base": 50, "waited": 300}))


def test_the_command_line_reports_a_lock_past_the_default_timeout_in_one_line(
    sqlite_ledger: tuple[str, Path], tmp_path: Path
) -> None:
    url, keys = sqlite_ledger
    base, _ = _state(url, keys)  # 50 events and what init records
    source = tmp_path / "in.jsonl"
    source.write_bytes(_jsonl(_events(200, "cli", seed=4)))
    locker = _lock(Path(url.removeprefix("sqlite:///")), "IMMEDIATE", 90)  # killed when done
    try:
        result = _cli(url, keys, "import", str(source))
    finally:
        locker.kill()
        locker.wait()
    line = _one_line_error(result)
    assert line == f"error: {url} is locked by another writer (waited 30s); try again"
    size, tags = _state(url, keys)
    assert size == base and "cli" not in tags


# -- a read-only database file or folder ------------------------------------------------------

_PR_CAPBSET_DROP = 24
_DAC_CAPS = (1, 2, 3)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER


def _without_file_override() -> None:
    """In a child before exec: as root, give up the capabilities that ignore file modes."""
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        for cap in _DAC_CAPS:
            if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _modes_bind(path: Path) -> None:
    """Skip unless a child process started with _without_file_override obeys file modes."""
    probe = subprocess.run(
        [sys.executable, "-c", "import sys; open(sys.argv[1], 'ab')", str(path)],
        preexec_fn=_without_file_override,
        capture_output=True,
    )
    if probe.returncode == 0:
        pytest.skip("running as root without a way to give up CAP_DAC_OVERRIDE")


def _worker(
    mode: str, url: str, keys: Path, tag: str, count: int, *extra: str, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(WORKER), mode, url, str(keys), "", tag, "5", str(count), *extra],
        capture_output=True, text=True, timeout=120, **kwargs,
    )  # fmt: skip


@pytest.mark.parametrize("what", ["file", "file and folder"])
def test_a_read_only_database_is_refused_cleanly(
    sqlite_ledger: tuple[str, Path], tmp_path: Path, what: str
) -> None:
    url, keys = sqlite_ledger
    base, _ = _state(url, keys)  # 50 events and what init records
    path = Path(url.removeprefix("sqlite:///"))
    assert not path.with_name("l.db-wal").exists()  # closed cleanly: no WAL left
    source = tmp_path / "in.jsonl"
    source.write_bytes(_jsonl(_events(200, "ro", seed=4)))
    path.chmod(0o444)
    if what == "file and folder":
        path.parent.chmod(0o555)
    try:
        _modes_bind(path)
        line = _one_line_error(
            _cli(url, keys, "import", str(source), preexec=_without_file_override)
        )
        assert line == f"error: {url} is read-only: cannot write to it"
        worker = _worker("many", url, keys, "ro", 200, preexec_fn=_without_file_override)
        assert worker.returncode == 2, worker.stderr
        assert worker.stdout.splitlines()[-1] == (
            f"error ReadOnlyStore: {url} is read-only: cannot write to it"
        )
    finally:
        path.parent.chmod(0o755)
        path.chmod(0o644)
    size, tags = _state(url, keys)
    assert size == base and "ro" not in tags
    assert _cli(url, keys, "import", str(source)).returncode == 0
    assert _state(url, keys) == (base + 200, Counter({"base": 50, "ro": 200}))


def test_an_immutable_database_file_is_refused_cleanly(
    sqlite_ledger: tuple[str, Path],
) -> None:
    url, keys = sqlite_ledger
    base, _ = _state(url, keys)  # 50 events and what init records
    path = Path(url.removeprefix("sqlite:///"))
    chattr = shutil.which("chattr")
    if chattr is None or os.geteuid() != 0:
        pytest.skip("needs chattr and root (CAP_LINUX_IMMUTABLE) to make a file immutable")
    if subprocess.run([chattr, "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("this file system or container does not allow chattr +i")
    try:
        with Ledger.open(url, keys) as ledger:
            with pytest.raises(ReadOnlyStore) as refused:
                ledger.record_many(_events(100, "imm"))
            assert str(refused.value) == f"{url} is read-only: cannot write to it"
            assert ledger.verify().intact  # reading still works
    finally:
        subprocess.run([chattr, "-i", str(path)], check=True)
    size, tags = _state(url, keys)
    assert size == base and "imm" not in tags


def test_a_store_opened_read_only_refuses_writes(store: tuple[str, Path]) -> None:
    url, keys = store
    with Ledger.init(url, keys) as ledger:
        ledger.record_many(_events(20, "base"))
        base = ledger.verify().size
    with Ledger.open(url, keys, read_only=True) as ledger:
        with pytest.raises(ReadOnlyStore) as refused:
            ledger.record_many(_events(5, "ro"))
        assert str(refused.value) == f"{url} is opened read-only: cannot record events"
        assert ledger.verify().intact
    assert _state(url, keys) == (base, Counter({"base": 20}))


# -- a full disk -----------------------------------------------------------------------------


def _file_size_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # stays ignored across exec
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def _db_bytes(path: Path) -> int:
    return max(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def test_an_import_on_a_full_disk_fails_cleanly_and_writes_nothing(
    sqlite_ledger: tuple[str, Path], tmp_path: Path
) -> None:
    url, keys = sqlite_ledger
    base, _ = _state(url, keys)  # 50 events and what init records
    path = Path(url.removeprefix("sqlite:///"))
    source = tmp_path / "in.jsonl"
    source.write_bytes(_jsonl(_events(3000, "full", seed=8)))
    limit = _db_bytes(path) + 256 * 1024  # room for a little, not for 3000 events
    result = _cli(url, keys, "import", str(source), preexec=_file_size_limit(limit))
    line = _one_line_error(result)
    assert line.startswith(f"error: cannot write {url}: "), line
    assert "disk" in line or "full" in line, line
    size, tags = _state(url, keys)
    assert size == base and "full" not in tags
    # with room again, the same import goes through whole
    again = _cli(url, keys, "import", str(source))
    assert again.returncode == 0, again.stderr
    assert _state(url, keys) == (base + 3000, Counter({"base": 50, "full": 3000}))


def test_batches_on_a_disk_that_fills_up_stay_whole(sqlite_ledger: tuple[str, Path]) -> None:
    url, keys = sqlite_ledger
    path = Path(url.removeprefix("sqlite:///"))
    limit = _db_bytes(path) + 1024 * 1024  # room for some batches, not for all 4000 events
    worker = _worker("many", url, keys, "fill", 4000, str(limit))
    assert worker.returncode == 2, (worker.stdout, worker.stderr)
    assert "Traceback" not in worker.stderr, worker.stderr
    lines = worker.stdout.splitlines()
    assert lines[0] == "ready"
    assert lines[-1].startswith(f"error StoreError: cannot write {url}: "), lines[-1]
    acked = [line.split() for line in lines[1:-1]]
    assert acked, "no batch fitted: the limit is too small to test anything"
    # after lifting the limit: the store opens, verifies, and holds exactly the acknowledged
    # batches, each whole
    with Ledger.open(url, keys) as ledger:
        assert ledger.verify().intact
        present = [row.client_id for row in ledger.store.rows() if row.client_id]
    batches = Counter(cid.split("-")[1] for cid in present if cid.startswith("fill-"))
    assert batches == Counter({f"b{b}": int(n) for _, b, n, _, _ in acked})
    for cid in present:
        if cid.startswith("fill-"):
            assert cid.split("-")[2] == f"n{batches[cid.split('-')[1]]}"
    with Ledger.open(url, keys) as ledger:  # and it takes writes again
        ledger.record_many(_events(10, "after"))
        assert ledger.verify().intact


# -- a dropped PostgreSQL connection ---------------------------------------------------------


@pytest.fixture
def pg_ledger(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Ledger, Callable[[], int], psycopg.Connection[Any]]]:
    """An open PostgreSQL ledger holding 50 events; a function terminating its backends."""
    app = f"ledger-fault-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("PGAPPNAME", app)  # libpq names the ledger's connections with it
    admin = psycopg.connect(postgres_url.split("?")[0], autocommit=True)

    def terminate() -> int:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = %s AND pid <> pg_backend_pid()",
            (app,),
        ).fetchall()
        return sum(1 for (done,) in rows if done)

    with Ledger.init(postgres_url, tmp_path / "keys") as ledger:
        ledger.record_many(_events(50, "base"))
        yield ledger, terminate, admin
    admin.close()


def _tags(ledger: Ledger) -> Counter[str]:
    return Counter(row.client_id.rsplit("-", 1)[0] for row in ledger.store.rows() if row.client_id)


def test_a_connection_dropped_between_writes_is_replaced(
    pg_ledger: tuple[Ledger, Callable[[], int], psycopg.Connection[Any]],
) -> None:
    ledger, terminate, _ = pg_ledger
    base = ledger.verify().size
    for round in range(3):
        assert terminate() >= 1  # every pooled connection of the ledger is gone
        receipts = ledger.record_many(_events(20, f"after{round}"))  # on fresh connections
        assert receipts[0].sequence == base + 1 + 20 * round
        assert terminate() >= 1
        assert ledger.verify().intact
    assert _tags(ledger) == Counter({"base": 50, "after0": 20, "after1": 20, "after2": 20})


def test_every_pooled_connection_dropped_at_once_is_replaced_before_any_work(
    pg_ledger: tuple[Ledger, Callable[[], int], psycopg.Connection[Any]],
) -> None:
    ledger, terminate, _ = pg_ledger
    base = ledger.verify().size
    pool = ledger.store.recorder.datastore.pool
    for round in range(3):
        with contextlib.ExitStack() as held:  # the pool grows to all it may hold ...
            for _ in range(pool.max_size):
                held.enter_context(ledger.store.snapshot()).head()
        assert terminate() == pool.max_size  # ... and every one of them is dropped
        receipts = ledger.record_many(_events(10, f"full{round}"))
        assert receipts[0].sequence == base + 1 + 10 * round
    assert ledger.verify().intact
    assert _tags(ledger) == Counter({"base": 50, "full0": 10, "full1": 10, "full2": 10})


def test_a_connection_dropped_during_a_large_batch_fails_cleanly_and_writes_nothing(
    pg_ledger: tuple[Ledger, Callable[[], int], psycopg.Connection[Any]],
) -> None:
    ledger, terminate, admin = pg_ledger
    base = ledger.verify().size
    app = os.environ["PGAPPNAME"]
    stop = threading.Event()
    killed: list[int] = []

    def kill_mid_write() -> None:
        while not stop.is_set():  # wait until the writer's transaction has written rows
            busy = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
                "AND backend_xid IS NOT NULL",
                (app,),
            ).fetchone()
            if busy and busy[0]:
                time.sleep(0.2)
                killed.append(terminate())
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_mid_write)
    killer.start()
    try:
        with pytest.raises(StoreError) as refused:
            ledger.record_many(_events(20000, "big", seed=11))
    finally:
        stop.set()
        killer.join()
    assert killed and killed[0] >= 1, "the write finished before the connection could be dropped"
    message = str(refused.value)
    assert message.startswith(
        f"lost the connection to the PostgreSQL server of {ledger.store.url} ("
    ), message
    assert message.endswith("events with an id can be sent again safely)")
    # the server rolled the transaction back: nothing of the batch, an intact chain
    report = ledger.verify()
    assert report.intact and report.size == base
    assert _tags(ledger) == Counter({"base": 50})
    # and the same ledger object writes again
    ledger.record_many(_events(30, "again"))
    assert ledger.verify().intact
    assert _tags(ledger) == Counter({"base": 50, "again": 30})


def test_the_command_line_reports_a_dropped_connection_in_one_line(
    postgres_url: str, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    Ledger.init(postgres_url, keys).close()
    base, _ = _state(postgres_url, keys)
    source = tmp_path / "in.jsonl"
    source.write_bytes(_jsonl(_events(20000, "cli", seed=12)))
    app = f"ledger-fault-{uuid.uuid4().hex[:12]}"
    command = [str(LEDGER_CLI)] if LEDGER_CLI.exists() else [sys.executable, "-m", "ledger.cli"]
    proc = subprocess.Popen(
        [*command, "--db", postgres_url, "--keys", str(keys), "--signing-key",
         str(tmp_path / "sig"), "import", str(source)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PGAPPNAME": app},
    )  # fmt: skip
    with psycopg.connect(postgres_url.split("?")[0], autocommit=True) as admin:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            busy = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
                "AND backend_xid IS NOT NULL",
                (app,),
            ).fetchone()
            if busy and busy[0]:
                time.sleep(0.2)
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = %s",
                    (app,),
                )
                break
            time.sleep(0.01)
    out, err = proc.communicate(timeout=60)
    result = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    line = _one_line_error(result)
    assert line.startswith("error: lost the connection to the PostgreSQL server of "), line
    assert _state(postgres_url, keys) == (base, Counter())
