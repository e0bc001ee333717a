"""The data inventory: per subject and category, where it is held, why, since when, shared
with whom, whether it is held, erased or past its retention, and whether its processing is
restricted (Art. 18), at any moment."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from sqlalchemy import Select, String, Table, cast, literal, null, select, union_all
from sqlalchemy.engine import Connection

from . import facts
from .facts import covers, overlaps
from .notices import notices


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
    status: str = "held"  # held | past_retention (this copy's own retention)
    restricted: bool = False  # a restriction (Art. 18) in force in this system


@dataclass
class Restriction:
    """A ``restricted`` in force (Art. 18): the key it named, its ground, since when, and
    where (``system`` None: everywhere, except the systems in ``lifted_in``)."""

    category: str
    ground: str
    since: str
    seq: int
    system: str | None
    lifted_in: list[str] = field(default_factory=list)


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
    restricted: list[Restriction] = field(default_factory=list)
    # where the copies differ (one past its retention, another within it or with none):
    # each place's state in one line, e.g. "past retention in backup-us; no fixed period in crm"
    retention_summary: str | None = None


@dataclass
class SubjectInventory:
    subject: str
    status: str  # held | erased
    categories: list[Holding]


def _facts(conn: Connection, as_of: str, subject: str | None) -> Iterator[Any]:
    """Holdings and erasures at or before *as_of*, one ordered stream: by subject, then time."""
    h, e = facts.holdings, facts.erasures
    text, none = String(), null()
    held = select(
        h.c.subject, h.c.at, h.c.seq, literal(0).label("erasure"), h.c.category, h.c.kind,
        h.c.system, h.c.location, h.c.purpose, h.c.basis, h.c.source, h.c.retention,
        h.c.retention_until, h.c.subject_category, cast(none, text).label("reason"),
    ).where(h.c.at <= as_of)  # fmt: skip
    erased = select(
        e.c.subject, e.c.at, e.c.seq, literal(1), e.c.category, cast(none, text),
        e.c.system, cast(none, text), cast(none, text), cast(none, text), cast(none, text),
        cast(none, text), cast(none, text), cast(none, text), e.c.reason,
    ).where(e.c.at <= as_of)  # fmt: skip
    if subject is not None:
        held, erased = held.where(h.c.subject == subject), erased.where(e.c.subject == subject)
    both = union_all(held, erased).subquery()
    query = select(both).order_by(both.c.subject, both.c.at, both.c.seq, both.c.category)
    return _tuples(conn, query)


def _tuples(conn: Connection, query: Select[Any]) -> Iterator[tuple[Any, ...]]:
    """The rows of *query* as the driver returns them, in batches: a million rows come back
    seconds sooner than through SQLAlchemy's result rows."""
    compiled = query.compile(dialect=conn.dialect)
    params = compiled.construct_params()
    positions = compiled.positiontup
    args = params if positions is None else tuple(params[name] for name in positions)
    cursor = conn.connection.cursor()  # the driver's cursor, in this connection's transaction
    try:
        cursor.execute(str(compiled), args)
        while batch := cursor.fetchmany(5000):
            yield from batch
    finally:
        cursor.close()


def _by_subject(
    conn: Connection, table: Table, as_of: str, subject: str | None
) -> dict[str, list[Any]]:
    """The rows of a fact table with ``seq``, ``at``, ``subject`` and ``category`` at or
    before *as_of* (one subject's, or every one's), per subject in (``at``, seq) order."""
    query = select(table).where(table.c.at <= as_of)
    if subject is not None:
        query = query.where(table.c.subject == subject)
    c = table.c
    found: dict[str, list[Any]] = {}
    for row in conn.execute(query.order_by(c.subject, c.at, c.seq, c.category)):
        found.setdefault(row.subject, []).append(row)
    return found


