"""Subjects' rights beyond access, as UK law stands in 2026, each expectation worked out by hand
(the arithmetic in a comment), on SQLite and PostgreSQL (the ``ledger`` fixture runs each test
on both), and through the CLI: restriction (UK GDPR Art. 18), telling recipients (Art. 19),
complaints (DPA 2018 s.164A, inserted by the Data (Use and Access) Act 2025 s.103), and each
copy's retention.

The rules are those of ../shared/EVENTS.md ("Additions for UK law as of 2026") and
docs/law/subjects.md, which cites the sources.
"""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import ENGINES, fresh_store

from ledger import Ledger
from ledger.cli.main import cli
from ledger.core.contract import COMPLAINT_DUTIES_FROM
from ledger.demo.story import CONFIG_TOML
from ledger.projections import Projections

DPO = "staff:dpo"
SUPPORT = {"purpose": "essential.service.operations.support", "basis": "contract"}
LATER = "2026-12-31T00:00:00Z"


def _by(items: list[Any], attribute: str) -> dict[str, Any]:
    return {getattr(item, attribute): item for item in items}


def collected(
    subject: str, at: str, categories: list[str], system: str = "crm", **extra: Any
) -> dict[str, Any]:
    return {"type": "collected", "at": at, "actor": "svc:crm", "subject": subject,
            "categories": categories, "system": system, "source": "web form",
            "location": "GB", **SUPPORT, **extra}  # fmt: skip


def shared(subject: str, at: str, categories: list[str], recipient: str) -> dict[str, Any]:
    return {"type": "shared", "at": at, "actor": "svc:crm", "subject": subject,
            "categories": categories, "recipient": recipient, "recipient_location": "GB",
            **SUPPORT}  # fmt: skip


