"""Re-checking stored events against the vocabulary of their time.

Whenever the vocabulary in force changes, the ledger records it (a
``ledger.vocabulary`` record) before the events that use it. Replaying the chain,
each event is validated again under the vocabulary recorded before it, so an
auditor can see that every event was valid when it was written, whatever the
configuration says today.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterable
from dataclasses import dataclass

from ledger.core import chain
from ledger.core.contract import validate
from ledger.core.spec import DECLARATION_TYPE, VOCABULARY_TYPE
from ledger.core.spec import SIGNING_KEY_TYPE as SIGNING_KEY
from ledger.core.vocabulary import Vocabulary
from ledger.declaration import check_declaration, digest
from ledger.errors import ConfigError, InvalidEvent
from ledger.log.checkpoint import CheckpointError, parse_verifier_key
from ledger.store.base import StoredRow


@dataclass(frozen=True)
class ReplayFinding:
    """An event that does not satisfy the contract under the vocabulary of its time."""

    sequence: int
    problem: str


def revalidate(rows: Iterable[StoredRow]) -> list[ReplayFinding]:
    """Validate every stored event under the vocabulary recorded before it."""
    findings: list[ReplayFinding] = []
    vocabulary = Vocabulary.default()
    installed = f"fideslang {importlib.metadata.version('fideslang')}"
    for row in rows:
        record = chain.parse(row.state)
        if record.type == VOCABULARY_TYPE:
            try:
                vocabulary = Vocabulary.from_config(record.event.get("custom", {}))
            except ConfigError as exc:
                unusable = f"recorded vocabulary is unusable: {exc}"
                findings.append(ReplayFinding(record.seq, unusable))
            if record.event.get("taxonomy") != installed:
                findings.append(
                    ReplayFinding(
                        record.seq,
                        f"vocabulary recorded under {record.event.get('taxonomy')}, checked "
                        f"with {installed}: keys it lacks are reported below",
                    )
                )
            continue
        if record.type == SIGNING_KEY:  # the ledger's own record of a checkpoint signing key
            named = ["verifier_key", *(["replaces"] if "replaces" in record.event else [])]
            for key in named:  # the key it records, and the key it replaces if any
                try:
                    parse_verifier_key(str(record.event.get(key)))
                except CheckpointError as exc:
                    findings.append(ReplayFinding(record.seq, f"signing key record: {key}: {exc}"))
            continue
        if record.type == DECLARATION_TYPE:  # the declared processing, under its vocabulary
            findings += _declaration_findings(record.seq, record.event, vocabulary)
            continue
        event = dict(record.event)
        if record.data:  # values stay sealed: check the categories they were filed under
            event["data"] = dict.fromkeys(record.data)
        try:
            validate(event, vocabulary=vocabulary)
        except InvalidEvent as exc:
            findings.append(ReplayFinding(record.seq, str(exc)))
    return findings


def _declaration_findings(
    seq: int, event: dict[str, object], vocabulary: Vocabulary
) -> list[ReplayFinding]:
    """A recorded declaration checked again, and its digest against its content."""
    content = event.get("declaration")
    if not isinstance(content, dict):
        return [ReplayFinding(seq, "declaration record: it holds no declaration")]
    try:
        checked = check_declaration(content, vocabulary)
    except InvalidEvent as exc:
        return [ReplayFinding(seq, f"declaration record: {exc}")]
    if checked != content:
        return [ReplayFinding(seq, "declaration record: its content is not in normal form")]
    if event.get("digest") != digest(content):
        return [ReplayFinding(seq, "declaration record: its digest is not its content's")]
    return []
