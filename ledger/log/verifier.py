"""For auditors: everything needed to check the ledger's evidence offline, with a public key.

Imports with only the standard library and ``cryptography`` installed (also as
``ledger.verifier``): the modules it uses (``ledger.log.merkle``, ``ledger.log.checkpoint``,
``ledger.core.chain``, ``ledger.core.spec``, the read caps of ``ledger.files`` and
``ledger.errors``) need nothing else, and records are parsed with orjson's rules by the
standard library's ``json`` where orjson is absent. No store, no encryption keys. A bundle line
longer than ``MAX_BUNDLE_LINE`` or a checkpoint note longer than ``MAX_NOTE_FILE`` makes the
bundle not intact, read in bounded memory.

    from ledger.log.verifier import verify_bundle, parse_verifier_key
    report = verify_bundle(Path("evidence"), parse_verifier_key(open("ledger.vkey").read()))
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ledger.core import chain
from ledger.core.spec import BUNDLE_CHECKPOINTS as CHECKPOINTS
from ledger.core.spec import BUNDLE_EVENTS as EVENTS
from ledger.core.spec import BUNDLE_FILES as KNOWN
from ledger.core.spec import SIGNING_KEY_TYPE as HANDOVER
from ledger.files import (
    MAX_BUNDLE_LINE,
    MAX_NOTE_FILE,
    TooLarge,
    bounded_lines,
    read_limited,
    size_text,
)
from ledger.log import merkle
from ledger.log.checkpoint import (
    Checkpoint,
    CheckpointError,
    Verifier,
    parse,
    parse_verifier_key,
    verifier_key,
)
from ledger.log.checkpoint import verify as verify_checkpoint
from ledger.log.merkle import ProofError, verify_consistency, verify_inclusion

__all__ = [
    "BundleReport",
    "CheckpointError",
    "ProofError",
    "parse_verifier_key",
    "verify_bundle",
    "verify_checkpoint",
    "verify_consistency",
    "verify_inclusion",
]


@dataclass(frozen=True)
class BundleReport:
    """What an evidence bundle proved: intact or not, and the first bad place."""

    intact: bool
    events: int
    checkpoints: list[int] = field(default_factory=list)
    root: str | None = None
    first_bad: int | None = None
    reason: str | None = None


def verify_bundle(folder: Path, verifier: Verifier) -> BundleReport:
    """Check every byte of an evidence bundle: the chain of its events, the Merkle root at
    each checkpoint, each checkpoint's signature, and that the newest covers every event."""
    try:
        return _verify(folder, verifier)
    except _Bad as bad:
        return BundleReport(False, bad.events, [], None, bad.at, bad.why)


class _Bad(Exception):
    def __init__(self, at: int | None, why: str, events: int = 0) -> None:
        self.at, self.why, self.events = at, why, events


def _verify(folder: Path, verifier: Verifier) -> BundleReport:
    if not (folder / EVENTS).is_file() or not (folder / CHECKPOINTS).is_dir():
        raise _Bad(None, f"{folder} is not an evidence bundle ({EVENTS} and {CHECKPOINTS}/)")
    unknown = sorted(p.name for p in folder.iterdir() if p.name not in KNOWN)
    if unknown:
        raise _Bad(None, f"the bundle holds a file that no check covers: {unknown[0]}")
    texts: dict[str, str] = {}
    sizes: set[int] = set()
    for path in sorted((folder / CHECKPOINTS).iterdir()):
        try:
            raw = read_limited(path, MAX_NOTE_FILE, "a checkpoint note")
            texts[path.name] = raw.decode("utf-8")
            sizes.add(parse(texts[path.name]).size)
        except (CheckpointError, UnicodeDecodeError) as exc:
            raise _Bad(None, f"checkpoint {path.name} does not verify: {exc}") from None
        except TooLarge as exc:
            why = f"longer than {size_text(exc.limit)}, the limit for {exc.what}"
            raise _Bad(None, f"checkpoint {path.name}: {why}") from None
    if not texts:
        raise _Bad(None, "the bundle holds no checkpoint")
    handovers: list[tuple[int, str, str]] = []  # (sequence, new key, the key it replaces)
    count, roots = _events(folder, sizes, handovers)
    checkpoints = _signed(texts, verifier, handovers)
    origins = {c.origin for c in checkpoints.values()}
    if len(origins) != 1:
        raise _Bad(None, "the bundle's checkpoints name different logs")
    for size, committed in sorted(checkpoints.items()):
        if size > count:
            raise _Bad(count + 1, f"checkpoint {size} covers events the bundle lacks", count)
        if roots.get(size, merkle.EMPTY_ROOT if size == 0 else None) != committed.root:
            raise _Bad(size, f"the events do not match checkpoint {size}'s root", count)
    newest = max(checkpoints)
    if newest != count:
        raise _Bad(newest + 1, f"events beyond the newest checkpoint ({newest})", count)
    return BundleReport(True, count, sorted(checkpoints), checkpoints[newest].root.hex())


