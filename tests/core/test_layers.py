"""The layers of the README's "Layout" hold: a module imports only from its own layer or the
layers below it, so the pure core never reaches a store, the auditor's verifier never reaches
the facade, and the CLI stays on top."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
# bottom to top; a package or module of ledger, then the two top-level folders
LAYERS: list[list[str]] = [
    ["ledger.errors", "ledger.files"],
    ["ledger.core"],
    ["ledger.log", "ledger.verifier", "ledger.config", "ledger.declaration"],
    ["ledger.crypto"],
    ["ledger.store"],
    ["ledger.sealing", "ledger.commit", "ledger.verification", "ledger.workers"],
    ["ledger.api", "ledger.importer", "ledger.migrate"],
    ["ledger.transparency"],
    ["ledger.demo", "ledger.projections"],
    ["ledger.cli"],
]
# the one upward import, made inside a function: verify(checkpoints=True) asks the log
# facade for the stored checkpoints' check
UPWARD = {("ledger.api", "ledger.transparency")}
FOLDERS = {"ledger": ROOT / "ledger", "ledger.projections": ROOT / "projections",
           "ledger.cli": ROOT / "cli"}  # fmt: skip


def _layer(module: str) -> int | None:
    for number, names in enumerate(LAYERS):
        if any(module == name or module.startswith(name + ".") for name in names):
            return number
    return None


def _modules() -> list[tuple[str, Path]]:
    found = []
    for package, folder in FOLDERS.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found.append((".".join([package, *parts]), path))
    return found


def _imports(path: Path, module: str) -> list[tuple[str, int]]:
    """What *module* imports from the ledger at run time (annotation-only imports under
    ``if TYPE_CHECKING:`` are left out: they never run)."""
    out = []
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")
        for inner in ast.walk(node)
    }
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            out += [(f"{target}.{alias.name}", node.lineno) for alias in node.names]
    return [(name, line) for name, line in out if name.startswith("ledger")]


def test_every_module_has_a_layer() -> None:
    unplaced = [m for m, _ in _modules() if m != "ledger" and _layer(m) is None]
    assert unplaced == [], "place these in LAYERS (and in the README's Layout)"


@pytest.mark.parametrize("module,path", _modules(), ids=lambda v: str(v))
def test_a_module_imports_only_its_own_layer_or_below(module: str, path: Path) -> None:
    mine = _layer(module)
    if mine is None:
        return  # the package root re-exports the facade lazily
    upward = []
    for name, line in _imports(path, module):
        theirs = _layer(name)
        if theirs is not None and theirs > mine:
            owner = next(n for n in LAYERS[theirs] if name == n or name.startswith(n + "."))
            if (module, owner) not in UPWARD:
                upward.append(f"line {line}: {name}")
    assert upward == []


def test_the_core_and_the_log_import_no_store_library() -> None:
    heavy = ("sqlalchemy", "eventsourcing", "psycopg", "alembic", "click", "sqlite3")
    for module, path in _modules():
        if _layer(module) in (1, 2) and module != "ledger.config":
            tree = ast.parse(path.read_text(encoding="utf-8"))
            names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
            names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
            assert not [n for n in names if n.split(".")[0] in heavy], module
