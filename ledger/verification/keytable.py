"""The keys table checked against the chain: every data key belongs to a recorded collection
and was not destroyed by a recorded erasure, and every key the chain still needs is there.

A store edited with SQL but without the keys can otherwise make a subject's data read as
erased with no erasure on the chain (a deleted key), or bring erased values back (a key
re-inserted from a backup). With the keys, each stored key must also unwrap under its
bucket's current key-encryption key generation, bound to its own id, subject and category.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from ledger.core import chain
from ledger.store.base import StoredRow, WrappedKey
from ledger.verification.checker import Finding, FindingKind

# The event types that can carry values (and so name data keys), and the one that destroys them.
_VALUE_TYPES = frozenset({"collected", "rectified"})
_ERASED = "erased"


@dataclass(frozen=True)
class KeyProblem:
    """The first mismatch between the keys table and the chain."""

    sequence: int | None  # the event it concerns, when there is one
    reason: str

    @property
    def finding(self) -> Finding:
        """As a verification's typed finding (for VerifyReport.failed)."""
        return Finding(FindingKind.KEYS, self.sequence, self.reason)


@dataclass
class _Use:
    subject: str
    category: str
    last: int  # the newest event that used the key
    destroyed_at: int | None = None  # the erasure that destroyed it


def _covers(wanted: Iterable[str], category: str) -> bool:
    return any(w == "*" or category == w or category.startswith(w + ".") for w in wanted)


def check_keys(
    rows: Iterable[StoredRow],
    stored: Iterable[WrappedKey],
    *,
    opens: Callable[[WrappedKey], str | None] | None = None,
) -> KeyProblem | None:
    """The first problem, or None when the keys table and the chain agree.

    *rows*: the chain's rows in order (already verified); *stored*: the keys table;
    *opens*, given the keys: a stored key's problem when it does not unwrap (or None)."""
    uses: dict[str, _Use] = {}
    live: dict[str, dict[str, list[str]]] = {}  # subject -> category -> key ids not destroyed
    for row in rows:
        # the rows are verified: their subject column is the record's own
        subject = row.subject
        if row.type in _VALUE_TYPES and subject is not None:
            data = chain.parse(row.state).data or {}
            for category, envelope in data.items():
                key_id = envelope.get("key") if isinstance(envelope, Mapping) else None
                if not isinstance(key_id, str):
                    continue
                use = uses.get(key_id)
                if use is None:
                    uses[key_id] = _Use(subject, category, row.sequence)
                    live.setdefault(subject, {}).setdefault(category, []).append(key_id)
                elif (use.subject, use.category) != (subject, category):
                    return KeyProblem(row.sequence, "an event reuses another subject's data key")
                else:
                    use.last = row.sequence
        elif row.type == _ERASED:
            record = chain.parse(row.state)
            wanted = record.event.get("categories") or []
            for category, key_ids in live.get(subject or "", {}).items():
                if _covers(wanted, category):
                    for key_id in key_ids:
                        uses[key_id].destroyed_at = row.sequence
                    key_ids.clear()
    seen: set[str] = set()
    for key in stored:
        seen.add(key.key_id)
        use = uses.get(key.key_id)
        if use is None:
            return KeyProblem(
                None,
                f"the keys table holds a data key ({key.category}) that no recorded event "
                "uses: it was added outside the ledger",
            )
        if (use.subject, use.category) != (key.subject, key.category):
            return KeyProblem(
                use.last, "a data key in the keys table is filed under another subject or category"
            )
        if use.destroyed_at is not None:
            return KeyProblem(
                use.destroyed_at,
                f"the keys table holds a data key ({key.category}) that the erasure at sequence "
                f"{use.destroyed_at} destroyed: it was put back outside the ledger, and the "
                "erased values could be read again",
            )
        if opens is not None:
            problem = opens(key)
            if problem is not None:
                return KeyProblem(use.last, problem)
    for key_id, use in uses.items():
        if use.destroyed_at is None and key_id not in seen:
            return KeyProblem(
                use.last,
                f"the data key of a {use.category} value recorded at sequence {use.last} is "
                "missing from the keys table, and no erasure is recorded: it was deleted "
                "outside the ledger",
            )
    return None
