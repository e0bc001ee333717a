"""Breach timelines (Art. 33, 34): the 72-hour clock, reports, notifications, who was affected,
and, for data held as a processor, the controllers told (Art. 33(2)). docs/law/breaches.md has
the rules as applied, with their sources."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import String, and_, cast, literal, null, or_, select, union
from sqlalchemy.engine import Connection

from ledger.core.canonical import utc_timestamp
from ledger.core.contract import parse_timestamp

from . import facts
from .facts import utc

DEADLINE = timedelta(hours=72)
# Art. 33(2) says "without undue delay" and gives no figure: this is the ledger's operational
# threshold for flagging a processor's notice to its controller, not a legal limit.
CONTROLLER_THRESHOLD = timedelta(hours=24)
EXEMPTIONS = {  # Art. 34(3): why the subjects of a high-risk breach need not be told
    "unintelligible": "Art. 34(3)(a): the data was unintelligible to anyone not authorised",
    "measures_taken": "Art. 34(3)(b): later measures make the high risk no longer likely",
    "public_communication": "Art. 34(3)(c): a public communication instead (disproportionate "
    "effort)",
}


@dataclass
class Report:
    phase: str
    at: str
    authority: str
    reference: str
    on_time: bool
    delay_reason: str | None


@dataclass
class ControllerNotice:
    """A processor telling the controller it processes for (``controller_notified``)."""

    controller: str
    at: str
    within_threshold: bool  # judged in _conclude, against aware_at in force


@dataclass
class Exemption:
    """Why affected subjects were not told (``subjects_not_notified``, Art. 34(3))."""

    exemption: str
    at: str
    ground: str


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
    contained_at: str | None = None
    # exposed_from not given and the containment before awareness: the window starts there
    exposure_guessed: bool = False
    records: int | None = None
    risk: str | None = None
    reason: str | None = None  # the reasoning of the assessment (Art. 33(5))
    consequences: str | None = None
    measures: str | None = None
    subjects_estimate: int | None = None
    assessed_at: str | None = None
    reports: list[Report] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    exemption: Exemption | None = None
    controller_notified: list[ControllerNotice] = field(default_factory=list)
    closed_at: str | None = None
    summary: str | None = None
    affected: list[str] = field(default_factory=list)
    # affected subjects with data the organisation holds as controller (its own; shares count
    # as its own), and per controller those with data it holds for that controller as processor
    own: list[str] = field(default_factory=list)
    held_for: dict[str, list[str]] = field(default_factory=dict)
    # who is to report to the authority: "organisation", or "controller" when every affected
    # subject's data was held as a processor (Art. 33(1)-(2))
    reporter: str = "organisation"
    # when a processor's notice to a controller is flagged as late (operational, not law);
    # None when no affected data is held as a processor
    controller_due: str | None = None
    not_notified: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)


def breaches(
    conn: Connection,
    *,
    as_of: str,
    breach: str | None = None,
    controller_threshold: timedelta = CONTROLLER_THRESHOLD,
) -> list[BreachTimeline]:
    """Every breach's timeline at *as_of* (or one breach's). *controller_threshold*: how long
    after awareness a processor's notice to its controller is flagged (operational, not law)."""
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
        _conclude(conn, timeline, as_of, controller_threshold)
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
        contained = event.get("contained_at")
        timeline.contained_at = utc(contained) if contained is not None else None
        timeline.records = event.get("records")
        timeline.exposure_guessed = False
        contained_first = timeline.contained_at is not None and (
            timeline.contained_at < timeline.exposed_from
        )
        if "exposed_from" not in event and contained_first:
            # contained before anyone was aware, with no word of when it began: it began by
            # the containment at the latest, so the window reaches back that far
            timeline.exposed_from = timeline.contained_at
            timeline.exposure_guessed = True
    elif kind == "breach_assessed":
        timeline.risk, timeline.subjects_estimate = event["risk"], event["subjects_estimate"]
        timeline.assessed_at = at
        timeline.reason = event.get("reason")
        timeline.consequences = event.get("consequences")
        timeline.measures = event.get("measures")
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
    elif kind == "subjects_not_notified":
        exemption = event["exemption"]
        timeline.exemption = Exemption(exemption, at, EXEMPTIONS[exemption])
    elif kind == "controller_notified":
        timeline.controller_notified.append(ControllerNotice(event["controller"], at, True))
    elif kind == "breach_closed":
        timeline.closed_at, timeline.summary = at, event["summary"]


