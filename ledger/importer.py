"""Import of JSON Lines files: every line checked first, then all recorded in one transaction."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, cast

from ledger.core.contract import parse_line
from ledger.errors import InvalidEvent
from ledger.files import MAX_IMPORT_LINE, TooLarge, bounded_lines, size_text
from ledger.workers import workers_for

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
    """Parse non-blank lines strictly, lazily; the first bad one raises InvalidEvent naming it.

    A binary file (anything with ``readline``) is read one bounded line at a time: a line
    longer than MAX_IMPORT_LINE is refused, naming the file and line, before it is held whole.
    """
    for number, raw in numbered_lines(lines):
        yield number, parse_line(raw, line=number)


def numbered_lines(lines: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """The non-blank lines with their numbers, unparsed, read as :func:`parse_lines` reads them
    (a line longer than MAX_IMPORT_LINE raises InvalidEvent naming it)."""
    if hasattr(lines, "readline"):
        lines = bounded_lines(cast("IO[bytes]", lines), MAX_IMPORT_LINE, "one event line")
    try:
        for number, raw in enumerate(lines, start=1):
            if raw.strip():
                yield number, raw
    except TooLarge as exc:
        why = f"longer than {size_text(exc.limit)}, the limit for {exc.what} (in {exc.name})"
        raise InvalidEvent(why, line=exc.line) from None


def import_lines(
    ledger: Ledger, lines: Iterable[bytes], *, workers: int | None = None
) -> ImportResult:
    """Record the events of a JSON Lines stream: all of them, or none on any refusal.

    Lines are parsed and checked on *workers* processes (by default every core, or
    ``LEDGER_IMPORT_WORKERS``; see :mod:`ledger.workers`), with the outcome of one core.
    An erasure that is recorded but not yet beyond recovery raises PurgePending, whose
    ``receipts`` (see :func:`summarise`) say what was recorded."""
    receipts = ledger.record_numbered(
        numbered_lines(lines), label="line", lines=True, workers=workers_for(workers)
    )
    return summarise(receipts)


def summarise(receipts: Sequence[Receipt]) -> ImportResult:
    """What a recorded batch's receipts add up to."""
    new = [receipt.sequence for receipt in receipts if receipt.recorded]
    return ImportResult(
        recorded=len(new),
        already_present=len(receipts) - len(new),
        first_sequence=min(new) if new else None,
        last_sequence=max(new) if new else None,
    )
