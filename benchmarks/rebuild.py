"""Projection rebuild on one core and on several, side by side in the same run, for N events
of the demo's mix (their tables and seals are checked to be the same).

python benchmarks/rebuild.py --events 1000000 [--workers 2] [--ledger /tmp/rebuild-1m]

With --ledger the ledger is kept in that folder and reused by later runs (building one of a
million events takes a while); without it, it lives in a temporary folder.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import orjson
from sqlalchemy import select

from ledger import Ledger
from ledger.demo.story import CONFIG_TOML
from ledger.demo.workload import generate
from ledger.importer import import_lines
from ledger.projections import Projections, integrity
from ledger.projections.parallel import workers_for


def _ledger(folder: Path, events: int) -> Ledger:
    """The ledger kept in *folder*, imported there first when it is not yet."""
    url = f"sqlite:///{folder / 'bench.db'}"
    config = folder / "ledger.toml"
    if (folder / "bench.db").exists():
        return Ledger.open(url, folder / "keys", config=config)
    folder.mkdir(parents=True, exist_ok=True)
    config.write_text(CONFIG_TOML)
    ledger = Ledger.init(url, folder / "keys", config=config)
    started = time.perf_counter()
    import_lines(ledger, (orjson.dumps(e) for e in generate(events)))
    print(f"imported {ledger.size} events in {time.perf_counter() - started:.0f} s")
    return ledger


def _seal(projections: Projections) -> tuple[object, ...]:
    with projections.runner.engine.connect() as conn:
        row = conn.execute(select(integrity.seals)).one()
    return row.position, row.chain_hash, row.tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--ledger", type=Path, default=None, help="a folder to keep it in")
    parser.add_argument("--repeats", type=int, default=1, help="rebuilds of each kind")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.ledger or Path(tmp) / "ledger"
        with _ledger(folder, args.events) as ledger, Projections(ledger) as projections:
            size = ledger.size
            workers = max(2, workers_for(size, args.workers))
            times: dict[int, list[float]] = {1: [], workers: []}
            seals = {}
            for _ in range(args.repeats):  # alternating, so both meet the same load
                for count in times:
                    started = time.perf_counter()
                    applied = projections.runner.rebuild(workers=count)
                    times[count].append(time.perf_counter() - started)
                    seals[count] = _seal(projections)
            same = "the same" if seals[1] == seals[workers] else "DIFFERENT"
    one, many = min(times[1]), min(times[workers])
    print(f"rebuild of {applied} events, seals {same}:")
    print(f"  one core:   {one:7.2f} s = {applied / one:9,.0f} events/s")
    print(f"  {workers} workers:  {many:7.2f} s = {applied / many:9,.0f} events/s  "
          f"({one / many:.2f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
