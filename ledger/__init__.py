"""A tamper-evident, event-sourced audit ledger for personal data.

``from ledger import Ledger`` works as ever, but the facade, its receipts and its report are
imported when first asked for (PEP 562): importing any submodule runs this file first, and
the auditor's verifier (``ledger.log.verifier``) must import with only ``cryptography``
installed, without the stores' SQLAlchemy, eventsourcing and orjson. The errors are plain
Python and imported at once.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ledger.errors import (
    ConfigError,
    IntegrityError,
    InvalidEvent,
    KeyUnavailable,
    LedgerError,
    ReadOnlyStore,
    StoreError,
    StoreExists,
    StoreNotFound,
)

if TYPE_CHECKING:
    from ledger.api import Ledger
    from ledger.sealing import Receipt
    from ledger.verification.checker import VerifyReport

__all__ = [
    "ConfigError",
    "IntegrityError",
    "InvalidEvent",
    "KeyUnavailable",
    "Ledger",
    "LedgerError",
    "ReadOnlyStore",
    "Receipt",
    "StoreError",
    "StoreExists",
    "StoreNotFound",
    "VerifyReport",
]

_LAZY = {
    "Ledger": "ledger.api",
    "Receipt": "ledger.sealing",
    "VerifyReport": "ledger.verification.checker",
}

if not TYPE_CHECKING:  # mypy reads the imports above; a module __getattr__ would make it Any

    def __getattr__(name: str) -> object:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # once: later lookups do not come here
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *__all__})