def restricted(
    subject: str, at: str, categories: list[str], ground: str = "accuracy_contested",
    system: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    event = {"type": "restricted", "at": at, "actor": DPO, "subject": subject,
             "categories": categories, "ground": ground}  # fmt: skip
    return {**event, "system": system} if system else event


def lifted(
    subject: str, at: str, categories: list[str], system: str | None = None
) -> dict[str, Any]:
    event = {"type": "restriction_lifted", "at": at, "actor": DPO, "subject": subject,
             "categories": categories}  # fmt: skip
    return {**event, "system": system} if system else event


def rectified(subject: str, at: str, categories: list[str]) -> dict[str, Any]:
    return {"type": "rectified", "at": at, "actor": DPO, "subject": subject,
            "categories": categories, "system": "crm"}  # fmt: skip


def erased(subject: str, at: str, categories: list[str]) -> dict[str, Any]:
    return {"type": "erased", "at": at, "actor": DPO, "subject": subject,
            "categories": categories, "reason": "erasure request"}  # fmt: skip


def notified(
    subject: str, at: str, recipient: str, categories: list[str], change: str
) -> dict[str, Any]:
    return {"type": "recipients_notified", "at": at, "actor": DPO, "subject": subject,
            "recipient": recipient, "categories": categories, "change": change}  # fmt: skip


def received(complaint: str, at: str, subject: str | None = "c1") -> dict[str, Any]:
    event = {"type": "complaint_received", "at": at, "actor": DPO, "complaint": complaint,
             "channel": "email"}  # fmt: skip
    return {**event, "subject": subject} if subject else event


def acknowledged(complaint: str, at: str) -> dict[str, Any]:
    return {"type": "complaint_acknowledged", "at": at, "actor": DPO, "complaint": complaint}


def closed(complaint: str, at: str) -> dict[str, Any]:
    return {"type": "complaint_closed", "at": at, "actor": DPO, "complaint": complaint,
            "summary": "explained the retention period; no change"}  # fmt: skip


def _holding(p: Projections, subject: str, category: str, as_of: str = LATER) -> Any:
    return _by(p.inventory(subject=subject, as_of=as_of)[0].categories, "category")[category]


def _places(holding: Any) -> dict[str, bool]:
    return {place.system: place.restricted for place in holding.places}


# -- restriction (Art. 18) -----------------------------------------------------------------------


def test_a_restriction_without_a_system_applies_everywhere_and_lifts_per_system(
    ledger: Ledger,
) -> None:
    """UK GDPR Art. 18(1)(a) and 18(2): while the accuracy is contested, the data is only
    stored. EVENTS.md: a system-less ``restricted`` applies everywhere; ``restriction_lifted``
    with a system lifts it there only, without one everywhere."""
    ledger.record_many([
        collected("s1", "2026-03-01T09:00:00Z", ["user.contact.email"], "crm"),
        collected("s1", "2026-03-01T09:00:00Z", ["user.contact.email"], "backup"),
        restricted("s1", "2026-03-05T09:00:00Z", ["user.contact"]),
        lifted("s1", "2026-03-10T09:00:00Z", ["user.contact.email"], system="crm"),
        lifted("s1", "2026-03-20T09:00:00Z", ["user.contact"]),
    ])  # fmt: skip
    with Projections(ledger) as p:
        before = _holding(p, "s1", "user.contact.email", "2026-03-05T08:59:59Z")
        assert before.restricted == [] and _places(before) == {"crm": False, "backup": False}
        everywhere = _holding(p, "s1", "user.contact.email", "2026-03-06T00:00:00Z")
        [r] = everywhere.restricted
        assert (r.category, r.ground, r.since, r.system, r.lifted_in) == (
            "user.contact",
            "accuracy_contested",
            "2026-03-05T09:00:00.000000Z",
            None,
            [],
        )
        assert _places(everywhere) == {"crm": True, "backup": True}
        # lifted in crm only: the backup copy stays restricted
        partly = _holding(p, "s1", "user.contact.email", "2026-03-11T00:00:00Z")
        assert [x.lifted_in for x in partly.restricted] == [["crm"]]
        assert _places(partly) == {"crm": False, "backup": True}
        ended = _holding(p, "s1", "user.contact.email", "2026-03-21T00:00:00Z")
        assert ended.restricted == [] and _places(ended) == {"crm": False, "backup": False}
        assert ended.status == "held"  # a restriction never changes what is held


def test_a_restriction_in_one_system_is_there_only_and_lifting_elsewhere_leaves_it(
    ledger: Ledger,
) -> None:
    """UK GDPR Art. 18(1)(c): kept for the subject's legal claims, in the helpdesk only;
    a lift in another system does not end it (EVENTS.md, ``system``?)."""
    ledger.record_many([
        collected("s2", "2026-03-01T09:00:00Z", ["user.content.private"], "helpdesk"),
        collected("s2", "2026-03-01T09:00:00Z", ["user.content.private"], "archive"),
        restricted("s2", "2026-03-05T09:00:00Z", ["user.content"], "legal_claims", "helpdesk"),
        lifted("s2", "2026-03-06T09:00:00Z", ["user.content"], system="archive"),
    ])  # fmt: skip
    with Projections(ledger) as p:
        held = _holding(p, "s2", "user.content.private")
        assert [(r.ground, r.system) for r in held.restricted] == [("legal_claims", "helpdesk")]
        assert _places(held) == {"helpdesk": True, "archive": False}


def test_a_restriction_covers_descendants_not_ancestors(ledger: Ledger) -> None:
    """EVENTS.md, "Category matching": restriction covers a key and its descendants only.
    A restricted ``user`` reaches ``user.name``; a restricted ``user.contact.email`` does not
    reach what is held as ``user.contact`` (listed under its own key, never dropped); lifting
    a child of a restricted parent lifts that child only."""
    ledger.record_many([
        collected("s3", "2026-03-01T09:00:00Z", ["user.contact", "user.name"]),
        collected("s4", "2026-03-01T09:00:00Z",
                  ["user.contact.email", "user.contact.phone_number"]),
        restricted("s3", "2026-03-05T09:00:00Z", ["user.contact.email"], "unlawful"),
        restricted("s4", "2026-03-05T09:00:00Z", ["user"], "objection_pending"),
        lifted("s4", "2026-03-07T09:00:00Z", ["user.contact.email"]),
    ])  # fmt: skip
    with Projections(ledger) as p:
        s3 = _by(p.inventory(subject="s3", as_of=LATER)[0].categories, "category")
        assert s3["user.contact"].restricted == [] and s3["user.name"].restricted == []
        assert s3["user.contact.email"].status == "not_collected"
        assert [r.ground for r in s3["user.contact.email"].restricted] == ["unlawful"]
        s4 = _by(p.inventory(subject="s4", as_of=LATER)[0].categories, "category")
        assert s4["user.contact.email"].restricted == []
        assert [r.category for r in s4["user.contact.phone_number"].restricted] == ["user"]
        report = p.subject_report("s4", as_of=LATER)
        assert [(x["category"], x["ground"], x["system"]) for x in report.restricted] == [
            ("user.contact.phone_number", "objection_pending", None)
        ]


@pytest.mark.parametrize(
    "ground", ["accuracy_contested", "unlawful", "legal_claims", "objection_pending"]
)
def test_each_ground_of_article_18_1_is_shown_as_recorded(ledger: Ledger, ground: str) -> None:
    """UK GDPR Art. 18(1)(a)-(d): the four grounds, by the contract's names."""
    ledger.record_many([
        collected("g", "2026-03-01T09:00:00Z", ["user.name"]),
        restricted("g", "2026-03-02T09:00:00Z", ["user.name"], ground),
    ])  # fmt: skip
    with Projections(ledger) as p:
        assert [r.ground for r in _holding(p, "g", "user.name").restricted] == [ground]


def test_late_recorded_restrictions_give_the_same_answer(ledger: Ledger) -> None:
    """EVENTS.md: facts apply in ``at`` order, ties by sequence. The lift is recorded before
    the restriction it lifts (an earlier ``at`` for the restriction): the answer is as if in
    order. At one ``at``, the one recorded later wins: here the lift (seq order)."""
    ledger.record_many([
        collected("late", "2026-03-01T09:00:00Z", ["user.name", "user.workplace"]),
        lifted("late", "2026-03-10T09:00:00Z", ["user.name"]),
        restricted("late", "2026-03-05T09:00:00Z", ["user.name"]),
        restricted("late", "2026-03-12T09:00:00Z", ["user.workplace"]),
        lifted("late", "2026-03-12T09:00:00Z", ["user.workplace"]),
    ])  # fmt: skip
    with Projections(ledger) as p:
        assert _holding(p, "late", "user.name", "2026-03-04T00:00:00Z").restricted == []
        between = _holding(p, "late", "user.name", "2026-03-06T00:00:00Z").restricted
        assert [r.since for r in between] == ["2026-03-05T09:00:00.000000Z"]
        assert _holding(p, "late", "user.name").restricted == []
        assert _holding(p, "late", "user.workplace").restricted == []


@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), steps=st.lists(st.booleans(), min_size=1, max_size=8))
def test_the_recording_order_never_changes_the_restriction(
    engine: str, seed: int, steps: list[bool]
) -> None:
    """EVENTS.md: late-recorded events fall into place by ``at``. Alternating restrictions
    (True) and lifts (False) of one key on distinct days, recorded in any order: the key is
    restricted at the end exactly when the last step (by day) is a restriction, since the
    first restriction after the last lift (worked by hand from the list)."""
    events = [collected("h", "2026-01-01T09:00:00Z", ["user.name"])]
    for day, restrict in enumerate(steps, start=1):
        at = f"2026-02-{day:02d}T09:00:00Z"
        events.append(restricted("h", at, ["user.name"]) if restrict else
                      lifted("h", at, ["user.name"]))  # fmt: skip
    expected: list[str] = []
    for day, restrict in enumerate(steps, start=1):
        if not restrict:
            expected = []
        else:
            expected.append(f"2026-02-{day:02d}T09:00:00.000000Z")
    shuffled = events[1:]
    random.Random(seed).shuffle(shuffled)
    with fresh_store(engine) as (url, keys), Ledger.init(url, keys) as ledger:
        ledger.record_many([events[0], *shuffled])
        with Projections(ledger) as p:
            assert [r.since for r in _holding(p, "h", "user.name").restricted] == expected


