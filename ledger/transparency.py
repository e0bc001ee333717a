"""The ledger as a verifiable log: signed checkpoints, O(log n) proofs, checks against history,
and the offline evidence bundle an auditor verifies with nothing but a public key."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ledger import files
from ledger.api import Ledger
from ledger.core.canonical import utc_timestamp
from ledger.core.spec import BUNDLE_CHECKPOINTS, BUNDLE_EVENTS, BUNDLE_VERIFIER_KEY
from ledger.core.spec import RESERVED_ACTOR as SYSTEM_ACTOR
from ledger.core.spec import SIGNING_KEY_TYPE as SIGNING_KEY
from ledger.crypto.signing import (
    PUBLIC_FILE,
    RETIRED,
    Signer,
    load_signer,
    next_signer,
    retire_signer,
)
from ledger.errors import (
    IntegrityError,
    InvalidEvent,
    KeyUnavailable,
    LedgerError,
    NotFound,
    ProofError,
)
from ledger.log import checkpoint as notes
from ledger.log import merkle
from ledger.store.base import Snapshot
from ledger.verification import parallel
from ledger.verification.checker import VerifyReport, verify_snapshot
from ledger.verification.incremental import (
    Keys,
    StoreCheck,
    StoredCheckpoint,
    check_checkpoint,
    check_checkpoints,
    check_store,
    node_proof,
    review,
    stored_root,
)


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def root_at(snapshot: Snapshot, size: int) -> bytes:
    """The tree's root over the first *size* events, from stored nodes."""
    return stored_root(snapshot, size)


def signing_verifiers(folder: Path) -> list[notes.Verifier]:
    """The verifier keys a signing folder holds apart from the store: its own and the retired
    ones (empty when there is no such folder; a file that is not a key is left out)."""
    paths = [folder / PUBLIC_FILE, *sorted((folder / RETIRED).glob("*.vkey"))]
    found: list[notes.Verifier] = []
    for path in paths:
        try:
            found.append(read_verifier(path))
        except LedgerError:
            continue
    return found


@dataclass(frozen=True)
class CheckpointCheck:
    """The result of verifying the ledger against a signed checkpoint."""

    report: VerifyReport
    checkpoint: notes.Checkpoint | None


def _seals(report: VerifyReport) -> str:
    return "chain and seals" if report.seals_checked else "chain (seals not checked: no keys)"


@dataclass(frozen=True)
class CheckpointReview:
    """Every stored checkpoint, each checked: its signature under a key of this ledger and its
    root against the stored tree (see :mod:`ledger.incremental`)."""

    checkpoints: list[StoredCheckpoint]

    @property
    def intact(self) -> bool:
        return all(c.valid for c in self.checkpoints)

    @property
    def bad(self) -> list[StoredCheckpoint]:
        return [c for c in self.checkpoints if not c.valid]

    def apply(self, report: VerifyReport) -> VerifyReport:
        """*report* (a whole-chain verification), not intact if a stored checkpoint is bad:
        the first bad position of either."""
        return review(report, self.checkpoints)

    def to_dict(self) -> dict[str, Any]:
        return {"checkpoints": [c.to_dict() for c in self.checkpoints]}

    def describe(self, report: VerifyReport) -> str:
        count = len(self.checkpoints)
        stored = (
            "no stored checkpoint" if not count
            else f"{count} stored checkpoint{'s' if count > 1 else ''} verified "
                 "(signature and root)"
        )  # fmt: skip
        return f"intact: {report.size} events, {_seals(report)} verified; {stored}"


@dataclass(frozen=True)
class SinceCheck:
    """``verify --since-checkpoint``: the store checked against the newest stored checkpoint
    that verifies, then the events since it (see :mod:`ledger.incremental`)."""

    check: StoreCheck
    # when the checkpoint checked from was stored: the store's word, which no signature covers
    made: str | None = None

    @property
    def report(self) -> VerifyReport:
        return self.check.report

    @property
    def intact(self) -> bool:
        return self.check.report.intact

    def to_dict(self) -> dict[str, Any]:
        base = self.check.base
        return {
            "since": {
                "checkpoint": None if base is None else base.size,
                "signed_by": None if base is None else base.signed_by,
                "stored_at": self.made,
                "first_checked": self.check.start + 1,
                "last_checked": self.check.start + self.check.report.checked,
            },
            "checkpoints": [c.to_dict() for c in self.check.checkpoints],
        }

    def describe(self, report: VerifyReport) -> str:
        base, start = self.check.base, self.check.start
        if base is None:
            return (
                f"intact: no stored checkpoint: all {report.size} events checked, "
                f"{_seals(report)} verified"
            )
        signed = f"signed by {base.signed_by}" + (f", stored {self.made}" if self.made else "")
        if report.size == start:
            events = f"no events after the checkpoint of size {start}"
        else:
            events = f"events {start + 1}..{report.size} checked against checkpoint of size {start}"
        return f"intact: {events} ({signed}), consistent with it; {_seals(report)} verified"


