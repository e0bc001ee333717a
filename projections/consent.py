"""Consent and objection per subject and purpose, with the evidence Art. 7(1) asks for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from . import facts
from .facts import covers


@dataclass
class ConsentState:
    """Where one subject stands on one purpose."""

    subject: str
    purpose: str
    state: str  # given | withdrawn | objected
    since: str
    method: str | None
    notice: str | None  # the wording shown when consent was given (latest grant)
    given_at: str | None
    suppressed: bool  # an objection to direct marketing: do not market
    history: list[dict[str, Any]] = field(default_factory=list)


def consents(conn: Connection, *, as_of: str, subject: str | None = None) -> list[ConsentState]:
    """Every (subject, purpose)'s consent state at *as_of*: events in `at` order, ties by seq.

    One row per purpose recorded for the subject. Its state comes from the events on that
    purpose and on its ancestors: consent, withdrawal and objection cover a purpose and its
    descendants only (EVENTS.md, "Category matching"), so an objection to ``marketing`` stands
    on ``marketing.communications.email`` too, while one to ``marketing.communications.email``
    leaves ``marketing`` as it was. Each history entry names the purpose it was recorded for.
    """
    table = facts.consents
    query = select(table).where(table.c.at <= as_of)
    if subject is not None:
        query = query.where(table.c.subject == subject)
    by_subject: dict[str, list[Any]] = {}
    for row in conn.execute(query.order_by(table.c.at, table.c.seq)):
        by_subject.setdefault(row.subject, []).append(row)
    states: dict[tuple[str, str], ConsentState] = {}
    for who, rows in by_subject.items():
        for purpose in {row.purpose for row in rows}:
            covering = [row for row in rows if covers(row.purpose, purpose)]
            states[(who, purpose)] = _state(who, purpose, covering)
    return [states[k] for k in sorted(states)]


def _state(subject: str, purpose: str, rows: list[Any]) -> ConsentState:
    """Where *subject* stands on *purpose* after *rows* (in `at`, seq order)."""
    state = ConsentState(subject, purpose, "", rows[0].at, None, None, None, False)
    for row in rows:
        state.history.append(
            {"at": row.at, "seq": row.seq, "event": row.kind, "purpose": row.purpose,
             "method": row.method, "notice": row.notice, "actor": row.actor}
        )  # fmt: skip
        if row.kind == "consent_given":
            state.state, state.since, state.method = "given", row.at, row.method
            state.notice, state.given_at = row.notice, row.at
        elif row.kind == "consent_withdrawn":
            if state.state != "objected":  # withdrawing does not lift an objection
                state.state, state.since, state.method = "withdrawn", row.at, row.method
        else:
            state.state, state.since, state.method = "objected", row.at, None
    # Art. 21(3) (RESEARCH.md): an objection to direct marketing is absolute: suppress
    state.suppressed = state.state == "objected" and covers("marketing", purpose)
    return state
