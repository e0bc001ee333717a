"""Import and verify rates for N events of the demo's mix, on a fresh SQLite ledger, and the
latency of single appends on an empty ledger against the full one.

    python benchmarks/import_verify.py --events 100000

Durability as by default: WAL mode, synchronous=FULL (every commit fsynced), one
transaction per import, one transaction per single append.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import orjson

from ledger import Ledger
from ledger.demo.story import CONFIG_TOML
from ledger.demo.workload import generate, name_collected
from ledger.importer import import_lines

APPENDS = 300


def _append_latency(ledger: Ledger, subject: str) -> float:
    """Median seconds of one `record` call (its own durable transaction)."""
    times = []
    for n in range(APPENDS):
        started = time.perf_counter()
        ledger.record_many([name_collected(subject, f"Name {n}")])
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    lines = [orjson.dumps(event) for event in generate(args.events)]
    size = sum(len(line) for line in lines)
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "ledger.toml"
        config.write_text(CONFIG_TOML)
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        with Ledger.init(f"sqlite:///{Path(tmp) / 'empty.db'}", Path(tmp) / "k2") as empty:
            fresh = _append_latency(empty, "cust-new")
        with Ledger.init(url, Path(tmp) / "keys", config=config) as ledger:
            started = time.perf_counter()
            result = import_lines(ledger, lines)
            imported = time.perf_counter() - started
            started = time.perf_counter()
            report = ledger.verify()
            verified = time.perf_counter() - started
            busiest = Counter(e.get("subject") for e in generate(args.events)).most_common(1)
            full_new = _append_latency(ledger, "cust-brand-new")
            full_busy = _append_latency(ledger, str(busiest[0][0]))
        db_size = (Path(tmp) / "bench.db").stat().st_size
    assert report.intact and result.recorded == args.events
    print(f"events:  {args.events} ({size / args.events:.0f} bytes each on average as JSON)")
    print(
        f"import:  {imported:.2f} s = {args.events / imported:,.0f} events/s "
        "(parse, validate, encrypt, chain, seal, one durable transaction)"
    )
    print(
        f"verify:  {verified:.2f} s = {report.checked / verified:,.0f} events/s "
        "(re-hash, re-link, columns and seals checked)"
    )
    print(f"store:   {db_size / 1e6:.1f} MB")
    print(
        f"append:  {fresh * 1e3:.2f} ms median on an empty ledger; at {args.events} events "
        f"{full_new * 1e3:.2f} ms ({full_new / fresh:.2f}x) for a new subject, "
        f"{full_busy * 1e3:.2f} ms ({full_busy / fresh:.2f}x) for the subject with the "
        f"longest history ({busiest[0][1]} events)"
    )


if __name__ == "__main__":
    main()
