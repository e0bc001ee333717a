"""A writer for the crash and fault tests, run as a subprocess (not a test module).

    python tests/system/crash_worker.py MODE URL KEYS CONFIG TAG SEED COUNT [FSIZE]

CONFIG may be empty (the default configuration).

MODE ``many`` records COUNT generated events in ``record_many`` batches of random sizes;
MODE ``single`` records them one ``record`` call at a time; MODE ``threads`` does the same
from THREADS threads sharing one ``Ledger`` (group commit), thread T recording the events
whose number is T modulo THREADS, in order. Every event gets an ``id``
naming the run (TAG), and in ``many`` mode its batch and the batch's size, so a test can
tell from the store alone whether a batch is whole: ``TAG-bB-nN-eI`` or ``TAG-sI``.

Protocol on stdout, one flushed line each (a pipe keeps what was flushed when the
process is killed):

    ready                       the ledger is open; writing starts now
    batch B N FIRST LAST        record_many of batch B (N events) returned
    single I SEQUENCE           record of event I returned, at SEQUENCE
    error CLASS: MESSAGE        a LedgerError stopped the run (exit status 2)
    done                        every event was recorded (exit status 0)

With FSIZE, the file size limit (RLIMIT_FSIZE) is set to FSIZE bytes after start-up and
SIGXFSZ is ignored, so writes past it fail with EFBIG, as on a full disk.
"""

from __future__ import annotations

import random
import resource
import signal
import sys
import threading
from typing import Any

from ledger import Ledger
from ledger.demo.workload import generate
from ledger.errors import LedgerError

MAX_BATCH = 400
THREADS = 4
_SAYING = threading.Lock()


def _say(line: str) -> None:
    with _SAYING:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def batches(tag: str, seed: int, count: int) -> list[list[dict[str, Any]]]:
    """The events of a ``many`` run, cut into batches of random sizes, ids assigned."""
    rng = random.Random(f"batches-{seed}")
    events = list(generate(count, seed=seed))
    cut: list[list[dict[str, Any]]] = []
    start = 0
    while start < len(events):
        size = rng.randint(1, MAX_BATCH)
        cut.append(events[start : start + size])
        start += size
    for b, batch in enumerate(cut):
        for i, event in enumerate(batch):
            event["id"] = f"{tag}-b{b}-n{len(batch)}-e{i}"
    return cut


def singles(tag: str, seed: int, count: int) -> list[dict[str, Any]]:
    """The events of a ``single`` run, ids assigned."""
    events = list(generate(count, seed=seed))
    for i, event in enumerate(events):
        event["id"] = f"{tag}-s{i}"
    return events


def main(argv: list[str]) -> int:
    mode, url, keys, config, tag, seed_text, count_text = argv[:7]
    seed, count = int(seed_text), int(count_text)
    work: list[Any] = batches(tag, seed, count) if mode == "many" else singles(tag, seed, count)
    if len(argv) > 7:
        limit = int(argv[7])
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    try:
        with Ledger.open(url, keys, config=config or None) as ledger:
            _say("ready")
            if mode == "many":
                for b, batch in enumerate(work):
                    receipts = ledger.record_many(batch)
                    _say(f"batch {b} {len(batch)} {receipts[0].sequence} {receipts[-1].sequence}")
            elif mode == "threads":
                _threads(ledger, work)
            else:
                for i, event in enumerate(work):
                    fields = dict(event)
                    receipt = ledger.record(fields.pop("type"), **fields)
                    _say(f"single {i} {receipt.sequence}")
    except LedgerError as exc:
        _say(f"error {type(exc).__name__}: {exc}")
        return 2
    _say("done")
    return 0


def _threads(ledger: Ledger, work: list[dict[str, Any]]) -> None:
    """Record *work* from THREADS threads at once, one event a call; the first LedgerError
    of any thread is raised once they have all stopped."""
    failures: list[LedgerError] = []

    def write(thread: int) -> None:
        try:
            for i in range(thread, len(work), THREADS):
                fields = dict(work[i])
                receipt = ledger.record(fields.pop("type"), **fields)
                _say(f"single {i} {receipt.sequence}")
        except LedgerError as exc:
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
