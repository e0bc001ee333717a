"""Small shared helpers of the projections."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from ledger.core.canonical import utc_timestamp
from ledger.core.contract import parse_timestamp


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a projection builds or loads many objects.
    They hold no reference cycles, so nothing is left for it to find, and at a million
    events its repeated scans of the growing heap cost as much as the work itself. Its
    state is restored afterwards (reference counting frees memory meanwhile as usual)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def covers(wanted: str, category: str) -> bool:
    """A category key covers itself and its descendants; ``*`` covers everything."""
    return wanted == "*" or category == wanted or category.startswith(wanted + ".")


def as_of_text(as_of: datetime | str | None) -> str:
    """A moment as the fact tables store times (UTC text); now when None."""
    if as_of is None:
        return utc_timestamp(datetime.now(UTC))
    if isinstance(as_of, datetime):
        return utc_timestamp(as_of)
    return utc_timestamp(parse_timestamp(as_of, "as_of"))


def rfc3339(text: str | None) -> str | None:
    """Stored UTC text as RFC 3339 for JSON output (whole seconds when there is no fraction)."""
    if text is None:
        return None
    return text.replace(".000000Z", "Z")


def plain(value: Any) -> Any:
    """Dataclasses and dates as JSON-able values."""
    from dataclasses import asdict, is_dataclass
    from datetime import date

    if is_dataclass(value) and not isinstance(value, type):
        return plain(asdict(value))
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return utc_timestamp(value).replace(".000000Z", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and len(value) == 27 and value.endswith("Z") and value[10] == "T":
        return rfc3339(value)
    return value
