"""Time to sign a checkpoint after K new events on a ledger of N events.

    python benchmarks/checkpoint.py --events 100000 --new 100
    python benchmarks/checkpoint.py --db 'postgresql://postgres@127.0.0.1:5432/test?schema=bench_cp'

Builds the ledger by importing N events of the demo's mix in batches (SQLite in a temporary
folder unless --db names an empty store), signs a first checkpoint, then, ROUNDS times,
records K more events and times the next checkpoint. For comparison it also times a full
``Ledger.verify()`` of the same ledger and, where the release has it,
``VerifiableLog.verify_since_checkpoint()`` (the check a checkpoint now runs first).
Medians; the first checkpoint (which verifies the whole chain) is reported on its own. Each
run checks every stored checkpoint too (about 0.1 ms each, mostly its Ed25519 signature): at
most ROUNDS + 1 here.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ledger import Ledger
from ledger.crypto.signing import create_signer
from ledger.demo.workload import generate
from ledger.transparency import VerifiableLog

ROUNDS = 7


def _seconds(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1e3:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--new", type=int, default=100, help="events recorded before each run")
    parser.add_argument("--db", default=None, help="an empty store URL (default: SQLite in tmp)")
    parser.add_argument("--workers", type=int, default=None, help="full verify's processes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url = args.db or f"sqlite:///{folder / 'l.db'}"
        with Ledger.init(url, folder / "keys", origin="bench/ledger") as ledger:
            started = time.perf_counter()
            events = generate(args.events + args.new * (ROUNDS + 1), seed=5)
            for done in range(0, args.events, 10_000):
                batch = min(10_000, args.events - done)
                ledger.record_many([next(events) for _ in range(batch)])
            built = time.perf_counter() - started
            signer = create_signer(folder / "signing", "bench/ledger")
            try:  # the signing folder's keys, as the CLI passes them
                from ledger.transparency import signing_verifiers

                log = VerifiableLog(ledger, signing_verifiers(folder / "signing"))
            except ImportError:  # a release before honest checkpoints
                log = VerifiableLog(ledger)
            first = _seconds(lambda: log.checkpoint(signer))
            signing, since, full = [], [], []
            for _ in range(ROUNDS):
                ledger.record_many([next(events) for _ in range(args.new)])
                if hasattr(log, "verify_since_checkpoint"):
                    since.append(_seconds(log.verify_since_checkpoint))
                signing.append(_seconds(lambda: log.checkpoint(signer)))
            full.append(_seconds(lambda: ledger.verify(workers=args.workers)))
            size = ledger.size
    print(f"ledger of {size:,} events built in {built:.0f} s ({url.split(':')[0]})")
    print(f"first checkpoint (no earlier one): {first * 1e3:.0f} ms")
    print(f"checkpoint after {args.new} new events: {_ms(signing)} (median of {ROUNDS})")
    if since:
        print(f"verify --since-checkpoint after {args.new} new events: {_ms(since)}")
    print(f"full verify, for comparison: {_ms(full)}")


if __name__ == "__main__":
    main()
