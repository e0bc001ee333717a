"""Writers in several processes build one gap-free, valid chain and tree (SQLite, PostgreSQL)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from ledger import Ledger
from ledger.demo.workload import name_collected
from ledger.errors import PurgePending

PER_WRITER = 1000
WRITERS = 4


def _write(url: str, keys: str, writer: int) -> None:
    with Ledger.open(url, keys) as ledger:
        for n in range(PER_WRITER):
            subject = f"cust-{writer}-{n % 7}"
            if n % 5 == 0:  # most events go in batches, as services send them
                ledger.record_many(
                    [{"type": "accessed", "actor": f"svc:w{writer}", "subject": subject,
                      "categories": ["user.name"], "purpose": "essential.service",
                      "system": "crm", "id": f"w{writer}-{n}-a{k}"} for k in range(4)]
                )  # fmt: skip
            if n % 25 == 24:
                try:
                    ledger.record(
                        "erased",
                        actor=f"svc:w{writer}",
                        subject=subject,
                        categories=["*"],
                        reason="request",
                    )
                except PurgePending as pending:
                    # Another writer's open transaction can hold up the clean-up (PostgreSQL
                    # keeps deleted rows while an older snapshot may see them): the erasure is
                    # recorded, and the purge is finished later (checked at the end).
                    assert len(pending.receipts) == 1
                continue
            event = name_collected(
                subject,
                f"name {n}",
                actor=f"svc:w{writer}",
                purpose="essential.service",
                system="crm",
                source="form",
                id=f"w{writer}-{n}",
            )
            ledger.record_many([event])


def test_concurrent_writer_processes_build_one_valid_chain(store_url: str, tmp_path: Path) -> None:
    url, keys = store_url, str(tmp_path / "keys")
    Ledger.init(url, keys).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write, args=(url, keys, w)) for w in range(WRITERS)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(600)  # a bound on a hung writer, not a speed limit (CI machines are loaded)
        if proc.is_alive():
            proc.kill()
        assert proc.exitcode == 0
    with Ledger.open(url, keys) as ledger:
        report = ledger.verify()
        assert report.intact, report
        rows = list(ledger.export())
        assert [r["sequence"] for r in rows] == list(range(1, len(rows) + 1))
        ids = [r["id"] for r in rows if "id" in r]
        expected = {f"w{w}-{n}" for w in range(WRITERS) for n in range(PER_WRITER) if n % 25 != 24}
        expected |= {f"w{w}-{n}-a{k}" for w in range(WRITERS) for n in range(0, PER_WRITER, 5)
                     for k in range(4)}  # fmt: skip
        assert sorted(ids) == sorted(expected)  # every event present, exactly once
        assert sum(1 for r in rows if r["type"] == "ledger.vocabulary") == 1
        # values written after a concurrent erasure are still readable with the keys
        read = ledger.read("cust-0-0", actor="staff:dpo", purpose="essential.legal_obligation")
        assert read[-1]["type"] in {"collected", "erased"}
        # with the writers gone, whatever purge they left pending finishes
        assert ledger.finish_purges() == []
        assert ledger.status().pending == []
