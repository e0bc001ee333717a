"""The command line's one table of exit codes, and the handler that applies it."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from ledger.cli.exit_codes import EXIT_CODES, INTEGRITY, INTERNAL, PENDING, REFUSED, exit_code
from ledger.cli.main import LedgerGroup
from ledger.errors import (
    BadSignature,
    CheckpointError,
    ConfigError,
    IntegrityError,
    InvalidEvent,
    KeyUnavailable,
    LedgerError,
    NotFound,
    ProofError,
    PurgePending,
    ReadOnlyStore,
    StoreError,
    StoreExists,
    StoreNotFound,
)
from ledger.files import TooLarge, UnsafePath
from ledger.projections.integrity import ProjectionMismatch

# What README.md promises: 1 integrity failure, 2 refused input, usage or unreadable store,
# 3 internal error (a bug), 4 recorded but a purge is pending.
DOCUMENTED = [
    (PurgePending("erasure recorded; the purge of the store's files is pending"), PENDING),
    (IntegrityError(12, "does not link to its predecessor"), INTEGRITY),
    (ProjectionMismatch("projection_erasures", 3, "changed outside the runner"), INTEGRITY),
    (InvalidEvent("not a known data category", key="categories", line=4), REFUSED),
    (KeyUnavailable("the keys folder ./ledger-keys does not exist"), REFUSED),
    (StoreError("the store cannot be written"), REFUSED),
    (StoreExists("a ledger already exists at sqlite:///ledger.db"), REFUSED),
    (StoreNotFound("no ledger at sqlite:///ledger.db: run `ledger init`"), REFUSED),
    (ReadOnlyStore("the store is read-only"), REFUSED),
    (NotFound("no breach INC-2026-009 on the ledger"), REFUSED),
    (ConfigError("ledger.toml: unknown setting"), REFUSED),
    (UnsafePath("report.html is a symbolic link: nothing was written"), REFUSED),
    (TooLarge("events.jsonl", 1 << 20, "one import line", line=3), REFUSED),
    (LedgerError("cannot read the verifier key ledger.vkey"), REFUSED),
    (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), REFUSED),
    (FileNotFoundError(2, "No such file or directory", "evidence"), REFUSED),
    (PermissionError(13, "Permission denied", "ledger.db"), REFUSED),
    # the pure log code's errors, where no caller turned them into a domain error: a bug
    (ProofError("the inclusion proof does not lead to the root"), INTERNAL),
    (CheckpointError("a key name must be non-empty, without spaces or '+'"), INTERNAL),
    (BadSignature("the signature by northgate-it/ledger does not verify"), INTERNAL),
    (KeyError("seq"), INTERNAL),
    (RuntimeError("unexpected"), INTERNAL),
]


@pytest.mark.parametrize("error, code", DOCUMENTED, ids=lambda v: type(v).__name__)
def test_every_error_gets_the_exit_code_the_readme_documents(error: Exception, code: int) -> None:
    assert exit_code(error) == code


def test_no_row_of_the_table_is_shadowed_by_an_earlier_one() -> None:
    # most specific first: a row below a row of its own base class would never be reached
    for position, (kind, _) in enumerate(EXIT_CODES):
        for earlier, _ in EXIT_CODES[:position]:
            assert not issubclass(kind, earlier), f"{kind.__name__} is shadowed by {earlier}"


def test_the_domain_errors_carry_no_exit_code_of_their_own() -> None:
    for error, _ in DOCUMENTED:
        if isinstance(error, LedgerError) and not isinstance(error, ProjectionMismatch):
            # ProjectionMismatch's own attribute (projections/) is unused: the table decides
            assert not hasattr(error, "exit_code"), type(error).__name__


def _failing(error: BaseException) -> click.Group:
    @click.group(cls=LedgerGroup)
    def group() -> None:
        """A group whose one command fails as given."""

    @group.command()
    def fail() -> None:
        """Raise the error."""
        raise error

    return group


@pytest.mark.parametrize("error, code", DOCUMENTED, ids=lambda v: type(v).__name__)
def test_the_command_line_prints_one_line_and_exits_with_the_table_code(
    error: Exception, code: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LEDGER_DEBUG", raising=False)
    result = CliRunner().invoke(_failing(error), ["fail"])
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    if code == INTERNAL:  # the message of an unexpected error could quote input: never shown
        assert result.stderr == (
            f"error: internal error ({type(error).__name__}); "
            "set LEDGER_DEBUG=1 to see the traceback\n"
        )


def test_a_driver_message_of_several_lines_is_cut_to_its_first() -> None:
    error = StoreError("cannot connect to the server\nDETAIL: the server refused\nHINT: check")
    result = CliRunner().invoke(_failing(error), ["fail"])
    assert (result.exit_code, result.stderr) == (REFUSED, "error: cannot connect to the server\n")


def test_an_os_error_names_the_reason_and_the_file() -> None:
    error = FileNotFoundError(2, "No such file or directory", "evidence/events.jsonl")
    result = CliRunner().invoke(_failing(error), ["fail"])
    assert result.stderr == "error: No such file or directory (evidence/events.jsonl)\n"


def test_an_undecodable_argument_is_named_without_its_bytes() -> None:
    error = UnicodeDecodeError("utf-8", b"cust-\xff", 5, 6, "invalid start byte")
    result = CliRunner().invoke(_failing(error), ["fail"])
    assert result.stderr == "error: an argument or input is not valid UTF-8 text\n"


def test_with_ledger_debug_an_internal_error_shows_its_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEDGER_DEBUG", "1")
    result = CliRunner().invoke(_failing(RuntimeError("unexpected")), ["fail"])
    assert isinstance(result.exception, RuntimeError)
    refused = CliRunner().invoke(_failing(NotFound("no request DSR-9")), ["fail"])
    assert (refused.exit_code, refused.stderr) == (REFUSED, "error: no request DSR-9\n")
