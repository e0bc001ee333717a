"""What an error means to a shell: the exit code of every error that reaches the command line.

The domain errors (``ledger.errors``) say what went wrong; this table alone says what that is
to a script calling ``ledger``. The first row whose class the error is an instance of
decides, so rows go from the most specific class to the least; an error no row names is a
bug, ``INTERNAL``.
"""

from __future__ import annotations

from typing import Final

from ledger.errors import CheckpointError, IntegrityError, LedgerError, ProofError, PurgePending

from ._projections import ProjectionMismatch

OK: Final = 0
INTEGRITY: Final = 1
"""The chain, or what is stored beside it (projection tables included), is not what was
written."""
REFUSED: Final = 2
"""Refused input or usage, or a store, key or file that cannot be read."""
INTERNAL: Final = 3
"""A bug: an error nobody meant to reach a user (please report it)."""
PENDING: Final = 4
"""Recorded, but an erasure or rotation is not yet finished everywhere (a purge is pending)."""

EXIT_CODES: Final[tuple[tuple[type[Exception], int], ...]] = (
    (PurgePending, PENDING),
    (IntegrityError, INTEGRITY),
    (ProjectionMismatch, INTEGRITY),
    # Raised by the pure log code, and turned into an IntegrityError or a refusal wherever a
    # user's input or a stored row can cause one; one that still escapes (the self-check of a
    # proof over a damaged tree) is reported as the internal error it always was.
    (CheckpointError, INTERNAL),
    (ProofError, INTERNAL),
    (LedgerError, REFUSED),
    (UnicodeError, REFUSED),  # undecodable bytes in an argument or input, reaching a driver
    (OSError, REFUSED),  # the machine refused: a path too long, a folder not there...
)


def exit_code(error: BaseException) -> int:
    """The exit code for *error*: its row in ``EXIT_CODES``, or ``INTERNAL``."""
    for kind, code in EXIT_CODES:
        if isinstance(error, kind):
            return code
    return INTERNAL
