"""What checking the projection tables against the chain costs, at 10k, 100k and 1M events.

For each size: a ledger of the demo's mix, its projection tables rebuilt (with and without the
seal's digests), then the per-question check (median of 15), the full comparison with the
chain (`ledger verify --projections`), and two questions for scale, each figure beside the
rebuild (or the check) measured in the same run.

python benchmarks/projection_integrity.py --events 10000 --events 100000 --events 1000000
python benchmarks/projection_integrity.py --events 100000 --postgres postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

import orjson

from ledger import Ledger
from ledger.demo.story import CONFIG_TOML
from ledger.demo.workload import generate, record_in_batches
from ledger.projections.bench import Run, integrity_costs, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, action="append", help="repeatable")
    parser.add_argument("--postgres", default=None, help="a server URL: measure there instead")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    runs = []
    for count in args.events or [10_000, 100_000, 1_000_000]:
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "ledger.toml"
            config.write_text(CONFIG_TOML)
            schema = f"bench_{uuid.uuid4().hex[:10]}"
            url = (f"{args.postgres}?schema={schema}" if args.postgres
                   else f"sqlite:///{Path(tmp) / 'bench.db'}")  # fmt: skip
            try:
                with Ledger.init(url, Path(tmp) / "keys", config=config) as ledger:
                    started = time.perf_counter()
                    record_in_batches(ledger, generate(count), 1000)
                    print(f"{count:,} events recorded in {time.perf_counter() - started:.0f} s",
                          flush=True)  # fmt: skip
                    run = Run(count, durability="SQLite WAL" if not args.postgres else "PostgreSQL")
                    run.figures = integrity_costs(ledger)
                    runs.append(run)
                    print(table([run]), flush=True)
            finally:
                if args.postgres:
                    import psycopg

                    with psycopg.connect(args.postgres, autocommit=True) as conn:
                        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    if args.json is not None:
        args.json.write_bytes(orjson.dumps([r.to_dict() for r in runs], option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