# -- Art. 19: recipients told --------------------------------------------------------------------


def test_a_notification_of_the_parent_or_the_child_tells_the_recipient(ledger: Ledger) -> None:
    """UK GDPR Art. 19: each rectification, erasure or restriction is communicated to each
    recipient the data was disclosed to. EVENTS.md: Art. 19 matches on overlap, both ways: a
    notification naming ``user.contact`` tells of a rectified ``user.contact.email``, and one
    naming ``user.contact.email`` tells of an erased ``user.contact``."""
    ledger.record_many([
        collected("t1", "2026-03-01T09:00:00Z", ["user.contact"]),
        shared("t1", "2026-03-02T09:00:00Z", ["user.contact"], "isp:a"),
        rectified("t1", "2026-03-10T09:00:00Z", ["user.contact.email"]),
        notified("t1", "2026-03-11T09:00:00Z", "isp:a", ["user.contact"], "rectification"),
        erased("t1", "2026-03-20T09:00:00Z", ["user.contact"]),
        notified("t1", "2026-03-21T09:00:00Z", "isp:a", ["user.contact.email"], "erasure"),
    ])  # fmt: skip
    with Projections(ledger) as p:
        found = p.notices(as_of=LATER, include_told=True)
        assert [(n.change, n.told, n.told_at) for n in found.notices] == [
            ("rectification", True, "2026-03-11T09:00:00.000000Z"),
            ("erasure", True, "2026-03-21T09:00:00.000000Z"),
        ]
        assert found.told_of_nothing == []
        assert p.notices(as_of=LATER).notices == []  # nobody left to tell
        # between the erasure and its notice, the erasure is owed (since the erasure)
        owed = p.notices(as_of="2026-03-21T08:00:00Z").notices
        assert [(n.change, n.untold_since) for n in owed] == [
            ("erasure", "2026-03-20T09:00:00.000000Z")
        ]
        report = p.subject_report("t1", as_of=LATER)
        assert [(t["event"], t["told"]) for t in report.must_tell] == [
            ("rectified", {"isp:a": "2026-03-11T09:00:00.000000Z"}),
            ("erased", {"isp:a": "2026-03-21T09:00:00.000000Z"}),
        ]


