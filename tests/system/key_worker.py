"""A long-running writer for the key tests, run as a subprocess (not a test module).

    python tests/system/key_worker.py URL KEYS CONFIG TAG COUNT

Opens the ledger once (as a service would) and records COUNT collections, one call each,
for subjects ``TAG-0`` .. ``TAG-{COUNT-1}``, each with one value ``value of TAG-I``; keys
may be rotated or subjects erased by other processes meanwhile. Prints ``ready`` once
open, then ``done N`` (exit 0), or ``error CLASS: MESSAGE`` (exit 2).
"""

from __future__ import annotations

import sys

from ledger import Ledger
from ledger.demo.workload import name_collected
from ledger.errors import LedgerError


def main() -> None:
    url, keys, config, tag, count = sys.argv[1:6]
    with Ledger.open(url, keys, config=config or None) as ledger:
        print("ready", flush=True)
        try:
            for index in range(int(count)):
                subject = f"{tag}-{index}"
                ledger.record_many(
                    [name_collected(subject, f"value of {subject}", retention="P2Y")]
                )
        except LedgerError as exc:
            print(f"error {type(exc).__name__}: {exc}", flush=True)
            sys.exit(2)
    print(f"done {count}", flush=True)


if __name__ == "__main__":
    main()
