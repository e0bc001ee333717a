"""Data-subject request clocks: received, the relevant time, pauses (the stop-the-clock of
Art. 12A), the legal due date and the organisation's target, met or missed.

Invariant: a request's events are gathered first and judged once all are in, in ``at`` order
(ties broken by sequence, as everywhere), so the clock does not depend on the order the
events were recorded in, only on their times. The rules as applied are in docs/law/requests.md."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.engine import Connection

from ledger.config import Config
from ledger.core.contract import parse_timestamp

from . import facts
from .clock import (
    Settings,
    latest_extension,
    legal_due,
    local_date,
    next_working_day,
    settings_in_force,
    stopped_days,
    stopped_total,
)

CLARIFICATION = "clarification"  # the other values, identity and fee, move the relevant time


@dataclass
class Pause:
    """One ``request_paused`` and the ``request_resumed`` that ended it (if any), judged."""

    awaiting: str  # clarification | identity | fee
    paused_at: str
    paused_on: date  # in the organisation's time zone in force at receipt
    resumed_at: str | None = None
    resumed_on: date | None = None
    days: int | None = None  # clarification: the days that do not count (both ends included)
    counted: bool = False  # whether it stops or restarts the clock (False: flagged, no effect)
    effect: str = ""


@dataclass
class RequestClock:
    """One request as it stood at a moment."""

    request: str
    subject: str
    kind: str | None
    received_at: str | None
    received: date | None
    legal_due: date | None  # one month from the relevant time, after pauses, before extensions
    due: date | None  # the legal due date in force (moved by an extension); None while paused
    target: date | None  # the organisation's own promise, moved by pauses as the due date is
    status: str  # open | paused | fulfilled | partially_fulfilled | refused
    closed_at: str | None = None
    extension_reason: str | None = None
    overdue: bool = False
    flags: list[str] = field(default_factory=list)
    relevant: date | None = None  # the relevant time (Art. 12A): receipt, or a later resume
    pauses: list[Pause] = field(default_factory=list)
    paused_since: date | None = None  # while a pause is open
    awaiting: list[str] = field(default_factory=list)  # what the open pauses wait for
    target_met: bool | None = None  # closed on or before the target; None while open
    target_passed: bool = False  # open (not paused) and the target is behind today
    reason: str | None = None  # the reason given on closing (refused, partially_fulfilled)


def requests(
    conn: Connection, *, as_of: str, config: Config, open_only: bool = False
) -> list[RequestClock]:
    """Every request's clock at *as_of*; overdue ones are those open past their due date.

    The events of a request are gathered first and judged once all are in, so the answer
    does not depend on the order they were recorded in (an extension or a pause recorded
    before the ``request_received`` it belongs to is judged against that receipt all the
    same). *open_only* keeps requests not closed (paused ones are open)."""
    table = facts.events
    query = (
        select(table.c.seq, table.c.at, table.c.detail)
        .where(table.c.request.is_not(None), table.c.at <= as_of)
        .order_by(table.c.at, table.c.seq)
    )
    clocks: dict[str, RequestClock] = {}
    extensions: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    marks: dict[str, list[tuple[str, int, int, dict[str, Any]]]] = {}
    for row in conn.execute(query):
        event = orjson.loads(row.detail)
        clock = clocks.get(event["request"])
        if clock is None:
            clock = clocks[event["request"]] = RequestClock(
                event["request"], event["subject"], None, None, None, None, None, None, "open"
            )
        kind = event["type"]
        if kind == "request_received":
            clock.kind, clock.received_at = event["kind"], row.at
        elif kind == "request_extended":
            extensions.setdefault(clock.request, []).append((row.at, event))
        elif kind in ("request_paused", "request_resumed"):
            rank = 0 if kind == "request_paused" else 1
            marks.setdefault(clock.request, []).append((row.at, rank, row.seq, event))
        elif kind == "request_closed":
            clock.status, clock.closed_at = event["outcome"], row.at
            clock.reason = event.get("reason")
    # The settings in force (EVENTS.md: the organisation's time zone, bank holidays and
    # target): a request's clock runs under those in force when it was received; today is
    # today in the time zone in force at *as_of*.
    in_force = settings_in_force(conn, as_of=as_of, config=config)
    today = local_date(parse_timestamp(as_of), in_force.at(as_of).time_zone)
    for clock in clocks.values():
        if clock.received_at is not None:
            settings = in_force.at(clock.received_at)
            clock.received = local_date(parse_timestamp(clock.received_at), settings.time_zone)
            _conclude(
                clock,
                extensions.get(clock.request, []),
                # EVENTS.md: in `at` order, ties broken by sequence (as recorded)
                sorted(marks.get(clock.request, []), key=lambda m: (m[0], m[2])),
                settings,
                today,
            )
        else:
            clock.flags.append("no request_received on the ledger (yet)")
    result = sorted(clocks.values(), key=lambda c: (not c.overdue, c.due or date.max, c.request))
    return [c for c in result if c.status in ("open", "paused")] if open_only else result


def _pair(
    marks: list[tuple[str, int, int, dict[str, Any]]], zone: str, flags: list[str]
) -> list[Pause]:
    """Each pause with the resume that ends it, per ``awaiting`` value (EVENTS.md: pauses for
    one value may not overlap; for different values they may run at once). A pause while one
    for the same value is open is flagged and left without effect; so is a resume with no
    open pause for its value."""
    pauses: list[Pause] = []
    open_by: dict[str, Pause] = {}
    for at, rank, _, event in marks:
        awaiting, on = event["awaiting"], local_date(parse_timestamp(at), zone)
        if rank == 0:
            running = open_by.get(awaiting)
            pause = Pause(awaiting, at, on)
            if running is not None:
                pause.effect = (
                    f"none: a {awaiting} pause was already open (since {running.paused_on})"
                )
                flags.append(
                    f"paused for {awaiting} on {on} while a {awaiting} pause was open since "
                    f"{running.paused_on}: the overlapping pause is ignored"
                )
            else:
                open_by[awaiting] = pause
            pauses.append(pause)
        elif awaiting in open_by:
            pause = open_by.pop(awaiting)
            pause.resumed_at, pause.resumed_on = at, on
        else:
            flags.append(f"resumed ({awaiting}) on {on} without an open {awaiting} pause")
    return pauses


@dataclass
class _Due:
    legal_due: date
    due: date
    reason: str | None
    problems: list[str]


def _due(
    relevant: date,
    stops: list[Pause],
    extensions: list[tuple[str, dict[str, Any]]],
    settings: Settings,
) -> _Due:
    """The legal due date and the due date in force from the relevant time, the clarification
    pauses ended so far (*stops*) and *extensions* (in ``at`` order), with what is wrong with
    each extension."""
    region, zone = settings.bank_holidays, settings.time_zone

    def stopped(pauses: list[Pause]) -> int:
        spans = [(p.paused_on, p.resumed_on) for p in pauses if p.resumed_on is not None]
        return stopped_total(spans, relevant)

    # Art. 12(3) and 12A as the ICO counts them (RESEARCH.md): the corresponding date of the
    # next month from the relevant time (or that month's last day), plus the days a
    # clarification pause does not count, moved past weekends and bank holidays.
    first = legal_due(relevant, region, stopped(stops))
    found = _Due(first, first, None, [])
    for at, event in extensions:  # in `at` order: the latest valid extension is in force
        # Art. 12(3): extended "by two further months" (at most three months from the relevant
        # time), the subject told within the first month (by the legal due date: the
        # clarification days do not count towards that month either, DPA 2018 s.54(3C)).
        # EVENTS.md: an invalid extension is flagged and does not move the legal due date.
        asked = date.fromisoformat(event["due"])
        made = local_date(parse_timestamp(at), zone)
        # pauses begun by the day of the extension are taken as counted in the date it names;
        # the days of a later one move it, as they move the legal due date
        before = [p for p in stops if p.paused_on <= made]
        latest = latest_extension(relevant, region, stopped(before))
        problems = []
        if asked > latest:
            problems.append("extended beyond two further months")
        if made > first:
            problems.append("extended after the first month had passed")
        if problems:
            found.problems.extend(problems)
            found.problems.append(
                f"extension to {asked} not valid: the due date stays {found.due} "
                f"(an extension reaches at most {latest} and is made by {first})"
            )
            continue
        later = stopped(stops) - stopped(before)  # the days only the later pauses add
        moved = next_working_day(asked + timedelta(days=later), region) if later else asked
        if moved < first:
            # an extension adds time: one naming a date before the due date moves nothing
            found.problems.append(
                f"extension to {asked} is before the due date {first}: it moves nothing"
            )
            continue
        found.due = moved
        found.reason = event["reason"]
    return found


def _conclude(
    clock: RequestClock,
    extensions: list[tuple[str, dict[str, Any]]],
    marks: list[tuple[str, int, int, dict[str, Any]]],
    settings: Settings,
    today: date,
) -> None:
    """The relevant time, the pauses' effect, the legal due date, the target and the
    extensions in force, and what is flagged."""
    assert clock.received is not None
    zone = settings.time_zone
    closed_on = local_date(parse_timestamp(clock.closed_at), zone) if clock.closed_at else None
    clock.pauses = _pair(marks, zone, clock.flags)
    relevant = clock.received
    accepted: list[Pause] = []
    for pause in clock.pauses:  # in the order they began
        if pause.effect:  # overlapping: already flagged
            continue
        if pause.paused_on < clock.received:
            pause.effect = "none: before the request was received"
            clock.flags.append(f"paused on {pause.paused_on}, before the request was received")
            continue
        if closed_on is not None and pause.paused_on > closed_on:
            pause.effect = "none: after the request was closed"
            clock.flags.append(f"paused on {pause.paused_on}, after the request was closed")
            continue
        # While another pause runs the clock is stopped, so there is no due date to be past.
        running = any(
            p.paused_on <= pause.paused_on
            and (p.resumed_on is None or p.resumed_on >= pause.paused_on)
            for p in accepted
        )
        if not running:
            stops = [p for p in accepted if p.awaiting == CLARIFICATION]
            made_by = [(at, e) for at, e in extensions
                       if local_date(parse_timestamp(at), zone) <= pause.paused_on]  # fmt: skip
            due_then = _due(relevant, stops, made_by, settings).due
            if pause.paused_on > due_then:
                pause.effect = f"none: paused after its due date ({due_then}) had passed"
                clock.flags.append(
                    f"paused for {pause.awaiting} on {pause.paused_on}, after its due date "
                    f"({due_then}) had passed: the clock is not stopped"
                )
                continue
        if pause.awaiting == CLARIFICATION and clock.kind != "access":
            # EVENTS.md, Art. 12A and DPA 2018 s.54(3C) ("a request under section 45(1)", the
            # right of access): clarification stops the clock of an access request only, so
            # on another kind it moves nothing (a later date would show a late answer on time)
            pause.effect = "none: the clarification pause is for access requests only"
            clock.flags.append(
                f"paused for clarification on {pause.paused_on} on a request of kind "
                f"{clock.kind}: Art. 12A stops the clock for clarification of access requests "
                "only, so the clock is not stopped"
            )
            continue
        pause.counted = True
        accepted.append(pause)
        if pause.resumed_on is not None and pause.awaiting != CLARIFICATION:
            relevant = max(relevant, pause.resumed_on)  # Art. 12A: the latest of them
    clock.relevant = relevant
    for pause in accepted:
        if pause.resumed_on is None:
            pause.effect = "open: the clock is stopped (no due date)"
        elif pause.awaiting == CLARIFICATION:
            pause.days = stopped_days(pause.paused_on, pause.resumed_on, relevant)
            pause.effect = (
                f"due date and target moved by {pause.days} day(s)"
                if pause.days
                else f"none: it ended before the relevant time ({relevant})"
            )
        else:
            pause.effect = f"the month runs from {pause.resumed_on}"
    still_open = [p for p in accepted if p.resumed_on is None]
    if still_open:
        # EVENTS.md: a request paused and not resumed has no due date
        clock.paused_since = min(p.paused_on for p in still_open)
        clock.awaiting = sorted({p.awaiting for p in still_open})
        if clock.status == "open":
            clock.status = "paused"
        else:
            clock.flags.append(
                f"closed while paused ({', '.join(clock.awaiting)}): no due date to judge it by"
            )
        return
    stops = [p for p in accepted if p.awaiting == CLARIFICATION]
    found = _due(relevant, stops, extensions, settings)
    clock.legal_due, clock.due = found.legal_due, found.due
    clock.extension_reason = found.reason
    clock.flags.extend(found.problems)
    stopped = stopped_total(
        [(p.paused_on, p.resumed_on) for p in stops if p.resumed_on is not None], relevant
    )
    clock.target = relevant + timedelta(days=settings.target_days + stopped)
    if clock.status == "open":
        clock.overdue = today > clock.due
        clock.target_passed = today > clock.target
    elif closed_on is not None:
        clock.target_met = closed_on <= clock.target
        if closed_on > clock.due:
            clock.flags.append("closed after its due date")
