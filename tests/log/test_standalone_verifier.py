"""The auditor's verifier runs with nothing but the standard library and ``cryptography``.

A virtualenv of its own (no pip) is given ``cryptography`` (with cffi's ``_cffi_backend``) and
this repository's ``ledger`` folder through a ``.pth`` file naming a folder of symbolic links;
orjson, SQLAlchemy, eventsourcing, click and psycopg cannot be imported there. A script run in
it imports ``ledger.log.verifier`` and ``ledger.verifier``, checks a real evidence bundle (and
tampered copies of it, each with the first bad position and reason the full install gives),
parses hostile records exactly as orjson does, and checks the RFC 6962 vectors.
"""

from __future__ import annotations

import base64
import dataclasses
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from ledger.cli.main import cli
from ledger.core import chain
from ledger.log.verifier import parse_verifier_key, verify_bundle

VECTORS = Path(__file__).parent / "vectors" / "rfc6962"
ABSENT = ["orjson", "sqlalchemy", "eventsourcing", "click", "psycopg", "alembic", "fideslang"]

SCRIPT = r"""
import base64, dataclasses, importlib.util, json, sys
from pathlib import Path

absent = {name: importlib.util.find_spec(name) is None for name in ABSENT}

import ledger.log.verifier as log_verifier
import ledger.verifier as verifier
from ledger.core import canonical, chain

result = {"absent": absent, "fallback": chain.loads is chain.stdlib_loads}
result["same_api"] = all(
    getattr(verifier, name) is getattr(log_verifier, name) for name in verifier.__all__
)
try:
    canonical.canonical({"seq": 1})
    result["encodes"] = True
except ModuleNotFoundError:
    result["encodes"] = False

key = verifier.parse_verifier_key(INPUT["key"])
result["bundles"] = {
    name: dataclasses.asdict(verifier.verify_bundle(Path(folder), key))
    for name, folder in INPUT["bundles"].items()
}


sys.setrecursionlimit(10_000)  # repr of a record nested 1,024 deep


def parsed(raw):
    try:
        return ["record", repr(chain.parse(raw))]
    except ValueError as exc:
        return ["refused", str(exc)]


result["records"] = [parsed(base64.b64decode(raw)) for raw in INPUT["records"]]

vectors = {"passed": 0, "failed": []}
for path in sorted(Path(INPUT["vectors"]).rglob("*.json")):
    case = json.loads(path.read_text())
    b64 = lambda value: base64.b64decode(value or "")
    proof = [b64(p) for p in case["proof"] or []]
    try:
        if "leafIdx" in case:
            verifier.verify_inclusion(case["leafIdx"], case["treeSize"], b64(case["leafHash"]),
                                      proof, b64(case["root"]))
        else:
            verifier.verify_consistency(case["size1"], case["size2"], b64(case["root1"]),
                                        b64(case["root2"]), proof)
        refused = False
    except verifier.ProofError:
        refused = True
    if refused == bool(case["wantErr"]):
        vectors["passed"] += 1
    else:
        vectors["failed"].append(str(path))
result["vectors"] = vectors
print(json.dumps(result))
"""


def _site_packages(prefix: Path) -> Path:
    found = sorted(prefix.glob("lib/python3*/site-packages"))
    assert len(found) == 1, found
    return found[0]


