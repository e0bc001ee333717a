"""Breach timelines (Art. 33, 34): the 72-hour clock, reports, notifications, who was affected."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import and_, or_, select, union
from sqlalchemy.engine import Connection

from ledger.core.canonical import utc_timestamp
from ledger.core.contract import parse_timestamp

from . import facts
from .facts import utc

DEADLINE = timedelta(hours=72)


@dataclass
class Report:
    phase: str
    at: str
    authority: str
    reference: str
    on_time: bool
    delay_reason: str | None


@dataclass
class BreachTimeline:
    """One breach as it stood at a moment."""

    breach: str
    description: str | None = None
    systems: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    detected_at: str | None = None
    aware_at: str | None = None
    exposed_from: str | None = None
    deadline: str | None = None
    risk: str | None = None
    subjects_estimate: int | None = None
    assessed_at: str | None = None
    reports: list[Report] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    closed_at: str | None = None
    summary: str | None = None
    affected: list[str] = field(default_factory=list)
    not_notified: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)


def breaches(conn: Connection, *, as_of: str, breach: str | None = None) -> list[BreachTimeline]:
    """Every breach's timeline at *as_of* (or one breach's)."""
    table = facts.events
    query = select(table.c.seq, table.c.at, table.c.detail).where(
        table.c.breach.is_not(None), table.c.at <= as_of
    )
    if breach is not None:
        query = query.where(table.c.breach == breach)
    timelines: dict[str, BreachTimeline] = {}
    for row in conn.execute(query.order_by(table.c.at, table.c.seq)):
        event = orjson.loads(row.detail)
        timeline = timelines.setdefault(event["breach"], BreachTimeline(event["breach"]))
        _apply(timeline, event, row.at)
    for timeline in timelines.values():
        _conclude(conn, timeline, as_of)
    return [timelines[b] for b in sorted(timelines)]


def _apply(timeline: BreachTimeline, event: dict[str, Any], at: str) -> None:
    """Gather one event's facts. Nothing is judged here: a step may be applied before the
    ``breach_detected`` that fixes the deadline (recorded late, or with an earlier ``at``),
    and a later ``breach_detected`` may correct ``aware_at``; :func:`_conclude` judges every
    step against the deadline in force once all the events are in."""
    kind = event["type"]
    if kind == "breach_detected":
        timeline.description = event["description"]
        timeline.systems, timeline.categories = event["systems"], event["categories"]
        timeline.detected_at = at
        # EVENTS.md: aware_at defaults to at, exposed_from to aware_at
        timeline.aware_at = utc(event.get("aware_at", event["at"]))
        timeline.exposed_from = utc(event.get("exposed_from", event.get("aware_at", event["at"])))
        timeline.deadline = utc_timestamp(parse_timestamp(timeline.aware_at) + DEADLINE)
    elif kind == "breach_assessed":
        timeline.risk, timeline.subjects_estimate = event["risk"], event["subjects_estimate"]
        timeline.assessed_at = at
    elif kind == "breach_reported":
        timeline.reports.append(
            Report(
                event["phase"],
                at,
                event["authority"],
                event["reference"],
                True,  # judged in _conclude, against the deadline in force
                event.get("delay_reason"),
            )
        )
    elif kind == "subjects_notified":
        timeline.notifications.append(
            {"at": at, "subjects": event["subjects"], "channel": event["channel"]}
        )
    elif kind == "breach_closed":
        timeline.closed_at, timeline.summary = at, event["summary"]


def _conclude(conn: Connection, timeline: BreachTimeline, as_of: str) -> None:
    if timeline.detected_at is None:
        timeline.flags.append("no breach_detected on the ledger (yet)")
        return
    deadline = timeline.deadline
    assert deadline is not None
    # Art. 33(1) (RESEARCH.md, EVENTS.md): the authority is told within 72 hours of awareness;
    # only the initial report races them, follow-ups are not late by themselves (Art. 33(4)).
    for report in timeline.reports:
        report.on_time = report.phase != "initial" or report.at <= deadline
    timeline.affected = affected_subjects(conn, timeline, as_of)
    told = {s for n in timeline.notifications for s in n["subjects"]}
    timeline.not_notified = [s for s in timeline.affected if s not in told]
    initial = next((r for r in timeline.reports if r.phase == "initial"), None)
    needs_report = timeline.risk != "unlikely"  # Art. 33(1): unless unlikely to result in risk
    if needs_report and initial is None and as_of > deadline:
        timeline.flags.append("no initial report to the authority and the 72 hours have passed")
    if needs_report and initial is not None and not initial.on_time and not initial.delay_reason:
        timeline.flags.append("initial report after 72 hours without the reasons for the delay")
    if timeline.risk == "high" and timeline.not_notified:
        timeline.flags.append(
            f"high risk: {len(timeline.not_notified)} affected subject(s) not yet told"
        )
    timeline.flags.extend(_count_mismatches(timeline, told))


def _count_mismatches(timeline: BreachTimeline, told: set[str]) -> list[str]:
    """Where the three counts of a breach disagree: the subjects the ledger's events show were
    exposed (derived), the assessment's estimate, and the subjects told (Art. 34)."""
    flags = []
    derived = len(timeline.affected)
    estimate = timeline.subjects_estimate
    if estimate is not None and estimate != derived:
        flags.append(
            f"the assessment estimates {estimate} affected subject(s); "
            f"the ledger's events show {derived}"
        )
    strangers = sorted(told - set(timeline.affected))
    if strangers:
        flags.append(
            f"{len(strangers)} subject(s) told who are not among the {derived} affected "
            "subject(s) the ledger's events show"
        )
    return flags


