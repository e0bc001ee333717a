"""The projections' tables, and how each stored event becomes rows in them.

Facts are kept with their valid time (``at``, normalised to UTC text that sorts
as time) and their sequence, never with a personal data value. Every projection
answers "as of T" by reading the facts whose ``at`` is at or before T, in
(``at``, ``seq``) order, so late-arriving events fall into place by themselves.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import (
    Column,
    ColumnElement,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    literal,
    or_,
)

from ledger.core import chain, durations
from ledger.core.canonical import utc_timestamp
from ledger.core.contract import parse_timestamp
from ledger.core.spec import DECLARATION_TYPE as DECLARATION_TYPE  # the declared processing
from ledger.core.spec import VOCABULARY_TYPE as VOCABULARY_TYPE  # the configuration in force
from ledger.core.spec import is_system_type
from ledger.store.base import StoredRow

SYSTEM_FACTS = frozenset({VOCABULARY_TYPE, DECLARATION_TYPE})  # the ledger's records with facts

metadata = MetaData()

tracking = Table(
    "projection_tracking",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("position", Integer, nullable=False),
)

events = Table(  # every event's searchable metadata: history, and the breach and request logs
    "projection_events",
    metadata,
    Column("seq", Integer, primary_key=True),
    Column("at", String(32), nullable=False, index=True),
    Column("type", String(32), nullable=False, index=True),
    Column("subject", String(256), index=True),
    Column("actor", String(256), nullable=False, index=True),
    Column("system", String(256), index=True),
    Column("request", String(256), index=True),
    Column("breach", String(256), index=True),
    Column("detail", Text),  # request and breach events: their metadata (never personal values)
    Column("purpose", String(256)),  # the purpose it names (an access's is nowhere else)
)

event_categories = Table(
    "projection_event_categories",
    metadata,
    Column("seq", Integer, primary_key=True),
    Column("category", String(256), primary_key=True, index=True),
)

event_subjects = Table(  # subjects_notified names many subjects
    "projection_event_subjects",
    metadata,
    Column("seq", Integer, primary_key=True),
    Column("subject", String(256), primary_key=True, index=True),
)

holdings = Table(  # one row per category collected or rectified
    "projection_holdings",
    metadata,
    Column("seq", Integer, primary_key=True),
    Column("category", String(256), primary_key=True),
    Column("at", String(32), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("subject", String(256), nullable=False, index=True),
    Column("system", String(256), nullable=False, index=True),
    Column("location", String(2)),
    Column("purpose", String(256)),
    Column("basis", String(32)),
    Column("source", Text),
    Column("retention", String(64)),
    Column("retention_until", String(32)),
    Column("subject_category", String(256)),
    Column("role", String(16)),  # processor, or NULL: the organisation's own (controller)
    Column("controller", String(256)),  # whom a processor processes for
    Column("transfer", String(32)),  # the mechanism for storage abroad, as recorded
)

erasures = Table(
    "projection_erasures",
    metadata,
    Column("seq", Integer, primary_key=True),
    Column("category", String(256), primary_key=True),
    Column("at", String(32), nullable=False, index=True),
    Column("subject", String(256), nullable=False, index=True),
    Column("system", String(256)),
    Column("reason", Text, nullable=False),
)

shares = Table(
    "projection_shares",
    metadata,
    Column("seq", Integer, primary_key=True),
    Column("category", String(256), primary_key=True),
    Column("at", String(32), nullable=False, index=True),
    Column("subject", String(256), nullable=False, index=True),
    Column("recipient", String(256), nullable=False),
    Column("recipient_location", String(2), nullable=False),
    Column("transfer", String(32)),
    Column("purpose", String(256), nullable=False),
    Column("basis", String(32), nullable=False),
)

consents = Table(
    "projection_consents",
    metadata,
    Column("seq", Integer, primary_key=True),
    Column("at", String(32), nullable=False, index=True),
    Column("subject", String(256), nullable=False, index=True),
    Column("purpose", String(256), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("method", String(256)),
    Column("notice", String(256)),
    Column("actor", String(256), nullable=False),
)

restrictions = Table(  # Art. 18: restricted and restriction_lifted, one row per category
    "projection_restrictions",
    metadata,
    Column("seq", Integer, primary_key=True),
    Column("category", String(256), primary_key=True),
    Column("at", String(32), nullable=False, index=True),
    Column("subject", String(256), nullable=False, index=True),
    Column("system", String(256)),  # NULL: everywhere
    Column("kind", String(32), nullable=False),  # restricted | restriction_lifted
    Column("ground", String(32)),
)

notified = Table(  # Art. 19 done: recipients_notified, one row per category
    "projection_notified",
    metadata,
    Column("seq", Integer, primary_key=True),
    Column("category", String(256), primary_key=True),
    Column("at", String(32), nullable=False, index=True),
    Column("subject", String(256), nullable=False, index=True),
    Column("recipient", String(256), nullable=False),
    Column("change", String(32), nullable=False),
)

settings = Table(  # the organisation's settings in force, one row per ledger.vocabulary record
    "projection_settings",
    metadata,
    Column("seq", Integer, primary_key=True),
    Column("at", String(32), nullable=False, index=True),  # when the writer recorded them
    # all four NULL: a record from before settings were recorded (the configuration applies)
    Column("name", Text),
    Column("time_zone", String(64)),
    Column("bank_holidays", String(64)),
    Column("target_days", Integer),
    # everything the record said of the organisation and its purposes, as JSON
    # ({"organisation": {...}, "purposes": {...}}); NULL on records from before settings
    Column("organisation", Text),
)

declarations = Table(  # the declared processing in force, one row per ledger.declaration
    "projection_declarations",
    metadata,
    Column("seq", Integer, primary_key=True),  # in force for the events recorded after it
    Column("at", String(32), nullable=False, index=True),  # when the ledger recorded it
    Column("digest", String(64), nullable=False),
    Column("content", Text, nullable=False),  # canonical JSON (see ledger/declaration.py)
)

FACT_TABLES = (
    events, event_categories, event_subjects, holdings, erasures, shares, consents,
    restrictions, notified, settings, declarations,
)  # fmt: skip


def moment(text: str) -> datetime:
    """A stored RFC 3339 time as an aware datetime (it passed the contract)."""
    try:  # the C parser reads nearly all of them
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return parse_timestamp(text)  # lower-case t or z, which fromisoformat refuses
    return parsed if parsed.tzinfo is not None else parse_timestamp(text)


def utc(text: str) -> str:
    """An RFC 3339 time as the projections store it: UTC, microseconds, sortable as text."""
    if len(text) == 20 and text[10] == "T" and text[19] == "Z":  # the common spelling
        return text[:19] + ".000000Z"
    return utc_timestamp(moment(text))


_duration = functools.lru_cache(maxsize=256)(durations.read_duration)  # few distinct values


def add_duration(start: datetime, duration: str) -> datetime:
    """*start* plus an ISO 8601 duration; months and years move the calendar date."""
    return durations.add_duration(start, _duration(duration))


# -- category matching ---------------------------------------------------------------------------
# The taxonomy is a hierarchy: a dotted key covers itself and its descendants
# (``user.contact`` covers ``user.contact.email``), and ``*`` (an erasure of everything) covers
# every key. The contract (EVENTS.md, "Category matching") uses two relations, and every
# projection matches categories through these four functions, nowhere else:
# - ``covers``: erasure, consent, objection and restriction cover a key and its descendants
#   only (erasing ``user.contact.email`` does not erase what is held as ``user.contact``);
# - ``overlaps``: a breach's exposure, a recipient's copy (Art. 19) and the inventory's
#   recipients match when either key covers the other (a rectified ``user.contact.email``
#   reached the recipient of ``user.contact``, and the other way round).


def covers(wanted: str, key: str) -> bool:
    """Whether *wanted* is *key* or one of its ancestors (``*`` covers everything)."""
    return wanted == "*" or key == wanted or key.startswith(wanted + ".")


def overlaps(one: str, other: str) -> bool:
    """Whether either key covers the other: data recorded under one is data of the other."""
    return covers(one, other) or covers(other, one)


def covers_sql(
    wanted: ColumnElement[str] | str, key: ColumnElement[str] | str
) -> ColumnElement[bool]:
    """SQL for :func:`covers`: equal, or a dotted prefix (compared as text, no LIKE wildcards)."""
    wanted_ = literal(wanted) if isinstance(wanted, str) else wanted
    key_ = literal(key) if isinstance(key, str) else key
    prefix = wanted_ + "."
    return or_(
        wanted_ == "*",
        key_ == wanted_,
        func.substr(key_, 1, func.length(prefix)) == prefix,
    )


def overlaps_sql(
    one: ColumnElement[str] | str, other: ColumnElement[str] | str
) -> ColumnElement[bool]:
    """SQL for :func:`overlaps`."""
    return or_(covers_sql(one, other), covers_sql(other, one))


def facts(seq: int, event: dict[str, Any]) -> dict[Table, list[dict[str, Any]]]:
    """The rows one stored event adds to each fact table."""
    kind = event["type"]
    at = utc(event["at"])
    if is_system_type(kind):  # the ledger's own records: the settings and declarations
        if kind == DECLARATION_TYPE:
            content = orjson.dumps(event.get("declaration"), option=orjson.OPT_SORT_KEYS)
            return {
                declarations: [
                    {"seq": seq, "at": at, "digest": str(event.get("digest", "")),
                     "content": content.decode()}
                ]
            }  # fmt: skip
        if kind != VOCABULARY_TYPE:
            return {}
        org = event.get("organisation")
        org = org if isinstance(org, dict) else {}
        described = None
        if org:
            described = orjson.dumps(
                {"organisation": org, "purposes": event.get("purposes") or {}},
                option=orjson.OPT_SORT_KEYS,
            ).decode()
        return {
            settings: [
                {"seq": seq, "at": at, "name": org.get("name"), "time_zone": org.get("time_zone"),
                 "bank_holidays": org.get("bank_holidays"),
                 "target_days": org.get("target_days"), "organisation": described}
            ]
        }  # fmt: skip
    subject = event.get("subject")
    rows: dict[Table, list[dict[str, Any]]] = {
        events: [
            {
                "seq": seq, "at": at, "type": kind, "subject": subject, "actor": event["actor"],
                "system": event.get("system"), "request": event.get("request"),
                "breach": event.get("breach"),
                "detail": orjson.dumps(event).decode()
                if "request" in event or "breach" in event or "complaint" in event else None,
                "purpose": event.get("purpose"),
            }
        ]
    }  # fmt: skip
    categories = event.get("categories") or []
    rows[event_categories] = [{"seq": seq, "category": c} for c in categories]
    rows[event_subjects] = [{"seq": seq, "subject": s} for s in event.get("subjects") or []]
    if kind in ("collected", "rectified"):
        retention = event.get("retention")
        until = utc_timestamp(add_duration(moment(event["at"]), retention)) if retention else None
        rows[holdings] = [
            {
                "seq": seq, "category": c, "at": at, "kind": kind, "subject": subject,
                "system": event["system"], "location": event.get("location"),
                "purpose": event.get("purpose"), "basis": event.get("basis"),
                "source": event.get("source"), "retention": retention, "retention_until": until,
                "subject_category": event.get("subject_category"),
                "role": event.get("role") if event.get("role") == "processor" else None,
                "controller": event.get("controller"), "transfer": event.get("transfer"),
            }
            for c in categories
        ]  # fmt: skip
    elif kind == "erased":
        rows[erasures] = [
            {"seq": seq, "category": c, "at": at, "subject": subject,
             "system": event.get("system"), "reason": event["reason"]}
            for c in categories
        ]  # fmt: skip
    elif kind == "shared":
        rows[shares] = [
            {"seq": seq, "category": c, "at": at, "subject": subject,
             "recipient": event["recipient"], "recipient_location": event["recipient_location"],
             "transfer": event.get("transfer"), "purpose": event["purpose"],
             "basis": event["basis"]}
            for c in categories
        ]  # fmt: skip
    elif kind in ("restricted", "restriction_lifted"):
        rows[restrictions] = [
            {"seq": seq, "category": c, "at": at, "subject": subject,
             "system": event.get("system"), "kind": kind, "ground": event.get("ground")}
            for c in categories
        ]  # fmt: skip
    elif kind == "recipients_notified":
        rows[notified] = [
            {"seq": seq, "category": c, "at": at, "subject": subject,
             "recipient": event["recipient"], "change": event["change"]}
            for c in categories
        ]  # fmt: skip
    elif kind in ("consent_given", "consent_withdrawn", "objected"):
        rows[consents] = [
            {"seq": seq, "at": at, "subject": subject, "purpose": event["purpose"], "kind": kind,
             "method": event.get("method"), "notice": event.get("notice"),
             "actor": event["actor"]}
        ]  # fmt: skip
    return rows


VALUES = {table: itemgetter(*[column.name for column in table.columns]) for table in FACT_TABLES}
"""For each fact table, a row's values in column order (as inserted and as digested)."""


