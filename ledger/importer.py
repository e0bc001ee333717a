"""Import of JSON Lines files: every line checked first, then all recorded in one transaction."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ledger.contract import parse_line

if TYPE_CHECKING:
    from ledger.api import Ledger
    from ledger.sealing import Receipt


@dataclass(frozen=True)
class ImportResult:
    """How an import went: events newly recorded, and those already on the ledger (same ``id``)."""

    recorded: int
    already_present: int
    first_sequence: int | None
    last_sequence: int | None


def parse_lines(lines: Iterable[bytes]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Parse non-blank lines strictly, lazily; the first bad one raises InvalidEvent naming it."""
    for number, raw in enumerate(lines, start=1):
        if raw.strip():
            yield number, parse_line(raw, line=number)


def import_lines(ledger: Ledger, lines: Iterable[bytes]) -> ImportResult:
    """Record the events of a JSON Lines stream: all of them, or none on any refusal.

    An erasure that is recorded but not yet beyond recovery raises PurgePending, whose
    ``receipts`` (see :func:`summarise`) say what was recorded."""
    return summarise(ledger.record_numbered(parse_lines(lines), label="line"))


def summarise(receipts: Sequence[Receipt]) -> ImportResult:
    """What a recorded batch's receipts add up to."""
    new = [receipt.sequence for receipt in receipts if receipt.recorded]
    return ImportResult(
        recorded=len(new),
        already_present=len(receipts) - len(new),
        first_sequence=min(new) if new else None,
        last_sequence=max(new) if new else None,
    )
