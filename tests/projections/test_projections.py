"""Projections against hand-computed expectations on the seed company's story, plus late
events, an erasure before a breach, an extended request and a late breach report."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from support import ENGINES, fresh_store

from ledger import Ledger
from ledger.core.canonical import utc_timestamp
from ledger.core.contract import parse_timestamp
from ledger.demo.workload import generate
from ledger.projections import Projections
from ledger.projections import facts as fact_tables
from ledger.projections.ropa import Transfer

HELPDESK = {"purpose": "essential.service.operations.support", "basis": "contract",
            "source": "support mailbox", "location": "GB"}  # fmt: skip
EXTRA: list[dict[str, Any]] = [
    # held in the breached system, but erased before the exposure began: not affected
    {
        "type": "collected",
        "at": "2026-01-10T10:00:00Z",
        "actor": "svc:helpdesk",
        "subject": "cust-1005",
        "categories": ["user.content.private"],
        "system": "helpdesk",
        **HELPDESK,
        "data": {"user.content.private": "ticket 1"},
    },
    {
        "type": "erased",
        "at": "2026-04-01T10:00:00Z",
        "actor": "staff:dpo",
        "subject": "cust-1005",
        "categories": ["*"],
        "reason": "erasure request",
    },
    # held in another system only: not affected
    {
        "type": "collected",
        "at": "2026-04-06T20:00:00Z",
        "actor": "svc:crm",
        "subject": "cust-1007",
        "categories": ["user.contact.email"],
        "system": "crm",
        **HELPDESK,
    },
    # a second breach, assessed as a risk, never reported
    {
        "type": "breach_detected",
        "at": "2026-06-01T09:00:00Z",
        "actor": "staff:secops",
        "breach": "INC-2026-002",
        "description": "lost laptop",
        "systems": ["crm"],
        "categories": ["user.contact"],
    },
    {
        "type": "breach_assessed",
        "at": "2026-06-01T12:00:00Z",
        "actor": "staff:dpo",
        "breach": "INC-2026-002",
        "risk": "risk",
        "subjects_estimate": 3,
    },
    # a request left open, and one extended too far
    {
        "type": "request_received",
        "at": "2026-06-01T09:00:00+01:00",
        "actor": "staff:dpo",
        "subject": "cust-1003",
        "request": "DSR-2026-003",
        "kind": "access",
    },
    {
        "type": "request_received",
        "at": "2026-06-01T10:00:00Z",
        "actor": "staff:dpo",
        "subject": "cust-1001",
        "request": "DSR-2026-004",
        "kind": "portability",
    },
    {
        "type": "request_extended",
        "at": "2026-06-10T10:00:00Z",
        "actor": "staff:dpo",
        "subject": "cust-1001",
        "request": "DSR-2026-004",
        "reason": "volume",
        "due": "2026-09-15",
    },
    # arrives last, but happened inside the first breach's exposure window: affected
    {
        "type": "collected",
        "at": "2026-04-06T20:00:00Z",
        "actor": "svc:helpdesk",
        "subject": "cust-1006",
        "categories": ["user.contact.email"],
        "system": "helpdesk",
        **HELPDESK,
    },
]


@pytest.fixture
def projections(ledger: Ledger, story: list[dict[str, Any]]) -> Projections:
    ledger.record_many(story)
    ledger.record_many(EXTRA)
    with Projections(ledger) as opened:
        yield opened  # type: ignore[misc]


def _by(items: list[Any], attribute: str) -> dict[str, Any]:
    return {getattr(item, attribute): item for item in items}


def test_inventory_shows_erased_subjects_as_erased_and_past_retention(
    projections: Projections,
) -> None:
    found = _by(projections.inventory(as_of="2026-06-30T00:00:00Z"), "subject")
    assert found["cust-1004"].status == "erased"
    assert {h.status for h in found["cust-1004"].categories} == {"erased"}
    assert found["cust-1004"].categories[0].erased_at == "2026-03-24T15:00:00.000000Z"
    mine = _by(found["cust-1001"].categories, "category")
    assert mine["user.content.private"].status == "past_retention"  # P90D from 3 February
    assert [p.system for p in mine["user.content.private"].places] == ["telephony"]
    assert mine["user.contact.address"].recipients[0].recipient == "isp:fibrelink"
    cards = _by(found["cust-1002"].categories, "category")["user.financial.credit_card"]
    assert (cards.recipients[0].country, cards.recipients[0].transfer) == ("US", "dpf")


def test_inventory_as_of_before_the_erasure_shows_the_data_held(projections: Projections) -> None:
    before = projections.inventory(subject="cust-1004", as_of="2026-03-01T00:00:00Z")[0]
    assert before.status == "held"
    assert [(h.category, h.status) for h in before.categories] == [
        ("user.contact.email", "held"),
        ("user.name", "held"),
    ]
    assert projections.inventory(subject="cust-1004", as_of="2026-01-01T00:00:00Z") == []


def test_consent_applies_events_in_at_order_whatever_the_recording_order(
    projections: Projections,
) -> None:
    states = {(s.subject, s.purpose): s for s in projections.consent()}
    email = "marketing.communications.email"
    late = states[("cust-1002", email)]
    assert late.state == "withdrawn"  # the 10:00 grant was recorded after the 11:00 withdrawal
    assert [h["event"] for h in late.history] == ["consent_given", "consent_withdrawn"]
    objected = states[("cust-1003", email)]
    assert objected.state == "objected" and objected.suppressed
    assert objected.notice == "privacy-notice-v3" and objected.given_at.startswith("2026-03-04")
    earlier = {(s.subject, s.purpose): s for s in projections.consent(as_of="2026-03-05T00:00:00Z")}
    assert earlier[("cust-1003", email)].state == "given"
    assert ("cust-1002", email) not in earlier


def test_a_withdrawal_does_not_lift_an_objection_but_a_new_consent_does(ledger: Ledger) -> None:
    base = {"actor": "svc:web", "subject": "cust-1", "purpose": "marketing.communications.email"}
    ledger.record_many(
        [
            {**base, "type": "objected", "at": "2026-01-01T00:00:00Z"},
            {**base, "type": "consent_withdrawn", "at": "2026-01-02T00:00:00Z", "method": "form"},
        ]
    )
    with Projections(ledger) as p:
        assert p.consent()[0].state == "objected"
        ledger.record(
            **base, type="consent_given", at="2026-01-03T00:00:00Z", method="form", notice="v4"
        )
        state = p.consent()[0]
        assert (state.state, state.suppressed, state.notice) == ("given", False, "v4")


def test_request_clocks(projections: Projections) -> None:
    clocks = _by(projections.requests(as_of="2026-07-03T12:00:00Z"), "request")
    extended = clocks["DSR-2026-001"]
    assert (extended.received, extended.legal_due, extended.target, extended.due) == (
        date(2026, 3, 16),
        date(2026, 4, 16),
        date(2026, 4, 13),
        date(2026, 6, 16),
    )
    assert extended.status == "fulfilled" and not extended.flags
    assert clocks["DSR-2026-003"].due == date(2026, 7, 1)  # received 1 June, London time
    assert clocks["DSR-2026-003"].overdue
    assert "extended beyond two further months" in clocks["DSR-2026-004"].flags
    still_open = projections.requests(open_only=True, as_of="2026-07-03T12:00:00Z")
    assert still_open[0].request == "DSR-2026-003"  # overdue first
    earlier = _by(projections.requests(as_of="2026-04-10T00:00:00Z"), "request")
    assert earlier["DSR-2026-001"].status == "open" and not earlier["DSR-2026-001"].overdue
    assert "DSR-2026-003" not in earlier


def test_breach_timeline_affected_subjects_and_flags(projections: Projections) -> None:
    timelines = _by(projections.breaches(), "breach")
    first = timelines["INC-2026-001"]
    assert first.aware_at == "2026-04-07T08:15:00.000000Z"
    assert first.deadline == "2026-04-10T08:15:00.000000Z"
    initial = first.reports[0]
    assert (initial.phase, initial.on_time, bool(initial.delay_reason)) == ("initial", False, True)
    assert first.reports[1].on_time  # a final report is not late by itself
    assert first.affected == ["cust-1002", "cust-1006"]
    assert first.not_notified == ["cust-1006"]
    assert first.flags == [
        "high risk: 1 affected subject(s) not yet told",
        # assessed at 1 subject; the events show 2 (cust-1006's collection arrived late)
        "the assessment estimates 1 affected subject(s); the ledger's events show 2",
    ]
    second = timelines["INC-2026-002"]
    assert "no initial report" in second.flags[0]
    early = _by(projections.breaches(as_of="2026-06-02T00:00:00Z"), "breach")["INC-2026-002"]
    # not yet 72 hours; assessed at 3, but 4 held user.contact* in crm: cust-1001..1003, 1007
    assert early.flags == [
        "the assessment estimates 3 affected subject(s); the ledger's events show 4"
    ]


def test_breach_as_of_an_earlier_moment(projections: Projections) -> None:
    early = projections.breaches(breach="INC-2026-001", as_of="2026-04-07T10:00:00Z")[0]
    assert early.risk is None and early.reports == [] and early.flags == []
    assert early.affected == ["cust-1002", "cust-1006"]
    assert projections.breaches(as_of="2026-04-07T08:00:00Z") == []  # detected at 08:30


def test_record_of_processing(projections: Projections) -> None:
    records = _by(projections.ropa().purposes, "purpose")
    payments = records["essential.service.payment_processing"]
    assert payments.transfers == [Transfer("recipient", "US", "proc:payflow-us", "dpf", "dpf")]
    assert payments.lawful_bases == ["contract"] and payments.retention == ["P6Y"]
    assert records["essential.service"].subject_categories == ["trainee"]
    assert "telephony (IE)" in records["essential.service.operations.support"].systems
    csv_text = projections.ropa_csv()
    assert csv_text.splitlines()[0].startswith("part,controller,processor,controller_contact")
    assert "30(1),Northgate IT Services Ltd,," in csv_text


def test_subject_report_names_whom_to_tell_and_decrypts_only_when_asked(
    projections: Projections,
) -> None:
    report = projections.subject_report("cust-1004")
    assert report.inventory is not None and report.inventory.status == "erased"
    assert report.must_tell[0]["recipients"] == ["sup:skills-academy"]
    assert report.values is None
    size = projections.ledger.size
    opened = projections.subject_report(
        "cust-1002", decrypt=True, actor="staff:dpo", purpose="essential.legal_obligation"
    )
    assert any(v.get("data", {}).get("user.name") == "Tom Reilly" for v in opened.values or [])
    assert projections.ledger.size == size + 1  # the read was recorded first


def test_history_filters(projections: Projections) -> None:
    mine = projections.history(subject="cust-1002")
    assert "subjects_notified" in [e["type"] for e in mine]
    assert all("data" not in e for e in mine)
    jsmith = projections.history(actor="staff:jsmith")
    assert [e["type"] for e in jsmith] == ["accessed"]
    contact = projections.history(category="user.contact", types=["breach_detected"])
    assert [e["breach"] for e in contact] == ["INC-2026-001", "INC-2026-010", "INC-2026-002"]
    window = projections.history(since="2026-04-07T00:00:00Z", until="2026-04-08T00:00:00Z")
    assert {e["type"] for e in window} == {"breach_detected", "breach_assessed"}


def _tables(p: Projections) -> dict[str, list[tuple[Any, ...]]]:
    with p.runner.engine.connect() as conn:
        return {
            t.name: sorted(tuple(r) for r in conn.execute(select(t)))
            for t in fact_tables.FACT_TABLES
        }


@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    size=st.integers(1, 150),
    cuts=st.lists(st.integers(1, 149), max_size=6),
)
def test_incremental_and_rebuilt_projections_are_identical(
    engine: str, seed: int, size: int, cuts: list[int]
) -> None:
    events = list(generate(size, seed=seed, subjects=12))
    random.Random(seed).shuffle(events)  # late arrivals everywhere
    bounds = sorted({0, size, *(c for c in cuts if c < size)})
    with (
        fresh_store(engine) as (url, keys),
        Ledger.init(url, keys) as ledger,
        Projections(ledger) as p,
    ):
        for start, end in itertools.pairwise(bounds):
            ledger.record_many(events[start:end])
            p.catch_up()
        assert p.catch_up() == 0  # exactly once: nothing is applied twice
        incremental = _tables(p)
        views = (p.inventory(), p.consent(), p.requests(), p.breaches(), p.ropa())
        assert p.rebuild() == ledger.size
        assert _tables(p) == incremental
        assert (p.inventory(), p.consent(), p.requests(), p.breaches(), p.ropa()) == views


def test_a_read_only_connection_answers_from_its_own_tables(
    store: tuple[str, Path], ledger: Ledger, story: list[dict[str, Any]], config_path: Path
) -> None:
    ledger.record_many(story)
    url, keys = store
    with (
        Ledger.open(url, keys, config=config_path, read_only=True) as reader,
        Projections(reader) as p,
    ):
        assert p.status().behind == reader.size  # nothing shared was written
        assert _by(p.inventory(), "subject")["cust-1004"].status == "erased"
        assert p.status().behind == 0
        ledger.record(type="objected", actor="svc:web", subject="cust-1001",
                      purpose="marketing.communications.email")  # fmt: skip
        states = {(s.subject, s.purpose): s.state for s in p.consent()}
        assert states[("cust-1001", "marketing.communications.email")] == "objected"
    with Projections(ledger) as shared:
        assert shared.status().position == 0  # the reader never touched the shared tables


@given(
    moment=st.datetimes(
        min_value=datetime(1971, 1, 1),
        max_value=datetime(9998, 12, 31),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
        ),
    ),
    separator=st.sampled_from(["T", "t", " "]),
    zulu=st.sampled_from(["Z", "z", "+00:00"]),
)
def test_the_fast_time_parser_agrees_with_the_contracts(
    moment: datetime, separator: str, zulu: str
) -> None:
    text = moment.isoformat(sep=separator)
    if text.endswith("+00:00"):
        text = text[:-6] + zulu
    assert fact_tables.utc(text) == utc_timestamp(parse_timestamp(text))