def test_told_before_the_change_or_of_another_kind_or_data_does_not_count(
    ledger: Ledger,
) -> None:
    """UK GDPR Art. 19: the recipient is told of the change made; EVENTS.md: the notification
    is at or after the change, of that ``change`` kind, with overlapping categories. Each
    notification here fails one of these: none tells, and each is flagged as telling of
    nothing the ledger shows (never silently ignored)."""
    ledger.record_many([
        collected("t2", "2026-03-01T09:00:00Z", ["user.contact.email", "user.name"]),
        shared("t2", "2026-03-02T09:00:00Z", ["user.contact.email", "user.name"], "isp:b"),
        notified("t2", "2026-03-09T09:00:00Z", "isp:b", ["user.contact.email"], "rectification"),
        rectified("t2", "2026-03-10T09:00:00Z", ["user.contact.email"]),
        notified("t2", "2026-03-11T09:00:00Z", "isp:b", ["user.contact.email"], "erasure"),
        notified("t2", "2026-03-12T09:00:00Z", "isp:b", ["user.name"], "rectification"),
        notified("t2", "2026-03-13T09:00:00Z", "isp:other", ["user.contact"], "rectification"),
    ])  # fmt: skip
    with Projections(ledger) as p:
        found = p.notices(as_of=LATER, subject="t2")
        assert [(n.recipient, n.change, n.untold_since) for n in found.notices] == [
            ("isp:b", "rectification", "2026-03-10T09:00:00.000000Z")
        ]
        assert [(t.recipient, t.change, t.at[:10]) for t in found.told_of_nothing] == [
            ("isp:b", "rectification", "2026-03-09"),
            ("isp:b", "erasure", "2026-03-11"),
            ("isp:b", "rectification", "2026-03-12"),
            ("isp:other", "rectification", "2026-03-13"),
        ]
        assert len(p.subject_report("t2", as_of=LATER).told_of_nothing) == 4


def test_a_restriction_is_a_change_recipients_must_be_told_of(ledger: Ledger) -> None:
    """UK GDPR Art. 19 names "any restriction of processing carried out in accordance with
    Article 18"; ICO guidance on the right to restrict processing: inform any recipients if
    you restrict data you have shared with them. A restriction in one system counts too; a
    recipient of other data only is not owed the news; the oldest untold comes first."""
    ledger.record_many([
        collected("t3", "2026-03-01T09:00:00Z", ["user.job_title", "user.name"]),
        shared("t3", "2026-03-02T09:00:00Z", ["user"], "sup:parent"),
        shared("t3", "2026-03-02T09:00:00Z", ["user.name"], "sup:names"),
        restricted("t3", "2026-03-05T09:00:00Z", ["user.job_title"], system="crm"),
        collected("t4", "2026-02-01T09:00:00Z", ["user.name"]),
        shared("t4", "2026-02-02T09:00:00Z", ["user.name"], "sup:names"),
        rectified("t4", "2026-02-10T09:00:00Z", ["user.name"]),
    ])  # fmt: skip
    with Projections(ledger) as p:
        owed = p.notices(as_of=LATER).notices
        assert [(n.subject, n.recipient, n.change, n.untold_since[:10]) for n in owed] == [
            ("t4", "sup:names", "rectification", "2026-02-10"),
            ("t3", "sup:parent", "restriction", "2026-03-05"),
        ]
        assert [n.subject for n in p.notices(as_of=LATER, subject="t3").notices] == ["t3"]


# -- complaints (DPA 2018 s.164A) ----------------------------------------------------------------


def _complaint(p: Projections, name: str, as_of: str = LATER) -> Any:
    return _by(p.complaints(as_of=as_of), "complaint")[name]


def test_acknowledged_on_day_30_is_in_time_and_on_day_31_late(ledger: Ledger) -> None:
    """DPA 2018 s.164A(3): acknowledge "within the period of 30 days beginning when the
    complaint is received"; EVENTS.md counts the day of receipt as day 1, in the
    organisation's time zone. Received 1 July 2026 (11:00 BST): day 30 is 1 July + 29 days =
    30 July. Acknowledged 30 July 21:00 BST (20:00 UTC) is in time; 31 July is late."""
    ledger.record_many([
        received("CMP-A", "2026-07-01T10:00:00Z"),
        acknowledged("CMP-A", "2026-07-30T20:00:00Z"),
        received("CMP-B", "2026-07-01T10:00:00Z"),
        acknowledged("CMP-B", "2026-07-31T08:00:00Z"),
    ])  # fmt: skip
    with Projections(ledger) as p:
        a, b = _complaint(p, "CMP-A"), _complaint(p, "CMP-B")
        assert (a.received, a.acknowledge_by, a.acknowledged) == (
            date(2026, 7, 1),
            date(2026, 7, 30),
            date(2026, 7, 30),
        )
        assert (a.late, a.flags, a.status) == (False, [], "acknowledged")
        assert b.late and b.flags == [
            "acknowledged on 2026-07-31, after the 30 days ending 2026-07-30 (s.164A(3))"
        ]
        assert [c.complaint for c in p.complaints(as_of=LATER)] == ["CMP-B", "CMP-A"]


