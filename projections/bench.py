"""`ledger bench`: the ledger against its baselines, measured in the same run.

Baselines: plain `eventsourcing` on SQLite saving the same events (no chain, no
encryption) batched and one at a time, and reading them back; SHA-256 over the
same canonical bytes with `hashlib` (the floor for verification). Durability is the
same for both sides: SQLite in WAL mode with synchronous=FULL, one fsync per commit.
"""

from __future__ import annotations

import gc
import hashlib
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from ledger.api import Ledger
from ledger.crypto.signing import create_signer
from ledger.demo.workload import generate, threaded_appends
from ledger.transparency import VerifiableLog

from .views import Projections

BATCH = 1000
SINGLES = 300


class Recorded(Aggregate):
    """The baseline's aggregate: one event per ledger event, the same payload."""

    @event("Recorded")
    def __init__(self, payload: dict[str, Any]) -> None:
        self.payload = payload


@dataclass
class Figure:
    """One measured figure and its baseline from the same run."""

    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str | None = None

    @property
    def ratio(self) -> float | None:
        if not self.baseline:
            return None
        return self.value / self.baseline


@dataclass
class Run:
    events: int
    durability: str = "SQLite WAL, synchronous=FULL (every commit fsynced), both sides"
    figures: list[Figure] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "durability": self.durability,
            "figures": [{**asdict(f), "ratio": f.ratio} for f in self.figures],
        }


@contextmanager
def _folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp)


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def _timed(work: Callable[[], Any]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _baseline_app(folder: Path) -> Application[Any]:
    return Application(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
             "SQLITE_DBNAME": str(folder / "baseline.db")}
    )  # fmt: skip


def measure(count: int, *, proofs: bool = True) -> Run:
    """Every figure for *count* events of the demo's mix."""
    events = list(generate(count))
    run = Run(count)
    # The harness's own data (every event, the baseline's aggregates) lives all run long: kept
    # out of the garbage collector's scans, it does not slow whatever is measured beside it.
    gc.collect()
    gc.freeze()
    try:
        return _measure(events, run, proofs=proofs)
    finally:
        gc.unfreeze()


def _measure(events: list[dict[str, Any]], run: Run, *, proofs: bool) -> Run:
    count = run.events
    with _folder() as folder:
        app = _baseline_app(folder)
        aggregates = [Recorded(payload=e) for e in events]
        gc.freeze()  # the same for the baseline's aggregates
        base_batch = _timed(
            lambda: [app.save(*aggregates[i : i + BATCH]) for i in range(0, count, BATCH)]
        )
        singles = min(SINGLES, count)
        base_single = _timed(lambda: [app.save(Recorded(payload=e)) for e in events[:singles]])
        recorder = app.recorder

        def read_back() -> None:
            start, seen = 1, 0
            while batch := recorder.select_notifications(start=start, limit=5000):
                for notification in batch:
                    app.mapper.to_domain_event(notification)
                seen += len(batch)
                start = batch[-1].id + 1

        base_read = _timed(read_back)
        app.close()

        with Ledger.init(f"sqlite:///{folder / 'ledger.db'}", folder / "keys") as ledger:
            batched = _timed(
                lambda: [ledger.record_many(events[i : i + BATCH]) for i in range(0, count, BATCH)]
            )
            single = _timed(lambda: [ledger.record_many([e]) for e in events[:singles]])
            verify_time = _timed(ledger.verify)  # on every core for large ledgers
            tracemalloc.start()  # a second pass for memory: tracing slows what it watches
            ledger.verify(workers=1)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            rss = _verify_rss(ledger.store.url, folder / "keys")
            size = ledger.size
            floor = _hashing_floor(ledger)
            run.figures += [
                Figure("batched import", _rate(count, batched), "events/s",
                       _rate(count, base_batch), "eventsourcing save, batches of 1000"),
                Figure("one event per transaction", _rate(singles, single), "events/s",
                       _rate(singles, base_single), "eventsourcing save, one aggregate"),
                Figure("verify (chain, tree, seals)", _rate(size, verify_time), "events/s",
                       _rate(count, base_read), "eventsourcing read back and decode"),
                Figure("verify vs hashing floor", _rate(size, verify_time), "events/s",
                       _rate(size, floor), "hashlib SHA-256 over the same bytes"),
                Figure("verify peak memory (Python heap, one core)", peak / 1e6, "MB"),
                Figure("verify peak RSS (largest process: verify or a worker)", rss, "MB"),
            ]  # fmt: skip
            run.figures += _latencies(ledger, events)
            run.figures += _threads(ledger)
            if proofs:
                run.figures += _proofs(ledger, folder)
            run.figures += _projections(ledger, events)
    return run


# VmHWM, not ru_maxrss, for the process itself: Linux keeps ru_maxrss across exec, so it
# would report the (large) benchmark process this one was started from.
_RSS = """
import resource, sys
from ledger.api import Ledger
with Ledger.open(sys.argv[1], sys.argv[2]) as ledger:
    assert ledger.verify().intact
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    with open("/proc/self/status") as status:
        own = next(int(l.split()[1]) for l in status if l.startswith("VmHWM:"))
except OSError:
    pass
workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(max(own, workers) / 1024)
"""


def _verify_rss(url: str, keys: Path) -> float:
    """Peak resident memory (MB) of `verify` in a process of its own, workers included."""
    done = subprocess.run(
        [sys.executable, "-c", _RSS, url, str(keys)], capture_output=True, text=True, check=True
    )
    return float(done.stdout.strip())


def _hashing_floor(ledger: Ledger) -> float:
    """Seconds to SHA-256 every stored record, read into memory first (the floor)."""
    with ledger.store.snapshot() as snapshot:
        states = [row.state for row in snapshot.rows()]
    return _timed(lambda: [hashlib.sha256(s).digest() for s in states])


