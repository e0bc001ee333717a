"""Import and verify rates for N events of the demo's mix, on fresh SQLite ledgers, against
plain eventsourcing batched in the same run, and the latency of single appends on an empty
ledger against the full one.

    python benchmarks/import_verify.py --events 100000

Durability the same on every side: SQLite in WAL mode, synchronous=FULL (every commit
fsynced); eventsourcing saves batches of 1000 (a transaction each); an import is one
transaction, from a JSON Lines file as ``ledger import FILE`` reads it, once on one core
and once with its lines parsed and checked on worker processes (``LEDGER_IMPORT_WORKERS``
or every core). CPU seconds are given beside wall time: on a shared machine wall time
depends on what else runs.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from eventsourcing.application import Application

from ledger import Ledger
from ledger.demo.story import CONFIG_TOML
from ledger.demo.workload import generate, name_collected
from ledger.importer import ImportResult, import_lines
from ledger.projections.bench import BATCH, Recorded
from ledger.workers import workers_for

APPENDS = 300


def _append_latency(ledger: Ledger, subject: str) -> float:
    """Median seconds of one `record` call (its own durable transaction)."""
    times = []
    for n in range(APPENDS):
        started = time.perf_counter()
        ledger.record_many([name_collected(subject, f"Name {n}")])
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _eventsourcing_batched(folder: Path, count: int) -> float:
    """Seconds plain eventsourcing takes to save the same events in batches of BATCH (the
    aggregates are made outside the timing, one batch at a time, so memory stays flat)."""
    app: Application[Any] = Application(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
             "SQLITE_DBNAME": str(folder / "baseline.db")}
    )  # fmt: skip
    events = generate(count)
    spent = 0.0
    while batch := [Recorded(payload=e) for _, e in zip(range(BATCH), events, strict=False)]:
        started = time.perf_counter()
        app.save(*batch)
        spent += time.perf_counter() - started
    app.close()
    return spent


def _imported(
    url: str, keys: Path, config: Path, source: Path, workers: int
) -> tuple[float, float, float, ImportResult]:
    """Wall seconds, this process's CPU seconds and the workers' of one import of *source*."""
    with Ledger.init(url, keys, config=config) as ledger, source.open("rb") as handle:
        children = _children_cpu()
        started, cpu = time.perf_counter(), time.process_time()
        result = import_lines(ledger, handle, workers=workers)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return wall, cpu, _children_cpu() - children, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    count = args.events
    workers = workers_for()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = folder / "events.jsonl"
        with source.open("wb") as out:
            for event in generate(count):
                out.write(orjson.dumps(event) + b"\n")
        size = source.stat().st_size
        config = folder / "ledger.toml"
        config.write_text(CONFIG_TOML)
        with Ledger.init(f"sqlite:///{folder / 'empty.db'}", folder / "k0") as empty:
            fresh = _append_latency(empty, "cust-new")
        baseline = _eventsourcing_batched(folder, count)
        runs: dict[int, tuple[float, float, float, ImportResult]] = {}
        for label, n in (("one", 1), ("pool", workers)):
            url = f"sqlite:///{folder / f'{label}.db'}"
            runs[n] = _imported(url, folder / f"keys-{label}", config, source, n)
            assert runs[n][3].recorded == count
        url = f"sqlite:///{folder / 'pool.db'}"
        with Ledger.open(url, folder / "keys-pool", config=config) as ledger:
            started = time.perf_counter()
            report = ledger.verify()
            verified = time.perf_counter() - started
            busiest = Counter(e.get("subject") for e in generate(count)).most_common(1)
            full_new = _append_latency(ledger, "cust-brand-new")
            full_busy = _append_latency(ledger, str(busiest[0][0]))
        db_size = (folder / "pool.db").stat().st_size
    assert report.intact

    def rate(seconds: float) -> float:
        return count / seconds

    print(f"events:  {count} ({size / count:.0f} bytes each on average as JSON)")
    print("durability: SQLite WAL, synchronous=FULL (every commit fsynced), every side")
    print(f"eventsourcing batched ({BATCH} a transaction): {baseline:.2f} s = "
          f"{rate(baseline):,.0f} events/s")  # fmt: skip
    for n, (wall, cpu, children, _) in runs.items():
        what = "one core" if n == 1 else f"{n} workers"
        print(
            f"import ({what}): {wall:.2f} s = {rate(wall):,.0f} events/s = "
            f"{baseline / wall:.2f}x eventsourcing batched (CPU: {cpu:.1f} s writer, "
            f"{children:.1f} s workers; parse, validate, encrypt, chain, seal, one durable "
            "transaction)"
        )
    print(
        f"verify:  {verified:.2f} s = {report.checked / verified:,.0f} events/s "
        "(re-hash, re-link, columns and seals checked)"
    )
    print(f"store:   {db_size / 1e6:.1f} MB")
    print(
        f"append:  {fresh * 1e3:.2f} ms median on an empty ledger; at {count} events "
        f"{full_new * 1e3:.2f} ms ({full_new / fresh:.2f}x) for a new subject, "
        f"{full_busy * 1e3:.2f} ms ({full_busy / fresh:.2f}x) for the subject with the "
        f"longest history ({busiest[0][1]} events)"
    )


if __name__ == "__main__":
    main()
