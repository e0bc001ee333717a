"""Consent and objection per subject and purpose, with the evidence Art. 7(1) asks for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from . import facts


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
    """Every (subject, purpose)'s consent state at *as_of*: events in `at` order, ties by seq."""
    table = facts.consents
    query = select(table).where(table.c.at <= as_of)
    if subject is not None:
        query = query.where(table.c.subject == subject)
    states: dict[tuple[str, str], ConsentState] = {}
    for row in conn.execute(query.order_by(table.c.at, table.c.seq)):
        key = (row.subject, row.purpose)
        state = states.get(key)
        if state is None:
            state = states[key] = ConsentState(
                row.subject, row.purpose, "", row.at, None, None, None, False
            )
        state.history.append(
            {"at": row.at, "seq": row.seq, "event": row.kind, "method": row.method,
             "notice": row.notice, "actor": row.actor}
        )  # fmt: skip
        if row.kind == "consent_given":
            state.state, state.since, state.method = "given", row.at, row.method
            state.notice, state.given_at = row.notice, row.at
        elif row.kind == "consent_withdrawn":
            if state.state != "objected":  # withdrawing does not lift an objection
                state.state, state.since, state.method = "withdrawn", row.at, row.method
        else:
            state.state, state.since, state.method = "objected", row.at, None
        state.suppressed = state.state == "objected" and (
            row.purpose == "marketing" or row.purpose.startswith("marketing.")
        )
    return [states[k] for k in sorted(states)]
