"""The read side engineers, auditors and responders call: one object, one method per question.

Each method first brings the fact tables up to date with the chain (exactly once), checks
them against the chain (:func:`.integrity.check`; ``last_check`` then says what against, and
a mismatch is refused with :class:`.integrity.ProjectionMismatch`), then answers, from the
same consistent read, for now or for any moment ``as_of`` (events whose ``at`` is at or
before it). Nothing here holds or returns a personal data value, except the
subject report with ``decrypt``, which is recorded as an access first.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, create_engine, select
from sqlalchemy.engine import Connection

from ledger.api import Ledger, export_view
from ledger.core import chain
from ledger.core.contract import filter_text
from ledger.declaration import Declaration

from . import facts, integrity
from .breaches import BreachTimeline, breaches
from .complaints import Complaint, complaints
from .consent import ConsentState, consents
from .findings import Findings, findings
from .integrity import Check, Comparison
from .inventory import SubjectInventory, inventory, must_tell
from .model import as_of_text, collector_paused
from .notices import Notices, notices
from .requests import RequestClock, requests
from .ropa import Record, declaration_at, ropa, to_csv
from .runner import Runner, Status

When = datetime | str | None


@dataclass
class SubjectReport:
    """What Art. 15 entitles a subject to know, what is restricted (Art. 18), and whom Art. 19
    says must be told (told or not)."""

    subject: str
    inventory: SubjectInventory | None
    consent: list[ConsentState]
    requests: list[RequestClock]
    must_tell: list[dict[str, Any]] = field(default_factory=list)
    values: list[dict[str, Any]] | None = None
    # Art. 18 in force: one row per held category and where (system None: everywhere)
    restricted: list[dict[str, Any]] = field(default_factory=list)
    # Art. 19 notifications that match no change the ledger shows (flagged, not ignored)
    told_of_nothing: list[dict[str, Any]] = field(default_factory=list)


class Projections:
    """Projections of one ledger (its shared tables; a read-only ledger's, or with *engine*
    another database's, tables of this object's own)."""

    def __init__(self, ledger: Ledger, *, engine: Engine | None = None) -> None:
        self.ledger = ledger
        self.runner = Runner(ledger, engine)
        self.last_check: Check | None = None  # what the last answer was checked against
        self.last_comparison: Comparison | None = None  # the last full comparison's result

    @classmethod
    @contextmanager
    def rebuilt(cls, ledger: Ledger) -> Iterator[Projections]:
        """Projections on scratch tables built from the chain now, in a temporary SQLite file
        removed afterwards: answers that trust nothing stored but the chain."""
        with tempfile.TemporaryDirectory(prefix="ledger-projections-") as folder:
            engine = create_engine(f"sqlite:///{Path(folder) / 'scratch.db'}")
            with cls(ledger, engine=engine) as scratch:
                scratch.rebuild()
                yield scratch

    def close(self) -> None:
        self.runner.close()

    def __enter__(self) -> Projections:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- upkeep --------------------------------------------------------------------------------

    def catch_up(self) -> int:
        """Apply new events; how many were applied. On a read-only connection the tables are
        this process's own, in memory, and the first query builds them from the chain.
        ProjectionMismatch when the tables cannot be extended as they stand."""
        with collector_paused():
            return self.runner.catch_up()

    def rebuild(self) -> int:
        """Replay the whole chain into empty tables (sealed afresh)."""
        with collector_paused():
            return self.runner.rebuild()

    def status(self) -> Status:
        """How far behind the tables are, and whether they pass the per-question check."""
        return self.runner.status()

    def check(self) -> Check:
        """Bring the tables up to date and run the per-question check; ProjectionMismatch
        names the problem when they do not match the chain."""
        with self._answering():
            assert self.last_check is not None
            return self.last_check

    def verify(self) -> Comparison:
        """The full comparison: every stored fact row against the row derived again from the
        chain, naming the first difference. A match is noted on the tables' seal (the time
        each answer's check then mentions)."""
        with contextlib.suppress(integrity.ProjectionMismatch):
            self.catch_up()  # as far as it goes: the comparison names what is wrong
        with collector_paused():
            self.last_comparison = self.runner.compare()
        return self.last_comparison

    @contextmanager
    def _answering(self) -> Iterator[Connection]:
        """Up to date, checked, and one consistent read for the answer."""
        self.last_check = None
        self.catch_up()
        with integrity.reading(self.runner.engine) as conn:
            self.last_check = self.runner.check(conn)
            yield conn

    # -- questions -----------------------------------------------------------------------------

    def inventory(
        self, *, subject: str | None = None, as_of: When = None
    ) -> list[SubjectInventory]:
        subject = filter_text("subject", subject)
        with self._answering() as conn, collector_paused():
            return inventory(conn, as_of=as_of_text(as_of), subject=subject)

    def restricted(self, *, as_of: When = None) -> list[SubjectInventory]:
        """The inventories of the subjects with a restriction (Art. 18) in force at *as_of*:
        read only for the subjects a restriction was ever recorded for, so cheap beside the
        whole inventory."""
        moment = as_of_text(as_of)
        table = facts.restrictions
        query = select(table.c.subject).where(table.c.at <= moment).distinct()
        with self._answering() as conn, collector_paused():
            subjects = sorted(row.subject for row in conn.execute(query))
            found = [
                held
                for who in subjects
                for held in inventory(conn, as_of=moment, subject=who)
                if any(h.restricted for h in held.categories)
            ]
        return found

    def ropa(self, *, as_of: When = None) -> Record:
        """The record of processing (Art. 30(1) and, for processing done for others, 30(2)):
        the organisation's facts as its configuration was recorded on the ledger, the
        purposes as the events show them."""
        with self._answering() as conn:
            return ropa(conn, as_of=as_of_text(as_of), name=self.ledger.config.name)

    def ropa_csv(self, *, as_of: When = None) -> str:
        """The record as CSV: a row per purpose, then a row per controller processed for."""
        return to_csv(self.ropa(as_of=as_of))

    def consent(self, *, subject: str | None = None, as_of: When = None) -> list[ConsentState]:
        subject = filter_text("subject", subject)
        with self._answering() as conn:
            return consents(conn, as_of=as_of_text(as_of), subject=subject)

    def requests(self, *, open_only: bool = False, as_of: When = None) -> list[RequestClock]:
        with self._answering() as conn:
            return requests(
                conn, as_of=as_of_text(as_of), config=self.ledger.config, open_only=open_only
            )

    def notices(
        self, *, as_of: When = None, subject: str | None = None, include_told: bool = False
    ) -> Notices:
        """Art. 19: who still has to be told of which erasure, rectification or restriction,
        since when (oldest first); with *include_told*, the told ones too (and when)."""
        subject = filter_text("subject", subject)
        with self._answering() as conn:
            found = notices(conn, as_of=as_of_text(as_of), subject=subject)
        if not include_told:
            found.notices = found.untold
        return found

    def complaints(self, *, open_only: bool = False, as_of: When = None) -> list[Complaint]:
        """DPA 2018 s.164A: each complaint's acknowledgement clock and the outcome's age."""
        with self._answering() as conn:
            return complaints(
                conn, as_of=as_of_text(as_of), config=self.ledger.config, open_only=open_only
            )

    def findings(
        self, *, as_of: When = None, kind: str | None = None, subject: str | None = None
    ) -> Findings:
        """Where the ledger disagrees with the declaration in force or with a subject's choice
        (../shared/FINDINGS.md), newest first: see :func:`.findings.findings`. LedgerError for
        an unknown *kind*."""
        subject, kind = filter_text("subject", subject), filter_text("kind", kind)
        with self._answering() as conn, collector_paused():
            return findings(conn, as_of=as_of_text(as_of), kind=kind, subject=subject)

    def declaration(self, *, as_of: When = None) -> Declaration | None:
        """The declaration in force at *as_of*: the latest recorded (its recorded time, never
        backdated) at or before it; None before the first."""
        with self._answering() as conn:
            found = declaration_at(conn, as_of_text(as_of))
        if found is None:
            return None
        head, content = found
        return Declaration(head.sequence, head.at, head.digest, content)

    def breaches(self, *, breach: str | None = None, as_of: When = None) -> list[BreachTimeline]:
        breach = filter_text("breach", breach)
        with self._answering() as conn:
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
        moment = as_of_text(as_of)
        with self._answering() as conn:
            with collector_paused():
                held = inventory(conn, as_of=moment, subject=subject)
            report = SubjectReport(
                subject,
                held[0] if held else None,
                consents(conn, as_of=moment, subject=subject),
                [r for r in requests(conn, as_of=moment, config=self.ledger.config)
                 if r.subject == subject],
            )  # fmt: skip
            report.must_tell = self._must_tell(conn, subject, moment)
            report.told_of_nothing = [
                {"recipient": t.recipient, "change": t.change, "categories": t.categories,
                 "at": t.at, "seq": t.seq, "flag": t.flag}
                for t in notices(conn, as_of=moment, subject=subject).told_of_nothing
            ]  # fmt: skip
        if report.inventory is not None:
            report.restricted = [
                {"category": h.category, "ground": r.ground, "since": r.since,
                 "system": r.system, "lifted_in": r.lifted_in, "restricted_key": r.category}
                for h in report.inventory.categories for r in h.restricted
            ]  # fmt: skip
        if decrypt:
            report.values = [
                {k: v for k, v in row.items() if k in ("sequence", "type", "at", "data",
                                                       "data_erased")}
                for row in self.ledger.export(subject=subject, decrypt=True, actor=actor,
                                              purpose=purpose)
                if "data" in row or "data_erased" in row
            ]  # fmt: skip
        return report

    @staticmethod
    def _must_tell(conn: Connection, subject: str, as_of: str) -> list[dict[str, Any]]:
        """Art. 19: for each erasure, rectification or restriction, the recipients who had the
        data (the category hierarchy both ways) and which were told: see
        :func:`inventory.must_tell`."""
        return must_tell(conn, subject=subject, as_of=as_of)

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
        with self._answering() as conn:
            seqs = [row.seq for row in conn.execute(query)]
        return [
            export_view(chain.parse(row.state), row, None, metadata_only=True)
            for row in self.ledger.store.rows_at(seqs)
        ]
