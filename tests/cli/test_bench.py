"""`ledger bench` runs and reports every figure with its baseline (never its speed)."""

from __future__ import annotations

from pathlib import Path

import orjson
from click.testing import CliRunner

from ledger.cli.main import cli

EXPECTED = {
    "batched import": "eventsourcing save, batches of 1000",
    "one event per transaction": "eventsourcing save, one aggregate",
    "verify (chain, tree, seals)": "eventsourcing read back and decode",
    "verify vs hashing floor": "hashlib SHA-256 over the same bytes",
    "verify peak memory (Python heap, one core)": None,
    "verify peak RSS (largest process: verify or a worker)": None,
    "append latency, subject with the longest history": "append latency, a new subject",
    "8 threads, one event per call (group commit)": "each call its own transaction",
    "8 threads, latency median (group commit)": "each call alone (ms)",
    "8 threads, latency p99 (group commit)": "each call alone (ms)",
    "inclusion proof (median)": None,
    "consistency proof (median)": None,
    "projection rebuild": None,
    "as-of inventory query (every subject, all events)": None,
    "findings (every kind, all events)": "as-of inventory (s)",
}


def test_a_small_bench_reports_every_figure_and_its_baseline(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(cli, ["bench", "--events", "300", "--json", str(out)])
    assert result.exit_code == 0, result.output
    runs = orjson.loads(out.read_bytes())
    assert [r["events"] for r in runs] == [300]
    assert "synchronous=FULL" in runs[0]["durability"]
    figures = {f["name"]: f for f in runs[0]["figures"]}
    assert set(figures) == set(EXPECTED)
    for name, baseline in EXPECTED.items():
        assert figures[name]["value"] > 0
        assert figures[name]["baseline_name"] == baseline
        if baseline is not None:
            assert figures[name]["ratio"] == figures[name]["value"] / figures[name]["baseline"]
    for name in EXPECTED:
        assert name in result.stdout
