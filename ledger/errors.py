"""The ledger's errors: one tree rooted at :class:`LedgerError`.

Messages name the problem and, where there is one, the fix. They never carry a
personal data value: validation names keys and rules, not the values it refused.
What an error means to a user of the command line (its exit code) is decided there, in
``ledger.cli.exit_codes``, not here.

    LedgerError
    ├── InvalidEvent: InvalidDeclaration  (ledger.declaration)
    ├── IntegrityError
    ├── KeyUnavailable
    ├── StoreError: StoreExists, StoreNotFound, ReadOnlyStore
    ├── NotFound
    ├── ConfigError
    ├── PurgePending
    ├── CheckpointError (also a ValueError): BadSignature
    ├── ProofError (also a ValueError)
    ├── UnsafePath, TooLarge            (ledger.files)
    └── ProjectionMismatch              (ledger.projections.integrity)

Standard library only: the auditor's verifier (``ledger.log.verifier``) raises these, and
runs with nothing but ``cryptography`` installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for the annotation only: this module imports nothing of the ledger's
    from ledger.sealing import Receipt


class LedgerError(Exception):
    """Root of every error the ledger raises on purpose."""


class InvalidEvent(LedgerError):
    """An event (or an import line) breaks the event contract; nothing was written."""

    def __init__(
        self,
        why: str,
        *,
        key: str | None = None,
        line: int | None = None,
        accepted: Sequence[str] = (),
        label: str = "line",
    ) -> None:
        self.why = why
        self.key = key
        self.line = line
        self.accepted = tuple(accepted)
        self.label = label
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"{self.label} {self.line}")
        if self.key is not None:
            where.append(f"key '{self.key}'")
        text = (", ".join(where) + ": " if where else "") + self.why
        if self.accepted:
            text += "; accepted: " + ", ".join(self.accepted)
        return text

    def at_line(self, line: int, label: str = "line") -> InvalidEvent:
        """The same refusal, placed on an import line (or, with *label*, a batch position)."""
        return InvalidEvent(self.why, key=self.key, line=line, accepted=self.accepted, label=label)


class IntegrityError(LedgerError):
    """What is stored is not what was written: changed, removed, inserted or reordered."""

    def __init__(self, sequence: int | None, what: str) -> None:
        self.sequence = sequence
        self.what = what
        at = f"sequence {sequence}: " if sequence is not None else ""
        super().__init__(at + what)


class KeyUnavailable(LedgerError):
    """A key needed to encrypt or decrypt is missing, wrong or unreadable."""


class StoreError(LedgerError):
    """The store cannot be opened, created or written as asked."""


class StoreExists(StoreError):
    """`init` would overwrite an existing store or keys folder."""


class StoreNotFound(StoreError):
    """There is no ledger at the given URL."""


class ReadOnlyStore(StoreError):
    """A write (including the audit record of a decrypting read) on a read-only store."""


class NotFound(LedgerError):
    """A request, breach or subject asked about is not on the ledger."""


class ConfigError(LedgerError):
    """The configuration (vocabulary, organisation settings) is invalid."""


class PurgePending(LedgerError):
    """An erasure (or key rotation) was recorded, but is not yet beyond recovery everywhere:
    a key generation or a store file still has to be cleaned. The ledger keeps a durable
    note, finishes the purge at the next write or open, and ``ledger status`` shows it.

    ``receipts`` holds the receipts of the batch that was recorded."""

    def __init__(self, message: str, receipts: Sequence[Receipt] = ()) -> None:
        self.receipts = list(receipts)
        super().__init__(message)


class CheckpointError(LedgerError, ValueError):
    """A checkpoint or verifier key is malformed, or its signature does not verify (a
    ``ValueError`` too, as it was before it joined the tree)."""


class BadSignature(CheckpointError):
    """The note carries a signature line of the key, and it does not verify: the note was
    changed after it was signed (or the line was forged)."""


class ProofError(LedgerError, ValueError):
    """A Merkle proof is malformed or does not verify (a ``ValueError`` too)."""
