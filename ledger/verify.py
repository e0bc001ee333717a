"""Verification of a stored chain: pure, over rows handed to it, trusting none of them.

Every row is hashed again and checked against its stored hash, its position,
its predecessor and the columns derived from it; with the seal key, every row's
MAC and the head's seal are checked too, which catches rows forged or a head
rewritten by anyone without the keys. The first bad position is reported.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from ledger.chain import GENESIS, head_seal_message, parse, row_seal_message
from ledger.errors import IntegrityError
from ledger.store.base import Head, StoredRow

Mac = Callable[[bytes], bytes]


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of a verification: intact or not, how far, and the first bad position."""

    intact: bool
    size: int
    checked: int
    first_bad: int | None = None
    reason: str | None = None
    seals_checked: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ChainChecker:
    """Checks rows one by one, in order, from a known starting point."""

    def __init__(self, ledger_id: str, mac: Mac | None, *, start: int = 1, prev: bytes = GENESIS):
        self.ledger_id = ledger_id
        self.mac = mac
        self.expected = start
        self.prev = prev

    def check(self, row: StoredRow) -> None:
        """Raise IntegrityError naming the row's sequence if it is not what was written."""
        seq = self.expected
        if row.sequence != seq:
            raise IntegrityError(
                seq, f"event {seq} is missing (the next stored row is {row.sequence})"
            )
        if hashlib.sha256(row.state).digest() != row.hash:
            raise IntegrityError(seq, "the stored record does not match its hash: it was changed")
        try:
            record = parse(row.state)
        except ValueError as exc:
            raise IntegrityError(seq, f"the stored record is malformed: {exc}") from None
        if record.seq != seq:
            raise IntegrityError(
                seq, f"the row holds the record of sequence {record.seq}: rows were moved"
            )
        if record.prev != self.prev:
            raise IntegrityError(
                seq,
                "the record does not link to its predecessor: events were inserted, "
                "removed or reordered here",
            )
        if (
            row.uuid != record.uuid
            or row.type != record.type
            or row.subject != record.subject
            or row.client_id != record.event.get("id")
        ):
            raise IntegrityError(
                seq, "the row's columns do not match its record: they were changed"
            )
        if self.mac is not None:
            want = self.mac(row_seal_message(self.ledger_id, seq, row.hash))
            if row.mac is None or not hmac.compare_digest(want, row.mac):
                raise IntegrityError(
                    seq, "the row's seal does not verify: it was written without the ledger's keys"
                )
        self.prev = row.hash
        self.expected = seq + 1


def verify_rows(
    rows: Iterable[StoredRow],
    head: Head,
    *,
    ledger_id: str,
    mac: Mac | None = None,
    progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Verify a whole chain against its head; *mac* given means seals are checked too."""
    checker = ChainChecker(ledger_id, mac)
    sealed = mac is not None
    checked = 0
    try:
        for row in rows:
            if row.sequence > head.sequence and checker.expected > head.sequence:
                raise IntegrityError(
                    row.sequence,
                    f"event {row.sequence} lies beyond the head ({head.sequence} events): "
                    "it was appended outside the ledger",
                )
            checker.check(row)
            checked += 1
            if progress is not None and checked % 10_000 == 0:
                progress(checked)
        if checker.expected <= head.sequence:
            raise IntegrityError(
                checker.expected,
                f"event {checker.expected} is missing: the head records {head.sequence} events",
            )
        if head.hash != checker.prev:
            raise IntegrityError(head.sequence, "the head's hash is not the newest event's hash")
        if mac is not None:
            want = mac(head_seal_message(ledger_id, head.sequence, head.hash))
            if head.seal is None or not hmac.compare_digest(want, head.seal):
                raise IntegrityError(
                    head.sequence,
                    "the head's seal does not verify: it was rewritten without the ledger's keys",
                )
    except IntegrityError as exc:
        return VerifyReport(
            intact=False,
            size=head.sequence,
            checked=checked,
            first_bad=exc.sequence,
            reason=exc.what,
            seals_checked=sealed,
        )
    if progress is not None:
        progress(checked)
    return VerifyReport(intact=True, size=head.sequence, checked=checked, seals_checked=sealed)