def _origin(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None, module
    return Path(spec.origin)


def _minimal_venv(tmp_path: Path) -> Path:
    """A virtualenv that can import only the standard library, cryptography and ``ledger``."""
    prefix = tmp_path / "auditor-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(prefix)], check=True)
    links = tmp_path / "auditor-packages"
    links.mkdir()
    (links / "ledger").symlink_to(Path(chain.__file__).parents[1], target_is_directory=True)
    (links / "cryptography").symlink_to(_origin("cryptography").parent)
    backend = _origin("_cffi_backend")  # what cryptography's compiled bindings load
    (links / backend.name).symlink_to(backend)
    if importlib.util.find_spec("cffi") is not None:
        (links / "cffi").symlink_to(_origin("cffi").parent)
    (_site_packages(prefix) / "auditor.pth").write_text(f"{links}\n")
    return prefix / "bin" / "python"


def _bundle(tmp_path: Path, config_path: Path, story: list[dict[str, Any]]) -> tuple[Path, str]:
    """The story's evidence bundle, across a signing-key rotation; the first verifier key."""
    base = ["--db", f"sqlite:///{tmp_path / 'l.db'}", "--keys", str(tmp_path / "keys"),
            "--config", str(config_path), "--signing-key", str(tmp_path / "signing")]  # fmt: skip

    def run(*args: str, input: bytes | None = None) -> str:
        result = CliRunner().invoke(cli, [*base, *args], input=input)
        assert result.exit_code == 0, result.output
        return result.stdout

    run("init", "--origin", "northgate-it/ledger")
    run("import", "-", input=b"".join(orjson.dumps(e) + b"\n" for e in story[:20]))
    key = run("keys", "public").strip()
    run("checkpoint")
    run("keys", "rotate-signing")
    run("import", "-", input=b"".join(orjson.dumps(e) + b"\n" for e in story[20:]))
    run("export", "--bundle", str(tmp_path / "evidence"))
    return tmp_path / "evidence", key


def _tampered(folder: Path, tmp_path: Path) -> dict[str, tuple[Path, int]]:
    """Copies of the bundle, each changed at one event; the first position that must fail."""
    lines = (folder / "events.jsonl").read_bytes().splitlines(keepends=True)
    edits = {
        # a value changed, still valid JSON: the next record no longer links to it
        "changed": (5, lambda r: r.replace(b'"seq":5', b'"seq":5 '), 6),
        # what only a lax parser would accept: these must fail at the record itself
        "nan": (7, lambda r: r.replace(b'"seq":7', b'"seq":NaN'), 7),
        "surrogate": (8, lambda r: r.replace(b'"uuid":"', b'"uuid":"\\ud800', 1), 8),
        "infinite": (9, lambda r: r.replace(b'"seq":9', b'"seq":9e999'), 9),
        "bad utf-8": (10, lambda r: r.replace(b'"uuid":"', b'"uuid":"\xff', 1), 10),
        "duplicate seq": (11, lambda r: r[:-2] + b',"seq":12}\n', 11),
        "removed": (12, lambda r: b"", 12),
    }
    copies = {}
    for name, (seq, edit, first_bad) in edits.items():
        changed = list(lines)
        changed[seq - 1] = edit(changed[seq - 1])
        assert changed[seq - 1] != lines[seq - 1], name
        copy = tmp_path / f"tampered-{name.replace(' ', '-')}"
        shutil.copytree(folder, copy)
        (copy / "events.jsonl").write_bytes(b"".join(changed))
        copies[name] = (copy, first_bad)
    return copies


def _hostile_records(folder: Path) -> list[bytes]:
    record = (folder / "events.jsonl").read_bytes().splitlines()[3]  # seq 4
    deep = b'{"a":' * 1022 + b"1" + b"}" * 1022  # inside the record and its event: 1,024 deep
    return [
        record,
        record.replace(b'"seq":4', b'"seq":NaN'),
        record.replace(b'"seq":4', b'"seq":Infinity'),
        record.replace(b'"seq":4', b'"seq":18446744073709551615'),
        record.replace(b'"seq":4', b'"seq":18446744073709551616'),
        record.replace(b'"seq":4', b'"seq":-9223372036854775809'),
        record.replace(b'"seq":4', b'"seq":4.0'),
        record.replace(b'"seq":4', b'"seq":1e400'),
        record.replace(b'"uuid":"', b'"uuid":"\\ud800', 1),
        record.replace(b'"uuid":"', b'"uuid":"\\ud83d\\ude00', 1),
        record.replace(b'"uuid":"', b'"uuid":"\\udc00', 1),
        record.replace(b'"uuid":"', b'"uuid":"\xed\xa0\x80', 1),
        record.replace(b'"uuid":"', b'"uuid":"\xc0\x80', 1),
        record[:-1] + b',"uuid":"\\ud800","uuid":"u"}',  # replaced by a later duplicate
        record[:-1] + b',"seq":5}',
        b"\xef\xbb\xbf" + record,
        record + b"\x00",
        b"[" + record + b"]",
        record.replace(b'"event":{', b'"event":{"x":' + deep + b",", 1),  # 1,024 deep
        record.replace(b'"event":{', b'"event":{"x":[' + deep + b"],", 1),  # 1,025 deep
        b'{"v":1,"seq":NaN}',
    ]


def _parsed(raw: bytes) -> list[str]:
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(10_000)  # repr of a record nested 1,024 deep
    try:
        return ["record", repr(chain.parse(raw))]
    except ValueError as exc:
        return ["refused", str(exc)]
    finally:
        sys.setrecursionlimit(limit)


@pytest.mark.slow
def test_the_verifier_runs_with_only_cryptography_installed(
    tmp_path: Path, config_path: Path, story: list[dict[str, Any]]
) -> None:
    python = _minimal_venv(tmp_path)
    folder, key = _bundle(tmp_path, config_path, story)
    tampered = _tampered(folder, tmp_path)
    records = _hostile_records(folder)
    expected = {"intact": dataclasses.asdict(verify_bundle(folder, parse_verifier_key(key)))}
    for name, (copy, _) in tampered.items():
        expected[name] = dataclasses.asdict(verify_bundle(copy, parse_verifier_key(key)))
    given = {
        "key": key,
        "bundles": {"intact": str(folder)} | {n: str(c) for n, (c, _) in tampered.items()},
        "records": [base64.b64encode(r).decode() for r in records],
        "vectors": str(VECTORS),
    }
    script = f"ABSENT = {ABSENT!r}\nINPUT = {given!r}\n{SCRIPT}"
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1"}
    ran = subprocess.run(
        [str(python), "-I", "-c", script], capture_output=True, env=env, timeout=300, check=False
    )
    assert ran.returncode == 0, ran.stderr.decode()
    result = json.loads(ran.stdout)

    assert result["absent"] == dict.fromkeys(ABSENT, True), "the venv must hold only cryptography"
    assert result["fallback"] and not result["encodes"]  # the standard library's json parsed
    assert result["same_api"]  # ledger.verifier is ledger.log.verifier under its old name

    bundles = result["bundles"]
    events = len((folder / "events.jsonl").read_bytes().splitlines())
    assert bundles["intact"]["intact"] and bundles["intact"]["events"] == events > len(story)
    assert len(bundles["intact"]["checkpoints"]) >= 2  # before and across the rotation
    for name, (_, first_bad) in tampered.items():
        assert not bundles[name]["intact"], name
        assert bundles[name]["first_bad"] == first_bad, (name, bundles[name])
    assert bundles == expected  # the same report, reason and all, as with orjson installed

    assert result["records"] == [_parsed(r) for r in records]
    assert [kind for kind, _ in result["records"]].count("record") == 5  # as orjson reads them

    vectors = result["vectors"]
    assert vectors["failed"] == [] and vectors["passed"] == len(list(VECTORS.rglob("*.json")))


def test_the_full_install_has_what_the_auditor_s_venv_lacks() -> None:
    """The check above is not vacuous: here every one of them imports, and orjson parses."""
    for name in ABSENT:
        assert importlib.util.find_spec(name) is not None, name
    assert chain.loads is orjson.loads


def test_importing_the_verifier_loads_no_store_even_where_everything_is_installed() -> None:
    code = (
        "import sys, ledger.verifier, ledger.log.verifier; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(sys.argv[1:])))"
    )
    heavy = ["sqlalchemy", "eventsourcing", "click", "psycopg", "alembic", "fideslang"]
    ran = subprocess.run(
        [sys.executable, "-c", code, *heavy], capture_output=True, text=True, check=True
    )
    assert ran.stdout.strip() == "[]"


def test_the_package_still_offers_every_name_of_its_all() -> None:
    import ledger

    for name in ledger.__all__:
        assert getattr(ledger, name).__name__ == name
    assert set(ledger.__all__) <= set(dir(ledger))
    with pytest.raises(AttributeError):
        ledger.Ledgr  # type: ignore[attr-defined]  # noqa: B018
