"""A tamper-evident, event-sourced audit ledger for personal data."""

from ledger.api import Ledger
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
