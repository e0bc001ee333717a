"""The verifiable log: signed checkpoints, proofs, checks against history, offline bundles."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import sql

from ledger.cli.main import cli
from ledger.demo.story import events
from ledger.demo.workload import generate
from ledger.log import checkpoint as notes
from ledger.log import merkle


class Cli:
    def __init__(self, tmp: Path, config: Path, url: str | None = None) -> None:
        self.tmp = tmp
        self.db_path = tmp / "l.db"
        self.url = url or f"sqlite:///{self.db_path}"
        self.base = ["--db", self.url, "--keys", str(tmp / "keys"),
                     "--config", str(config), "--signing-key", str(tmp / "signing")]  # fmt: skip

    def __call__(self, *args: str, input: bytes | None = None) -> Result:
        return CliRunner().invoke(cli, [*self.base, *args], input=input)

    def events(self, events: list[dict[str, Any]]) -> None:
        lines = b"".join(orjson.dumps(e) + b"\n" for e in events)
        result = self("import", "-", input=lines)
        assert result.exit_code == 0, result.output


def _started(runner: Cli, story: list[dict[str, Any]]) -> Cli:
    assert runner("init", "--origin", "northgate-it/ledger").exit_code == 0
    runner.events(story)
    return runner


@pytest.fixture
def run(store_url: str, tmp_path: Path, config_path: Path, story: list[dict[str, Any]]) -> Cli:
    """The story in a ledger with a signing key, on SQLite and on PostgreSQL."""
    return _started(Cli(tmp_path, config_path, store_url), story)


@pytest.fixture
def sqlite_run(tmp_path: Path, config_path: Path, story: list[dict[str, Any]]) -> Cli:
    """The same on SQLite only, for tests that copy the database file."""
    return _started(Cli(tmp_path, config_path), story)


def test_checkpoint_is_a_c2sp_signed_note_verifiable_with_the_public_key(run: Cli) -> None:
    note = run("checkpoint").stdout
    origin, size, root, blank, signature = note.split("\n")[:5]
    assert origin == "northgate-it/ledger" and blank == ""
    assert int(size) == len(events()) + 2  # vocabulary, the story's events, the signing key
    assert len(base64.b64decode(root)) == 32
    assert signature.startswith("\u2014 northgate-it/ledger ")
    vkey = run("keys", "public").stdout.strip()
    assert vkey.startswith("northgate-it/ledger+")
    checked = notes.verify(note, notes.parse_verifier_key(vkey))
    assert checked.size == int(size)
    again = run("checkpoint").stdout
    assert notes.parse(again).size == int(size)  # the key is recorded once, not on every checkpoint


def test_inclusion_and_consistency_proofs_verify_like_the_vectors(run: Cli) -> None:
    run("checkpoint")
    run.events(list(generate(300, seed=7)))
    latest = notes.parse(run("checkpoint").stdout)
    for seq in (1, 2, 17, 128, 129, latest.size):
        proof = orjson.loads(run("prove", "inclusion", str(seq), "--json").stdout)
        assert set(proof) == {"leafIdx", "treeSize", "root", "leafHash", "proof"}
        assert proof["treeSize"] == latest.size
        assert base64.b64decode(proof["root"]) == latest.root
        merkle.verify_inclusion(
            proof["leafIdx"], proof["treeSize"], base64.b64decode(proof["leafHash"]),
            [base64.b64decode(p) for p in proof["proof"]], latest.root,
        )  # fmt: skip
    consistency = orjson.loads(run("prove", "consistency", "34", "--json").stdout)
    assert set(consistency) == {"size1", "size2", "root1", "root2", "proof"}
    merkle.verify_consistency(
        34, latest.size, base64.b64decode(consistency["root1"]), latest.root,
        [base64.b64decode(p) for p in consistency["proof"]],
    )  # fmt: skip
    bad = run("prove", "inclusion", str(latest.size + 5))
    assert bad.exit_code == 2 and "no inclusion proof" in bad.stderr


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_proofs_for_many_sizes_and_positions_verify(data: st.DataObject) -> None:
    import tempfile

    from ledger import Ledger
    from ledger.transparency import VerifiableLog

    size = data.draw(st.integers(2, 90))
    with (
        tempfile.TemporaryDirectory() as tmp,
        Ledger.init(f"sqlite:///{Path(tmp) / 'l.db'}", Path(tmp) / "k") as ledger,
    ):
        ledger.record_many(list(generate(size - 1, seed=size)))
        log = VerifiableLog(ledger)
        tree = data.draw(st.integers(1, ledger.size))
        seq = data.draw(st.integers(1, tree))
        proof = log.prove_inclusion(seq, tree)
        assert proof["leafIdx"] == seq - 1
        old = data.draw(st.integers(1, tree))
        assert log.prove_consistency(old, tree)["size1"] == old


def test_verify_against_a_checkpoint_passes_then_catches_a_rollback(sqlite_run: Cli) -> None:
    run = sqlite_run
    older = run.tmp / "older.db"
    shutil.copy(run.db_path, older)  # a copy taken now (the WAL was checkpointed on close)
    run.events(list(generate(20, seed=3)))
    note_path = run.tmp / "cp.note"
    note_path.write_text(run("checkpoint").stdout)
    key_path = run.tmp / "ledger.vkey"
    key_path.write_text(run("keys", "public").stdout)
    good = run("verify", "--checkpoint", str(note_path), "--key", str(key_path), "--json")
    assert good.exit_code == 0, good.output
    shutil.copy(older, run.db_path)  # roll back to the older copy
    for suffix in ("-wal", "-shm"):
        Path(str(run.db_path) + suffix).unlink(missing_ok=True)
    plain = run("verify")
    assert plain.exit_code == 0  # a chain alone cannot see a rollback
    caught = run("verify", "--checkpoint", str(note_path), "--key", str(key_path), "--json")
    assert caught.exit_code == 1
    report = orjson.loads(caught.stdout)
    assert "removed or an older copy restored" in report["reason"]


def test_verify_against_a_checkpoint_catches_rewritten_history(
    run: Cli, tmp_path: Path, config_path: Path, story: list[dict[str, Any]]
) -> None:
    note_path = tmp_path / "cp.note"
    note_path.write_text(run("checkpoint").stdout)
    # the owner builds a different ledger of the same size and swaps it in, keys and all
    other = Cli(tmp_path / "other", config_path)
    other.base[other.base.index("--signing-key") + 1] = str(tmp_path / "signing")
    other("init", "--origin", "northgate-it/ledger")  # refuses: the signing key exists
    other.base[other.base.index("--signing-key") + 1] = str(tmp_path / "other" / "signing")
    assert other("init", "--origin", "northgate-it/ledger").exit_code == 0
    story[3]["retention"] = "P9Y"
    other.events(story)
    other("checkpoint")
    forged = other("verify", "--checkpoint", str(note_path), "--key",
                   str(tmp_path / "signing" / "verifier.key"), "--json")  # fmt: skip
    assert forged.exit_code == 1
    assert "rewritten or rolled back" in orjson.loads(forged.stdout)["reason"]


def test_a_checkpoint_signed_by_another_key_is_refused(run: Cli, tmp_path: Path) -> None:
    note = run("checkpoint").stdout
    intruder = Ed25519PrivateKey.generate()
    forged = notes.sign(notes.parse(note), "northgate-it/ledger", intruder)
    (tmp_path / "forged.note").write_text(forged)
    key_path = tmp_path / "ledger.vkey"
    key_path.write_text(run("keys", "public").stdout)
    result = run("verify", "--checkpoint", str(tmp_path / "forged.note"), "--key", str(key_path))
    assert result.exit_code == 1
    assert "does not verify" in result.stderr or "does not verify" in result.stdout


def test_rotation_cosigned_checkpoint_verifies_under_either_key(run: Cli) -> None:
    note = run("checkpoint").stdout
    old = notes.parse_verifier_key(run("keys", "public").stdout)
    successor = Ed25519PrivateKey.generate()
    cosigned = notes.add_signature(note, "northgate-it/ledger-2027", successor)
    new = notes.parse_verifier_key(
        notes.verifier_key("northgate-it/ledger-2027", successor.public_key())
    )
    assert notes.verify(cosigned, old) == notes.verify(cosigned, new)


def _bundle(run: Cli) -> tuple[Path, Path]:
    folder = run.tmp / "evidence"
    result = run("export", "--bundle", str(folder))
    assert result.exit_code == 0, result.output
    key = run.tmp / "auditor.vkey"
    key.write_text(run("keys", "public").stdout)
    return folder, key


def _verify_bundle(folder: Path, key: Path) -> Result:
    return CliRunner().invoke(cli, ["verify-bundle", str(folder), "--key", str(key), "--json"])


def test_bundle_verifies_offline_erased_subjects_included(run: Cli) -> None:
    folder, key = _bundle(run)
    result = _verify_bundle(folder, key)
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    assert report["intact"] and report["events"] == len(events()) + 2
    text = (folder / "events.jsonl").read_text()
    assert "cust-1004" in text and "Sam Patel" not in text  # ciphertext stays, values do not


def test_every_changed_byte_of_a_bundle_is_found(run: Cli) -> None:
    folder, key = _bundle(run)
    events = (folder / "events.jsonl").read_bytes()
    for offset in range(0, len(events), max(1, len(events) // 40)):
        changed = bytearray(events)
        changed[offset] ^= 0x01
        (folder / "events.jsonl").write_bytes(bytes(changed))
        assert _verify_bundle(folder, key).exit_code == 1, f"byte {offset} changed unnoticed"
    (folder / "events.jsonl").write_bytes(events)
    note_path = next((folder / "checkpoints").iterdir())
    note = note_path.read_bytes()
    for offset in range(len(note)):
        changed = bytearray(note)
        changed[offset] ^= 0x01
        note_path.write_bytes(bytes(changed))
        assert _verify_bundle(folder, key).exit_code == 1, f"note byte {offset} unnoticed"
    note_path.write_bytes(note)
    assert _verify_bundle(folder, key).exit_code == 0


def test_truncated_extended_or_padded_bundles_are_refused(run: Cli) -> None:
    folder, key = _bundle(run)
    events = (folder / "events.jsonl").read_bytes()
    lines = events.splitlines(keepends=True)
    (folder / "events.jsonl").write_bytes(b"".join(lines[:-1]))
    assert "lacks" in orjson.loads(_verify_bundle(folder, key).stdout)["reason"]
    (folder / "events.jsonl").write_bytes(events + lines[-1])
    assert _verify_bundle(folder, key).exit_code == 1
    (folder / "events.jsonl").write_bytes(events)
    (folder / "notes.txt").write_text("hello")
    assert "no check covers" in orjson.loads(_verify_bundle(folder, key).stdout)["reason"]
    (folder / "notes.txt").unlink()
    other = Ed25519PrivateKey.generate()
    (run.tmp / "wrong.vkey").write_text(notes.verifier_key("northgate-it/ledger",
                                                          other.public_key()))  # fmt: skip
    assert _verify_bundle(folder, run.tmp / "wrong.vkey").exit_code == 1


def test_a_non_canonical_base64_spelling_of_a_signature_is_refused(run: Cli) -> None:
    note = run("checkpoint").stdout
    verifier = notes.parse_verifier_key(run("keys", "public").stdout)
    body, _, line = note.rstrip("\n").rpartition("\n")
    prefix, _, blob = line.rpartition(" ")
    data = blob.rstrip("=")
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".index(data[-1])
    # the last character of a padded group carries unused low bits: set one of them
    twisted = (
        data[:-1]
        + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[last ^ 1]
        + blob[len(data) :]
    )
    assert base64.b64decode(twisted) == base64.b64decode(blob)  # the same bytes, spelled twice
    with pytest.raises(notes.CheckpointError):
        notes.verify(f"{body}\n{prefix} {twisted}\n", verifier)


@pytest.mark.parametrize("kind", ["inclusion", "consistency"])
def test_a_proof_from_a_changed_tree_node_is_refused_as_an_integrity_failure(
    run: Cli, kind: str
) -> None:
    run("checkpoint")
    # an inner node that the proofs below use, but the roots do not
    sql(run.url, "UPDATE ledger_tree SET hash = :h WHERE level = 1 AND idx = 1", h=bytes(32))
    args = ["inclusion", "1"] if kind == "inclusion" else ["consistency", "2"]
    result = run("prove", *args)
    assert result.exit_code == 1, result.output
    assert "gives a proof that does not verify" in result.stderr
    assert "run `ledger verify`" in result.stderr
    assert "internal error" not in result.stderr
