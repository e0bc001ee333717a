"""Crash consistency: writers killed with SIGKILL at random moments, on SQLite and PostgreSQL.

Three writers, each a real process: ``ledger import FILE`` (the command line), a worker
calling ``Ledger.record_many`` with batches of random sizes, and a worker calling
``Ledger.record`` once per event (``tests/system/crash_worker.py``). Each trial starts one writer,
kills it after a random delay between 0 and a little over the time a whole run takes, and
then checks that:

* the store opens and ``Ledger.verify()`` reports it intact (chain, tree, seals, head);
* every atomic unit is whole or absent. An import is one transaction however large (the
  importer seals it in chunks of 1000 inside a single write transaction, see
  ``Ledger.record_numbered``), so a killed import leaves all of its lines or none; each
  ``record_many`` call is one transaction, so each batch is all there or not at all;
* everything a writer was told was recorded is there, at the sequence it was told, and
  nothing is there beyond the one call that was in flight when it died;
* the next writer can append after the crash (each trial appends to the survivor of the last).

``LEDGER_CRASH_TRIALS`` sets the trials per engine (default 30, split over the three
writers); ``LEDGER_CRASH_SEED`` sets the seed that picks every kill moment and every batch
size (printed in every failure message).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import orjson
import psycopg
import pytest
from psycopg.sql import SQL, Identifier
from sqlalchemy.engine import make_url
from support import ENGINES, fresh_store

from ledger import Ledger

TRIALS = int(os.environ.get("LEDGER_CRASH_TRIALS", "30"))
SEED = int(os.environ.get("LEDGER_CRASH_SEED", "20260401"))
WRITERS = ["import", "many", "single", "threads"]
STORE_EVERY = 10  # trials per store, so that verify stays quick on long local runs
EVENTS = {"import": 1500, "many": 2000, "single": 400, "threads": 400}
WORKER = Path(__file__).with_name("crash_worker.py")
LEDGER_CLI = Path(sys.executable).with_name("ledger")


def _trials(writer: str) -> int:
    """This writer's share of the per-engine trial count."""
    index = WRITERS.index(writer)
    return TRIALS // len(WRITERS) + (1 if index < TRIALS % len(WRITERS) else 0)


@dataclass
class Trial:
    engine: str
    writer: str
    number: int
    seed: int
    delay: float = 0.0
    killed: bool = False
    returncode: int | None = None
    lines: list[str] = field(default_factory=list)

    @property
    def tag(self) -> str:
        return f"t{self.number}" if self.number >= 0 else "control"

    def where(self) -> str:
        return (
            f"[LEDGER_CRASH_SEED={SEED} engine={self.engine} writer={self.writer} "
            f"trial={self.number} trial seed={self.seed} kill after {self.delay:.3f}s, "
            f"killed={self.killed}, exit={self.returncode}]"
        )


class Writer:
    """Starts one writing process for a trial and kills it."""

    def __init__(self, url: str, keys: Path, config: Path, folder: Path) -> None:
        self.url = url
        self.keys = keys
        self.config = config
        self.folder = folder

    def start(self, trial: Trial) -> subprocess.Popen[bytes]:
        if trial.writer == "import":
            path = self.folder / f"{trial.tag}.jsonl"
            path.write_bytes(_import_file(trial))
            command = (
                [str(LEDGER_CLI)] if LEDGER_CLI.exists() else [sys.executable, "-m", "ledger.cli"]
            )
            command += [
                "--db",
                self.url,
                "--keys",
                str(self.keys),
                "--config",
                str(self.config),
                "--signing-key",
                str(self.folder / "signing"),
                "import",
                str(path),
            ]
        else:
            command = [
                sys.executable,
                str(WORKER),
                trial.writer,
                self.url,
                str(self.keys),
                str(self.config),
                trial.tag,
                str(trial.seed),
                str(EVENTS[trial.writer]),
            ]
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def run(self, trial: Trial, kill_after: float | None) -> float:
        """Run the trial's writer, killing it *kill_after* seconds into its work; the time
        its work took (from start for an import, from ``ready`` for a worker)."""
        proc = self.start(trial)
        assert proc.stdout is not None and proc.stderr is not None
        if trial.writer != "import":
            first = proc.stdout.readline().decode()
            assert first == "ready\n", f"{trial.where()} worker did not start: {first!r} " + (
                proc.stderr.read().decode()
            )
        began = time.monotonic()
        if kill_after is not None:
            try:
                proc.wait(kill_after)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                trial.killed = True
        trial.returncode = proc.wait(120)
        # the writer may have finished just before the signal reached it
        trial.killed = trial.killed and trial.returncode == -signal.SIGKILL
        took = time.monotonic() - began
        out, err = _read(proc.stdout), _read(proc.stderr)
        trial.lines = out.splitlines()
        if not trial.killed:
            assert trial.returncode == 0, f"{trial.where()} writer failed: {out}{err}"
            assert "Traceback" not in err, f"{trial.where()} {err}"
        else:
            assert trial.returncode == -signal.SIGKILL, trial.where()
        return took


