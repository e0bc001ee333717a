"""The record of processing activities (Art. 30(1)), derived from what actually happened."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.engine import Connection

from ledger.core.countries import transfer_needs_mechanism

from . import facts

# What the record says where an event recorded nothing: never a guessed value (EVENTS.md:
# "when absent the record of processing says `unspecified`, never a guessed value").
UNSPECIFIED = "unspecified"
# EVENTS.md: an absent `retention` means "no fixed period" (what was recorded, not a guess).
NO_FIXED_PERIOD = "no fixed period"


@dataclass
class PurposeRecord:
    """One purpose of processing, as the ledger's events show it."""

    purpose: str
    data_categories: list[str] = field(default_factory=list)
    subject_categories: list[str] = field(default_factory=list)
    lawful_bases: list[str] = field(default_factory=list)
    recipient_categories: list[str] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)
    transfers: list[dict[str, str | None]] = field(default_factory=list)
    retention: list[str] = field(default_factory=list)
    systems: list[str] = field(default_factory=list)
    subjects: int = 0
    events: int = 0


def ropa(conn: Connection, *, as_of: str) -> list[PurposeRecord]:
    """Per purpose: data and subject categories, bases, recipients, transfers, retention."""
    records: dict[str, PurposeRecord] = {}
    subjects: dict[str, set[str]] = {}
    seqs: dict[str, set[int]] = {}
    holdings, shares = facts.holdings, facts.shares
    collected = select(holdings).where(holdings.c.kind == "collected", holdings.c.at <= as_of)
    for row in conn.execute(collected):
        record = records.setdefault(row.purpose, PurposeRecord(row.purpose))
        _add(record.data_categories, row.category)
        _add(record.subject_categories, row.subject_category or UNSPECIFIED)
        _add(record.lawful_bases, row.basis)
        _add(record.retention, row.retention or NO_FIXED_PERIOD)
        _add(record.systems, f"{row.system} ({row.location})")
        subjects.setdefault(row.purpose, set()).add(row.subject)
        seqs.setdefault(row.purpose, set()).add(row.seq)
    for row in conn.execute(select(shares).where(shares.c.at <= as_of)):
        record = records.setdefault(row.purpose, PurposeRecord(row.purpose))
        _add(record.data_categories, row.category)
        _add(record.lawful_bases, row.basis)
        _add(record.recipients, row.recipient)
        _add(record.recipient_categories, recipient_category(row.recipient))
        if row.transfer or transfer_needs_mechanism(row.recipient_location):
            transfer = {"country": row.recipient_location, "recipient": row.recipient,
                        "safeguard": row.transfer}  # fmt: skip
            if transfer not in record.transfers:
                record.transfers.append(transfer)
        subjects.setdefault(row.purpose, set()).add(row.subject)
        seqs.setdefault(row.purpose, set()).add(row.seq)
    for purpose, record in records.items():
        for values in (record.data_categories, record.subject_categories, record.lawful_bases,
                       record.recipient_categories, record.recipients, record.retention,
                       record.systems):  # fmt: skip
            values.sort()
        record.transfers.sort(key=lambda t: (t["country"] or "", t["recipient"] or ""))
        record.subjects = len(subjects.get(purpose, ()))
        record.events = len(seqs.get(purpose, ()))
    return [records[p] for p in sorted(records)]


def recipient_category(recipient: str) -> str:
    """The category of a recipient as its id records it (the namespace before the colon, as
    in ``proc:paycorp``); an id without one records none: ``unspecified``, not its own name."""
    namespace, colon, _ = recipient.partition(":")
    return namespace if colon and namespace else UNSPECIFIED


def _add(values: list[str], value: str | None) -> None:
    if value is not None and value not in values:
        values.append(value)


CSV_COLUMNS = (
    "purpose", "data_categories", "subject_categories", "lawful_bases", "recipient_categories",
    "recipients", "transfers", "retention", "systems", "subjects", "events",
)  # fmt: skip


def to_csv(records: list[PurposeRecord], controller: str) -> str:
    """One row per purpose; lists joined with "; " so a spreadsheet shows them in one cell."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["controller", *CSV_COLUMNS])
    for r in records:
        transfers = "; ".join(
            f"{t['country']} {t['recipient']} ({t['safeguard'] or 'no safeguard recorded'})"
            for t in r.transfers
        )
        writer.writerow([
            controller, r.purpose, "; ".join(r.data_categories),
            "; ".join(r.subject_categories), "; ".join(r.lawful_bases),
            "; ".join(r.recipient_categories), "; ".join(r.recipients), transfers,
            "; ".join(r.retention), "; ".join(r.systems), r.subjects, r.events,
        ])  # fmt: skip
    return out.getvalue()