def affected_subjects(conn: Connection, timeline: BreachTimeline, as_of: str) -> list[str]:
    """Subjects exposed by the breach (EVENTS.md, breach events), from the facts known at
    *as_of*:

    - those who held any of the breach's categories in any of its systems at any time from
      ``exposed_from`` to ``aware_at``. A holding starts at its collection and ends at the first
      later erasure that covers it (in its system, or everywhere); it overlaps the window
      unless it started after ``aware_at`` or such an erasure came at or before
      ``exposed_from``;
    - those whose such categories were shared, at or before ``aware_at``, with a recipient
      named in the breach's ``systems`` (a processor, say), unless erased there (an erasure
      naming that recipient as its ``system``) at or before ``exposed_from``. An erasure without
      a system ends the controller's own holdings only: the recipient's copy is the
      recipient's to erase once told (Art. 19), so it is still counted.

    Categories match on overlap (either key covers the other); an erasure covers its key and
    its descendants only.
    """
    assert timeline.aware_at is not None and timeline.exposed_from is not None
    h, s, e = facts.holdings, facts.shares, facts.erasures.alias("e")

    def ended_before(subject: Any, category: Any, system: Any, at: Any, seq: Any) -> Any:
        return (
            select(e.c.seq)
            .where(
                e.c.subject == subject,
                facts.covers_sql(e.c.category, category),
                system,
                or_(e.c.at > at, and_(e.c.at == at, e.c.seq > seq)),
                e.c.at <= timeline.exposed_from,
                e.c.at <= as_of,
            )
            .exists()
        )

    held = select(h.c.subject).where(
        h.c.system.in_(timeline.systems),
        or_(*(facts.overlaps_sql(c, h.c.category) for c in timeline.categories)),
        h.c.at <= timeline.aware_at,
        h.c.at <= as_of,
        ~ended_before(
            h.c.subject,
            h.c.category,
            or_(e.c.system.is_(None), e.c.system == h.c.system),
            h.c.at,
            h.c.seq,
        ),
    )
    shared = select(s.c.subject).where(
        s.c.recipient.in_(timeline.systems),
        or_(*(facts.overlaps_sql(c, s.c.category) for c in timeline.categories)),
        s.c.at <= timeline.aware_at,
        s.c.at <= as_of,
        ~ended_before(s.c.subject, s.c.category, e.c.system == s.c.recipient, s.c.at, s.c.seq),
    )
    both = union(held, shared).subquery()
    found = {row.subject for row in conn.execute(select(both.c.subject))}
    return sorted(found)  # code point order, whatever the collation
