"""Aggregate append rate of 1, 2 and 4 concurrent writer processes, batched and one event per
transaction, on PostgreSQL (or SQLite).

    python benchmarks/writers.py --db postgresql://postgres@127.0.0.1:5432/test --seconds 10

Each run uses a fresh schema (PostgreSQL) or file (SQLite); durability as by default
(PostgreSQL synchronous_commit as the server sets it; SQLite WAL with synchronous=FULL).
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from ledger import Ledger
from ledger.demo.workload import generate


def _writer(url: str, keys: str, writer: int, batch: int, seconds: float, out: object) -> None:
    events = list(generate(20_000, seed=writer))
    written = 0
    with Ledger.open(url, keys) as ledger:
        deadline = time.perf_counter() + seconds
        position = 0
        while time.perf_counter() < deadline:
            chunk = events[position : position + batch]
            position = (position + batch) % (len(events) - batch)
            ledger.record_many(chunk)
            written += len(chunk)
    out.put(written)  # type: ignore[attr-defined]


def run(base: str, writers: int, batch: int, seconds: float) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        if base.startswith("postgresql"):
            schema = f"bench_{uuid.uuid4().hex[:10]}"
            url = f"{base}?schema={schema}"
        else:
            url, schema = f"sqlite:///{Path(tmp) / 'bench.db'}", ""
        keys = str(Path(tmp) / "keys")
        Ledger.init(url, keys).close()
        ctx = multiprocessing.get_context("spawn")
        out = ctx.Queue()
        procs = [ctx.Process(target=_writer, args=(url, keys, w, batch, seconds, out))
                 for w in range(writers)]  # fmt: skip
        for proc in procs:
            proc.start()
        total = sum(out.get() for _ in procs)
        for proc in procs:
            proc.join()
        with Ledger.open(url, keys) as ledger:
            assert ledger.verify().intact
        if schema:
            with psycopg.connect(base, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    return total / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    for batch in (1, 100):
        for writers in (1, 2, 4):
            rate = run(args.db, writers, batch, args.seconds)
            kind = "one event per transaction" if batch == 1 else f"batches of {batch}"
            print(f"{writers} writer(s), {kind}: {rate:,.0f} events/s in all")


if __name__ == "__main__":
    main()