def _latencies(ledger: Ledger, events: list[dict[str, Any]]) -> list[Figure]:
    busiest = Counter(e["subject"] for e in events if "subject" in e).most_common(1)[0][0]
    probe = {"type": "accessed", "actor": "staff:bench", "categories": ["user.name"],
             "purpose": "essential.service", "system": "crm"}  # fmt: skip

    def median_latency(subject: str) -> float:
        times = []
        for _ in range(50):
            started = time.perf_counter()
            ledger.record_many([{**probe, "subject": subject}])
            times.append(time.perf_counter() - started)
        return statistics.median(times) * 1e3

    fresh = median_latency("cust-never-seen")
    busy = median_latency(str(busiest))
    return [Figure("append latency, subject with the longest history", busy, "ms",
                   fresh, "append latency, a new subject")]  # fmt: skip


THREADS = 8


def _threads(ledger: Ledger) -> list[Figure]:
    """Group commit against every call committing alone (the ledger before it), 8 threads."""
    calls = 40
    ledger.group_commit = False
    alone = threaded_appends(ledger, THREADS, calls)
    ledger.group_commit = True
    grouped = threaded_appends(ledger, THREADS, calls)
    return [
        Figure(f"{THREADS} threads, one event per call (group commit)", grouped[0], "events/s",
               alone[0], "each call its own transaction"),
        Figure(f"{THREADS} threads, latency median (group commit)", grouped[1], "ms",
               alone[1], "each call alone (ms)"),
        Figure(f"{THREADS} threads, latency p99 (group commit)", grouped[2], "ms",
               alone[2], "each call alone (ms)"),
    ]  # fmt: skip


def _proofs(ledger: Ledger, folder: Path) -> list[Figure]:
    log = VerifiableLog(ledger)
    log.checkpoint(create_signer(folder / "signing", "bench/ledger"))
    size = ledger.size
    inclusion: list[float] = []
    consistency: list[float] = []
    for n in range(1, 51):
        seq, old = 1 + (n * 7919) % size, 1 + (n * 104729) % size
        inclusion.append(_timed(lambda: log.prove_inclusion(seq)))  # noqa: B023
        consistency.append(_timed(lambda: log.prove_consistency(old)))  # noqa: B023
    return [
        Figure("inclusion proof (median)", statistics.median(inclusion) * 1e3, "ms"),
        Figure("consistency proof (median)", statistics.median(consistency) * 1e3, "ms"),
    ]


def _projections(ledger: Ledger, events: list[dict[str, Any]]) -> list[Figure]:
    latest = max(e["at"] for e in events)  # the inventory as of the last event: all of them
    with Projections(ledger) as projections:
        rebuild = _timed(projections.rebuild)
        as_of = _timed(lambda: projections.inventory(as_of=latest))
        found = _timed(lambda: projections.findings(as_of=latest))
    return [
        Figure("projection rebuild", _rate(ledger.size, rebuild), "events/s"),
        Figure("as-of inventory query (every subject, all events)", as_of, "s"),
        Figure("findings (every kind, all events)", found, "s", as_of,
               "as-of inventory (s)"),
    ]  # fmt: skip


@contextmanager
def _without_digests() -> Iterator[None]:
    from . import integrity

    integrity.Tally.hashing = False
    try:
        yield
    finally:
        integrity.Tally.hashing = True


def integrity_costs(ledger: Ledger, *, repeats: int = 15) -> list[Figure]:
    """What checking the projection tables against the chain costs, against a rebuild of them
    measured in the same run: the per-question check (median; what every question runs, its
    catch-up included), the full comparison (`ledger verify --projections`, the report), and
    the seal's digests' share of a rebuild (rebuilds with and without them, alternating)."""
    with Projections(ledger) as projections:
        with_digests, without = [], []
        for _ in range(2):
            with_digests.append(_timed(projections.rebuild))
            with _without_digests():
                without.append(_timed(projections.rebuild))
        rebuild = min(with_digests)
        projections.rebuild()
        projections.check()  # the first opens connections and reads the catalog
        check = statistics.median(_timed(projections.check) for _ in range(repeats))
        full = _timed(projections.verify)
        assert projections.last_comparison is not None
        assert projections.last_comparison.matches, projections.last_comparison.line()
        subject = projections.inventory()[0].subject
        one = statistics.median(
            _timed(lambda: projections.inventory(subject=subject)) for _ in range(5)
        )
        clocks = statistics.median(_timed(projections.requests) for _ in range(5))
    rows = projections.last_comparison.rows
    return [
        Figure(f"projection rebuild ({rows:,} rows)", rebuild, "s"),
        Figure("per-question check (median)", check * 1e3, "ms", rebuild * 1e3,
               "projection rebuild (ms)"),
        Figure("full comparison with the chain", full, "s", rebuild, "projection rebuild (s)"),
        Figure("rebuild, sealed with digests", rebuild, "s", min(without),
               "rebuild without the digests (s)"),
        Figure("question: one subject's inventory (check included)", one * 1e3, "ms",
               check * 1e3, "its check (ms)"),
        Figure("question: request clocks (check included)", clocks * 1e3, "ms", check * 1e3,
               "its check (ms)"),
    ]  # fmt: skip


def table(runs: list[Run]) -> str:
    """The runs as a readable table: each figure, its baseline and the ratio."""
    lines = []
    for run in runs:
        lines.append(f"N = {run.events:,} ({run.durability})")
        for f in run.figures:
            text = f"  {f.name:<52} {f.value:>12,.2f} {f.unit}"
            if f.baseline is not None:
                text += f"  | {f.baseline_name}: {f.baseline:,.2f}  ratio {f.ratio:.3g}x"
            lines.append(text)
    return "\n".join(lines)
