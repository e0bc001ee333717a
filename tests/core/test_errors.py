"""One error tree: every exception class the ledger defines is a LedgerError."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

import ledger
import ledger.cli
import ledger.projections
from ledger import errors
from ledger.log import checkpoint, merkle, verifier

# Alembic's environment script runs only inside Alembic (it reads alembic.context.config).
NOT_IMPORTABLE = {"ledger.store.migrations.env", "ledger.cli.__main__"}


def _modules() -> list[ModuleType]:
    found = []
    for package in (ledger, ledger.projections, ledger.cli):
        names = [package.__name__] + [
            info.name for info in pkgutil.walk_packages(package.__path__, package.__name__ + ".")
        ]
        found += [importlib.import_module(n) for n in names if n not in NOT_IMPORTABLE]
    return found


def _exception_classes() -> list[type[BaseException]]:
    classes = {
        value
        for module in _modules()
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, BaseException)
        and value.__module__ == module.__name__
    }
    return sorted(classes, key=lambda c: f"{c.__module__}.{c.__qualname__}")


def test_the_walk_finds_the_errors_of_every_layer() -> None:
    names = {c.__name__ for c in _exception_classes()}
    expected = {"LedgerError", "CheckpointError", "ProofError", "TooLarge", "ProjectionMismatch"}
    assert expected <= names


@pytest.mark.parametrize(
    "kind",
    [c for c in _exception_classes() if not c.__name__.startswith("_")],
    ids=lambda c: f"{c.__module__}.{c.__qualname__}",
)
def test_every_public_exception_class_is_a_ledger_error(kind: type[BaseException]) -> None:
    assert issubclass(kind, errors.LedgerError)


def test_the_log_errors_are_still_value_errors_for_callers_that_catch_those() -> None:
    for kind in (errors.CheckpointError, errors.BadSignature, errors.ProofError):
        assert issubclass(kind, errors.LedgerError) and issubclass(kind, ValueError)
    with pytest.raises(ValueError, match="leaf 5 is not in a tree of 3 leaves"):
        merkle.inclusion_proof(5, 3, lambda start, end: bytes(32))
    with pytest.raises(ValueError, match="verifier key"):
        checkpoint.parse_verifier_key("not a key")


def test_the_log_modules_raise_the_tree_s_own_classes() -> None:
    assert checkpoint.CheckpointError is verifier.CheckpointError is errors.CheckpointError
    assert checkpoint.BadSignature is errors.BadSignature
    assert merkle.ProofError is verifier.ProofError is errors.ProofError
    with pytest.raises(errors.CheckpointError):
        checkpoint.parse_verifier_key("northgate-it/ledger+00000000+AAAA")
    with pytest.raises(errors.LedgerError):
        merkle.verify_inclusion(0, 0, bytes(32), [], bytes(32))