def test_not_acknowledged_is_late_only_after_day_30_unless_closed_within_it(
    ledger: Ledger,
) -> None:
    """DPA 2018 s.164A(3), EVENTS.md: flagged after the 30 days unless closed within them
    (ICO guidance on complaints: an organisation that completes its investigation within 30
    days need not send a separate acknowledgement). The outcome's age is shown, never flagged
    (s.164A(4): "without undue delay", no figure)."""
    ledger.record_many([
        received("CMP-C", "2026-07-01T10:00:00Z"),
        received("CMP-D", "2026-07-01T10:00:00Z"),
        closed("CMP-D", "2026-07-30T15:00:00Z"),
        received("CMP-E", "2026-07-01T10:00:00Z"),
        closed("CMP-E", "2026-07-31T09:00:00Z"),
    ])  # fmt: skip
    with Projections(ledger) as p:
        # at the end of day 30 (30 July 23:59 BST = 22:59 UTC), nothing is late yet
        on_day_30 = _complaint(p, "CMP-C", "2026-07-30T22:59:00Z")
        assert (on_day_30.late, on_day_30.status, on_day_30.days_open) == (False, "open", 29)
        day_31 = _complaint(p, "CMP-C", "2026-07-30T23:00:00Z")  # 31 July 00:00 BST
        assert day_31.late and day_31.flags == [
            "not acknowledged within the 30 days ending 2026-07-30 (s.164A(3))"
        ]
        d = _complaint(p, "CMP-D")
        assert (d.late, d.status, d.days_open, d.flags) == (False, "closed", 29, [])
        e = _complaint(p, "CMP-E")
        assert e.late and e.days_open == 30  # closed on 31 July, day 31, never acknowledged
        assert [c.complaint for c in p.complaints(open_only=True, as_of=LATER)] == ["CMP-C"]


def test_complaints_before_the_duty_came_into_force_are_never_flagged(ledger: Ledger) -> None:
    """The Data (Use and Access) Act 2025 (Commencement No. 6 ...) Regulations 2026 bring
    s.164A into force on 19 June 2026 (ledger.core.contract.COMPLAINT_DUTIES_FROM): a complaint
    received on 18 June, never acknowledged, is shown with its dates but not flagged as late,
    and says why. Received at 23:30 UTC on 18 June, it is 19 June 00:30 BST: the duty applies
    (local dates), and day 30 is 19 June + 29 = 18 July."""
    assert date(2026, 6, 19) == COMPLAINT_DUTIES_FROM
    ledger.record_many([
        received("CMP-OLD", "2026-06-18T10:00:00Z"),
        received("CMP-NEW", "2026-06-18T23:30:00Z"),
    ])  # fmt: skip
    with Projections(ledger) as p:
        old, new = _complaint(p, "CMP-OLD"), _complaint(p, "CMP-NEW")
        assert (old.received, old.acknowledge_by, old.duty_in_force, old.late) == (
            date(2026, 6, 18),
            date(2026, 7, 17),
            False,
            False,
        )
        assert old.flags == [
            "received before 2026-06-19: the duty to acknowledge (DPA 2018 "
            "s.164A) was not in force, so nothing is flagged as late"
        ]
        assert (new.received, new.acknowledge_by, new.duty_in_force, new.late) == (
            date(2026, 6, 19),
            date(2026, 7, 18),
            True,
            True,
        )


def test_the_30_days_are_local_dates_across_the_end_of_british_summer_time(
    ledger: Ledger,
) -> None:
    """EVENTS.md: dates in the organisation's time zone (Europe/London). BST ends at 01:00
    UTC on 25 October 2026. Received 24 October 23:30 UTC = 25 October 00:30 BST: day 1 is 25
    October, day 30 is 23 November. Acknowledged 23 November 23:30 UTC (GMT: still 23
    November) is in time; received 24 October 22:30 UTC (23:30 BST, 24 October) ends on 22
    November, and the same acknowledgement is late."""
    ledger.record_many([
        received("CMP-F", "2026-10-24T23:30:00Z"),
        acknowledged("CMP-F", "2026-11-23T23:30:00Z"),
        received("CMP-G", "2026-10-24T22:30:00Z"),
        acknowledged("CMP-G", "2026-11-23T23:30:00Z"),
    ])  # fmt: skip
    with Projections(ledger) as p:
        f, g = _complaint(p, "CMP-F"), _complaint(p, "CMP-G")
        assert (f.received, f.acknowledge_by, f.late) == (
            date(2026, 10, 25),
            date(2026, 11, 23),
            False,
        )
        assert (g.received, g.acknowledge_by, g.late) == (
            date(2026, 10, 24),
            date(2026, 11, 22),
            True,
        )
        # the ICO's own count (from the day after receipt, then the next working day) is shown
        # beside: 24 Oct + 30 = 23 Nov (a Monday)
        assert g.ico_acknowledge_by == date(2026, 11, 23)


