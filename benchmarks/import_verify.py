"""Import and verify rates for N events of the demo's mix, on a fresh SQLite ledger.

    python benchmarks/import_verify.py --events 100000

Durability as by default: WAL mode, synchronous=FULL, one transaction per import.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import orjson

from ledger import Ledger
from ledger.demo import CONFIG_TOML
from ledger.importer import import_lines
from ledger.workload import generate


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
        with Ledger.init(url, Path(tmp) / "keys", config=config) as ledger:
            started = time.perf_counter()
            result = import_lines(ledger, lines)
            imported = time.perf_counter() - started
            started = time.perf_counter()
            report = ledger.verify()
            verified = time.perf_counter() - started
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


if __name__ == "__main__":
    main()
