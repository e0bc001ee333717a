"""Breach timelines (Art. 33, 34): the 72-hour clock, reports, notifications, who was affected."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import ColumnElement, and_, func, literal, or_, select
from sqlalchemy.engine import Connection

from ledger.canonical import utc_timestamp
from ledger.contract import parse_timestamp

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
    kind = event["type"]
    if kind == "breach_detected":
        timeline.description = event["description"]
        timeline.systems, timeline.categories = event["systems"], event["categories"]
        timeline.detected_at = at
        timeline.aware_at = utc(event.get("aware_at", event["at"]))
        timeline.exposed_from = utc(event.get("exposed_from", event.get("aware_at", event["at"])))
        timeline.deadline = utc_timestamp(parse_timestamp(timeline.aware_at) + DEADLINE)
    elif kind == "breach_assessed":
        timeline.risk, timeline.subjects_estimate = event["risk"], event["subjects_estimate"]
        timeline.assessed_at = at
    elif kind == "breach_reported":
        # only the initial report races the 72 hours; follow-ups are not late by themselves
        on_time = (
            event["phase"] != "initial" or timeline.deadline is None or (at <= timeline.deadline)
        )
        timeline.reports.append(
            Report(
                event["phase"],
                at,
                event["authority"],
                event["reference"],
                on_time,
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
    timeline.affected = affected_subjects(conn, timeline, as_of)
    told = {s for n in timeline.notifications for s in n["subjects"]}
    timeline.not_notified = [s for s in timeline.affected if s not in told]
    initial = next((r for r in timeline.reports if r.phase == "initial"), None)
    needs_report = timeline.risk != "unlikely"
    if needs_report and initial is None and timeline.deadline and as_of > timeline.deadline:
        timeline.flags.append("no initial report to the authority and the 72 hours have passed")
    if needs_report and initial is not None and not initial.on_time and not initial.delay_reason:
        timeline.flags.append("initial report after 72 hours without the reasons for the delay")
    if timeline.risk == "high" and timeline.not_notified:
        timeline.flags.append(
            f"high risk: {len(timeline.not_notified)} affected subject(s) not yet told"
        )


def _covers(wanted: ColumnElement[str] | str, category: ColumnElement[str]) -> ColumnElement[bool]:
    """SQL for "*wanted* covers *category*": equal, or a dotted prefix of it (no LIKE wildcards)."""
    key = literal(wanted) if isinstance(wanted, str) else wanted
    prefix = key + "."
    return or_(
        key == "*",
        category == key,
        func.substr(category, 1, func.length(prefix)) == prefix,
    )


def affected_subjects(conn: Connection, timeline: BreachTimeline, as_of: str) -> list[str]:
    """Subjects who held any of the breach's categories in any of its systems at any time
    from ``exposed_from`` to ``aware_at``, from the facts known at *as_of*.

    A holding starts at its collection and ends at the first later erasure that covers it
    (in its system, or everywhere); it overlaps the window unless it started after
    ``aware_at`` or such an erasure came at or before ``exposed_from``.
    """
    assert timeline.aware_at is not None and timeline.exposed_from is not None
    h, e = facts.holdings, facts.erasures.alias("e")
    ended_before = (
        select(e.c.seq)
        .where(
            e.c.subject == h.c.subject,
            _covers(e.c.category, h.c.category),
            or_(e.c.system.is_(None), e.c.system == h.c.system),
            or_(e.c.at > h.c.at, and_(e.c.at == h.c.at, e.c.seq > h.c.seq)),
            e.c.at <= timeline.exposed_from,
            e.c.at <= as_of,
        )
        .exists()
    )
    query = (
        select(h.c.subject)
        .distinct()
        .where(
            h.c.system.in_(timeline.systems),
            or_(*(_covers(c, h.c.category) for c in timeline.categories)),
            h.c.at <= timeline.aware_at,
            h.c.at <= as_of,
            ~ended_before,
        )
        .order_by(h.c.subject)
    )
    return [row.subject for row in conn.execute(query)]
