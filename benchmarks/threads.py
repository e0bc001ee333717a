"""Threads of one process recording one event per call on one ledger: group commit against
each call committing on its own (the ledger before group commit), side by side in one run.

    python benchmarks/threads.py --db sqlite --threads 8 --calls 300
    python benchmarks/threads.py --db postgresql://postgres@127.0.0.1:5432/test

Durability as by default and the same for both: SQLite in WAL mode with synchronous=FULL
(every commit fsynced); PostgreSQL with the server's synchronous_commit.
"""

from __future__ import annotations

import argparse
import tempfile
import uuid
from pathlib import Path

import psycopg

from ledger import Ledger
from ledger.demo.workload import name_collected, threaded_appends


def run(base: str, threads: int, calls: int, *, group: bool) -> tuple[float, float, float]:
    """Events/s in all, and the median and 99th-percentile latency of one call (ms)."""
    with tempfile.TemporaryDirectory() as tmp:
        schema = ""
        if base.startswith("postgresql"):
            schema = f"bench_{uuid.uuid4().hex[:10]}"
            url = f"{base}?schema={schema}"
        else:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        with Ledger.init(url, Path(tmp) / "keys") as ledger:
            ledger.group_commit = group
            ledger.record(**name_collected("warm-up", "First"))
            figures = threaded_appends(ledger, threads, calls)
            assert ledger.verify().intact
        if schema:
            with psycopg.connect(base, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite", help="sqlite, or a PostgreSQL URL")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--calls", type=int, default=300, help="calls per thread")
    args = parser.parse_args()
    alone = run(args.db, args.threads, args.calls, group=False)
    grouped = run(args.db, args.threads, args.calls, group=True)
    for name, (rate, median, p99) in (("each call alone", alone), ("group commit", grouped)):
        print(f"{args.threads} threads, {name}: {rate:,.0f} events/s, "
              f"median {median:.2f} ms, p99 {p99:.2f} ms")  # fmt: skip
    print(f"group commit / each alone: {grouped[0] / alone[0]:.2f}x")


if __name__ == "__main__":
    main()
