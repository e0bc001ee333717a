"""Honest checkpoints: stored checkpoints are checked before they are shown or used, and the
store is checked against the newest that verifies before anything is signed over it.

A stored checkpoint *verifies* when its note is well formed, is stored under its own size,
names this ledger, is signed by a key of this ledger (see :class:`Keys`), commits to no more
events than the ledger holds, and its root is the root of the stored tree's first *size*
leaves (read from O(log n) stored nodes).

The check of the store since the newest checkpoint that verifies (size N, root R) costs
what the events since it cost, not what the ledger holds:

1. consistency with R, what an RFC 9162 consistency proof from N checks: the stored perfect
   subtrees on the right edge of the first N leaves fold to R, and event N's record is the
   leaf the tree of R holds at N (an inclusion proof), so its hash is the one event N + 1
   must link to;
2. every event N + 1..M as a full verification checks it (record hash, position, link,
   columns, the row's seal when the keys are at hand), every stored tree node those events
   complete, no row or node beyond them, and the head's hash, key map and seal.

With no stored checkpoint the whole chain is verified instead. A change at or before N that
leaves the stored tree's right edge alone is not read here (``ledger verify`` reads
everything), but it is never vouched for either: the root signed next is folded from the
edge R authenticates and the events checked since, never from the changed records, so the
changed store fails against the new checkpoint as it fails against the old one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger.core import chain
from ledger.core.chain import GENESIS, keymap_digest
from ledger.errors import IntegrityError
from ledger.log import checkpoint as notes
from ledger.log import merkle
from ledger.log.merkle import TreeBuilder, leaf_hash
from ledger.store.base import Head, Snapshot
from ledger.verification.checker import (
    ChainChecker,
    Finding,
    FindingError,
    FindingKind,
    Mac,
    TreeChecker,
    VerifyReport,
    check_stray,
    finding_of,
    stored_after,
    verify_rows,
)

# -- reading the stored tree -----------------------------------------------------------------


def node_proof(snapshot: Snapshot, build: Callable[[merkle.RangeHash], Any]) -> list[bytes]:
    """*build* (a proof or root function of a RangeHash) run over stored nodes, read in one
    query; IntegrityError if a node it needs is missing."""
    wanted: list[tuple[int, int]] = []

    def record(level: int, index: int) -> bytes:
        wanted.append((level, index))
        return bytes(32)

    build(merkle.range_hash_from_nodes(record))  # the path does not depend on hash values
    found = snapshot.nodes(wanted)
    missing = [p for p in wanted if p not in found]
    if missing:
        level, index = missing[0]
        raise IntegrityError(None, f"Merkle tree node (level {level}, index {index}) is missing")
    result: list[bytes] = build(merkle.range_hash_from_nodes(lambda lv, ix: found[(lv, ix)]))
    return result


def stored_root(snapshot: Snapshot, size: int) -> bytes:
    """The root over the first *size* events, from stored nodes (not checked here)."""
    if size == 0:
        return merkle.EMPTY_ROOT
    return node_proof(snapshot, lambda rh: [rh(0, size)])[0]


def _included(snapshot: Snapshot, sequence: int, record: bytes, size: int, root: bytes) -> bool:
    """Whether *record* is event *sequence* of the tree of *size* leaves whose root is *root*."""
    if not 1 <= sequence <= size:
        return False
    try:
        proof = node_proof(snapshot, lambda rh: merkle.inclusion_proof(sequence - 1, size, rh))
        merkle.verify_inclusion(sequence - 1, size, leaf_hash(record), proof, root)
    except (IntegrityError, merkle.ProofError):
        return False
    return True


# -- keys ------------------------------------------------------------------------------------


def key_label(verifier: notes.Verifier) -> str:
    """How a key is named in messages: name+keyid (hex), as in the verifier key text."""
    return f"{verifier.name}+{verifier.key_id.hex()}"


def _key_text(verifier: notes.Verifier) -> str:
    return notes.verifier_key(verifier.name, verifier.public)


class Keys:
    """The keys a stored checkpoint may be signed by.

    *anchors* are keys held apart from the store: the signing key at hand, the signing
    folder's verifier key and its retired keys. Beyond them, a key recorded on the ledger by a
    ``ledger.signing_key`` event (its ``verifier_key``, or the key it ``replaces``) counts for
    a checkpoint that covers the event, and only once the event's record is proven to be in
    the very tree the checkpoint signs: the history it vouches for records the key.

    *recorded* returns the ``ledger.signing_key`` rows as (sequence, record bytes); it is
    called only if some checkpoint does not verify under the anchors (it reads by type)."""

    def __init__(
        self,
        anchors: Iterable[notes.Verifier] = (),
        recorded: Callable[[], Iterable[tuple[int, bytes]]] | None = None,
    ) -> None:
        self.anchors: dict[str, notes.Verifier] = {}
        for verifier in anchors:
            self.anchors.setdefault(_key_text(verifier), verifier)
        self._rows = recorded
        self._recorded: list[tuple[int, bytes, notes.Verifier]] | None = None

    def recorded(self) -> list[tuple[int, bytes, notes.Verifier]]:
        """(sequence, record bytes, key) of every well-formed key recorded on the ledger."""
        if self._recorded is None:
            self._recorded = []
            for sequence, state in self._rows() if self._rows is not None else ():
                try:
                    event = chain.parse(state).event
                except ValueError:
                    continue  # a malformed record is the chain check's to report
                for name in ("verifier_key", "replaces"):
                    text = event.get(name)
                    if not isinstance(text, str):
                        continue
                    try:
                        verifier = notes.parse_verifier_key(text)
                    except notes.CheckpointError:
                        continue
                    if _key_text(verifier) not in self.anchors:
                        self._recorded.append((sequence, state, verifier))
        return self._recorded


def _signed_by(note: str, verifier: notes.Verifier) -> str | None:
    """None when *verifier*'s signature on *note* verifies; else why not ("" when the note
    carries no signature by that key at all)."""
    try:
        notes.verify(note, verifier)
    except notes.BadSignature:
        return f"carries a signature by {key_label(verifier)} that does not verify"
    except notes.CheckpointError:
        return ""
    return None


def _signature(
    snapshot: Snapshot, keys: Keys, note: str, committed: notes.Checkpoint
) -> tuple[notes.Verifier | None, str]:
    """The key whose signature on *note* verifies, or None and why none does."""
    why = (
        "carries no signature by a key of this ledger (its signing key, a retired one, or "
        "one recorded on it)"
    )
    for verifier in keys.anchors.values():
        problem = _signed_by(note, verifier)
        if problem is None:
            return verifier, ""
        why = problem or why
    for sequence, record, verifier in keys.recorded():
        if sequence > committed.size:
            continue
        problem = _signed_by(note, verifier)
        if problem is not None:
            why = problem or why
            continue
        if _included(snapshot, sequence, record, committed.size, committed.root):
            return verifier, ""
        why = (
            f"is signed by {key_label(verifier)}, whose record at sequence {sequence} is not "
            "in the tree it signs"
        )
    return None, why


# -- stored checkpoints ----------------------------------------------------------------------


@dataclass(frozen=True)
class StoredCheckpoint:
    """One stored checkpoint row and whether it verifies."""

    size: int  # the size it is stored under
    note: str
    checkpoint: notes.Checkpoint | None = None  # what it commits to, when the note parsed
    signer: notes.Verifier | None = None  # the key whose signature verified
    problem: str | None = None  # why it does not verify; None when it does
    position: int | None = None  # the sequence a problem is reported at

    @property
    def valid(self) -> bool:
        return self.problem is None

    @property
    def signed_by(self) -> str | None:
        return None if self.signer is None else key_label(self.signer)

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "valid": self.valid, "signed_by": self.signed_by,
                "problem": self.problem}  # fmt: skip


def check_checkpoint(
    snapshot: Snapshot, head: Head, origin: str, keys: Keys, size: int, note: str
) -> StoredCheckpoint:
    """Whether the checkpoint stored under *size* verifies (see the module's doc)."""
    parsed: notes.Checkpoint | None = None
    signer: notes.Verifier | None = None

    def bad(problem: str, position: int | None = None) -> StoredCheckpoint:
        at = min(max(size, 1), head.sequence + 1) if position is None else position
        return StoredCheckpoint(size, note, parsed, signer,
                                f"the stored checkpoint of size {size} {problem}", at)  # fmt: skip

    try:
        parsed = notes.parse(note)
    except notes.CheckpointError as exc:
        return bad(f"is not a signed checkpoint note: {exc}")
    if parsed.size != size:
        return bad(
            f"holds the note of a checkpoint of size {parsed.size}: checkpoint rows were changed"
        )
    if parsed.origin != origin:
        return bad(f"is of {parsed.origin!r}, not of this ledger ({origin!r})")
    signer, why = _signature(snapshot, keys, note, parsed)
    if size > head.sequence:  # a key recorded on the ledger cannot vouch for events it lacks
        return bad(
            ("" if signer is None else f"(signed by {key_label(signer)}) ")
            + f"commits to {size} events and the ledger holds only {head.sequence}: the newest "
            "events were removed or an older copy restored"
            + ("" if signer is not None else f", or the checkpoint was forged (it {why})"),
            head.sequence + 1,
        )
    if signer is None:
        return bad(why)
    signed = f"(signed by {key_label(signer)})"
    try:
        root = stored_root(snapshot, size)
    except IntegrityError as exc:
        return bad(f"{signed} cannot be checked: the stored {exc.what}")
    if root != parsed.root:
        problem = (
            f"the ledger is not consistent with the stored checkpoint of size {size} {signed}: "
            f"its first {size} events are not those it committed to (history up to {size} was "
            "rewritten or rolled back after it was signed, or the checkpoint was forged)"
        )
        return StoredCheckpoint(size, note, parsed, signer, problem, size)
    return StoredCheckpoint(size, note, parsed, signer)


def check_checkpoints(
    snapshot: Snapshot, head: Head, origin: str, keys: Keys
) -> list[StoredCheckpoint]:
    """Every stored checkpoint, oldest first, each with whether it verifies."""
    return [
        check_checkpoint(snapshot, head, origin, keys, size, note)
        for size, note in snapshot.checkpoints()
    ]


# -- the store since a verified checkpoint ----------------------------------------------------


@dataclass(frozen=True)
class StoreCheck:
    """The store checked against the newest stored checkpoint that verifies."""

    report: VerifyReport  # intact or the first bad position; checked: the events checked
    start: int  # the events before these were vouched for by *base* (0: all were checked)
    base: StoredCheckpoint | None  # the checkpoint checked from, if a stored one
    checkpoints: list[StoredCheckpoint] = field(default_factory=list)
    root: bytes | None = None  # the root over report.size events, from checked data

    @property
    def intact(self) -> bool:
        return self.report.intact

    def raise_if_bad(self, doing: str) -> None:
        """IntegrityError naming the first bad position, unless the store is intact."""
        if not self.report.intact:
            raise IntegrityError(
                self.report.first_bad,
                f"{self.report.reason}; {doing} (run `ledger verify --since-checkpoint`)",
            )

    def signed_with(self, key_text: str) -> bool:
        """Whether a stored checkpoint that verifies was signed by this key."""
        return any(
            c.valid and c.signer is not None and _key_text(c.signer) == key_text
            for c in self.checkpoints
        )


def _inconsistent(size: int, why: str) -> FindingError:
    return Finding(
        FindingKind.CHECKPOINT,
        size,
        f"the ledger is not consistent with the checkpoint of size {size}: {why} (history "
        f"up to {size} was changed after it was signed; `ledger verify` finds the first change)",
    ).error()


def _consistent(
    snapshot: Snapshot, head: Head, size: int, root: bytes, ledger_id: str, mac: Mac | None
) -> tuple[TreeBuilder, bytes]:
    """The tree builder at *size* and event *size*'s hash, both proven to be those of the
    tree whose root is *root* (which vouches for them)."""
    if size > head.sequence:
        raise Finding(
            FindingKind.CHECKPOINT,
            head.sequence + 1,
            f"the checkpoint of size {size} commits to {size} events and the ledger holds only "
            f"{head.sequence}: the newest events were removed or an older copy restored",
        ).error()
    positions = TreeBuilder.edge(size)
    found = snapshot.nodes(positions)
    missing = [p for p in positions if p not in found]
    if missing:
        level, index = missing[0]
        raise _inconsistent(size, f"the stored Merkle tree node (level {level}, index {index}) "
                                  "is missing")  # fmt: skip
    builder = TreeBuilder.resume(size, [found[p] for p in positions])
    if builder.root() != root:
        raise _inconsistent(size, f"the stored tree's first {size} leaves do not give its root")
    if size == 0:
        return builder, GENESIS
    row = next(snapshot.rows(size, size), None)
    if row is None:
        raise Finding(FindingKind.MISSING, size, f"event {size} is missing").error()
    if not _included(snapshot, size, row.state, size, root):
        raise _inconsistent(size, f"event {size} is not the one it committed to")
    try:
        record = chain.parse(row.state)
    except ValueError as exc:
        why = f"the stored record is malformed: {exc}"
        raise Finding(FindingKind.MALFORMED, size, why).error() from None
    ChainChecker(ledger_id, mac, start=size, prev=record.prev).check(row)  # hash, columns, seal
    return builder, row.hash


def check_since(
    snapshot: Snapshot,
    head: Head,
    start: int,
    root: bytes,
    *,
    ledger_id: str,
    mac: Mac | None,
    progress: Callable[[int], None] | None = None,
) -> tuple[VerifyReport, bytes | None]:
    """Check the store against a tree of *start* events whose root *root* is trusted, then
    every event after it, as the module's doc says; the report and the root over them all."""
    try:
        check_stray(snapshot)  # one indexed query: no answer reads such a row
        builder, prev = _consistent(snapshot, head, start, root, ledger_id, mac)
    except IntegrityError as exc:
        failed = VerifyReport.failed(finding_of(exc), size=head.sequence, checked=0,
                                     seals_checked=mac is not None)  # fmt: skip
        return failed, None
    # nodes completed by the events since: indexes from start >> level
    tree = TreeChecker(stored_after(snapshot, start), snapshot.levels(), builder=builder)
    report = verify_rows(
        snapshot.rows(start + 1), head, ledger_id=ledger_id, mac=mac, progress=progress,
        tree=tree, keymap=keymap_digest(snapshot.generations()), start=start, prev=prev,
    )  # fmt: skip
    return report, tree.builder.root() if report.intact else None


def check_store(
    snapshot: Snapshot,
    *,
    ledger_id: str,
    origin: str,
    mac: Mac | None,
    keys: Keys,
    full: Callable[[Snapshot], VerifyReport],
    known: tuple[int, bytes] | None = None,
    progress: Callable[[int], None] | None = None,
) -> StoreCheck:
    """Every stored checkpoint checked, then the events since the newest that verifies (or,
    with none, the whole chain by *full*). *known*: a (size, root) this process verified
    earlier, to start from when it is newer. The report names the first bad position of
    either, a row's problem first at the same position."""
    head = snapshot.head()
    stored = check_checkpoints(snapshot, head, origin, keys)
    valid = [c for c in stored if c.valid and c.checkpoint is not None]
    base = valid[-1] if valid else None
    start: tuple[int, bytes] | None = None
    if base is not None and base.checkpoint is not None:
        start = (base.size, base.checkpoint.root)
    if known is not None and (start is None or known[0] > start[0]):
        start, base = known, None
    if start is None:
        report = full(snapshot)
        root = bytes.fromhex(report.root) if report.intact and report.root else None
        begin = 0
    else:
        report, root = check_since(snapshot, head, start[0], start[1], ledger_id=ledger_id,
                                   mac=mac, progress=progress)  # fmt: skip
        begin = start[0]
    report = review(report, stored)
    if not report.intact:
        root = None
    return StoreCheck(report, begin, base, stored, root)


def review(report: VerifyReport, checkpoints: Sequence[StoredCheckpoint]) -> VerifyReport:
    """A whole-chain *report* joined with the stored checkpoints' verdicts: the first bad
    position of either (a row's problem first at the same position)."""
    found: list[tuple[int, int, Finding]] = []
    if not report.intact:
        own = report.finding or Finding(FindingKind.KEYS, report.first_bad,
                                        report.reason or "not intact")  # fmt: skip
        found.append((report.first_bad or 0, 0, own))
    found += [(c.position or 0, 1, Finding(FindingKind.CHECKPOINT, c.position, c.problem))
              for c in checkpoints if c.problem is not None]  # fmt: skip
    if not found:
        return report
    found.sort(key=lambda entry: (entry[0], entry[1], entry[2].reason))
    first_bad, _, finding = found[0]
    return VerifyReport(intact=False, size=report.size, checked=report.checked,
                        first_bad=first_bad, reason=finding.reason,
                        seals_checked=report.seals_checked,
                        findings=tuple(f for _, _, f in found))  # fmt: skip
