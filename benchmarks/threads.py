"""Threads of one process recording one event per call on one ledger: group commit against
each call committing on its own (the ledger before group commit), side by side in one run.

    python benchmarks/threads.py --db sqlite --threads 8 --seconds 10
    python benchmarks/threads.py --db postgresql://postgres@127.0.0.1:5432/test

Durability as by default and the same for both: SQLite in WAL mode with synchronous=FULL
(every commit fsynced); PostgreSQL with the server's synchronous_commit.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psycopg

from ledger import Ledger
from ledger.demo.workload import name_collected


def run(base: str, threads: int, seconds: float, *, group: bool) -> tuple[float, float, float]:
    """Events/s in all, and the median and 99th-percentile latency of one call (ms)."""
    with tempfile.TemporaryDirectory() as tmp:
        schema = ""
        if base.startswith("postgresql"):
            schema = f"bench_{uuid.uuid4().hex[:10]}"
            url = f"{base}?schema={schema}"
        else:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        latencies: list[float] = []
        with Ledger.init(url, Path(tmp) / "keys") as ledger:
            ledger.group_commit = group
            ledger.record(**name_collected("warm-up", "First"))
            deadline = time.perf_counter() + seconds

            def write(writer: int) -> None:
                mine, n = [], 0
                while time.perf_counter() < deadline:
                    started = time.perf_counter()
                    ledger.record(**name_collected(f"cust-{writer}-{n % 50}", f"Name {n}"))
                    mine.append(time.perf_counter() - started)
                    n += 1
                latencies.extend(mine)

            workers = [threading.Thread(target=write, args=(w,)) for w in range(threads)]
            started = time.perf_counter()
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            elapsed = time.perf_counter() - started
            assert ledger.verify().intact
        if schema:
            with psycopg.connect(base, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return len(latencies) / elapsed, statistics.median(latencies) * 1000, p99 * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite", help="sqlite, or a PostgreSQL URL")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    alone = run(args.db, args.threads, args.seconds, group=False)
    grouped = run(args.db, args.threads, args.seconds, group=True)
    for name, (rate, median, p99) in (("each call alone", alone), ("group commit", grouped)):
        print(f"{args.threads} threads, {name}: {rate:,.0f} events/s, "
              f"median {median:.2f} ms, p99 {p99:.2f} ms")  # fmt: skip
    print(f"group commit / each alone: {grouped[0] / alone[0]:.2f}x")


if __name__ == "__main__":
    main()