def _conclude(conn: Connection, timeline: BreachTimeline, as_of: str, threshold: timedelta) -> None:
    if timeline.detected_at is None:
        timeline.flags.append("no breach_detected on the ledger (yet)")
        return
    deadline, aware = timeline.deadline, timeline.aware_at
    assert deadline is not None and aware is not None
    if timeline.exposure_guessed:
        timeline.flags.append(
            "contained before awareness, and exposed_from is not given: the exposure is taken "
            "to have begun at the containment, the latest it can have begun (record "
            "exposed_from: earlier holdings may be affected)"
        )
    # Art. 33(1) (RESEARCH.md, EVENTS.md): the authority is told within 72 hours of awareness;
    # only the initial report races them, follow-ups are not late by themselves (Art. 33(4)).
    for report in timeline.reports:
        report.on_time = report.phase != "initial" or report.at <= deadline
    timeline.affected, timeline.own, timeline.held_for = _exposed(conn, timeline, as_of)
    # Art. 33(1)-(2): a processor tells its controller, and the controller reports; when every
    # affected subject's data was held as a processor, the report is not the organisation's
    if timeline.held_for and not timeline.own:
        timeline.reporter = "controller"
    told = {s for n in timeline.notifications for s in n["subjects"]}
    timeline.not_notified = [s for s in timeline.affected if s not in told]
    if timeline.risk == "unlikely" and not timeline.reason:
        timeline.flags.append(
            "assessed unlikely to result in a risk without the reasoning (Art. 33(5): "
            "document why the breach was not reported)"
        )
    if timeline.reporter == "organisation":
        timeline.flags.extend(_report_flags(timeline, as_of))
    # Art. 34(1): telling the subjects is the controller's; the organisation's subjects are
    # those with data of its own in the breach
    untold = [s for s in timeline.not_notified if s in set(timeline.own)]
    if timeline.risk == "high" and untold and timeline.exemption is None:
        timeline.flags.append(f"high risk: {len(untold)} affected subject(s) not yet told")
    timeline.flags.extend(_controller_flags(timeline, as_of, threshold))
    timeline.flags.extend(_count_mismatches(timeline, told))


def _report_flags(timeline: BreachTimeline, as_of: str) -> list[str]:
    """Art. 33(1): the initial report within 72 hours of awareness, or with reasons."""
    assert timeline.deadline is not None
    if timeline.risk == "unlikely":  # Art. 33(1): unless unlikely to result in a risk
        return []
    initial = next((r for r in timeline.reports if r.phase == "initial"), None)
    if initial is None:
        if as_of > timeline.deadline:
            return ["no initial report to the authority and the 72 hours have passed"]
        return []
    if not initial.on_time and not initial.delay_reason:
        return ["initial report after 72 hours without the reasons for the delay"]
    return []