def test_complaint_events_out_of_order_or_without_receipt_are_flagged(ledger: Ledger) -> None:
    """As for requests (EVENTS.md): a step dated before the ``complaint_received`` is flagged,
    and a complaint with no ``complaint_received`` says so; neither is judged late."""
    ledger.record_many([
        acknowledged("CMP-H", "2026-07-01T09:00:00Z"),
        received("CMP-H", "2026-07-02T09:00:00Z"),
        closed("CMP-I", "2026-07-05T09:00:00Z"),
    ])  # fmt: skip
    with Projections(ledger) as p:
        h, i = _complaint(p, "CMP-H"), _complaint(p, "CMP-I")
        assert h.flags == [
            "complaint_acknowledged at 2026-07-01T09:00:00Z comes before the complaint_received"
        ]
        assert not h.late  # acknowledged 1 July, before day 30 (31 July)
        assert (i.flags, i.received, i.status, i.late) == (
            ["no complaint_received on the ledger (yet)"],
            None,
            "closed",
            False,
        )


# -- retention per copy --------------------------------------------------------------------------


def test_a_copy_past_its_retention_beside_one_without_a_period_is_said_so(
    ledger: Ledger,
) -> None:
    """UK GDPR Art. 5(1)(e) (storage limitation): each copy is kept no longer than its own
    period. Collected 1 March: the backup's P10D ends 11 March; the crm copy has no period;
    the archive's P1Y ends 1 March 2027. On 20 March the holding is still held (not all copies
    are past), and the summary says which is which."""
    ledger.record_many([
        collected("r1", "2026-03-01T09:00:00Z", ["user.name"], "crm"),
        collected("r1", "2026-03-01T09:00:00Z", ["user.name"], "backup", retention="P10D"),
        collected("r1", "2026-03-01T09:00:00Z", ["user.name"], "archive", retention="P1Y"),
        collected("r2", "2026-03-01T09:00:00Z", ["user.name"], "backup", retention="P10D"),
    ])  # fmt: skip
    with Projections(ledger) as p:
        held = _holding(p, "r1", "user.name", "2026-03-20T00:00:00Z")
        assert held.status == "held"
        assert {x.system: x.status for x in held.places} == {
            "crm": "held",
            "backup": "past_retention",
            "archive": "held",
        }
        assert held.retention_summary == (
            "no fixed period in crm; past retention in backup (since 2026-03-11); "
            "within retention in archive (until 2027-03-01)"
        )
        assert _holding(p, "r1", "user.name", "2026-03-10T00:00:00Z").retention_summary is None
        alone = _holding(p, "r2", "user.name", "2026-03-20T00:00:00Z")
        assert (alone.status, alone.retention_summary) == ("past_retention", None)


# -- the demo's story ----------------------------------------------------------------------------


@pytest.fixture
def demo(ledger: Ledger, story: list[dict[str, Any]]) -> Projections:
    ledger.record_many(story)
    with Projections(ledger) as opened:
        yield opened  # type: ignore[misc]


def test_the_demo_restrictions(demo: Projections) -> None:
    """The story: cust-1003's job title restricted in crm while its accuracy was contested
    (Art. 18(1)(a)), 6 May to 29 May 2026; cust-1002's private content restricted in the
    helpdesk for legal claims (Art. 18(1)(c)) since 3 June, still in force."""
    title = _holding(demo, "cust-1003", "user.job_title", "2026-05-10T00:00:00Z")
    assert [(r.ground, r.system, r.since) for r in title.restricted] == [
        ("accuracy_contested", "crm", "2026-05-06T09:00:00.000000Z")
    ]
    assert _holding(demo, "cust-1003", "user.job_title", "2026-06-01T00:00:00Z").restricted == []
    content = _holding(demo, "cust-1002", "user.content.private")
    assert [(r.ground, r.system) for r in content.restricted] == [("legal_claims", "helpdesk")]
    assert _places(content) == {"helpdesk": True}
    assert demo.subject_report("cust-1002").restricted[0]["system"] == "helpdesk"


def test_the_demo_notices(demo: Projections) -> None:
    """Art. 19 in the story: cust-1004's erasure (24 March) was told to sup:skills-academy on
    25 March; sup:edu-procure, which had cust-1003's job title since 2 March, was never told
    of its restriction (6 May). cust-1003's rectified email reached no recipient."""
    found = demo.notices(include_told=True)
    assert [(n.subject, n.recipient, n.change, n.told_at) for n in found.notices] == [
        ("cust-1004", "sup:skills-academy", "erasure", "2026-03-25T10:00:00.000000Z"),
        ("cust-1003", "sup:edu-procure", "restriction", None),
    ]
    assert [n.recipient for n in demo.notices().notices] == ["sup:edu-procure"]
    assert found.told_of_nothing == []


