"""Wrong answers in law, each with its legal expectation worked out by hand (the arithmetic in
a comment), on SQLite and PostgreSQL (the ``ledger`` fixture runs each test on both).

The rules are those of ../shared/EVENTS.md (the event contract) and ../shared/RESEARCH.md
("Law and practice the projections encode"), cited beside each case.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, literal, select
from support import ENGINES, postgres_server
from support import schema1_store as _schema1_store

from ledger import Ledger
from ledger.core.contract import parse_timestamp
from ledger.demo.story import CONFIG_TOML
from ledger.migrate import migrate
from ledger.projections import Projections, inventory
from ledger.projections import facts as fact_tables

DPO = "staff:dpo"
PAYMENTS = {"purpose": "essential.service.payment_processing", "basis": "contract"}
SUPPORT = {"purpose": "essential.service.operations.support", "basis": "contract"}


def _by(items: list[Any], attribute: str) -> dict[str, Any]:
    return {getattr(item, attribute): item for item in items}


def collected(
    subject: str, at: str, categories: list[str], system: str = "crm", **extra: Any
) -> dict[str, Any]:
    return {"type": "collected", "at": at, "actor": "svc:crm", "subject": subject,
            "categories": categories, "system": system, "source": "web form",
            "location": "GB", **SUPPORT, **extra}  # fmt: skip


def shared(subject: str, at: str, categories: list[str], recipient: str) -> dict[str, Any]:
    return {"type": "shared", "at": at, "actor": "svc:billing", "subject": subject,
            "categories": categories, "recipient": recipient, "recipient_location": "GB",
            **PAYMENTS}  # fmt: skip


def erased(
    subject: str, at: str, categories: list[str], reason: str, **extra: Any
) -> dict[str, Any]:
    return {"type": "erased", "at": at, "actor": DPO, "subject": subject,
            "categories": categories, "reason": reason, **extra}  # fmt: skip


def rectified(subject: str, at: str, categories: list[str]) -> dict[str, Any]:
    return {"type": "rectified", "at": at, "actor": DPO, "subject": subject,
            "categories": categories, "system": "crm"}  # fmt: skip


def detected(breach: str, at: str, aware_at: str, **extra: Any) -> dict[str, Any]:
    return {"type": "breach_detected", "at": at, "actor": "staff:secops", "breach": breach,
            "description": "misdirected export", "systems": ["crm"],
            "categories": ["user.contact"], "aware_at": aware_at, **extra}  # fmt: skip


def assessed(breach: str, at: str, risk: str, estimate: int) -> dict[str, Any]:
    return {"type": "breach_assessed", "at": at, "actor": DPO, "breach": breach, "risk": risk,
            "subjects_estimate": estimate}  # fmt: skip


def reported(breach: str, at: str, phase: str = "initial") -> dict[str, Any]:
    return {"type": "breach_reported", "at": at, "actor": DPO, "breach": breach,
            "authority": "ICO", "reference": f"ICO-{breach}-{phase}", "phase": phase}  # fmt: skip


def notified(breach: str, at: str, subjects: list[str]) -> dict[str, Any]:
    return {"type": "subjects_notified", "at": at, "actor": DPO, "breach": breach,
            "subjects": subjects, "channel": "email"}  # fmt: skip


def hours_late(report_at: str, deadline: str) -> timedelta:
    return parse_timestamp(report_at) - parse_timestamp(deadline)


# -- 1. every breach step is judged against the deadline from aware_at, in any order ----------


def test_a_report_before_the_breach_event_is_judged_against_aware_at(ledger: Ledger) -> None:
    # Art. 33(1) / EVENTS.md: deadline = aware_at + 72 h = 1 Nov 09:00Z + 72 h = 4 Nov 09:00Z.
    # The initial report at 4 Nov 12:00Z is 12:00 - 09:00 = 3 hours late, and has no
    # delay_reason: flagged. The breach itself is recorded on 5 Nov, after the report.
    ledger.record_many(
        [
            reported("INC-1", "2026-11-04T12:00:00Z"),
            reported("INC-1", "2026-11-20T12:00:00Z", phase="follow_up"),
            detected("INC-1", "2026-11-05T10:00:00Z", "2026-11-01T09:00:00Z"),
            assessed("INC-1", "2026-11-05T11:00:00Z", "risk", 0),
        ]
    )
    with Projections(ledger) as p:
        breach = p.breaches(as_of="2026-11-30T00:00:00Z")[0]
        assert breach.deadline == "2026-11-04T09:00:00.000000Z"
        initial, follow_up = breach.reports
        assert not initial.on_time
        assert hours_late(initial.at, breach.deadline) == timedelta(hours=3)
        assert follow_up.on_time  # follow-ups are not late by themselves (Art. 33(4))
        assert breach.flags == ["initial report after 72 hours without the reasons for the delay"]
        # before the breach_detected's `at`, the ledger knows only the report: no judgement yet
        early = p.breaches(as_of="2026-11-04T13:00:00Z")[0]
        assert early.deadline is None
        assert early.flags == ["no breach_detected on the ledger (yet)"]


def test_a_corrected_awareness_rejudges_every_report(ledger: Ledger) -> None:
    # INC-2: first recorded aware 2 Nov 09:00Z (deadline 5 Nov 09:00Z, so a report on
    # 4 Nov 12:00Z would be 21 h early), corrected on 6 Nov to aware 1 Nov 09:00Z:
    # deadline 1 Nov 09:00Z + 72 h = 4 Nov 09:00Z, the report is 3 h late.
    # INC-3: the other way: first aware 1 Nov 09:00Z (deadline 4 Nov 09:00Z), corrected to
    # 2 Nov 09:00Z: deadline 5 Nov 09:00Z, the report on 4 Nov 12:00Z is 21 h early: on time.
    # The detections are applied in `at` order, the latest in force (EVENTS.md).
    ledger.record_many(
        [
            detected("INC-2", "2026-11-02T10:00:00Z", "2026-11-02T09:00:00Z"),
            reported("INC-2", "2026-11-04T12:00:00Z"),
            detected("INC-2", "2026-11-06T10:00:00Z", "2026-11-01T09:00:00Z"),
            detected("INC-3", "2026-11-01T10:00:00Z", "2026-11-01T09:00:00Z"),
            reported("INC-3", "2026-11-04T12:00:00Z"),
            detected("INC-3", "2026-11-06T10:00:00Z", "2026-11-02T09:00:00Z"),
        ]
    )
    with Projections(ledger) as p:
        found = _by(p.breaches(as_of="2026-11-30T00:00:00Z"), "breach")
        corrected_earlier, corrected_later = found["INC-2"], found["INC-3"]
        assert corrected_earlier.deadline == "2026-11-04T09:00:00.000000Z"
        assert not corrected_earlier.reports[0].on_time
        assert hours_late(corrected_earlier.reports[0].at, corrected_earlier.deadline) == (
            timedelta(hours=3)
        )
        assert "initial report after 72 hours without the reasons for the delay" in (
            corrected_earlier.flags
        )
        assert corrected_later.deadline == "2026-11-05T09:00:00.000000Z"
        assert corrected_later.reports[0].on_time
        assert hours_late(corrected_later.reports[0].at, corrected_later.deadline) == (
            timedelta(hours=-21)
        )
        # as of 5 Nov, before the corrections, INC-2's report was on time and INC-3's late
        before = _by(p.breaches(as_of="2026-11-05T00:00:00Z"), "breach")
        assert before["INC-2"].reports[0].on_time and not before["INC-3"].reports[0].on_time


# -- 2. an invalid extension is flagged and does not move the legal due date ------------------


def _request(request: str, at: str) -> dict[str, Any]:
    return {"type": "request_received", "at": at, "actor": DPO, "subject": "cust-9",
            "request": request, "kind": "access"}  # fmt: skip


def _extension(request: str, at: str, due: str) -> dict[str, Any]:
    return {"type": "request_extended", "at": at, "actor": DPO, "subject": "cust-9",
            "request": request, "reason": "complex", "due": due}  # fmt: skip


def test_an_invalid_extension_does_not_hide_an_overdue_request(ledger: Ledger) -> None:
    # Each request received Sat 31 Jan 2026, 10:00Z (GMT, so 31 Jan in London).
    # Legal due (Art. 12(3), the ICO's count, RESEARCH.md): 31 Jan + 1 month = 28 Feb (there is
    # no 31 Feb), a Saturday, so the next working day: Mon 2 Mar 2026. The first month ends
    # then. An extension reaches at most 31 Jan + 3 months = 30 Apr (no 31 Apr), a Thursday.
    # Target: 31 Jan + 28 days = 28 Feb. As of 10 Mar, past 2 Mar: overdue unless validly
    # extended.
    ledger.record_many(
        [
            # DSR-A: made in time, but to 1 May, one day beyond 30 Apr: invalid
            _request("DSR-A", "2026-01-31T10:00:00Z"),
            _extension("DSR-A", "2026-02-20T10:00:00Z", "2026-05-01"),
            # DSR-B: to 30 Apr (the limit), but made on 3 Mar, after the month ended: invalid
            _request("DSR-B", "2026-01-31T10:00:00Z"),
            _extension("DSR-B", "2026-03-03T10:00:00Z", "2026-04-30"),
            # DSR-C: to 30 Apr, made on 2 Mar (the first month's last day): valid. Its
            # extension is recorded before its receipt: the order of recording does not matter
            _extension("DSR-C", "2026-03-02T16:00:00Z", "2026-04-30"),
            _request("DSR-C", "2026-01-31T10:00:00Z"),
        ]
    )
    with Projections(ledger) as p:
        clocks = _by(p.requests(as_of="2026-03-10T12:00:00Z"), "request")
        for name in ("DSR-A", "DSR-B", "DSR-C"):
            clock = clocks[name]
            assert (clock.received, clock.legal_due, clock.target) == (
                date(2026, 1, 31),
                date(2026, 3, 2),
                date(2026, 2, 28),
            )
        beyond, late, valid = clocks["DSR-A"], clocks["DSR-B"], clocks["DSR-C"]
        assert (beyond.due, beyond.overdue, beyond.extension_reason) == (
            date(2026, 3, 2),
            True,
            None,
        )
        assert "extended beyond two further months" in beyond.flags
        assert (late.due, late.overdue, late.extension_reason) == (date(2026, 3, 2), True, None)
        assert "extended after the first month had passed" in late.flags
        assert (valid.due, valid.overdue, valid.flags) == (date(2026, 4, 30), False, [])
        # 10 Mar - 2 Mar = 8 days overdue for the two invalid ones; overdue ones come first
        assert [c.request for c in p.requests(open_only=True, as_of="2026-03-10T12:00:00Z")] == [
            "DSR-A",
            "DSR-B",
            "DSR-C",
        ]


def test_an_invalid_extension_leaves_the_earlier_valid_one_in_force(ledger: Ledger) -> None:
    # Received Mon 2 Mar 2026 (GMT): legal due 2 Apr (Thu, a working day: Good Friday is
    # 3 Apr); extensions reach at most 2 Jun (Tue). A valid extension to 1 Jun (made 20 Mar),
    # then one to 30 Jun (beyond 2 Jun): the second is flagged, the due date stays 1 Jun; a
    # request still open on 3 Jun is 3 Jun - 1 Jun = 2 days overdue.
    ledger.record_many(
        [
            _request("DSR-D", "2026-03-02T09:00:00Z"),
            _extension("DSR-D", "2026-03-20T09:00:00Z", "2026-06-01"),
            _extension("DSR-D", "2026-03-25T09:00:00Z", "2026-06-30"),
        ]
    )
    with Projections(ledger) as p:
        clock = p.requests(as_of="2026-06-03T12:00:00Z")[0]
        assert (clock.legal_due, clock.due, clock.overdue) == (
            date(2026, 4, 2),
            date(2026, 6, 1),
            True,
        )
        assert "extended beyond two further months" in clock.flags


# -- 3. a breach at a recipient (a processor) finds the subjects whose data it received ------


def test_a_breach_at_a_processor_finds_the_subjects_shared_with_it(ledger: Ledger) -> None:
    # EVENTS.md: affected are also "those whose such categories were shared with a recipient
    # named in systems before aware_at (and not erased there)". Breach at proc:paycorp of
    # user.financial.credit_card, exposed from 1 May, aware 10 May 09:00Z.
    card = ["user.financial.credit_card"]
    ledger.record_many(
        [
            *(collected(s, "2026-04-01T09:00:00Z", card, "billing") for s in ("c1", "c2", "c3")),
            shared("c1", "2026-04-02T09:00:00Z", card, "proc:paycorp"),
            shared("c2", "2026-04-02T09:00:00Z", card, "proc:paycorp"),
            # shared as the parent category: a breach of a descendant touches it (EVENTS.md)
            shared("c3", "2026-04-02T09:00:00Z", ["user.financial"], "proc:paycorp"),
            # shared after awareness: not exposed
            shared("c4", "2026-05-11T09:00:00Z", card, "proc:paycorp"),
            # shared, then erased at the processor before the exposure began: not exposed
            shared("c5", "2026-04-02T09:00:00Z", card, "proc:paycorp"),
            erased(
                "c5",
                "2026-04-20T09:00:00Z",
                ["user.financial"],
                "processor deleted",
                system="proc:paycorp",
            ),
            # shared with another processor: not exposed
            shared("c6", "2026-04-02T09:00:00Z", card, "proc:other"),
            detected(
                "INC-P",
                "2026-05-10T10:00:00Z",
                "2026-05-10T09:00:00Z",
                systems=["proc:paycorp"],
                categories=card,
                exposed_from="2026-05-01T00:00:00Z",
            ),
            assessed("INC-P", "2026-05-10T12:00:00Z", "high", 3),
            reported("INC-P", "2026-05-11T09:00:00Z"),
            notified("INC-P", "2026-05-11T10:00:00Z", ["c1", "c2", "c3"]),
        ]
    )
    with Projections(ledger) as p:
        breach = p.breaches(as_of="2026-06-01T00:00:00Z")[0]
        assert breach.affected == ["c1", "c2", "c3"]
        assert breach.not_notified == []
        assert breach.flags == []  # 3 derived = 3 estimated = 3 told; reported in 24 h


def test_a_breach_whose_counts_disagree_is_flagged(ledger: Ledger) -> None:
    # High risk, estimated at 2, 2 subjects told, but nobody's data was in `crm`: the ledger's
    # events show 0 affected. Both disagreements are flagged (the estimate 2 against 0, and the
    # 2 told who are not among the 0).
    ledger.record_many(
        [
            collected("c7", "2026-04-01T09:00:00Z", ["user.contact.email"], "helpdesk"),
            detected("INC-Q", "2026-05-10T10:00:00Z", "2026-05-10T09:00:00Z"),
            assessed("INC-Q", "2026-05-10T12:00:00Z", "high", 2),
            reported("INC-Q", "2026-05-11T09:00:00Z"),
            notified("INC-Q", "2026-05-11T10:00:00Z", ["c7", "c8"]),
        ]
    )
    with Projections(ledger) as p:
        breach = p.breaches(as_of="2026-06-01T00:00:00Z")[0]
        assert (breach.affected, breach.not_notified) == ([], [])
        assert breach.flags == [
            "the assessment estimates 2 affected subject(s); the ledger's events show 0",
            "2 subject(s) told who are not among the 0 affected subject(s) the ledger's events "
            "show",
        ]


# -- 4. the taxonomy is a hierarchy wherever categories are matched --------------------------


def test_a_breach_matches_holdings_recorded_under_a_parent_or_a_child(ledger: Ledger) -> None:
    # EVENTS.md: a category covers its descendants, and a breach of a descendant touches a
    # holding recorded under its parent. Breach of user.contact.email in crm, aware 10 May.
    ledger.record_many(
        [
            collected("p1", "2026-04-01T09:00:00Z", ["user.contact"]),  # parent held
            collected("p2", "2026-04-01T09:00:00Z", ["user.contact.email"]),  # equal
            collected("p3", "2026-04-01T09:00:00Z", ["user.contact.phone_number"]),  # sibling
            # the child erased, the parent still held (an erasure covers its descendants only)
            collected("p4", "2026-04-01T09:00:00Z", ["user.contact"]),
            erased("p4", "2026-04-02T09:00:00Z", ["user.contact.email"], "request"),
            # the parent erased: its child holding ended before the exposure
            collected("p5", "2026-04-01T09:00:00Z", ["user.contact.email"]),
            erased("p5", "2026-04-02T09:00:00Z", ["user.contact"], "request"),
            detected(
                "INC-C",
                "2026-05-10T10:00:00Z",
                "2026-05-10T09:00:00Z",
                categories=["user.contact.email"],
            ),
            # the other way: breach of the parent, holding of a child (p2, p3; p1 and p4 equal)
            detected(
                "INC-D", "2026-05-10T10:00:00Z", "2026-05-10T09:00:00Z", categories=["user.contact"]
            ),
        ]
    )
    with Projections(ledger) as p:
        found = _by(p.breaches(as_of="2026-06-01T00:00:00Z"), "breach")
        assert found["INC-C"].affected == ["p1", "p2", "p4"]
        assert found["INC-D"].affected == ["p1", "p2", "p3", "p4"]


def test_art_19_matches_what_was_shared_under_a_parent_or_a_child(ledger: Ledger) -> None:
    # Art. 19 (RESEARCH.md): after rectification or erasure, tell each recipient the data was
    # disclosed to; EVENTS.md: Art. 19 recipients match on overlap.
    ledger.record_many(
        [
            collected("r1", "2026-03-01T09:00:00Z", ["user.contact", "user.name"]),
            shared("r1", "2026-03-02T09:00:00Z", ["user.contact"], "isp:parent"),
            shared("r1", "2026-03-02T09:00:00Z", ["user.contact.email"], "isp:child"),
            shared("r1", "2026-03-02T09:00:00Z", ["user.contact.phone_number"], "isp:sibling"),
            shared("r1", "2026-03-02T09:00:00Z", ["user.name"], "isp:name"),
            # the child rectified: the recipients of the parent and of the child
            rectified("r1", "2026-03-10T09:00:00Z", ["user.contact.email"]),
            shared("r1", "2026-03-11T09:00:00Z", ["user.contact"], "isp:after"),
            # the parent erased: the recipients of it and of each child (isp:after included)
            erased("r1", "2026-03-20T09:00:00Z", ["user.contact"], "request"),
        ]
    )
    with Projections(ledger) as p:
        p.catch_up()
        with p.runner.engine.connect() as conn:
            tell = inventory.must_tell(conn, subject="r1", as_of="2026-04-01T00:00:00.000000Z")
    assert [(t["event"], sorted(t["recipients"])) for t in tell] == [
        ("rectified", ["isp:child", "isp:parent"]),
        ("erased", ["isp:after", "isp:child", "isp:parent", "isp:sibling"]),
    ]


def test_the_subject_report_names_the_parent_categorys_recipient(ledger: Ledger) -> None:
    ledger.record_many(
        [
            collected("r2", "2026-03-01T09:00:00Z", ["user.contact"]),
            shared("r2", "2026-03-02T09:00:00Z", ["user.contact"], "isp:parent"),
            rectified("r2", "2026-03-10T09:00:00Z", ["user.contact.email"]),
        ]
    )
    with Projections(ledger) as p:
        report = p.subject_report("r2", as_of="2026-04-01T00:00:00Z")
        assert [t["recipients"] for t in report.must_tell] == [["isp:parent"]]


def test_inventory_recipients_and_erasures_follow_the_hierarchy(ledger: Ledger) -> None:
    ledger.record_many(
        [
            # a parent shared, a child held: the child's recipients include the parent's
            collected("i1", "2026-03-01T09:00:00Z", ["user.contact.email"]),
            shared("i1", "2026-03-02T09:00:00Z", ["user.contact"], "isp:a"),
            # a child shared, the parent held: the parent's recipients include it
            collected("i2", "2026-03-01T09:00:00Z", ["user.contact"]),
            shared("i2", "2026-03-02T09:00:00Z", ["user.contact.email"], "isp:b"),
            # shared, never collected: listed under its own key as not collected
            shared("i2", "2026-03-02T09:00:00Z", ["user.name"], "isp:c"),
            # the parent erased ends the child's holding; the child erased leaves the parent
            collected("i3", "2026-03-01T09:00:00Z", ["user.contact.email"]),
            collected("i4", "2026-03-01T09:00:00Z", ["user.contact"]),
            erased("i3", "2026-03-05T09:00:00Z", ["user.contact"], "request"),
            erased("i4", "2026-03-05T09:00:00Z", ["user.contact.email"], "request"),
        ]
    )
    with Projections(ledger) as p:
        found = _by(p.inventory(as_of="2026-04-01T00:00:00Z"), "subject")
    i1 = {h.category: h for h in found["i1"].categories}
    assert list(i1) == ["user.contact.email"]
    assert [r.recipient for r in i1["user.contact.email"].recipients] == ["isp:a"]
    i2 = {h.category: h for h in found["i2"].categories}
    assert [(c, h.status, [r.recipient for r in h.recipients]) for c, h in i2.items()] == [
        ("user.contact", "held", ["isp:b"]),
        ("user.name", "not_collected", ["isp:c"]),
    ]
    assert [(h.category, h.status) for h in found["i3"].categories] == [
        ("user.contact.email", "erased")
    ]
    assert [(h.category, h.status) for h in found["i4"].categories] == [("user.contact", "held")]


def test_an_objection_to_a_parent_purpose_stands_on_its_children(ledger: Ledger) -> None:
    # EVENTS.md: consent and objection cover a purpose and its descendants only; Art. 21(3)
    # (RESEARCH.md): an objection to direct marketing is absolute (suppress).
    email = "marketing.communications.email"

    def consent(kind: str, subject: str, at: str, purpose: str) -> dict[str, Any]:
        event = {"type": kind, "at": at, "actor": "svc:web", "subject": subject,
                 "purpose": purpose}  # fmt: skip
        if kind != "objected":
            event["method"] = "web-form"
        if kind == "consent_given":
            event["notice"] = "v3"
        return event

    ledger.record_many(
        [
            # parent objected after the child was given: the child is objected and suppressed
            consent("consent_given", "o1", "2026-03-01T09:00:00Z", email),
            consent("objected", "o1", "2026-03-02T09:00:00Z", "marketing"),
            # child objected after the parent was given: the parent stays given
            consent("consent_given", "o2", "2026-03-01T09:00:00Z", "marketing"),
            consent("objected", "o2", "2026-03-02T09:00:00Z", email),
            # a later consent to the child lifts the parent's objection for the child only
            consent("objected", "o3", "2026-03-01T09:00:00Z", "marketing"),
            consent("consent_given", "o3", "2026-03-02T09:00:00Z", email),
        ]
    )
    with Projections(ledger) as p:
        states = {(s.subject, s.purpose): s for s in p.consent(as_of="2026-04-01T00:00:00Z")}
    assert (states[("o1", email)].state, states[("o1", email)].suppressed) == ("objected", True)
    assert [h["purpose"] for h in states[("o1", email)].history] == [email, "marketing"]
    assert (states[("o1", "marketing")].state, states[("o1", "marketing")].suppressed) == (
        "objected",
        True,
    )
    assert states[("o2", "marketing")].state == "given"
    assert (states[("o2", email)].state, states[("o2", email)].suppressed) == ("objected", True)
    assert (states[("o3", email)].state, states[("o3", email)].notice) == ("given", "v3")
    assert states[("o3", "marketing")].suppressed


@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pairs=st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "*",
                    "user",
                    "user.contact",
                    "user.contact.email",
                    "user.contactx",
                    "user.contact.email.x",
                    "user.name",
                    "user_contact",
                    "user%",
                ]
            ),
            st.sampled_from(
                [
                    "user",
                    "user.contact",
                    "user.contact.email",
                    "user.contactx",
                    "user.contact.email.x",
                    "user.name",
                    "user_contact",
                    "user%c",
                ]
            ),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_the_sql_matching_agrees_with_the_python_matching(
    engine: str, pairs: list[tuple[str, str]]
) -> None:
    # one helper, two spellings: the SQL ones must say what the Python ones say, on both
    # engines (dots, underscores and percent signs are text, not LIKE patterns)
    if engine == "sqlite":
        url = "sqlite://"
    else:
        server = postgres_server()
        if server is None:
            pytest.skip("no PostgreSQL server (set LEDGER_TEST_POSTGRES_URL)")
        url = server.replace("postgresql://", "postgresql+psycopg://", 1)
    sql = create_engine(url)
    try:
        with sql.connect() as conn:
            for one, other in pairs:
                row = conn.execute(
                    select(
                        fact_tables.covers_sql(literal(one), literal(other)),
                        fact_tables.overlaps_sql(one, literal(other)),
                    )
                ).one()
                assert (bool(row[0]), bool(row[1])) == (
                    fact_tables.covers(one, other),
                    fact_tables.overlaps(one, other),
                )
    finally:
        sql.dispose()


# -- 5. the record of processing shows what was recorded, never a guess ---------------------


def test_the_record_of_processing_says_unspecified_where_nothing_was_recorded(
    ledger: Ledger,
) -> None:
    # EVENTS.md: subject_category "when absent the record of processing says `unspecified`,
    # never a guessed value"; an absent retention means "no fixed period".
    ledger.record_many(
        [
            collected("u1", "2026-03-01T09:00:00Z", ["user.name"]),
            collected(
                "u2",
                "2026-03-01T09:00:00Z",
                ["user.name"],
                subject_category="employee",
                retention="P6Y",
            ),
            shared("u1", "2026-03-02T09:00:00Z", ["user.name"], "paycorp"),  # no namespace
            shared("u1", "2026-03-02T09:00:00Z", ["user.name"], "proc:payflow"),
        ]
    )
    with Projections(ledger) as p:
        records = _by(p.ropa(as_of="2026-04-01T00:00:00Z").purposes, "purpose")
    support = records["essential.service.operations.support"]
    assert support.subject_categories == ["employee", "unspecified"]
    assert support.retention == ["P6Y", "no fixed period"]
    payments = records["essential.service.payment_processing"]
    assert payments.recipients == ["paycorp", "proc:payflow"]
    assert payments.recipient_categories == ["proc", "unspecified"]


# -- 6. the organisation's settings in force at each time -------------------------------------


def _settings_file(tmp_path: Path, name: str, replacement: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(CONFIG_TOML.replace('time_zone = "Europe/London"', replacement))
    return path


def test_each_request_runs_under_the_settings_in_force_when_received(
    store: tuple[str, Path], config_path: Path, tmp_path: Path
) -> None:
    # A (demo config): Europe/London, GB-ENG, 28 days; recorded with the first write (now).
    # B: Asia/Tokyo, JP, 21 days; recorded later (now, again). Read under A's configuration.
    url, keys = store
    tokyo = _settings_file(
        tmp_path, "tokyo", 'time_zone = "Asia/Tokyo"\nbank_holidays = "JP"\ntarget_days = 21'
    )
    with Ledger.init(url, keys, config=config_path) as ledger:
        ledger.record(**_request("R-PAST", "2026-01-30T16:00:00Z"))
    with Ledger.open(url, keys, config=tokyo) as ledger:  # valid only while the clock is < 2099
        ledger.record(**_request("R-FUTURE", "2099-06-30T16:00:00Z"))
    with Ledger.open(url, keys, config=config_path) as ledger, Projections(ledger) as p:
        late = _by(p.requests(as_of="2099-08-03T16:00:00Z"), "request")
        early = _by(p.requests(as_of="2099-08-03T14:00:00Z"), "request")
    # R-PAST, received before any record: the ledger's first, A. 30 Jan 16:00Z is 30 Jan in
    # London (GMT); + 1 month = 28 Feb (no 30 Feb), a Saturday: due Mon 2 Mar 2026; target
    # 30 Jan + 28 = 27 Feb. (Under B it would be received 31 Jan 01:00 JST, target 21 Feb.)
    past = late["R-PAST"]
    assert (past.received, past.legal_due, past.target) == (
        date(2026, 1, 30),
        date(2026, 3, 2),
        date(2026, 2, 27),
    )
    # R-FUTURE, received after B was recorded: 30 Jun 16:00Z is 1 Jul 01:00 in Tokyo;
    # + 1 month = 1 Aug 2099, a Saturday: due Mon 3 Aug (Japan's Mountain Day is 11 Aug);
    # target 1 Jul + 21 = 22 Jul. (Under A: received 30 Jun, due Thu 30 Jul, target 28 Jul.)
    future = late["R-FUTURE"]
    assert (future.received, future.legal_due, future.target) == (
        date(2099, 7, 1),
        date(2099, 8, 3),
        date(2099, 7, 22),
    )
    # Today in the zone in force at as_of (Tokyo, UTC+9): 3 Aug 16:00Z is 4 Aug 01:00 JST,
    # past the due date; 14:00Z is 3 Aug 23:00 JST, not yet. (In London both are 3 Aug.)
    assert late["R-FUTURE"].overdue and not early["R-FUTURE"].overdue


def test_an_older_ledger_without_recorded_settings_uses_the_configuration(
    store_url: str, tmp_path: Path
) -> None:
    # The schema-1 store (tests/fixtures/schema1: the demo story, written before settings
    # were recorded): its vocabulary record carries no settings. Written once more under B
    # (Tokyo, JP, 21 days), then read under C (London, GB-ENG, 14 days).
    url, keys = _schema1_store(store_url, tmp_path)
    migrate(url, keys)
    tokyo = _settings_file(
        tmp_path, "tokyo", 'time_zone = "Asia/Tokyo"\nbank_holidays = "JP"\ntarget_days = 21'
    )
    fortnight = _settings_file(tmp_path, "c", 'time_zone = "Europe/London"\ntarget_days = 14')
    with Ledger.open(url, keys, config=tokyo) as ledger:
        ledger.record(**_request("R-FUTURE", "2099-06-30T16:00:00Z"))
    with Ledger.open(url, keys, config=fortnight) as ledger, Projections(ledger) as p:
        clocks = _by(p.requests(as_of="2099-08-03T16:00:00Z"), "request")
    # DSR-2026-001, received 16 Mar 2026 09:00Z, under the old record: the configuration (C).
    # 16 Mar in London; + 1 month = Thu 16 Apr 2026; target 16 Mar + 14 = 30 Mar.
    old = clocks["DSR-2026-001"]
    assert (old.received, old.legal_due, old.target) == (
        date(2026, 3, 16),
        date(2026, 4, 16),
        date(2026, 3, 30),
    )
    # R-FUTURE under B, as recorded: received 1 Jul 2099 (Tokyo), target 1 Jul + 21 = 22 Jul
    assert (clocks["R-FUTURE"].received, clocks["R-FUTURE"].target) == (
        date(2099, 7, 1),
        date(2099, 7, 22),
    )