def inventory(
    conn: Connection, *, as_of: str, subject: str | None = None
) -> list[SubjectInventory]:
    """Every subject's holdings (or one subject's) as they stood at *as_of* (UTC text)."""
    shares_of = _by_subject(conn, facts.shares, as_of, subject)
    restricted_of = _by_subject(conn, facts.restrictions, as_of, subject)
    found = [
        _subject(who, rows, shares_of.get(who, []), as_of, restricted_of.pop(who, []))
        for who, rows in itertools.groupby(_facts(conn, as_of, subject), key=itemgetter(0))
    ]
    # restricted, and nothing collected, shared or erased: listed all the same (never dropped)
    found += [_subject(who, [], [], as_of, rows) for who, rows in restricted_of.items()]
    found.sort(key=lambda held: held.subject)  # code point order, whatever the collation
    return found


def _subject(
    subject: str, rows: Iterable[Any], shared: list[Any], as_of: str, restricted: list[Any]
) -> SubjectInventory:
    holdings: dict[str, Holding] = {}
    for row in rows:
        (_, at, seq, erasure, category, kind, system, location, purpose, basis, source,
         retention, until, subject_category, reason) = row  # fmt: skip
        if erasure:
            for held, ended in holdings.items():
                if ended.status == "erased" or not covers(category, held):
                    continue
                if system is not None:
                    ended.places = [p for p in ended.places if p.system != system]
                    if ended.places:
                        continue
                ended.places = []
                ended.status = "erased"
                ended.erased_at, ended.erased_reason = at, reason
                ended.history.append({"at": at, "seq": seq, "event": "erased"})
            continue
        holding = holdings.get(category)
        if holding is None:
            holding = holdings[category] = Holding(category, "held")
        elif holding.status == "erased":  # collected again after an erasure
            holding.status, holding.erased_at, holding.erased_reason = "held", None, None
        for place in holding.places:
            if place.system == system:
                place.updated_at = at
                if kind == "collected":
                    place.location, place.purpose = location, purpose
                    place.basis, place.source = basis, source
                    place.retention, place.retention_until = retention, until
                break
        else:
            holding.places.append(
                Place(system, location, purpose, basis, source, at, at, retention, until,
                      subject_category)
            )  # fmt: skip
        holding.history.append({"at": at, "seq": seq, "event": kind, "system": system})
    collected = list(holdings.items())
    for row in shared:
        recipient = Recipient(
            row.recipient,
            row.recipient_location,
            row.transfer,
            row.purpose,
            row.basis,
            row.at,
            row.seq,
        )
        # a copy shared under a category is a copy of every held category it overlaps:
        # ``user.contact`` shared reached the ``user.contact.email`` held, and the other way
        # (a category shared but never collected is listed as such, under its own key)
        reached = [held for key, held in collected if overlaps(key, row.category)]
        if not reached:
            reached = [holdings.setdefault(row.category, Holding(row.category, "held"))]
        for holding in reached:
            holding.recipients.append(recipient)
    if restricted:
        _restrict(holdings, restricted)
    for holding in holdings.values():
        if holding.status == "held" and not holding.places:
            holding.status = "not_collected"  # shared, but no collection of it is on the ledger
            continue
        past = 0
        for place in holding.places:
            if place.retention_until is not None and place.retention_until < as_of:
                place.status = "past_retention"
                past += 1
        if holding.status == "held" and past and past == len(holding.places):
            holding.status = "past_retention"
        elif past:  # some copies past their retention, others not: say which is which
            holding.retention_summary = _retention_summary(holding.places)
    ordered = [holdings[c] for c in sorted(holdings)]
    status = "erased" if ordered and all(h.status == "erased" for h in ordered) else "held"
    return SubjectInventory(subject, status, ordered)


def _retention_summary(places: list[Place]) -> str:
    parts = []
    for place in places:
        if place.status == "past_retention":
            parts.append(f"past retention in {place.system} (since {_day(place.retention_until)})")
        elif place.retention_until is None:
            parts.append(f"no fixed period in {place.system}")
        else:
            until = _day(place.retention_until)
            parts.append(f"within retention in {place.system} (until {until})")
    return "; ".join(parts)


