"""The one canonical encoding of everything the ledger hashes or signs.

Canonical bytes are the UTF-8 JSON that orjson writes with sorted keys: no
whitespace, keys ordered by code point, strings escaped only where JSON must.
Stored records never contain floats, so no number formatting is ambiguous.

Only encoding needs orjson: the auditor's verifier, installed with only ``cryptography``,
hashes stored bytes and encodes nothing, so it imports this module without orjson.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

try:
    import orjson
except ModuleNotFoundError:

    def canonical(obj: Any) -> bytes:
        """Canonical bytes are orjson's: without it, nothing can be encoded (or written)."""
        raise ModuleNotFoundError("the canonical encoding needs orjson", name="orjson")

else:
    _OPTIONS = orjson.OPT_SORT_KEYS

    def canonical(obj: Any) -> bytes:
        """Canonical bytes of a JSON-able value (dicts with str keys, lists, str, int, bool,
        None)."""
        return orjson.dumps(obj, option=_OPTIONS)


def sha256(data: bytes) -> bytes:
    """SHA-256 digest of *data*."""
    return hashlib.sha256(data).digest()


def utc_timestamp(moment: datetime) -> str:
    """RFC 3339 UTC time with microseconds, as the ledger writes its own times."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: the ledger only records times with an offset")
    # isoformat is strftime("%Y-%m-%dT%H:%M:%S.%f") for the years 1000-9999, about 3x faster
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
