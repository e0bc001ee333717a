"""The read side engineers, auditors and responders call: one object, one method per question.

Each method first brings the fact tables up to date with the chain (exactly once),
then answers for now or for any moment ``as_of`` (events whose ``at`` is at or
before it). Nothing here holds or returns a personal data value, except the
subject report with ``decrypt``, which is recorded as an access first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, select

from ledger import chain
from ledger.api import Ledger, export_view
from ledger.contract import filter_text

from . import facts
from .breaches import BreachTimeline, breaches
from .consent import ConsentState, consents
from .inventory import SubjectInventory, inventory
from .model import as_of_text, collector_paused, covers
from .requests import RequestClock, requests
from .ropa import PurposeRecord, ropa, to_csv
from .runner import Runner, Status

When = datetime | str | None


@dataclass
class SubjectReport:
    """What Art. 15 entitles a subject to know, and whom Art. 19 says must be told."""

    subject: str
    inventory: SubjectInventory | None
    consent: list[ConsentState]
    requests: list[RequestClock]
    must_tell: list[dict[str, Any]] = field(default_factory=list)
    values: list[dict[str, Any]] | None = None


class Projections:
    """Projections of one ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.runner = Runner(ledger)

    def close(self) -> None:
        self.runner.close()

    def __enter__(self) -> Projections:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- upkeep --------------------------------------------------------------------------------

    def catch_up(self) -> int:
        """Apply new events; how many were applied. On a read-only connection the tables are
        this process's own, in memory, and the first query builds them from the chain."""
        with collector_paused():
            return self.runner.catch_up()

    def rebuild(self) -> int:
        """Replay the whole chain into empty tables."""
        with collector_paused():
            return self.runner.rebuild()

    def status(self) -> Status:
        return self.runner.status()

    # -- questions -----------------------------------------------------------------------------

    def inventory(
        self, *, subject: str | None = None, as_of: When = None
    ) -> list[SubjectInventory]:
        subject = filter_text("subject", subject)
        self.catch_up()
        with self.runner.engine.connect() as conn, collector_paused():
            return inventory(conn, as_of=as_of_text(as_of), subject=subject)

    def ropa(self, *, as_of: When = None) -> list[PurposeRecord]:
        self.catch_up()
        with self.runner.engine.connect() as conn:
            return ropa(conn, as_of=as_of_text(as_of))

    def ropa_csv(self, *, as_of: When = None) -> str:
        return to_csv(self.ropa(as_of=as_of), self.ledger.config.name)

    def consent(self, *, subject: str | None = None, as_of: When = None) -> list[ConsentState]:
        subject = filter_text("subject", subject)
        self.catch_up()
        with self.runner.engine.connect() as conn:
            return consents(conn, as_of=as_of_text(as_of), subject=subject)

    def requests(self, *, open_only: bool = False, as_of: When = None) -> list[RequestClock]:
        self.catch_up()
        with self.runner.engine.connect() as conn:
            return requests(
                conn, as_of=as_of_text(as_of), config=self.ledger.config, open_only=open_only
            )

    def breaches(self, *, breach: str | None = None, as_of: When = None) -> list[BreachTimeline]:
        breach = filter_text("breach", breach)
        self.catch_up()
        with self.runner.engine.connect() as conn:
            return breaches(conn, as_of=as_of_text(as_of), breach=breach)

    def subject_report(
        self,
        subject: str,
        *,
        as_of: When = None,
        decrypt: bool = False,
        actor: str | None = None,
        purpose: str | None = None,
    ) -> SubjectReport:
        """Art. 15 for one subject; values only with *decrypt* (recorded as an access first)."""
        subject = filter_text("subject", subject) or ""
        held = self.inventory(subject=subject, as_of=as_of)
        report = SubjectReport(
            subject,
            held[0] if held else None,
            self.consent(subject=subject, as_of=as_of),
            [r for r in self.requests(as_of=as_of) if r.subject == subject],
        )
        report.must_tell = self._must_tell(subject, as_of_text(as_of))
        if decrypt:
            report.values = [
                {k: v for k, v in row.items() if k in ("sequence", "type", "at", "data",
                                                       "data_erased")}
                for row in self.ledger.export(subject=subject, decrypt=True, actor=actor,
                                              purpose=purpose)
                if "data" in row or "data_erased" in row
            ]  # fmt: skip
        return report

    def _must_tell(self, subject: str, as_of: str) -> list[dict[str, Any]]:
        """Art. 19: for each erasure or rectification, the recipients who had the data."""
        with self.runner.engine.connect() as conn:
            shared = conn.execute(
                select(facts.shares).where(facts.shares.c.subject == subject,
                                           facts.shares.c.at <= as_of)
            ).all()  # fmt: skip
            changes = conn.execute(
                select(facts.events.c.seq, facts.events.c.at, facts.events.c.type,
                       facts.event_categories.c.category)
                .join(facts.event_categories, facts.event_categories.c.seq == facts.events.c.seq)
                .where(facts.events.c.subject == subject, facts.events.c.at <= as_of,
                       facts.events.c.type.in_(("erased", "rectified")))
                .order_by(facts.events.c.at, facts.events.c.seq)
            ).all()  # fmt: skip
        tell: dict[int, dict[str, Any]] = {}
        for change in changes:
            for share in shared:
                if (share.at, share.seq) < (change.at, change.seq) and covers(
                    change.category, share.category
                ):
                    entry = tell.setdefault(
                        change.seq,
                        {"seq": change.seq, "at": change.at, "event": change.type,
                         "recipients": []},
                    )  # fmt: skip
                    if share.recipient not in entry["recipients"]:
                        entry["recipients"].append(share.recipient)
        return list(tell.values())

    def history(
        self,
        *,
        subject: str | None = None,
        actor: str | None = None,
        system: str | None = None,
        category: str | None = None,
        types: Sequence[str] = (),
        since: When = None,
        until: When = None,
    ) -> list[dict[str, Any]]:
        """Events in ledger order (metadata only), filtered for an incident responder."""
        subject, actor = filter_text("subject", subject), filter_text("actor", actor)
        system, category = filter_text("system", system), filter_text("category", category)
        types = [filter_text("type", t) or "" for t in types]
        self.catch_up()
        table = facts.events
        conditions: list[ColumnElement[bool]] = []
        if subject is not None:
            named = select(facts.event_subjects.c.seq).where(
                facts.event_subjects.c.subject == subject
            )
            conditions.append((table.c.subject == subject) | table.c.seq.in_(named))
        if actor is not None:
            conditions.append(table.c.actor == actor)
        if system is not None:
            conditions.append(table.c.system == system)
        if types:
            conditions.append(table.c.type.in_(list(types)))
        if since is not None:
            conditions.append(table.c.at >= as_of_text(since))
        if until is not None:
            conditions.append(table.c.at <= as_of_text(until))
        if category is not None:
            keyed = facts.event_categories
            conditions.append(
                table.c.seq.in_(
                    select(keyed.c.seq).where(
                        (keyed.c.category == category)
                        # a key, not a LIKE pattern: % and _ in it match only themselves
                        | keyed.c.category.startswith(category + ".", autoescape=True)
                        | (keyed.c.category == "*")
                    )
                )
            )
        query = select(table.c.seq).order_by(table.c.seq)
        if conditions:
            query = query.where(and_(*conditions))
        with self.runner.engine.connect() as conn:
            seqs = [row.seq for row in conn.execute(query)]
        return [
            export_view(chain.parse(row.state), row, None, metadata_only=True)
            for row in self.ledger.store.rows_at(seqs)
        ]