def _day(text: str | None) -> str:
    return (text or "")[:10]


def _restrict(holdings: dict[str, Holding], rows: list[Any]) -> None:
    """Art. 18 in force, per held category: each ``restricted`` whose key covers the category
    (a key and its descendants only, EVENTS.md) and that no later ``restriction_lifted``
    covering the category ended: one with a system lifts there only, one without everywhere.
    *rows* come in (``at``, seq) order; a restriction naming nothing held is listed under its
    own key (``not_collected``) rather than dropped. An erasure of all that was held ends the
    restrictions before it (data collected again afterwards is not under them)."""
    for key in {row.category for row in rows if row.kind == "restricted"}:
        if not any(covers(key, held) for held in holdings):
            holdings[key] = Holding(key, "held")  # becomes not_collected: no place
    for category, holding in holdings.items():
        # an erasure of everything held ends what was restricted: nothing is left to restrict
        erased = [(h["at"], h["seq"]) for h in holding.history if h["event"] == "erased"]
        in_force = restrictions_in_force(category, rows, max(erased) if erased else None)
        holding.restricted = in_force
        for place in holding.places:
            place.restricted = restricted_in(in_force, place.system)


def restrictions_in_force(
    category: str, rows: Iterable[Any], ended: tuple[str, int] | None = None
) -> list[Restriction]:
    """The restrictions (Art. 18) in force on *category* after *rows* (restriction rows in
    (``at``, seq) order): each ``restricted`` covering it that no later ``restriction_lifted``
    covering it ended, everywhere (no system) or in its system. Rows before *ended* (the
    (``at``, seq) of an erasure of all that was held) count for nothing."""
    in_force: list[Restriction] = []
    seen: set[int] = set()
    for row in rows:
        if row.seq in seen or not covers(row.category, category):
            continue
        if ended is not None and (row.at, row.seq) < ended:
            continue
        seen.add(row.seq)  # one event naming a key and its parent counts once
        if row.kind == "restricted":
            in_force.append(Restriction(row.category, row.ground, row.at, row.seq, row.system))
        elif row.system is None:
            in_force = []
        else:
            kept = []
            for r in in_force:
                if r.system is None:
                    if row.system not in r.lifted_in:
                        r.lifted_in.append(row.system)
                    kept.append(r)
                elif r.system != row.system:
                    kept.append(r)
            in_force = kept
    return in_force


def restricted_in(in_force: Iterable[Restriction], system: str | None) -> bool:
    """Whether a restriction of *in_force* applies in *system*: one of that system, or one of
    everywhere not lifted there. With *system* None (a share, which names none), only the
    restrictions of everywhere count."""
    return any(
        (r.system is None and (system is None or system not in r.lifted_in))
        or (system is not None and r.system == system)
        for r in in_force
    )


def must_tell(conn: Connection, *, subject: str, as_of: str) -> list[dict[str, Any]]:
    """Art. 19 (RESEARCH.md): for each erasure, rectification or restriction of *subject* at
    or before *as_of*, the recipients the data had been disclosed to before it, in ledger time
    order, and which of them the ledger shows told (see :func:`.notices.notices`).

    A recipient is told when what it received overlaps what changed (EVENTS.md, "Category
    matching"): a rectified ``user.contact.email`` reached the recipient of ``user.contact``,
    and an erased ``user.contact`` the recipient of ``user.contact.email``.
    """
    tell: dict[int, dict[str, Any]] = {}
    for n in notices(conn, as_of=as_of, subject=subject).notices:
        entry = tell.setdefault(
            n.change_seq,
            {"seq": n.change_seq, "at": n.changed_at, "event": n.event, "change": n.change,
             "categories": n.categories, "recipients": [], "told": {}, "untold": []},
        )  # fmt: skip
        entry["recipients"].append(n.recipient)
        if n.told:
            entry["told"][n.recipient] = n.told_at
        else:
            entry["untold"].append(n.recipient)
    return list(tell.values())
