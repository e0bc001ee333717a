"""Verification of a stored chain: pure, over rows handed to it, trusting none of them.

Every row is hashed again and checked against its stored hash, its position,
its predecessor and the columns derived from it; with the seal key, every row's
MAC and the head's seal are checked too, which catches rows forged or a head
rewritten by anyone without the keys. The first bad position is reported.

This is the one core the one-core, parallel and incremental paths share: the checks raise
a :class:`FindingError` carrying a typed :class:`Finding`, each made by one function here
(so each kind has one message), and :meth:`VerifyReport.failed` turns it into the report.
"""

from __future__ import annotations

import enum
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


class FindingKind(enum.Enum):
    """What is wrong at the first bad position: each kind is one check that failed."""

    STRAY = "stray"  # a row stored before the first event (sequence 0 or below)
    MISSING = "missing"  # no row at a position up to the head: a row was removed
    HASH_MISMATCH = "hash_mismatch"  # the record's bytes are not those its hash was made of
    MALFORMED = "malformed"  # a record, or a row the store read, cannot be parsed
    MOVED = "moved"  # the row holds the record of another position: rows moved or swapped
    CHAIN_BROKEN = "chain_broken"  # the record does not link to its predecessor's hash
    COLUMNS = "columns"  # the columns stored beside the record do not match it
    SEAL = "seal"  # the row's seal does not verify (written without the keys)
    BEYOND_HEAD = "beyond_head"  # a row after the head: appended outside the ledger
    HEAD = "head"  # the head's hash is not the newest event's hash
    KEYMAP_CHANGED = "keymap_changed"  # the stored key map does not match the head's digest
    HEAD_SEAL = "head_seal"  # the head's seal does not verify (rewritten without the keys)
    TREE = "tree"  # a stored Merkle tree node does not match the events (changed or missing)
    TREE_EXTRA = "tree_extra"  # a stored Merkle tree node that no event accounts for
    CHECKPOINT = "checkpoint"  # the store is not consistent with a signed checkpoint
    KEYS = "keys"  # the keys table does not match the chain (see keytable)


@dataclass(frozen=True)
class Finding:
    """One thing found wrong: its kind, the sequence it is reported at, and why (the message
    the report carries; it names positions and tables, never a stored value)."""

    kind: FindingKind
    sequence: int | None
    reason: str

    def error(self) -> FindingError:
        return FindingError(self)


class FindingError(IntegrityError):
    """An IntegrityError carrying its typed finding: the checks raise it at the first."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.sequence, finding.reason)
        self.finding = finding


def finding_of(exc: IntegrityError) -> Finding:
    """The typed finding behind *exc*; a plain IntegrityError met while checking comes from
    the store reading a row it cannot parse (a malformed row, at no sequence)."""
    if isinstance(exc, FindingError):
        return exc.finding
    return Finding(FindingKind.MALFORMED, exc.sequence, exc.what)


# -- the findings, each worded once --------------------------------------------------------------


def missing(sequence: int, *, following: int | None = None, size: int = 0) -> Finding:
    """Event *sequence* has no row; *following*: the next stored row, if any (else the head
    records *size* events)."""
    if following is not None:
        why = f"event {sequence} is missing (the next stored row is {following})"
    else:
        why = f"event {sequence} is missing: the head records {size} events"
    return Finding(FindingKind.MISSING, sequence, why)


def beyond_head(sequence: int, size: int) -> Finding:
    return Finding(
        FindingKind.BEYOND_HEAD,
        sequence,
        f"event {sequence} lies beyond the head ({size} events): it was appended outside the "
        "ledger",
    )


def node_mismatch(sequence: int, level: int, index: int) -> Finding:
    """The stored node (level, index), completed by event *sequence*, is not the events'."""
    return Finding(
        FindingKind.TREE,
        sequence,
        f"the stored Merkle tree node (level {level}, index {index}) does not match the "
        "events: the tree was changed",
    )


def extra_node(size: int, level: int, index: int) -> Finding:
    return Finding(
        FindingKind.TREE_EXTRA,
        size,
        f"the stored Merkle tree has a node (level {level}, index {index}) that no event "
        "accounts for",
    )


STRAY = (
    "a row is stored at sequence {} (before the first event): it was inserted outside the "
    "ledger, and no answer reads it"
)

KEYMAP_CHANGED = (
    "the key map (each bucket's key-encryption key generation) does not match the head: "
    "it was changed outside the ledger"
)


