"""Property-based tests over generated valid event sequences, on real SQLite files."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import ENGINES, fresh_store

from ledger import Ledger

SUBJECTS = [f"cust-{n}" for n in range(1, 6)]
CATEGORIES = [
    "user.name",
    "user.contact.email",
    "user.contact.phone_number",
    "user.contact.address",
    "user.content.private",
    "user.financial.credit_card",
]
ERASABLE = [*CATEGORIES, "user.contact", "user.financial", "*"]
PURPOSE = "essential.service.operations.support"

values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def event(draw: st.DrawFn) -> dict[str, Any]:
    subject = draw(st.sampled_from(SUBJECTS))
    at = f"2026-0{draw(st.integers(1, 9))}-1{draw(st.integers(0, 9))}T10:00:00+01:00"
    kind = draw(st.sampled_from(["collected", "collected", "rectified", "erased", "accessed"]))
    base = {"at": at, "actor": "svc:test", "subject": subject}
    if kind == "erased":
        wanted = draw(st.sampled_from(ERASABLE))
        return {**base, "type": "erased", "categories": [wanted], "reason": "request"}
    categories = draw(st.lists(st.sampled_from(CATEGORIES), min_size=1, max_size=3, unique=True))
    if kind == "accessed":
        return {
            **base,
            "type": "accessed",
            "categories": categories,
            "purpose": PURPOSE,
            "system": "crm",
        }
    data = {c: draw(values) for c in categories}
    if kind == "rectified":
        return {
            **base,
            "type": "rectified",
            "categories": categories,
            "system": "crm",
            "data": data,
        }
    return {
        **base,
        "type": "collected",
        "categories": categories,
        "purpose": PURPOSE,
        "basis": "contract",
        "source": "form",
        "system": "crm",
        "location": "GB",
        "data": data,
    }


def _covers(wanted: str, category: str) -> bool:
    return wanted == "*" or category == wanted or category.startswith(wanted + ".")


def _expected(events: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
    """For each event, the values a decrypting read should show at the end (a model of keys)."""
    counter = itertools.count()
    live: dict[tuple[str, str], int] = {}  # (subject, category) -> generation of its data key
    written: list[list[tuple[tuple[str, str], int, Any]]] = []
    for e in events:
        if e["type"] == "erased":
            for slot in list(live):
                if slot[0] == e["subject"] and _covers(e["categories"][0], slot[1]):
                    del live[slot]
        slots = []
        for category, value in e.get("data", {}).items():
            slot = (e["subject"], category)
            if slot not in live:
                live[slot] = next(counter)
            slots.append((slot, live[slot], value))
        written.append(slots)
    return [
        {slot[1]: value for slot, gen, value in slots if live.get(slot) == gen} or None
        for slots in written
    ]


@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=st.lists(st.lists(event(), min_size=1, max_size=8), min_size=1, max_size=5))
def test_any_valid_sequence_chains_verifies_and_reads_back_as_the_model_says(
    engine: str, batches: list[list[dict[str, Any]]]
) -> None:
    with fresh_store(engine) as (url, keys), Ledger.init(url, keys) as ledger:
        receipts = [r for batch in batches for r in ledger.record_many(batch)]
        sequences = [r.sequence for r in receipts]
        assert sequences == list(range(2, len(sequences) + 2))  # 1 is the vocabulary
        report = ledger.verify()
        assert report.intact and report.size == len(sequences) + 1
        events = [e for batch in batches for e in batch]
        stop = ledger.size
        rows = [
            r
            for r in ledger.export(
                decrypt=True, actor="staff:auditor", purpose="essential.legal_obligation"
            )
            if r["sequence"] <= stop
        ][1:]
        assert len(rows) == len(events)
        for row, sent, expected in zip(rows, events, _expected(events), strict=True):
            assert row["type"] == sent["type"] and row["subject"] == sent["subject"]
            assert row.get("data") == expected
            if "data" in sent:
                hidden = set(sent["data"]) - set(expected or {})
                assert set(row.get("data_erased", [])) == hidden
        assert ledger.verify().intact  # the recorded accesses chain too
