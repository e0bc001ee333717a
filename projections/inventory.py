"""The data inventory: per subject and category, where it is held, why, since when, shared
with whom, and whether it is held, erased or past its retention, at any moment."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.engine import Connection

from . import facts
from .model import covers


@dataclass
class Place:
    """One system holding a category, with what the collection said about it."""

    system: str
    location: str | None
    purpose: str | None
    basis: str | None
    source: str | None
    collected_at: str
    updated_at: str
    retention: str | None
    retention_until: str | None
    subject_category: str | None


@dataclass
class Recipient:
    recipient: str
    country: str
    transfer: str | None
    purpose: str
    basis: str
    at: str
    seq: int


@dataclass
class Holding:
    """One category of one subject."""

    category: str
    status: str  # held | past_retention | erased
    places: list[Place] = field(default_factory=list)
    recipients: list[Recipient] = field(default_factory=list)
    erased_at: str | None = None
    erased_reason: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class SubjectInventory:
    subject: str
    status: str  # held | erased
    categories: list[Holding]


def _rows(conn: Connection, table: Any, as_of: str | None, subject: str | None) -> list[Any]:
    query = select(table)
    conditions = []
    if as_of is not None:
        conditions.append(table.c.at <= as_of)
    if subject is not None:
        conditions.append(table.c.subject == subject)
    if conditions:
        query = query.where(and_(*conditions))
    return list(conn.execute(query.order_by(table.c.at, table.c.seq)))


def inventory(
    conn: Connection, *, as_of: str, subject: str | None = None
) -> list[SubjectInventory]:
    """Every subject's holdings (or one subject's) as they stood at *as_of* (UTC text)."""
    held = _rows(conn, facts.holdings, as_of, subject)
    erased = _rows(conn, facts.erasures, as_of, subject)
    shared = _rows(conn, facts.shares, as_of, subject)
    subjects = sorted({r.subject for r in held} | {r.subject for r in erased})
    by_subject: dict[str, list[Any]] = {s: [] for s in subjects}
    for row in (*held, *erased):
        by_subject[row.subject].append(row)
    shares_of: dict[str, list[Any]] = {}
    for row in shared:
        shares_of.setdefault(row.subject, []).append(row)
    return [
        _subject(s, sorted(rows, key=lambda r: (r.at, r.seq)), shares_of.get(s, []), as_of)
        for s, rows in by_subject.items()
    ]


def _subject(subject: str, rows: Iterable[Any], shared: list[Any], as_of: str) -> SubjectInventory:
    holdings: dict[str, Holding] = {}
    for row in rows:
        if hasattr(row, "reason"):  # an erasure
            for category, holding in holdings.items():
                if holding.status == "erased" or not covers(row.category, category):
                    continue
                if row.system is not None:
                    holding.places = [p for p in holding.places if p.system != row.system]
                    if holding.places:
                        continue
                holding.places = []
                holding.status = "erased"
                holding.erased_at, holding.erased_reason = row.at, row.reason
                holding.history.append({"at": row.at, "seq": row.seq, "event": "erased"})
            continue
        holding = holdings.setdefault(row.category, Holding(row.category, "held"))
        if holding.status == "erased":  # collected again after an erasure
            holding.status, holding.erased_at, holding.erased_reason = "held", None, None
        place = next((p for p in holding.places if p.system == row.system), None)
        if place is None:
            place = Place(
                row.system,
                row.location,
                row.purpose,
                row.basis,
                row.source,
                row.at,
                row.at,
                row.retention,
                row.retention_until,
                row.subject_category,
            )
            holding.places.append(place)
        else:
            place.updated_at = row.at
            if row.kind == "collected":
                place.location, place.purpose = row.location, row.purpose
                place.basis, place.source = row.basis, row.source
                place.retention, place.retention_until = row.retention, row.retention_until
        holding.history.append(
            {"at": row.at, "seq": row.seq, "event": row.kind, "system": row.system}
        )
    for row in shared:
        holding = holdings.setdefault(row.category, Holding(row.category, "held"))
        holding.recipients.append(
            Recipient(
                row.recipient,
                row.recipient_location,
                row.transfer,
                row.purpose,
                row.basis,
                row.at,
                row.seq,
            )
        )
    for holding in holdings.values():
        if holding.status == "held" and not holding.places:
            holding.status = "not_collected"  # shared, but no collection of it is on the ledger
        elif holding.status == "held" and all(
            p.retention_until is not None and p.retention_until < as_of for p in holding.places
        ):
            holding.status = "past_retention"
    ordered = [holdings[c] for c in sorted(holdings)]
    status = "erased" if ordered and all(h.status == "erased" for h in ordered) else "held"
    return SubjectInventory(subject, status, ordered)