# -- the report ----------------------------------------------------------------------------------


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
    # What was found, the reported one (first_bad, reason) first. Not in to_dict: the JSON
    # shape is the command line's; empty on a report made elsewhere from first_bad and reason.
    findings: tuple[Finding, ...] = ()

    @classmethod
    def failed(
        cls, finding: Finding, *, size: int, checked: int, seals_checked: bool
    ) -> VerifyReport:
        """The report of a verification that stopped at *finding*."""
        return cls(intact=False, size=size, checked=checked, first_bad=finding.sequence,
                   reason=finding.reason, seals_checked=seals_checked,
                   findings=(finding,))  # fmt: skip

    @property
    def finding(self) -> Finding | None:
        """The typed finding reported (first_bad and reason), if any."""
        return self.findings[0] if self.findings else None

    def to_dict(self) -> dict[str, Any]:
        result = asdict(self)
        del result["findings"]
        result["roots"] = {str(size): root for size, root in self.roots.items()}
        return result


# -- the checks ----------------------------------------------------------------------------------


class ChainChecker:
    """Checks rows one by one, in order, from a known starting point."""

    def __init__(self, ledger_id: str, mac: Mac | None, *, start: int = 1, prev: bytes = GENESIS):
        self.ledger_id = ledger_id
        self.mac = mac
        self.expected = start
        self.prev = prev

    def check(self, row: StoredRow) -> None:
        """Raise FindingError (an IntegrityError) naming the row's sequence if it is not what
        was written."""
        finding = self.find(row)
        if finding is not None:
            raise finding.error()
        self.prev = row.hash
        self.expected += 1

    def find(self, row: StoredRow) -> Finding | None:
        """What is wrong with *row* as the next one, or None (without moving on)."""
        seq = self.expected
        if row.sequence != seq:
            return missing(seq, following=row.sequence)
        if hashlib.sha256(row.state).digest() != row.hash:
            why = "the stored record does not match its hash: it was changed"
            return Finding(FindingKind.HASH_MISMATCH, seq, why)
        try:
            record = parse(row.state)
        except ValueError as exc:
            return Finding(FindingKind.MALFORMED, seq, f"the stored record is malformed: {exc}")
        if record.seq != seq:
            why = f"the row holds the record of sequence {record.seq}: rows were moved"
            return Finding(FindingKind.MOVED, seq, why)
        if record.prev != self.prev:
            why = ("the record does not link to its predecessor: events were inserted, removed "
                   "or reordered here")  # fmt: skip
            return Finding(FindingKind.CHAIN_BROKEN, seq, why)
        if (
            row.uuid != record.uuid
            or row.type != record.type
            or row.subject != record.subject
            or row.client_id != record.event.get("id")
        ):
            why = "the row's columns do not match its record: they were changed"
            return Finding(FindingKind.COLUMNS, seq, why)
        if self.mac is not None:
            want = self.mac(row_seal_message(self.ledger_id, seq, row.hash))
            if row.mac is None or not hmac.compare_digest(want, row.mac):
                why = "the row's seal does not verify: it was written without the ledger's keys"
                return Finding(FindingKind.SEAL, seq, why)
        return None


class TreeChecker:
    """Recomputes the Merkle tree from the leaves and compares every stored node, streaming.

    *offset*: the leaves before the builder's first (a fresh builder per chunk of a range);
    *base*: the level of what is added (leaves are 0; a chunk's root is the chunk's level)."""

    def __init__(
        self,
        level: Levels | None = None,
        stored_levels: Iterable[int] = (),
        *,
        builder: TreeBuilder | None = None,
        base: int = 0,
    ) -> None:
        """Without *level*, the root is only recomputed (there is no stored tree to compare)."""
        self.builder = builder or TreeBuilder()
        self.offset = 0
        self._base = base
        self._level = level
        self._stored_levels = set(stored_levels)
        self._streams: dict[int, Iterator[tuple[int, bytes]]] = {}

    def add(self, seq: int, record: bytes) -> None:
        """Add event *seq*'s record; FindingError at *seq* if a node it completes differs."""
        self.add_hash(seq, leaf_hash(record))

    def add_hash(self, seq: int, digest: bytes) -> None:
        """Add a subtree's hash at the base level (a leaf's, or a checked chunk's root)."""
        completed = self.builder.append(digest)
        if self._level is None:
            return
        for height, index, node in completed[1:]:
            level = self._base + height
            position = (self.offset >> level) + index
            stream = self._streams.get(level)
            if stream is None:
                stream = self._streams[level] = self._level(level)
            if next(stream, None) != (position, node):
                raise node_mismatch(seq, level, position).error()

    def finish(self) -> None:
        """FindingError if a stored node lies beyond those the events completed."""
        if self._level is None:
            return
        for level in sorted(self._stored_levels | set(self._streams)):
            stream = self._streams.get(level) or self._level(level)
            extra = next(stream, None)
            if extra is not None:
                raise extra_node(self.builder.size, level, extra[0]).error()