class VerifiableLog:
    """Checkpoints and proofs over one ledger.

    *keys*: verifier keys held apart from the store (see :func:`signing_verifiers`) under
    which stored checkpoints verify, besides the keys recorded on the ledger itself."""

    def __init__(self, ledger: Ledger, keys: Iterable[notes.Verifier] = ()) -> None:
        self.ledger = ledger
        self.keys = list(keys)

    @property
    def origin(self) -> str:
        return self.ledger.meta["origin"]

    # -- checking the store ------------------------------------------------------------------

    def _keys(self, extra: Iterable[notes.Verifier] = ()) -> Keys:
        def recorded() -> list[tuple[int, bytes]]:
            return [(r.sequence, r.state) for r in self.ledger.store.rows_of_type(SIGNING_KEY)]

        return Keys([*extra, *self.keys], recorded)

    def _full(
        self, snapshot: Snapshot, progress: Callable[[int], None] | None, workers: int | None
    ) -> VerifyReport:
        """The whole chain verified from *snapshot* (several processes on a large ledger)."""
        mac = self.ledger.seal_mac
        count = parallel.workers_for(snapshot.head().sequence, workers)
        if count > 1:
            return parallel.verify_parallel(
                snapshot, url=self.ledger.store.url, ledger_id=self.ledger.ledger_id, mac=mac,
                workers=count, progress=progress,
            )  # fmt: skip
        return verify_snapshot(
            snapshot, ledger_id=self.ledger.ledger_id, mac=mac, progress=progress
        )

    def _check(
        self,
        snapshot: Snapshot,
        extra: Iterable[notes.Verifier] = (),
        *,
        known: tuple[int, bytes] | None = None,
        progress: Callable[[int], None] | None = None,
        workers: int | None = None,
    ) -> StoreCheck:
        return check_store(
            snapshot, ledger_id=self.ledger.ledger_id, origin=self.origin,
            mac=self.ledger.seal_mac, keys=self._keys(extra),
            full=lambda s: self._full(s, progress, workers), known=known, progress=progress,
        )  # fmt: skip

    def verify_since_checkpoint(
        self, *, progress: Callable[[int], None] | None = None, workers: int | None = None
    ) -> SinceCheck:
        """Check every stored checkpoint, the store's consistency with the newest that
        verifies, and every event since it (with no stored checkpoint: the whole chain).
        What a checkpoint is signed after; the cost grows with the events since."""
        with self.ledger.store.snapshot() as snapshot:
            check = self._check(snapshot, progress=progress, workers=workers)
        made = None if check.base is None else self.ledger.store.checkpoint_made(check.base.size)
        return SinceCheck(check, made)

    def check_stored_checkpoints(self) -> CheckpointReview:
        """Every stored checkpoint checked: signature and root (O(log n) stored nodes each;
        after an intact ``Ledger.verify`` every stored node is the recomputed one)."""
        with self.ledger.store.snapshot() as snapshot:
            head = snapshot.head()
            return CheckpointReview(check_checkpoints(snapshot, head, self.origin, self._keys()))

    # -- checkpoints ---------------------------------------------------------------------------

    def checkpoint(self, signer: Signer, *, cosigner: Signer | None = None) -> str:
        """Check the store, then sign and store a checkpoint of it; the signed note.

        Nothing is signed over a store that does not verify against the newest stored
        checkpoint that does (IntegrityError naming the first bad position; nothing is
        written): see :mod:`ledger.incremental`.

        With *cosigner* (a key rotation: the outgoing key), the note carries both signatures,
        and the new key's ``ledger.signing_key`` event names the key it replaces, inside the
        tree the outgoing key signs: an auditor holding the old key can trust the new one."""
        return self._sign(signer, cosigner)[0]

    def _sign(self, signer: Signer, cosigner: Signer | None = None) -> tuple[str, StoreCheck]:
        own = [notes.parse_verifier_key(s.verifier_key) for s in (signer, cosigner) if s]
        doing = "no checkpoint was signed"
        with self.ledger.store.snapshot() as snapshot:
            check = self._check(snapshot, own)
        check.raise_if_bad(doing)
        if self.ledger.seal_mac is None:  # what it found is named first, then what it lacked
            raise KeyUnavailable(
                f"{doing}: without the keys folder the seals of the events since the last "
                f"checkpoint cannot be checked, and the ledger signs only what it verified "
                f"({self.ledger.keys_problem})"
            )
        key_text = signer.verifier_key
        if not check.signed_with(key_text) and key_text not in self._recorded_keys():
            # key changes are themselves on the ledger, recorded on top of the checked store
            event = {"type": SIGNING_KEY, "actor": SYSTEM_ACTOR, "verifier_key": key_text,
                     "name": signer.name}  # fmt: skip
            if cosigner is not None:
                event["replaces"] = cosigner.verifier_key
            self.ledger.record_system(event)
            assert check.root is not None
            with self.ledger.store.snapshot() as snapshot:
                check = self._check(snapshot, own, known=(check.report.size, check.root))
            check.raise_if_bad(doing + " (the signing key was recorded on the ledger)")
        size, root = check.report.size, check.root
        assert root is not None  # an intact check has its root
        note = notes.sign(notes.Checkpoint(self.origin, size, root), signer.name, signer.private)
        if cosigner is not None:
            note = notes.add_signature(note, cosigner.name, cosigner.private)
        self.ledger.store.add_checkpoint(size, root, note, utc_timestamp(datetime.now(UTC)))
        return note, check

    def _recorded_keys(self) -> set[str | None]:
        """The verifier keys of every signing key recorded on the ledger."""
        return {e.get("verifier_key") for e in self.ledger.events_of_type(SIGNING_KEY)}

    def rotate_signing_key(self, folder: Path) -> tuple[Signer, Signer, str]:
        """Replace the signing key in *folder*: the new key is recorded on the ledger, a
        checkpoint is signed by both keys, then the old private key is removed. An interrupted
        rotation is finished by running it again. (old, new, the co-signed note).

        The store is checked first, as for any checkpoint: on a store that does not verify,
        nothing is written, not even the new key."""
        old = load_signer(folder)
        anchors = [notes.parse_verifier_key(old.verifier_key), *signing_verifiers(folder)]
        with self.ledger.store.snapshot() as snapshot:
            self._check(snapshot, anchors).raise_if_bad("the signing key was not rotated")
        new = next_signer(folder)
        if old.verifier_key not in self._recorded_keys():  # it signed nothing on this ledger
            self.checkpoint(old)
        note = self.checkpoint(new, cosigner=old)
        retire_signer(folder, old)
        return old, new, note

    def latest_checkpoint(self) -> StoredCheckpoint:
        """The newest stored checkpoint that verifies (signature and root); NotFound if none
        does. Those that do not are passed over (``verify`` names them)."""
        with self.ledger.store.snapshot() as snapshot:
            head = snapshot.head()
            keys = self._keys()
            passed: list[StoredCheckpoint] = []
            for size, note in reversed(snapshot.checkpoints()):
                checked = check_checkpoint(snapshot, head, self.origin, keys, size, note)
                if checked.valid:
                    return checked
                passed.append(checked)
        if passed:
            raise NotFound(
                f"no stored checkpoint verifies ({len(passed)} stored: {passed[0].problem}); "
                "run `ledger verify`"
            )
        raise NotFound("no checkpoint yet: run `ledger checkpoint`")

    def latest(self) -> str:
        """The note of the newest stored checkpoint that verifies (see latest_checkpoint)."""
        return self.latest_checkpoint().note

    # -- proofs --------------------------------------------------------------------------------

    def _size(self, size: int | None) -> int:
        return notes.parse(self.latest()).size if size is None else size

    def prove_inclusion(self, sequence: int, size: int | None = None) -> dict[str, Any]:
        """RFC 9162 inclusion proof of event *sequence* in the tree of *size* (the latest
        checkpoint's by default), in the shape of the RFC 6962 test vectors."""
        size = self._size(size)
        with self.ledger.store.snapshot() as snapshot:
            head = snapshot.head().sequence
            if not 1 <= sequence <= size <= head:
                raise InvalidEvent(
                    f"no inclusion proof for event {sequence} in a tree of {size} "
                    f"(the ledger holds {head})", key="sequence",
                )  # fmt: skip
            proof = node_proof(snapshot, lambda rh: merkle.inclusion_proof(sequence - 1, size, rh))
            leaf = snapshot.nodes([(0, sequence - 1)])[(0, sequence - 1)]
            root = root_at(snapshot, size)
        _checked(lambda: merkle.verify_inclusion(sequence - 1, size, leaf, proof, root))
        return {"leafIdx": sequence - 1, "treeSize": size, "root": _b64(root),
                "leafHash": _b64(leaf), "proof": [_b64(p) for p in proof]}  # fmt: skip

    def prove_consistency(self, size1: int, size2: int | None = None) -> dict[str, Any]:
        """RFC 9162 consistency proof between two tree sizes."""
        size2 = self._size(size2)
        with self.ledger.store.snapshot() as snapshot:
            head = snapshot.head().sequence
            if not 1 <= size1 <= size2 <= head:
                raise InvalidEvent(
                    f"no consistency proof from {size1} to {size2} (the ledger holds {head})",
                    key="size",
                )
            proof = node_proof(snapshot, lambda rh: merkle.consistency_proof(size1, size2, rh))
            root1, root2 = root_at(snapshot, size1), root_at(snapshot, size2)
        _checked(lambda: merkle.verify_consistency(size1, size2, root1, root2, proof))
        return {"size1": size1, "size2": size2, "root1": _b64(root1), "root2": _b64(root2),
                "proof": [_b64(p) for p in proof]}  # fmt: skip

    # -- checks against history -----------------------------------------------------------------

    def verify_against(self, note: str, verifier: notes.Verifier) -> CheckpointCheck:
        """Verify the ledger, and that it still holds exactly what *note* committed to."""
        try:
            committed = notes.verify(note, verifier)
        except notes.CheckpointError as exc:
            raise IntegrityError(None, f"the checkpoint does not verify: {exc}") from None
        if committed.origin != self.origin:
            raise IntegrityError(
                None,
                f"the checkpoint is of {committed.origin!r}, not this ledger ({self.origin!r})",
            )
        with self.ledger.store.snapshot() as snapshot:
            report = verify_snapshot(
                snapshot, ledger_id=self.ledger.ledger_id, mac=self.ledger.seal_mac,
                roots_at=(committed.size,),
            )  # fmt: skip
        if not report.intact:
            return CheckpointCheck(report, committed)
        if report.size < committed.size:
            reason = (
                f"the checkpoint commits to {committed.size} events, the ledger holds only "
                f"{report.size}: the newest events were removed or an older copy restored"
            )
            return CheckpointCheck(_failed(report, report.size + 1, reason), committed)
        if report.roots.get(committed.size) != committed.root.hex():
            reason = (
                f"the ledger's first {committed.size} events are not those the checkpoint "
                "committed to: history was rewritten or rolled back"
            )
            return CheckpointCheck(_failed(report, committed.size, reason), committed)
        return CheckpointCheck(report, committed)

    # -- the offline bundle ----------------------------------------------------------------------

    def export_bundle(self, folder: Path, signer: Signer) -> int:
        """Write events (values still encrypted), checkpoints and the verifier key to *folder*.

        The store is checked and a checkpoint covering every exported event signed first (see
        :meth:`checkpoint`): on a store that does not verify, no folder is made."""
        files.check_private_folder(folder)  # before the checkpoint: a refusal writes nothing
        note, check = self._sign(signer)  # the newest checkpoint covers every exported event
        last = notes.parse(note).size
        stored = sorted([(c.size, c.note) for c in check.checkpoints if c.size != last]
                        + [(last, note)])  # fmt: skip
        count = 0
        with files.private_folder(folder) as bundle:  # 0700, files 0600; removed on failure
            checkpoints = bundle.folder(BUNDLE_CHECKPOINTS)
            with bundle.create(BUNDLE_EVENTS) as out, self.ledger.store.snapshot() as snap:
                for row in snap.rows(1, last):
                    out.write(row.state + b"\n")
                    count += 1
            for size, text in stored:
                checkpoints.write(f"{size:012d}.note", text)
            bundle.write(BUNDLE_VERIFIER_KEY, signer.verifier_key + "\n")
        return count


def _failed(report: VerifyReport, first_bad: int, reason: str) -> VerifyReport:
    return VerifyReport(
        intact=False, size=report.size, checked=report.checked, first_bad=first_bad,
        reason=reason, seals_checked=report.seals_checked,
    )  # fmt: skip


def read_verifier(path: Path) -> notes.Verifier:
    """A verifier key from a file; LedgerError naming the file if it is not one."""
    try:
        text = files.read_limited(path, files.MAX_NOTE_FILE, "a verifier key").decode("utf-8")
        return notes.parse_verifier_key(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise LedgerError(f"cannot read the verifier key {path}: {type(exc).__name__}") from None
    except notes.CheckpointError as exc:
        raise LedgerError(f"{path}: {exc}") from None


def _checked(check: Callable[[], None]) -> None:
    """Run a proof's own check before it is handed out: a proof that fails it was made from a
    damaged tree, which is an integrity failure of the store (run `ledger verify`)."""
    try:
        check()
    except ProofError as exc:
        raise IntegrityError(
            None,
            f"the store's Merkle tree gives a proof that does not verify ({exc}): "
            "its tree nodes were changed; run `ledger verify`",
        ) from None