def event_rows(seq: int, event: dict[str, Any]) -> dict[Table, list[tuple[Any, ...]]]:
    """:func:`facts` of one event, each row's values in column order (see :data:`VALUES`)."""
    made = facts(seq, event)
    return {table: list(map(VALUES[table], made[table])) for table in FACT_TABLES
            if made.get(table)}  # fmt: skip


def row_facts(row: StoredRow) -> dict[Table, list[tuple[Any, ...]]]:
    """The fact rows one stored event gives (:func:`event_rows`); none for the ledger's own
    records but settings and declarations. ValueError when the stored record cannot be read
    (:func:`ledger.core.chain.parse` names why)."""
    if is_system_type(row.type) and row.type not in SYSTEM_FACTS:
        return {}
    return event_rows(row.sequence, chain.parse(row.state).event)


def fact_rows(rows: Iterable[StoredRow]) -> list[list[tuple[Any, ...]]]:
    """The fact rows stored events add, one list per table of :data:`FACT_TABLES` (in that
    order), each row's values in column order: what is inserted and what the seal digests."""
    found: list[list[tuple[Any, ...]]] = [[] for _ in FACT_TABLES]
    lists = dict(zip(FACT_TABLES, found, strict=True))
    for row in rows:
        for table, new in row_facts(row).items():
            lists[table].extend(new)
    return found
