"""Data-subject request clocks: received, the legal due date, the organisation's target."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import orjson
from sqlalchemy import select
from sqlalchemy.engine import Connection

from ledger.config import Config
from ledger.contract import parse_timestamp

from . import facts
from .clock import latest_extension, legal_due, local_date


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
    """Every request's clock at *as_of*; overdue ones are those open past their due date."""
    table = facts.events
    query = (
        select(table.c.seq, table.c.at, table.c.detail)
        .where(table.c.request.is_not(None), table.c.at <= as_of)
        .order_by(table.c.at, table.c.seq)
    )
    clocks: dict[str, RequestClock] = {}
    today = local_date(parse_timestamp(as_of), config.time_zone)
    region = config.bank_holidays
    for row in conn.execute(query):
        event = orjson.loads(row.detail)
        clock = clocks.get(event["request"])
        if clock is None:
            clock = clocks[event["request"]] = RequestClock(
                event["request"], event["subject"], None, None, None, None, None, None, "open"
            )
        kind = event["type"]
        if kind == "request_received":
            received = local_date(parse_timestamp(event["at"]), config.time_zone)
            clock.kind, clock.received_at, clock.received = event["kind"], row.at, received
            clock.legal_due = legal_due(received, region)
            clock.due = clock.due or clock.legal_due
            clock.target = received + timedelta(days=config.target_days)
        elif kind == "request_extended":
            clock.due = date.fromisoformat(event["due"])
            clock.extension_reason = event["reason"]
            if clock.received is not None:
                if clock.due > latest_extension(clock.received, region):
                    clock.flags.append("extended beyond two further months")
                if (
                    clock.legal_due
                    and local_date(parse_timestamp(event["at"]), config.time_zone) > clock.legal_due
                ):
                    clock.flags.append("extended after the first month had passed")
        elif kind == "request_closed":
            clock.status, clock.closed_at = event["outcome"], row.at
    for clock in clocks.values():
        if clock.received is None:
            clock.flags.append("no request_received on the ledger (yet)")
        if clock.due is not None:
            if clock.status == "open":
                clock.overdue = today > clock.due
            elif clock.closed_at is not None:
                closed_on = local_date(parse_timestamp(clock.closed_at), config.time_zone)
                if closed_on > clock.due:
                    clock.flags.append("closed after its due date")
    result = sorted(clocks.values(), key=lambda c: (not c.overdue, c.due or date.max, c.request))
    return [c for c in result if c.status == "open"] if open_only else result