def test_the_demo_complaints(demo: Projections) -> None:
    """s.164A in the story: CMP-2026-001 received 25 June, acknowledged 29 June (day 5;
    day 30 is 24 July), closed 21 July after 26 days. CMP-2026-002 received 2 July, never
    acknowledged: day 30 is 31 July, so late from 1 August, and 30 days open then."""
    first = _complaint(demo, "CMP-2026-001")
    assert (first.acknowledge_by, first.acknowledged, first.days_open, first.late) == (
        date(2026, 7, 24),
        date(2026, 6, 29),
        26,
        False,
    )
    assert _complaint(demo, "CMP-2026-002", "2026-07-31T22:59:59Z").late is False
    second = _complaint(demo, "CMP-2026-002", "2026-08-01T00:00:00Z")
    assert (second.acknowledge_by, second.days_open, second.late, second.subject) == (
        date(2026, 7, 31),
        30,
        True,
        "cust-1002",
    )


# -- the CLI -------------------------------------------------------------------------------------


@pytest.fixture
def run(store_url: str, tmp_path: Path, story: list[dict[str, Any]]) -> Any:
    config = tmp_path / "ledger.toml"
    config.write_text(CONFIG_TOML, encoding="utf-8")
    base = ["--db", store_url, "--keys", str(tmp_path / "k"), "--config", str(config),
            "--signing-key", str(tmp_path / "s")]  # fmt: skip

    def invoke(*args: str, input: bytes | None = None) -> Result:
        return CliRunner().invoke(cli, [*base, *args], input=input)

    assert invoke("init").exit_code == 0
    lines = b"".join(orjson.dumps(e) + b"\n" for e in story)
    assert invoke("import", "-", input=lines).exit_code == 0
    return invoke


def test_cli_notices(run: Any) -> None:
    """`ledger notices`: the untold first; --all adds the told, with when; --json."""
    table = run("notices")
    assert table.exit_code == 0, table.output
    assert "sup:edu-procure" in table.stdout and "NOT TOLD" in table.stdout
    assert "sup:skills-academy" not in table.stdout
    everything = run("notices", "--all")
    assert "told 2026-03-25T10:00:00Z" in everything.stdout
    one = orjson.loads(run("notices", "--subject", "cust-1004", "--all", "--json").stdout)
    assert [(n["recipient"], n["told"], n["told_at"]) for n in one["notices"]] == [
        ("sup:skills-academy", True, "2026-03-25T10:00:00Z")
    ]
    assert orjson.loads(run("notices", "--as-of", "2026-05-05", "--json").stdout) == {
        "notices": [],
        "told_of_nothing": [],
    }


def test_cli_complaints(run: Any) -> None:
    """`ledger complaints`: late first, --open, --as-of, --json."""
    table = run("complaints", "--as-of", "2026-08-01")
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[2].startswith("CMP-2026-002") and "LATE" in lines[2]
    assert "not acknowledged within the 30 days ending 2026-07-31" in lines[2]
    found = orjson.loads(run("complaints", "--open", "--as-of", "2026-07-31", "--json").stdout)
    assert [(c["complaint"], c["late"], c["acknowledge_by"]) for c in found] == [
        ("CMP-2026-002", False, "2026-07-31")
    ]


def test_cli_subject_and_inventory_show_restrictions_notices_and_retention(run: Any) -> None:
    """`ledger subject` lists what is restricted and where, and each Art. 19 recipient told
    or not; `ledger inventory` the restrictions in force and each copy's retention where they
    differ (its JSON keeps every earlier key)."""
    report = run("subject", "cust-1003", "--as-of", "2026-05-10")
    assert report.exit_code == 0, report.output
    assert (
        "restricted (Art. 18): user.job_title in crm, accuracy_contested since 2026-05-06T09:00:00Z"
    ) in report.stdout
    assert "sup:edu-procure: NOT TOLD since 2026-05-06T09:00:00Z" in report.stdout
    assert (
        "retention of user.name: within retention in crm (until 2032-01-07); past "
        "retention in backup-us (since 2026-05-06)" in report.stdout
    )
    told = run("subject", "cust-1004")
    assert "sup:skills-academy: told 2026-03-25T10:00:00Z" in told.stdout
    table = run("inventory", "--as-of", "2026-06-10")
    assert "restricted (Art. 18): 1" in table.stdout
    assert (
        "cust-1002 user.content.private: legal_claims since 2026-06-03T09:30:00Z, in "
        "helpdesk" in table.stdout
    )
    assert "cust-1003 user.contact.email: within retention in crm" in table.stdout
    found = orjson.loads(run("inventory", "--subject", "cust-1003", "--as-of", "2026-05-10",
                             "--json").stdout)  # fmt: skip
    name = {h["category"]: h for h in found[0]["categories"]}["user.name"]
    assert name["status"] == "held" and name["erased_at"] is None
    assert [(x["system"], x["status"]) for x in name["places"]] == [
        ("crm", "held"),
        ("backup-us", "past_retention"),
    ]
    title = {h["category"]: h for h in found[0]["categories"]}["user.job_title"]
    assert title["restricted"] == [{"category": "user.job_title", "ground": "accuracy_contested",
                                    "since": "2026-05-06T09:00:00Z", "seq": 39, "system": "crm",
                                    "lifted_in": []}]  # fmt: skip