def _controller_flags(timeline: BreachTimeline, as_of: str, threshold: timedelta) -> list[str]:
    """Art. 33(2): a processor tells each controller concerned without undue delay, judged
    against *threshold* after awareness (the ledger's operational figure, not the law's)."""
    assert timeline.aware_at is not None
    limit = utc_timestamp(parse_timestamp(timeline.aware_at) + threshold)
    if timeline.held_for:
        timeline.controller_due = limit
    hours = f"{threshold.total_seconds() / 3600:g} hours"
    flags = []
    first: dict[str, ControllerNotice] = {}
    for notice in sorted(timeline.controller_notified, key=lambda n: n.at):
        notice.within_threshold = notice.at <= limit
        first.setdefault(notice.controller, notice)
    for controller in sorted(timeline.held_for):
        told = first.get(controller)
        if told is None and as_of > limit:
            flags.append(
                f"data held as a processor for {controller}: the controller not told, and "
                f"{hours} since awareness have passed (Art. 33(2): without undue delay)"
            )
        elif told is not None and not told.within_threshold:
            flags.append(
                f"data held as a processor for {controller}: the controller told more than "
                f"{hours} after awareness (Art. 33(2): without undue delay)"
            )
    strangers = sorted(set(first) - set(timeline.held_for))
    if strangers:
        flags.append(
            f"controller(s) told whose data the ledger's events do not show in this breach: "
            f"{', '.join(strangers)}"
        )
    return flags


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
    """Subjects exposed by the breach (see :func:`_exposed`), in code point order."""
    return _exposed(conn, timeline, as_of)[0]


def _exposed(
    conn: Connection, timeline: BreachTimeline, as_of: str
) -> tuple[list[str], list[str], dict[str, list[str]]]:
    """Subjects exposed by the breach (EVENTS.md, breach events), those of them with data of
    the organisation's own, and per controller those with data held for it as a processor,
    from the facts known at *as_of*:

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
    its descendants only. A holding's ``role`` and ``controller`` say whose data it is; shares
    carry no role, so a share counts as the organisation's own.
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

    held = select(
        h.c.subject,
        h.c.role,
        h.c.controller,
        h.c.kind,
        h.c.category,
        h.c.system,
        h.c.at,
        h.c.seq,
    ).where(
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
    text = String()
    shared = select(
        s.c.subject,
        cast(null(), text).label("role"),
        cast(null(), text).label("controller"),
        literal("shared").label("kind"),
        s.c.category,
        cast(null(), text).label("system"),
        s.c.at,
        s.c.seq,
    ).where(
        s.c.recipient.in_(timeline.systems),
        or_(*(facts.overlaps_sql(c, s.c.category) for c in timeline.categories)),
        s.c.at <= timeline.aware_at,
        s.c.at <= as_of,
        ~ended_before(s.c.subject, s.c.category, e.c.system == s.c.recipient, s.c.at, s.c.seq),
    )
    both = union(held, shared).subquery()
    affected: set[str] = set()
    own: set[str] = set()
    held_for: dict[str, set[str]] = {}
    for row in conn.execute(select(both)):
        affected.add(row.subject)
        role, controller = row.role, row.controller
        if row.kind == "rectified":  # a correction of data held, in the role it was held in
            role, controller = _collected_role(conn, row)
        if role == "processor":
            held_for.setdefault(controller, set()).add(row.subject)
        else:
            own.add(row.subject)
    # code point order, whatever the collation
    return sorted(affected), sorted(own), {c: sorted(held_for[c]) for c in sorted(held_for)}


def _collected_role(conn: Connection, rectified: Any) -> tuple[str | None, str | None]:
    """The role and controller of the collection a rectification corrects: the latest
    collection of the subject, in the same system, of an overlapping category, before it. A
    rectification records no role; without a collection before it, it is the organisation's
    own data."""
    h = facts.holdings
    found = conn.execute(
        select(h.c.role, h.c.controller)
        .where(
            h.c.subject == rectified.subject,
            h.c.system == rectified.system,
            h.c.kind == "collected",
            facts.overlaps_sql(h.c.category, rectified.category),
            or_(h.c.at < rectified.at, and_(h.c.at == rectified.at, h.c.seq < rectified.seq)),
        )
        .order_by(h.c.at.desc(), h.c.seq.desc())
        .limit(1)
    ).first()
    return (found.role, found.controller) if found is not None else (None, None)