def _events(
    folder: Path, sizes: set[int], handovers: list[tuple[int, str, str]]
) -> tuple[int, dict[int, bytes]]:
    """Re-link the bundle's events; the count, and the Merkle root at each of *sizes*.
    Signing-key handovers found on the way are added to *handovers*."""
    builder = merkle.TreeBuilder()
    prev = chain.GENESIS
    roots: dict[int, bytes] = {}
    with open(folder / EVENTS, "rb") as events:
        lines = bounded_lines(events, MAX_BUNDLE_LINE, "one stored record")
        for seq, line in _numbered(lines):
            if not line.endswith(b"\n"):
                raise _Bad(seq, "the last line is cut short", seq - 1)
            state = line[:-1]
            try:
                record = chain.parse(state)
            except ValueError as exc:
                raise _Bad(seq, f"malformed record: {exc}", seq - 1) from None
            if record.seq != seq:
                raise _Bad(seq, f"holds the record of sequence {record.seq}", seq - 1)
            if record.prev != prev:
                raise _Bad(seq, "does not link to its predecessor", seq - 1)
            if record.type == HANDOVER and "replaces" in record.event:
                new, old = record.event.get("verifier_key"), record.event["replaces"]
                if isinstance(new, str) and isinstance(old, str):
                    handovers.append((seq, new, old))
            prev = hashlib.sha256(state).digest()
            builder.append(merkle.leaf_hash(state))
            if builder.size in sizes:
                roots[builder.size] = builder.root()
    return builder.size, roots


def _numbered(lines: Iterator[bytes]) -> Iterator[tuple[int, bytes]]:
    """The lines, numbered from 1; a line over the cap ends the check at that line."""
    try:
        yield from enumerate(lines, start=1)
    except TooLarge as exc:
        at = exc.line or 1
        why = f"{EVENTS}, line {at}: longer than {size_text(exc.limit)}, the limit for {exc.what}"
        raise _Bad(at, why, at - 1) from None


def _signed(
    texts: dict[str, str], verifier: Verifier, handovers: list[tuple[int, str, str]]
) -> dict[int, Checkpoint]:
    """Every checkpoint, verified under the auditor's key or a key it handed over to (or
    that handed over to it): a ``ledger.signing_key`` event naming the key it replaces, inside
    a tree signed by an already trusted key, extends the trust to the other key of the pair.
    The roots are compared with the events afterwards, so the events vouched for are real."""
    trusted = {verifier_key(verifier.name, verifier.public): verifier}
    verified: dict[str, Checkpoint] = {}
    changed = True
    while changed:
        changed = False
        for name, text in texts.items():
            for key in [] if name in verified else list(trusted.values()):
                try:
                    verified[name] = verify_checkpoint(text, key)
                except CheckpointError:
                    continue
                changed = True
                break
        covered = max((c.size for c in verified.values()), default=0)
        for seq, new, old in handovers:
            if seq <= covered and (new in trusted) != (old in trusted):
                for text in (new, old):
                    try:
                        trusted.setdefault(text, parse_verifier_key(text))
                    except CheckpointError:
                        raise _Bad(seq, "a signing-key handover names a malformed key") from None
                changed = True
    for name in texts:
        if name not in verified:
            raise _Bad(
                None,
                f"checkpoint {name} does not verify under the key given, nor under a key "
                "handed over to or from it on the ledger",
            )
    return {c.size: c for c in verified.values()}
