"""Data-subject request clocks: received, the legal due date, the organisation's target."""

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
from .clock import Settings, latest_extension, legal_due, local_date, settings_in_force


@dataclass
class RequestClock:
    """One request as it stood at a moment."""

    request: str
    subject: str
    kind: str | None
    received_at: str | None
    received: date | None
    legal_due: date | None  # one month, as the ICO counts it, before any extension
    due: date | None  # the legal due date in force (moved by an extension)
    target: date | None  # the organisation's own promise
    status: str  # open | fulfilled | refused
    closed_at: str | None = None
    extension_reason: str | None = None
    overdue: bool = False
    flags: list[str] = field(default_factory=list)


def requests(
    conn: Connection, *, as_of: str, config: Config, open_only: bool = False
) -> list[RequestClock]:
    """Every request's clock at *as_of*; overdue ones are those open past their due date.

    The events of a request are gathered first and judged once all are in, so the answer
    does not depend on the order they were recorded in (an extension recorded before the
    ``request_received`` it extends is judged against that receipt all the same)."""
    table = facts.events
    query = (
        select(table.c.seq, table.c.at, table.c.detail)
        .where(table.c.request.is_not(None), table.c.at <= as_of)
        .order_by(table.c.at, table.c.seq)
    )
    clocks: dict[str, RequestClock] = {}
    extensions: dict[str, list[dict[str, Any]]] = {}
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
            extensions.setdefault(clock.request, []).append(event)
        elif kind == "request_closed":
            clock.status, clock.closed_at = event["outcome"], row.at
    # The settings in force (EVENTS.md: the organisation's time zone, bank holidays and
    # target): a request's clock runs under those in force when it was received; today is
    # today in the time zone in force at *as_of*.
    in_force = settings_in_force(conn, as_of=as_of, config=config)
    today = local_date(parse_timestamp(as_of), in_force.at(as_of).time_zone)
    for clock in clocks.values():
        if clock.received_at is not None:
            settings = in_force.at(clock.received_at)
            clock.received = local_date(parse_timestamp(clock.received_at), settings.time_zone)
            _conclude(clock, extensions.get(clock.request, []), settings, today)
        else:
            clock.flags.append("no request_received on the ledger (yet)")
    result = sorted(clocks.values(), key=lambda c: (not c.overdue, c.due or date.max, c.request))
    return [c for c in result if c.status == "open"] if open_only else result


def _conclude(
    clock: RequestClock, extensions: list[dict[str, Any]], settings: Settings, today: date
) -> None:
    """The legal due date, the target and the extensions in force, and what is flagged."""
    assert clock.received is not None
    region = settings.bank_holidays
    # Art. 12(3) as the ICO counts it (RESEARCH.md): the corresponding date of the next month
    # (or its last day), moved past weekends and bank holidays.
    clock.legal_due = clock.due = legal_due(clock.received, region)
    clock.target = clock.received + timedelta(days=settings.target_days)
    latest = latest_extension(clock.received, region)
    for event in extensions:  # in `at` order: the latest valid extension is in force
        # Art. 12(3): extended "by two further months" (at most three months from receipt),
        # the subject told "within one month of receipt" (by the legal due date). EVENTS.md:
        # an invalid extension is flagged and does not move the legal due date.
        asked = date.fromisoformat(event["due"])
        made = local_date(parse_timestamp(event["at"]), settings.time_zone)
        problems = []
        if asked > latest:
            problems.append("extended beyond two further months")
        if made > clock.legal_due:
            problems.append("extended after the first month had passed")
        if problems:
            clock.flags.extend(problems)
            clock.flags.append(
                f"extension to {asked} not valid: the due date stays {clock.due} "
                f"(an extension reaches at most {latest} and is made by {clock.legal_due})"
            )
            continue
        clock.due, clock.extension_reason = asked, event["reason"]
    if clock.status == "open":
        clock.overdue = today > clock.due
    elif clock.closed_at is not None:
        closed_on = local_date(parse_timestamp(clock.closed_at), settings.time_zone)
        if closed_on > clock.due:
            clock.flags.append("closed after its due date")
