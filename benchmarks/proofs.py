"""Time to produce and to verify inclusion and consistency proofs on a ledger of N events.

    python benchmarks/proofs.py --events 1000000

Builds the ledger by importing N events of the demo's mix in batches, signs a
checkpoint, then reports the median of 50 proofs at random positions.
"""

from __future__ import annotations

import argparse
import base64
import random
import statistics
import tempfile
import time
from pathlib import Path

from ledger import Ledger
from ledger.crypto.signing import create_signer
from ledger.demo.workload import generate, record_in_batches
from ledger.log import merkle
from ledger.transparency import VerifiableLog

ROUNDS = 50


def _median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1e3:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with Ledger.init(f"sqlite:///{folder / 'l.db'}", folder / "keys") as ledger:
            started = time.perf_counter()
            record_in_batches(ledger, generate(args.events), 10_000)
            built = time.perf_counter() - started
            log = VerifiableLog(ledger)
            log.checkpoint(create_signer(folder / "signing", "bench/ledger"))
            size = ledger.size
            make_inc, check_inc, make_con, check_con = [], [], [], []
            for _ in range(ROUNDS):
                seq = rng.randint(1, size)
                t0 = time.perf_counter()
                proof = log.prove_inclusion(seq)
                t1 = time.perf_counter()
                merkle.verify_inclusion(
                    proof["leafIdx"], proof["treeSize"], base64.b64decode(proof["leafHash"]),
                    [base64.b64decode(p) for p in proof["proof"]], base64.b64decode(proof["root"]),
                )  # fmt: skip
                t2 = time.perf_counter()
                old = rng.randint(1, size)
                consistency = log.prove_consistency(old)
                t3 = time.perf_counter()
                merkle.verify_consistency(
                    old, size, base64.b64decode(consistency["root1"]),
                    base64.b64decode(consistency["root2"]),
                    [base64.b64decode(p) for p in consistency["proof"]],
                )  # fmt: skip
                t4 = time.perf_counter()
                make_inc.append(t1 - t0)
                check_inc.append(t2 - t1)
                make_con.append(t3 - t2)
                check_con.append(t4 - t3)
    print(f"ledger of {size} events built in {built:.0f} s ({size / built:,.0f} events/s)")
    print(f"inclusion proof:   produce {_median_ms(make_inc)}, verify {_median_ms(check_inc)}")
    print(f"consistency proof: produce {_median_ms(make_con)}, verify {_median_ms(check_con)}")


if __name__ == "__main__":
    main()