def _read(stream: IO[bytes]) -> str:
    return stream.read().decode()


def _import_file(trial: Trial) -> bytes:
    from ledger.demo.workload import generate

    events = list(generate(EVENTS["import"], seed=trial.seed))
    for i, event in enumerate(events):
        event["id"] = f"{trial.tag}-i{i}"
    return b"".join(orjson.dumps(event) + b"\n" for event in events)


def _settle(url: str) -> None:
    """On PostgreSQL, wait until a killed writer's transaction has ended in the server
    (committed or rolled back): take the head row lock that every writer holds."""
    if not url.startswith("postgresql"):
        return
    parsed = make_url(url)
    schema = str(parsed.query["schema"])
    with psycopg.connect(url.split("?")[0]) as conn:
        conn.execute("SET lock_timeout = '30s'")
        conn.execute(SQL("SELECT 1 FROM {}.ledger_head FOR UPDATE").format(Identifier(schema)))
        conn.rollback()


def _client_ids(ledger: Ledger) -> dict[str, int]:
    return {row.client_id: row.sequence for row in ledger.store.rows() if row.client_id}


def _check(url: str, keys: Path, config: Path, trial: Trial) -> None:
    """The store after the trial: opens, verifies, and holds whole units only."""
    _settle(url)
    where = trial.where()
    with Ledger.open(url, keys, config=config) as ledger:
        report = ledger.verify()
        assert report.intact, f"{where} verify failed at {report.first_bad}: {report.reason}"
        assert report.seals_checked, where
        present = _client_ids(ledger)
        assert report.size == ledger.store.head().sequence, where
    mine = {cid: seq for cid, seq in present.items() if cid.startswith(f"{trial.tag}-")}
    if trial.writer == "import":
        _check_import(trial, mine, where)
    elif trial.writer == "many":
        _check_batches(trial, mine, where)
    elif trial.writer == "threads":
        _check_threads(trial, mine, where)
    else:
        _check_singles(trial, mine, where)


def _check_import(trial: Trial, mine: dict[str, int], where: str) -> None:
    total = EVENTS["import"]
    assert len(mine) in (0, total), f"{where} a torn import: {len(mine)} of {total} lines"
    if not trial.killed:
        assert len(mine) == total, f"{where} a finished import is missing lines"
        first, last = min(mine.values()), max(mine.values())
        assert trial.lines == [f"recorded {total} events (sequence {first}-{last})"], where
    if mine:  # one transaction: consecutive sequences, in file order
        ordered = [mine[f"{trial.tag}-i{i}"] for i in range(total)]
        assert ordered == list(range(ordered[0], ordered[0] + total)), where


def _check_batches(trial: Trial, mine: dict[str, int], where: str) -> None:
    by_batch: dict[int, dict[int, int]] = defaultdict(dict)
    sizes: dict[int, int] = {}
    for cid, seq in mine.items():
        _, b, n, e = cid.split("-")
        by_batch[int(b[1:])][int(e[1:])] = seq
        sizes[int(b[1:])] = int(n[1:])
    for b, found in by_batch.items():
        assert len(found) == sizes[b], f"{where} torn batch {b}: {len(found)} of {sizes[b]}"
        ordered = [found[i] for i in range(sizes[b])]
        assert ordered == list(range(ordered[0], ordered[0] + sizes[b])), f"{where} batch {b}"
    acked = {}
    for line in trial.lines:
        if line.startswith("batch "):
            _, b, n, first, last = line.split()
            acked[int(b)] = (int(n), int(first), int(last))
        else:
            assert line == "done", f"{where} unexpected worker output {line!r}"
    for b, (_n, first, last) in acked.items():
        assert b in by_batch, f"{where} batch {b} was acknowledged but is not on the ledger"
        assert (min(by_batch[b].values()), max(by_batch[b].values())) == (first, last), where
    # batches go one after another: the ledger holds the acknowledged ones and at most
    # the one that was in flight
    assert sorted(by_batch) == list(range(len(by_batch))), f"{where} batches {sorted(by_batch)}"
    assert len(acked) <= len(by_batch) <= len(acked) + 1, f"{where} {len(acked)} acknowledged"
    if not trial.killed:
        assert trial.lines[-1] == "done" and len(by_batch) == len(acked), where


