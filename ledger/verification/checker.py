"""Verification of a stored chain: pure, over rows handed to it, trusting none of them.

Every row is hashed again and checked against its stored hash, its position,
its predecessor and the columns derived from it; with the seal key, every row's
MAC and the head's seal are checked too, which catches rows forged or a head
rewritten by anyone without the keys. The first bad position is reported.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from ledger.core.chain import GENESIS, keymap_digest, parse, row_seal_message
from ledger.errors import IntegrityError
from ledger.log.merkle import TreeBuilder, leaf_hash
from ledger.store.base import Head, Snapshot, StoredRow

Mac = Callable[[bytes], bytes]
Levels = Callable[[int], Iterator[tuple[int, bytes]]]


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of a verification: intact or not, how far, and the first bad position."""

    intact: bool
    size: int
    checked: int
    first_bad: int | None = None
    reason: str | None = None
    seals_checked: bool = False
    root: str | None = None  # the Merkle root recomputed from the events (hex), when intact
    roots: dict[int, str] = field(default_factory=dict)  # roots at sizes asked for (hex)
    keys_checked: bool = False  # the keys table was compared with the chain (and unwrapped)

    def to_dict(self) -> dict[str, Any]:
        result = asdict(self)
        result["roots"] = {str(size): root for size, root in self.roots.items()}
        return result


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


class TreeChecker:
    """Recomputes the Merkle tree from the leaves and compares every stored node, streaming."""

    def __init__(self, level: Levels | None = None, stored_levels: Iterable[int] = ()) -> None:
        """Without *level*, the root is only recomputed (there is no stored tree to compare)."""
        self.builder = TreeBuilder()
        self._level = level
        self._stored_levels = set(stored_levels)
        self._streams: dict[int, Iterator[tuple[int, bytes]]] = {}

    def add(self, seq: int, record: bytes) -> None:
        completed = self.builder.append(leaf_hash(record))
        if self._level is None:
            return
        for level, index, digest in completed[1:]:
            stream = self._streams.get(level)
            if stream is None:
                stream = self._streams[level] = self._level(level)
            stored = next(stream, None)
            if stored != (index, digest):
                raise IntegrityError(
                    seq,
                    f"the stored Merkle tree node (level {level}, index {index}) does not match "
                    "the events: the tree was changed",
                )

    def finish(self) -> None:
        if self._level is None:
            return
        for level in sorted(self._stored_levels | set(self._streams)):
            stream = self._streams.get(level) or self._level(level)
            extra = next(stream, None)
            if extra is not None:
                raise IntegrityError(
                    self.builder.size,
                    f"the stored Merkle tree has a node (level {level}, index {extra[0]}) "
                    "that no event accounts for",
                )


STRAY = (
    "a row is stored at sequence {} (before the first event): it was inserted outside the "
    "ledger, and no answer reads it"
)


def check_head_seal(head: Head, *, ledger_id: str, mac: Mac | None, keymap: bytes | None) -> None:
    """The head's key map against *keymap* (the digest of the stored map, when given) and,
    with the keys, the head's seal; IntegrityError at the head otherwise."""
    if keymap is not None and not hmac.compare_digest(keymap, head.keymap):
        raise IntegrityError(head.sequence, KEYMAP_CHANGED)
    if mac is not None:
        want = mac(head.seal_message(ledger_id))
        if head.seal is None or not hmac.compare_digest(want, head.seal):
            raise IntegrityError(
                head.sequence,
                "the head's seal does not verify: it was rewritten without the ledger's keys",
            )


def stray_row(snapshot: Snapshot) -> int | None:
    """The sequence of a stored row before the chain's first (sequence 0 or below), if any;
    rows beyond the head are found by the chain check itself."""
    found = next(snapshot.rows(-(1 << 62), 0), None)
    return None if found is None else found.sequence


KEYMAP_CHANGED = (
    "the key map (each bucket's key-encryption key generation) does not match the head: "
    "it was changed outside the ledger"
)


def verify_snapshot(
    snapshot: Snapshot,
    *,
    ledger_id: str,
    mac: Mac | None = None,
    progress: Callable[[int], None] | None = None,
    roots_at: Iterable[int] = (),
) -> VerifyReport:
    """Verify a store's chain, tree and seals from one consistent snapshot."""
    stray = stray_row(snapshot)
    if stray is not None:
        head = snapshot.head()
        return VerifyReport(
            intact=False, size=head.sequence, checked=0, first_bad=stray,
            reason=STRAY.format(stray), seals_checked=mac is not None,
        )  # fmt: skip
    return verify_rows(
        snapshot.rows(),
        snapshot.head(),
        ledger_id=ledger_id,
        mac=mac,
        progress=progress,
        tree=TreeChecker(snapshot.level, snapshot.levels()),
        roots_at=roots_at,
        keymap=keymap_digest(snapshot.generations()),
    )


def verify_rows(
    rows: Iterable[StoredRow],
    head: Head,
    *,
    ledger_id: str,
    mac: Mac | None = None,
    progress: Callable[[int], None] | None = None,
    tree: TreeChecker | None = None,
    roots_at: Iterable[int] = (),
    keymap: bytes | None = None,
) -> VerifyReport:
    """Verify a whole chain against its head; *mac* given means seals are checked too;
    *keymap* given (the digest of the stored key map) is compared with the head's.

    *roots_at*: sizes at which to note the recomputed Merkle root (to compare with checkpoints).
    """
    checker = ChainChecker(ledger_id, mac)
    wanted = set(roots_at)
    roots: dict[int, str] = {}
    tree = tree or TreeChecker()
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
            tree.add(row.sequence, row.state)
            checked += 1
            if checked in wanted:
                roots[checked] = tree.builder.root().hex()
            if progress is not None and checked % 10_000 == 0:
                progress(checked)
        if checker.expected <= head.sequence:
            raise IntegrityError(
                checker.expected,
                f"event {checker.expected} is missing: the head records {head.sequence} events",
            )
        if head.hash != checker.prev:
            raise IntegrityError(head.sequence, "the head's hash is not the newest event's hash")
        check_head_seal(head, ledger_id=ledger_id, mac=mac, keymap=keymap)
        tree.finish()
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
    return VerifyReport(
        intact=True,
        size=head.sequence,
        checked=checked,
        seals_checked=sealed,
        root=tree.builder.root().hex(),
        roots=roots,
    )