def test_the_report_sections(demo: Projections) -> None:
    """The report's sections for the integrator to wire in: restrictions in force (Art. 18),
    recipients to be told (Art. 19) and complaints (s.164A), escaped, no value decrypted."""
    from ledger.projections.report import (
        complaints_section,
        notices_section,
        restrictions_section,
    )

    moment = "2026-08-01T00:00:00Z"
    restrictions = restrictions_section(demo.inventory(as_of=moment))
    assert "cust-1002" in restrictions and "legal_claims" in restrictions
    assert "user.job_title" not in restrictions  # lifted on 29 May
    notices = notices_section(demo.notices(as_of=moment, include_told=True))
    assert notices.count("NOT TOLD") == 1 and "sup:edu-procure" in notices
    assert "sup:skills-academy" in notices and '<tr class="late">' in notices
    complaints = complaints_section(demo.complaints(as_of=moment))
    assert complaints.index("CMP-2026-002") < complaints.index("CMP-2026-001")
    assert "LATE" in complaints and "Tom Reilly" not in complaints + notices + restrictions
    assert "No complaint" in complaints_section([])


@pytest.mark.parametrize(
    "as_of", ["2026-05-01T00:00:00Z", "2026-05-20T00:00:00Z", "2026-06-10T00:00:00Z", None]
)
def test_the_restricted_subjects_are_those_of_the_whole_inventory(
    filled: Ledger, as_of: str | None
) -> None:
    """`Projections.restricted` (what the report and the demo list) reads only the subjects a
    restriction was recorded for: the same inventories as the whole inventory's restricted
    ones, at every moment (before, during and after cust-1003's restriction)."""
    with Projections(filled) as p:
        whole = [i for i in p.inventory(as_of=as_of) if any(h.restricted for h in i.categories)]
        assert p.restricted(as_of=as_of) == whole
    expected = {"2026-05-01T00:00:00Z": [], "2026-05-20T00:00:00Z": ["cust-1003"],
                "2026-06-10T00:00:00Z": ["cust-1002"], None: ["cust-1002"]}  # fmt: skip
    assert [i.subject for i in whole] == expected[as_of]


def test_an_erasure_of_what_was_restricted_ends_the_restriction(ledger: Ledger) -> None:
    """Found in review. Art. 18 restricts the processing of data held; once an erasure has
    ended every copy there is nothing left to restrict, so the subject report no longer lists
    the restriction as in force, and data collected again after the erasure is not under it.
    A restriction recorded after the new collection applies as usual."""

    def event(kind: str, at: str, **extra: Any) -> dict[str, Any]:
        return {"type": kind, "at": at, "actor": "staff:dpo", "subject": "c3",
                "categories": ["user.contact.email"], **extra}  # fmt: skip

    collected = {"purpose": "essential.service.operations.support", "basis": "contract",
                 "source": "web form", "system": "crm", "location": "GB"}  # fmt: skip
    ledger.record_many([
        event("collected", "2026-03-01T09:00:00Z", **collected),
        event("restricted", "2026-03-02T09:00:00Z", ground="accuracy_contested"),
        event("erased", "2026-03-03T09:00:00Z", reason="erasure request"),
    ])  # fmt: skip
    with Projections(ledger) as p:
        (held,) = p.inventory(subject="c3", as_of="2026-03-04T00:00:00Z")
        assert [(h.status, h.restricted) for h in held.categories] == [("erased", [])]
        assert p.restricted(as_of="2026-03-04T00:00:00Z") == []
    ledger.record_many([
        event("collected", "2026-03-05T09:00:00Z", **collected),
        event("restricted", "2026-03-07T09:00:00Z", ground="unlawful"),
    ])  # fmt: skip
    with Projections(ledger) as p:
        (again,) = p.inventory(subject="c3", as_of="2026-03-06T00:00:00Z")
        assert [(h.status, h.restricted) for h in again.categories] == [("held", [])]
        (later,) = p.inventory(subject="c3", as_of="2026-03-08T00:00:00Z")
        assert [r.ground for r in later.categories[0].restricted] == ["unlawful"]