def _acknowledged(
    trial: Trial, mine: dict[str, int], where: str
) -> tuple[dict[int, int], dict[int, int]]:
    """For a writer of single calls: the sequence each acknowledged call was told, and the
    sequence of each of its events found on the ledger; every acknowledged one is there."""
    acked: dict[int, int] = {}
    for line in trial.lines:
        if line.startswith("single "):
            _, i, seq = line.split()
            acked[int(i)] = int(seq)
        else:
            assert line == "done", f"{where} unexpected worker output {line!r}"
    found = {int(cid.rsplit("-s", 1)[1]): seq for cid, seq in mine.items()}
    for i, seq in acked.items():
        assert found.get(i) == seq, f"{where} record {i} returned sequence {seq}, not there"
    return acked, found


def _check_threads(trial: Trial, mine: dict[str, int], where: str) -> None:
    """Threads of one process, group commit: every acknowledged call is on the ledger at the
    sequence it was told, each thread's events are there in its order with no gap, and each
    thread has at most its one call in flight beyond what it was told."""
    from crash_worker import THREADS

    acked, found = _acknowledged(trial, mine, where)
    for thread in range(THREADS):
        theirs = sorted(i for i in found if i % THREADS == thread)
        assert theirs == list(range(thread, thread + THREADS * len(theirs), THREADS)), where
        in_order = [found[i] for i in theirs]
        assert in_order == sorted(in_order), f"{where} thread {thread} out of order"
        told = sum(1 for i in acked if i % THREADS == thread)
        assert told <= len(theirs) <= told + 1, f"{where} thread {thread}: {told} acknowledged"
    if not trial.killed:
        assert len(found) == EVENTS["threads"], where


def _check_singles(trial: Trial, mine: dict[str, int], where: str) -> None:
    acked, found = _acknowledged(trial, mine, where)
    assert sorted(found) == list(range(len(found))), f"{where} a gap in the records"
    assert len(acked) <= len(found) <= len(acked) + 1, f"{where} {len(acked)} acknowledged"
    if not trial.killed:
        assert len(found) == EVENTS["single"], where


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("engine", ENGINES)
def test_a_writer_killed_at_a_random_moment_leaves_whole_units_and_an_intact_chain(
    engine: str, writer: str, config_path: Path, tmp_path: Path
) -> None:
    count = _trials(writer)
    if count == 0:
        pytest.skip("LEDGER_CRASH_TRIALS gives this writer no trials")
    rng = random.Random(f"{SEED}-{engine}-{writer}")
    typical: float | None = None
    killed = 0
    number = 0
    while number < count:
        with fresh_store(engine) as (url, keys):
            Ledger.init(url, keys, config=config_path, origin="test/crash").close()
            runner = Writer(url, keys, config_path, tmp_path)
            if typical is None:  # a whole run first: how long the work takes, and a control
                control = Trial(engine, writer, -1, rng.randrange(1 << 30))
                typical = runner.run(control, None)
                _check(url, keys, config_path, control)
            for _ in range(min(STORE_EVERY, count - number)):
                trial = Trial(engine, writer, number, rng.randrange(1 << 30))
                trial.delay = rng.uniform(0.0, 1.1 * typical)
                took = runner.run(trial, trial.delay)
                _check(url, keys, config_path, trial)
                if not trial.killed:  # the control may have been slow (a cold start, a busy host)
                    typical = min(typical, took)
                killed += trial.killed
                number += 1
            with Ledger.open(url, keys, config=config_path) as ledger:  # still writable
                ledger.record(
                    "consent_given",
                    actor="svc:web",
                    subject="cust-after",
                    purpose="marketing.communications.email",
                    method="web-form",
                    notice="privacy-notice-v3",
                )
                assert ledger.verify().intact
    print(
        f"crash {engine}/{writer}: {count} trials, {killed} killed mid-run, all survived "
        f"(seed {SEED}, a whole run took {typical:.2f}s)"
    )
    # kill moments are spread over a whole run: many trials must really interrupt one
    assert killed >= count // 3, f"only {killed} of {count} kills landed mid-run (seed {SEED})"
