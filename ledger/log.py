"""The ledger as a verifiable log: signed checkpoints, O(log n) proofs, checks against history,
and the offline evidence bundle an auditor verifies with nothing but a public key."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ledger import checkpoint as notes
from ledger import files, merkle
from ledger.api import Ledger
from ledger.canonical import utc_timestamp
from ledger.errors import IntegrityError, InvalidEvent, LedgerError, NotFound
from ledger.replay import SIGNING_KEY
from ledger.sealing import SYSTEM_ACTOR
from ledger.signing import Signer, load_signer, next_signer, retire_signer
from ledger.store.base import Snapshot
from ledger.verify import VerifyReport, verify_snapshot

BUNDLE_EVENTS = "events.jsonl"
BUNDLE_CHECKPOINTS = "checkpoints"


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def _proof(snapshot: Snapshot, build: Any) -> list[bytes]:
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


def root_at(snapshot: Snapshot, size: int) -> bytes:
    """The tree's root over the first *size* events, from stored nodes."""
    if size == 0:
        return merkle.EMPTY_ROOT
    return _proof(snapshot, lambda rh: [rh(0, size)])[0]


@dataclass(frozen=True)
class CheckpointCheck:
    """The result of verifying the ledger against a signed checkpoint."""

    report: VerifyReport
    checkpoint: notes.Checkpoint | None


class VerifiableLog:
    """Checkpoints and proofs over one ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    @property
    def origin(self) -> str:
        return self.ledger.meta["origin"]

    # -- checkpoints ---------------------------------------------------------------------------

    def checkpoint(self, signer: Signer, *, cosigner: Signer | None = None) -> str:
        """Sign and store a checkpoint of the ledger as it is now; the signed note.

        With *cosigner* (a key rotation: the outgoing key), the note carries both signatures,
        and the new key's ``ledger.signing_key`` event names the key it replaces, inside the
        tree the outgoing key signs: an auditor holding the old key can trust the new one."""
        key_text = signer.verifier_key
        if key_text not in self._recorded_keys():  # key changes are themselves on the ledger
            event = {"type": SIGNING_KEY, "actor": SYSTEM_ACTOR, "verifier_key": key_text,
                     "name": signer.name}  # fmt: skip
            if cosigner is not None:
                event["replaces"] = cosigner.verifier_key
            self.ledger.record_system(event)
        with self.ledger.store.snapshot() as snapshot:
            size = snapshot.head().sequence
            root = root_at(snapshot, size)
        note = notes.sign(notes.Checkpoint(self.origin, size, root), signer.name, signer.private)
        if cosigner is not None:
            note = notes.add_signature(note, cosigner.name, cosigner.private)
        self.ledger.store.add_checkpoint(size, root, note, utc_timestamp(datetime.now(UTC)))
        return note

    def _recorded_keys(self) -> set[str | None]:
        """The verifier keys of every signing key recorded on the ledger."""
        return {e.get("verifier_key") for e in self.ledger.events_of_type(SIGNING_KEY)}

    def rotate_signing_key(self, folder: Path) -> tuple[Signer, Signer, str]:
        """Replace the signing key in *folder*: the new key is recorded on the ledger, a
        checkpoint is signed by both keys, then the old private key is removed. An interrupted
        rotation is finished by running it again. (old, new, the co-signed note)."""
        old = load_signer(folder)
        new = next_signer(folder)
        if old.verifier_key not in self._recorded_keys():  # it signed nothing on this ledger
            self.checkpoint(old)
        note = self.checkpoint(new, cosigner=old)
        retire_signer(folder, old)
        return old, new, note

    def latest(self) -> str:
        stored = self.ledger.store.checkpoints()
        if not stored:
            raise NotFound("no checkpoint yet: run `ledger checkpoint`")
        return stored[-1][1]

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
            proof = _proof(snapshot, lambda rh: merkle.inclusion_proof(sequence - 1, size, rh))
            leaf = snapshot.nodes([(0, sequence - 1)])[(0, sequence - 1)]
            root = root_at(snapshot, size)
        merkle.verify_inclusion(sequence - 1, size, leaf, proof, root)  # never hand out a bad one
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
            proof = _proof(snapshot, lambda rh: merkle.consistency_proof(size1, size2, rh))
            root1, root2 = root_at(snapshot, size1), root_at(snapshot, size2)
        merkle.verify_consistency(size1, size2, root1, root2, proof)
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
        """Write events (values still encrypted), checkpoints and the verifier key to *folder*."""
        files.check_private_folder(folder)  # before the checkpoint: a refusal writes nothing
        self.checkpoint(signer)  # the newest checkpoint covers every exported event
        stored = self.ledger.store.checkpoints()
        last = stored[-1][0]
        count = 0
        with files.private_folder(folder) as bundle:  # 0700, files 0600; removed on failure
            checkpoints = bundle.folder(BUNDLE_CHECKPOINTS)
            with bundle.create(BUNDLE_EVENTS) as out, self.ledger.store.snapshot() as snap:
                for row in snap.rows():
                    if row.sequence > last:
                        break
                    out.write(row.state + b"\n")
                    count += 1
            for size, note in stored:
                checkpoints.write(f"{size:012d}.note", note)
            bundle.write("verifier.key", signer.verifier_key + "\n")
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
