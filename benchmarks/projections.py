"""Projection rebuild rate and the time of `--as-of` queries, for N events of the demo's mix.

python benchmarks/projections.py --events 100000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import orjson

from ledger import Ledger
from ledger.demo.story import CONFIG_TOML
from ledger.demo.workload import generate
from ledger.importer import import_lines
from ledger.projections import Projections


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "ledger.toml"
        config.write_text(CONFIG_TOML)
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        with Ledger.init(url, Path(tmp) / "keys", config=config) as ledger:
            import_lines(ledger, (orjson.dumps(e) for e in generate(args.events)))
            with Projections(ledger) as p:
                started = time.perf_counter()
                applied = p.rebuild()
                rebuilt = time.perf_counter() - started
                middle = "2026-03-01T00:00:00Z"
                timings = {}
                for name, query in {
                    "inventory (all subjects)": lambda: p.inventory(as_of=middle),
                    "inventory (one subject)": lambda: p.inventory(subject="cust-0", as_of=middle),
                    "consent": lambda: p.consent(as_of=middle),
                    "requests": lambda: p.requests(as_of=middle),
                    "breaches": lambda: p.breaches(as_of=middle),
                    "record of processing": lambda: p.ropa(as_of=middle),
                }.items():
                    started = time.perf_counter()
                    query()
                    timings[name] = time.perf_counter() - started
    print(f"rebuild: {applied} events in {rebuilt:.2f} s = {applied / rebuilt:,.0f} events/s")
    for name, seconds in timings.items():
        print(f"as-of {middle}: {name}: {seconds:.2f} s")


if __name__ == "__main__":
    main()
