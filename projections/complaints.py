"""Complaints to the organisation (DPA 2018 s.164A, inserted by the Data (Use and Access) Act
2025 s.103): received, acknowledged within 30 days, closed, at any moment."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

import orjson
from sqlalchemy import select
from sqlalchemy.engine import Connection

from ledger.config import Config
from ledger.core.contract import COMPLAINT_DUTIES_FROM, COMPLAINT_TYPES, parse_timestamp

from . import facts
from .clock import Settings, local_date, next_working_day, settings_in_force

# s.164A(3): "within the period of 30 days beginning when the complaint is received"; EVENTS.md
# counts the day of receipt as the first of the 30, so the last is 29 days after it
ACKNOWLEDGE_WITHIN = timedelta(days=29)


@dataclass
class Complaint:
    """One complaint as it stood at a moment; dates are in the organisation's time zone."""

    complaint: str
    subject: str | None = None
    channel: str | None = None
    received_at: str | None = None
    received: date | None = None
    acknowledged_at: str | None = None
    acknowledged: date | None = None
    closed_at: str | None = None
    closed: date | None = None
    summary: str | None = None
    acknowledge_by: date | None = None  # the last day of the 30 (s.164A(3))
    # the ICO's guidance counts the 30 days from the day after receipt and moves a last day on
    # a weekend or bank holiday to the next working day: shown beside, never used to flag
    ico_acknowledge_by: date | None = None
    duty_in_force: bool = True  # received on or after 19 June 2026
    status: str = "open"  # open | acknowledged | closed
    days_open: int | None = None  # the outcome's age: shown, never flagged (no figure in law)
    late: bool = False  # not acknowledged within the 30 days, nor closed within them
    flags: list[str] = field(default_factory=list)


def complaints(
    conn: Connection, *, as_of: str, config: Config, open_only: bool = False
) -> list[Complaint]:
    """Every complaint at *as_of*, late ones first, then by receipt.

    Events are gathered first and judged once all are in (as request clocks are), so the
    answer does not depend on the order they were recorded in; one whose ``at`` comes before
    the ``complaint_received`` is flagged."""
    table = facts.events
    query = (
        select(table.c.seq, table.c.at, table.c.type, table.c.detail)
        .where(table.c.type.in_(sorted(COMPLAINT_TYPES)), table.c.at <= as_of)
        .order_by(table.c.at, table.c.seq)
    )
    found: dict[str, Complaint] = {}
    steps: dict[str, list[tuple[str, str]]] = {}
    for row in conn.execute(query):
        event = orjson.loads(row.detail)
        complaint = found.setdefault(event["complaint"], Complaint(event["complaint"]))
        steps.setdefault(complaint.complaint, []).append((row.type, row.at))
        if row.type == "complaint_received":
            if complaint.received_at is not None:
                complaint.flags.append("received more than once: the first receipt counts")
                continue
            complaint.received_at = row.at
            complaint.subject, complaint.channel = event.get("subject"), event["channel"]
        elif row.type == "complaint_acknowledged":
            if complaint.acknowledged_at is None:
                complaint.acknowledged_at = row.at
        elif row.type == "complaint_closed":
            if complaint.closed_at is not None:
                complaint.flags.append("closed more than once: the first closure counts")
                continue
            complaint.closed_at, complaint.summary = row.at, event["summary"]
    in_force = settings_in_force(conn, as_of=as_of, config=config)
    today = local_date(parse_timestamp(as_of), in_force.at(as_of).time_zone)
    for complaint in found.values():
        _conclude(complaint, steps[complaint.complaint], in_force.at, today)
    result = sorted(
        found.values(),
        key=lambda c: (not c.late, c.received or date.max, c.received_at or "", c.complaint),
    )
    return [c for c in result if c.status != "closed"] if open_only else result


def _conclude(
    complaint: Complaint,
    steps: list[tuple[str, str]],
    settings_at: Callable[[str], Settings],
    today: date,
) -> None:
    """Dates in the time zone in force at receipt; what is late, and what is out of order."""
    if complaint.closed_at is not None:
        complaint.status = "closed"
    elif complaint.acknowledged_at is not None:
        complaint.status = "acknowledged"
    if complaint.received_at is None:
        complaint.flags.append("no complaint_received on the ledger (yet)")
        return
    settings = settings_at(complaint.received_at)  # the clock runs under those of receipt
    zone = settings.time_zone

    def day(at: str | None) -> date | None:
        return None if at is None else local_date(parse_timestamp(at), zone)

    received = complaint.received = day(complaint.received_at)
    assert received is not None
    complaint.acknowledged = day(complaint.acknowledged_at)
    complaint.closed = day(complaint.closed_at)
    for kind, at in steps:
        if kind != "complaint_received" and at < complaint.received_at:
            complaint.flags.append(f"{kind} at {at[:19]}Z comes before the complaint_received")
    if (
        complaint.acknowledged_at is not None
        and complaint.closed_at is not None
        and (complaint.acknowledged_at > complaint.closed_at)
    ):
        complaint.flags.append("acknowledged after it was closed")
    end = complaint.closed or today
    complaint.days_open = (end - received).days
    complaint.acknowledge_by = received + ACKNOWLEDGE_WITHIN
    complaint.ico_acknowledge_by = next_working_day(
        received + timedelta(days=30), settings.bank_holidays
    )
    if received < COMPLAINT_DUTIES_FROM:
        complaint.duty_in_force = False
        complaint.flags.append(
            f"received before {COMPLAINT_DUTIES_FROM}: the duty to acknowledge (DPA 2018 "
            "s.164A) was not in force, so nothing is flagged as late"
        )
        return
    due = complaint.acknowledge_by
    acknowledged, closed = complaint.acknowledged, complaint.closed
    in_time = (acknowledged is not None and acknowledged <= due) or (
        closed is not None and closed <= due
    )
    if in_time:
        return
    if acknowledged is not None:
        complaint.late = True
        complaint.flags.append(
            f"acknowledged on {acknowledged}, after the 30 days ending {due} (s.164A(3))"
        )
    elif today > due or closed is not None:
        complaint.late = True
        complaint.flags.append(f"not acknowledged within the 30 days ending {due} (s.164A(3))")