def stored_after(snapshot: Snapshot, leaves: int) -> Callable[[int], Iterator[tuple[int, bytes]]]:
    """The stored nodes of a level from the first one not covered by *leaves* events on: what
    a tree check reads after the rows it was given. Leaves are never stored, so at level 0
    (or a level below, which no tree has) every stored node is read: each one is extra."""

    def level(number: int) -> Iterator[tuple[int, bytes]]:
        if number <= 0:
            return snapshot.level(number)
        return snapshot.level(number, leaves >> number)

    return level


def check_stray(snapshot: Snapshot) -> None:
    """FindingError if a row is stored before the chain's first (sequence 0 or below); rows
    beyond the head are found by the chain check itself."""
    stray = stray_row(snapshot)
    if stray is not None:
        raise Finding(FindingKind.STRAY, stray, STRAY.format(stray)).error()


def stray_row(snapshot: Snapshot) -> int | None:
    """The sequence of a stored row before the chain's first (sequence 0 or below), if any."""
    found = next(snapshot.rows(-(1 << 62), 0), None)
    return None if found is None else found.sequence


def check_head_seal(head: Head, *, ledger_id: str, mac: Mac | None, keymap: bytes | None) -> None:
    """The head's key map against *keymap* (the digest of the stored map, when given) and,
    with the keys, the head's seal; FindingError at the head otherwise."""
    if keymap is not None and not hmac.compare_digest(keymap, head.keymap):
        raise Finding(FindingKind.KEYMAP_CHANGED, head.sequence, KEYMAP_CHANGED).error()
    if mac is not None:
        want = mac(head.seal_message(ledger_id))
        if head.seal is None or not hmac.compare_digest(want, head.seal):
            why = "the head's seal does not verify: it was rewritten without the ledger's keys"
            raise Finding(FindingKind.HEAD_SEAL, head.sequence, why).error()


def check_end(
    head: Head,
    *,
    expected: int,
    last: bytes | None,
    ledger_id: str,
    mac: Mac | None,
    keymap: bytes | None,
) -> None:
    """The checks after the last row, every path's: no event missing before the head (*expected*:
    the next sequence no row was found for), the head's hash that of the newest event
    (*last*), and the head's key map and seal."""
    if expected <= head.sequence:
        raise missing(expected, size=head.sequence).error()
    if last is None or head.hash != last:
        why = "the head's hash is not the newest event's hash"
        raise Finding(FindingKind.HEAD, head.sequence, why).error()
    check_head_seal(head, ledger_id=ledger_id, mac=mac, keymap=keymap)


# -- the one-core path ---------------------------------------------------------------------------


def verify_snapshot(
    snapshot: Snapshot,
    *,
    ledger_id: str,
    mac: Mac | None = None,
    progress: Callable[[int], None] | None = None,
    roots_at: Iterable[int] = (),
) -> VerifyReport:
    """Verify a store's chain, tree and seals from one consistent snapshot."""
    try:
        check_stray(snapshot)
    except FindingError as exc:
        return VerifyReport.failed(exc.finding, size=snapshot.head().sequence, checked=0,
                                   seals_checked=mac is not None)  # fmt: skip
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
    start: int = 0,
    prev: bytes = GENESIS,
) -> VerifyReport:
    """Verify a chain against its head; *mac* given means seals are checked too;
    *keymap* given (the digest of the stored key map) is compared with the head's.

    *rows* begin after event *start*, whose hash *prev* is trusted (0 and the genesis hash:
    the whole chain); *tree* then holds the tree of those *start* events. *roots_at*: sizes at
    which to note the recomputed Merkle root (to compare with checkpoints)."""
    checker = ChainChecker(ledger_id, mac, start=start + 1, prev=prev)
    wanted = set(roots_at)
    roots: dict[int, str] = {}
    tree = tree or TreeChecker()
    sealed = mac is not None
    checked = 0
    try:
        for row in rows:
            if row.sequence > head.sequence and checker.expected > head.sequence:
                raise beyond_head(row.sequence, head.sequence).error()
            checker.check(row)
            tree.add(row.sequence, row.state)
            checked += 1
            if row.sequence in wanted:
                roots[row.sequence] = tree.builder.root().hex()
            if progress is not None and checked % 10_000 == 0:
                progress(checked)
        check_end(head, expected=checker.expected, last=checker.prev, ledger_id=ledger_id,
                  mac=mac, keymap=keymap)  # fmt: skip
        tree.finish()
    except IntegrityError as exc:
        return VerifyReport.failed(finding_of(exc), size=head.sequence, checked=checked,
                                   seals_checked=sealed)  # fmt: skip
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
