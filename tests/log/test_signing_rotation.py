"""Rotating the checkpoint signing key: old and new co-sign, the old private key goes, and an
auditor holding either public key still verifies every checkpoint of an evidence bundle."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from test_log import Cli, _started

from ledger import Ledger
from ledger.crypto.signing import NEXT_FILE, PRIVATE_FILE, Signer, load_signer, next_signer
from ledger.demo.workload import generate
from ledger.log import checkpoint as notes
from ledger.transparency import VerifiableLog


@pytest.fixture
def run(store_url: str, tmp_path: Path, config_path: Path, story: list[dict[str, Any]]) -> Cli:
    return _started(Cli(tmp_path, config_path, store_url), story)


def _key(run: Cli, name: str) -> Path:
    path = run.tmp / name
    path.write_text(run("keys", "public").stdout)
    return path


def test_rotation_hands_over_and_both_keys_verify_the_whole_history(run: Cli) -> None:
    signing = run.tmp / "signing"
    assert run("checkpoint").exit_code == 0
    old_key = _key(run, "old.vkey")
    old_private = (signing / PRIVATE_FILE).read_bytes()

    rotated = run("keys", "rotate-signing")
    assert rotated.exit_code == 0, rotated.output
    new_key = _key(run, "new.vkey")
    assert new_key.read_text() != old_key.read_text()
    note = rotated.stdout
    old_verifier = notes.parse_verifier_key(old_key.read_text())
    new_verifier = notes.parse_verifier_key(new_key.read_text())
    assert notes.verify(note, old_verifier) == notes.verify(note, new_verifier)  # co-signed

    # the old private key is gone; its public key is kept; the new one is owner-only
    assert (signing / PRIVATE_FILE).read_bytes() != old_private
    assert not (signing / NEXT_FILE).exists()
    retired = list((signing / "retired").iterdir())
    assert [p.read_text() for p in retired] == [old_key.read_text()]
    assert stat.S_IMODE((signing / PRIVATE_FILE).stat().st_mode) == 0o600

    # the handover is on the ledger, inside the co-signed tree
    handover = [
        e for e in map(orjson.loads, run("export").stdout.splitlines())
        if e["type"] == "ledger.signing_key" and "replaces" in e
    ]  # fmt: skip
    assert len(handover) == 1
    assert handover[0]["replaces"] == old_key.read_text().strip()
    assert handover[0]["verifier_key"] == new_key.read_text().strip()
    assert handover[0]["sequence"] <= notes.parse(note).size

    run.events(list(generate(12)))
    latest = run.tmp / "latest.note"
    latest.write_text(run("checkpoint").stdout)
    good = run("verify", "--checkpoint", str(latest), "--key", str(new_key))
    assert good.exit_code == 0, good.output
    stale = run("verify", "--checkpoint", str(latest), "--key", str(old_key))
    assert stale.exit_code == 1  # a later checkpoint is signed by the new key only

    bundle = run.tmp / "evidence"
    assert run("export", "--bundle", str(bundle)).exit_code == 0
    for key in (old_key, new_key):
        checked = run("verify-bundle", str(bundle), "--key", str(key), "--json")
        assert checked.exit_code == 0, (key.name, checked.output)
        assert orjson.loads(checked.stdout)["intact"]

    stranger = run.tmp / "stranger.vkey"
    stranger.write_text(
        notes.verifier_key("northgate-it/ledger", Ed25519PrivateKey.generate().public_key())
    )
    refused = run("verify-bundle", str(bundle), "--key", str(stranger), "--json")
    assert refused.exit_code == 1
    assert "does not verify" in orjson.loads(refused.stdout)["reason"]
    assert run("verify", "--contract").exit_code == 0


def test_a_handover_outside_any_trusted_checkpoint_extends_no_trust(run: Cli) -> None:
    """A forger who appends a handover to their own key, and signs with it, convinces no one."""
    assert run("checkpoint").exit_code == 0
    old_key = _key(run, "old.vkey")
    with Ledger.open(run.url, run.tmp / "keys") as ledger:
        forged = Ed25519PrivateKey.generate()
        forged_text = notes.verifier_key("northgate-it/ledger", forged.public_key())
        ledger.record_system({"type": "ledger.signing_key", "actor": "ledger",
                              "verifier_key": forged_text, "name": "northgate-it/ledger",
                              "replaces": old_key.read_text().strip()})  # fmt: skip
        forged_note = VerifiableLog(ledger).checkpoint(Signer("northgate-it/ledger", forged))
    bundle = run.tmp / "evidence"
    # the export signs its newest checkpoint with the real key: that would be the owner
    # vouching for the handover, so the forger's own note takes its place
    assert run("export", "--bundle", str(bundle)).exit_code == 0
    newest = max((bundle / "checkpoints").iterdir())  # names are zero-padded sizes
    assert notes.parse(newest.read_text()).size == notes.parse(forged_note).size
    newest.write_text(forged_note)
    checked = run("verify-bundle", str(bundle), "--key", str(old_key), "--json")
    report = orjson.loads(checked.stdout)
    assert checked.exit_code == 1 and not report["intact"]
    assert "does not verify under the key given" in report["reason"]


def test_an_interrupted_rotation_is_finished_by_running_it_again(run: Cli) -> None:
    signing = run.tmp / "signing"
    assert run("checkpoint").exit_code == 0
    old = load_signer(signing)
    successor = next_signer(signing)  # the new key written, then the process died
    assert (signing / NEXT_FILE).exists()
    again = run("keys", "rotate-signing")
    assert again.exit_code == 0, again.output
    assert load_signer(signing).verifier_key == successor.verifier_key  # the same successor
    assert load_signer(signing).verifier_key != old.verifier_key
    assert not (signing / NEXT_FILE).exists()
