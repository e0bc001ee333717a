"""Art. 19: whom the organisation must tell of each erasure, rectification or restriction, and
whether the ledger shows them told (``recipients_notified``), at any moment."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from . import facts
from .facts import overlaps

# the changes Art. 19 names, by the event that records each, and the ``change`` that tells of it
CHANGES = {"erased": "erasure", "rectified": "rectification", "restricted": "restriction"}


@dataclass
class Notice:
    """One recipient that had the data before one change, told of it or not (yet)."""

    subject: str
    recipient: str
    change: str  # erasure | rectification | restriction
    event: str  # erased | rectified | restricted
    changed_at: str
    change_seq: int
    categories: list[str]  # what the change named
    told: bool = False
    told_at: str | None = None  # the first recipients_notified that told of it
    told_seq: int | None = None
    untold_since: str | None = None  # the change's time, while not told


@dataclass
class ToldOfNothing:
    """A ``recipients_notified`` that matches no change the ledger shows the recipient must be
    told of (wrong recipient, kind or categories, or before the change): flagged, not ignored."""

    subject: str
    recipient: str
    change: str
    categories: list[str]
    at: str
    seq: int
    flag: str


@dataclass
class Notices:
    """Every Art. 19 item at a moment (oldest first), and the notifications that told of
    nothing."""

    notices: list[Notice] = field(default_factory=list)
    told_of_nothing: list[ToldOfNothing] = field(default_factory=list)

    @property
    def untold(self) -> list[Notice]:
        return [n for n in self.notices if not n.told]


def notices(conn: Connection, *, as_of: str, subject: str | None = None) -> Notices:
    """Art. 19 at *as_of*: for each erasure, rectification or restriction, each recipient the
    data had been disclosed to before it, told or not.

    A recipient must be told when what it received overlaps what changed (EVENTS.md, "Category
    matching"); it is told by a ``recipients_notified`` naming it, the same kind of change,
    categories overlapping the changed ones, at or after the change. Read in (``at``, seq)
    order, so events recorded late fall into place."""
    s, ev, keyed, n = facts.shares, facts.events, facts.event_categories, facts.notified
    share_q = select(s.c.subject, s.c.seq, s.c.at, s.c.category, s.c.recipient).where(
        s.c.at <= as_of
    )
    change_q = (
        select(ev.c.subject, ev.c.seq, ev.c.at, ev.c.type, keyed.c.category)
        .join(keyed, keyed.c.seq == ev.c.seq)
        .where(ev.c.at <= as_of, ev.c.type.in_(tuple(CHANGES)))
    )
    told_q = select(n.c.subject, n.c.seq, n.c.at, n.c.category, n.c.recipient, n.c.change).where(
        n.c.at <= as_of
    )
    if subject is not None:
        share_q = share_q.where(s.c.subject == subject)
        change_q = change_q.where(ev.c.subject == subject)
        told_q = told_q.where(n.c.subject == subject)
    shares: dict[str, list[Any]] = {}
    for row in conn.execute(share_q.order_by(s.c.at, s.c.seq, s.c.category)):
        shares.setdefault(row.subject, []).append(row)
    changes: dict[tuple[str, int], dict[str, Any]] = {}
    for row in conn.execute(change_q.order_by(ev.c.at, ev.c.seq, keyed.c.category)):
        found = changes.setdefault(
            (row.subject, row.seq),
            {"subject": row.subject, "seq": row.seq, "at": row.at, "type": row.type, "keys": []},
        )
        found["keys"].append(row.category)
    told: dict[tuple[str, int], dict[str, Any]] = {}
    for told_row in conn.execute(told_q.order_by(n.c.at, n.c.seq, n.c.category)):
        event = told.setdefault(
            (told_row.subject, told_row.seq),
            {"subject": told_row.subject, "seq": told_row.seq, "at": told_row.at,
             "recipient": told_row.recipient, "change": told_row.change, "keys": [],
             "used": False},
        )  # fmt: skip
        event["keys"].append(told_row.category)
    result = Notices()
    ordered = sorted(told.values(), key=lambda t: (t["at"], t["seq"]))
    telling: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for event in ordered:
        telling.setdefault((event["subject"], event["recipient"], event["change"]), []).append(
            event
        )
    # per subject, the shares before the change reached so far: each recipient's categories,
    # with the position of the first share of each (changes come in (at, seq) order, so each
    # subject's shares are walked once, however many changes it has)
    reached: dict[str, int] = {}
    received: dict[str, dict[str, dict[str, int]]] = {}
    for change in changes.values():  # in (at, seq) order
        mine, got = shares.get(change["subject"], []), received.setdefault(change["subject"], {})
        at = reached.get(change["subject"], 0)
        while at < len(mine) and (mine[at].at, mine[at].seq) < (change["at"], change["seq"]):
            got.setdefault(mine[at].recipient, {}).setdefault(mine[at].category, at)
            at += 1
        reached[change["subject"]] = at
        first: list[tuple[int, str]] = []
        for recipient, categories in got.items():
            hits = [position for category, position in categories.items()
                    if any(overlaps(key, category) for key in change["keys"])]  # fmt: skip
            if hits:
                first.append((min(hits), recipient))
        recipients = [recipient for _, recipient in sorted(first)]  # by the first share of it
        kind = CHANGES[change["type"]]
        for recipient in recipients:
            notice = Notice(change["subject"], recipient, kind, change["type"], change["at"],
                            change["seq"], change["keys"])  # fmt: skip
            for event in telling.get((notice.subject, recipient, kind), []):
                if event["at"] >= notice.changed_at and any(
                        overlaps(k, c) for k in event["keys"]
                        for c in notice.categories):  # fmt: skip
                    event["used"] = True
                    if not notice.told:
                        notice.told, notice.told_at = True, event["at"]
                        notice.told_seq = event["seq"]
            if not notice.told:
                notice.untold_since = notice.changed_at
            result.notices.append(notice)
    for event in ordered:
        if not event["used"]:
            result.told_of_nothing.append(
                ToldOfNothing(
                    event["subject"], event["recipient"], event["change"], event["keys"],
                    event["at"], event["seq"],
                    f"recipients_notified of a {event['change']} names no {event['change']} "
                    "the ledger shows this recipient must be told of (no matching change to "
                    "data it received, at or before the notification)",
                )
            )  # fmt: skip
    result.notices.sort(key=lambda x: (x.changed_at, x.change_seq))  # stable: share order
    return result
