"""Key-encryption keys: rotation re-wraps every data key, live writers follow the sealed key map,
and nobody without the keys can point a writer at another key."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from support import sql as _sql

from ledger import Ledger
from ledger.cli.exit_codes import exit_code
from ledger.cli.main import cli
from ledger.crypto.keys import Generation, LocalKeySource, load_keys
from ledger.errors import IntegrityError, KeyUnavailable, PurgePending

WORKER = Path(__file__).with_name("key_worker.py")
DPO = {"actor": "staff:dpo", "purpose": "essential.legal_obligation"}


@pytest.fixture
def store(isolated_store_url: str, tmp_path: Path) -> tuple[str, Path]:
    """Rotations clean the store's files: on PostgreSQL, in a database no other test holds up."""
    return isolated_store_url, tmp_path / "keys"


def _slot_keys(keys: Path) -> set[bytes]:
    """The raw key bytes of every generation the keys folder holds."""
    source = load_keys(keys, env={})
    return {source._key(g) for g in source.generations()}


def test_rotation_rewraps_every_key_and_destroys_the_old_ones(
    store: tuple[str, Path], config_path: Path, story: list[dict[str, Any]]
) -> None:
    url, keys = store
    with Ledger.init(url, keys, config=config_path) as ledger:
        ledger.record_many(story)
        before = ledger.verify()
    old = _slot_keys(keys)
    numbers = {g.bucket: g.number for g in load_keys(keys, env={}).generations()}
    result = CliRunner().invoke(cli, ["--db", url, "--keys", str(keys), "--config",
                                      str(config_path), "keys", "rotate"])  # fmt: skip
    assert result.exit_code == 0, result.output
    # cust-1001 7 categories, cust-1002 8, cust-1003 6, ashby-staff-017 2; cust-1004's keys
    # were destroyed
    assert "re-wrapped 23 data keys" in result.stdout
    slots = (keys / "kek.slots").read_bytes()
    assert not any(key in slots for key in old)  # every old generation overwritten in place
    assert {g.bucket: g.number - 1 for g in load_keys(keys, env={}).generations()} == numbers
    with Ledger.open(url, keys, config=config_path) as ledger:
        after = ledger.verify()
        assert after.intact and after.root == before.root and after.size == before.size
        rows = ledger.read("cust-1002", **DPO)
        assert rows[0]["data"]["user.name"] == "Tom Reilly"
        assert ledger.status().pending == [] and ledger.status().stale == []


def _worker(url: str, keys: Path, config: Path, tag: str, count: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, str(WORKER), url, str(keys), str(config), tag, str(count)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


def _values(ledger: Ledger, subjects: Iterable[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for subject in subjects:
        for row in ledger.read(subject, **DPO):
            if row["type"] == "collected":
                found[subject] = row.get("data", {}).get("user.name")
    return found


def test_rotation_and_erasure_while_another_process_keeps_writing(
    store: tuple[str, Path], config_path: Path
) -> None:
    """The writer opened the ledger before the keys changed and keeps its connection; what
    it records afterwards must be wrapped under the new keys, so that nothing becomes
    unreadable that was not erased."""
    url, keys = store
    count = 120
    Ledger.init(url, keys, config=config_path).close()
    writer = _worker(url, keys, config_path, "live", count)
    try:
        with Ledger.open(url, keys, config=config_path) as ledger:
            rotations, erased = 0, False
            while writer.poll() is None or rotations < 2 or not erased:
                ledger.rotate_keys()
                rotations += 1
                if not erased and ledger.size >= 5:  # live-1 is collected: erase it now
                    ledger.record("erased", actor="staff:dpo", subject="live-1",
                                  categories=["*"], reason="erasure request")  # fmt: skip
                    erased = True
        out, err = writer.communicate(timeout=120)
    finally:
        writer.kill()
    assert writer.returncode == 0, (out, err)
    assert rotations >= 2
    with Ledger.open(url, keys, config=config_path) as ledger:
        assert ledger.verify().intact
        values = _values(ledger, [f"live-{i}" for i in range(count)])
        status = ledger.status()
    assert values.pop("live-1") is None  # the erased subject reads as erased ...
    assert values == {f"live-{i}": f"value of live-{i}" for i in range(count) if i != 1}
    assert status.pending == [] and status.stale == [] and status.missing == []
    held = load_keys(keys, env={}).generations()
    assert len(held) == len({g.bucket for g in held})  # one live generation per bucket


def test_a_service_opened_before_a_rotation_never_wraps_under_the_old_key(
    store: tuple[str, Path], config_path: Path
) -> None:
    url, keys = store
    with Ledger.init(url, keys, config=config_path) as service:
        service.record("collected", actor="svc:helpdesk", subject="cust-1",
                       categories=["user.name"], purpose="essential.service.operations.support",
                       basis="contract", source="form", system="helpdesk", location="GB",
                       retention="P2Y", data={"user.name": "Before Rotation"})  # fmt: skip
        rotated = subprocess.run(
            [sys.executable, "-m", "ledger.cli", "--db", url, "--keys", str(keys),
             "--config", str(config_path), "keys", "rotate"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert rotated.returncode == 0, rotated.stderr
        # the service's cached data key for cust-1/user.name was wrapped under generation 1
        service.record("collected", actor="svc:helpdesk", subject="cust-2",
                       categories=["user.name"], purpose="essential.service.operations.support",
                       basis="contract", source="form", system="helpdesk", location="GB",
                       retention="P2Y", data={"user.name": "After Rotation"})  # fmt: skip
    with Ledger.open(url, keys, config=config_path) as fresh:
        assert _values(fresh, ["cust-1", "cust-2"]) == {
            "cust-1": "Before Rotation", "cust-2": "After Rotation"}  # fmt: skip
        with fresh.store.snapshot() as snapshot:
            wrapped = snapshot.wrapped_keys()
            current = snapshot.generations()
        assert {k.kek_id for k in wrapped} <= {Generation(b, n).id for b, n in current.items()}


class _UnreachableAtRetire(LocalKeySource):
    """A key store (think KMS) that is unreachable when a generation is to be destroyed."""

    def retire(self, generations: Iterable[Generation]) -> None:
        if list(generations):
            raise KeyUnavailable("the key service is unreachable")


def test_a_rotation_whose_old_keys_cannot_be_destroyed_yet_is_pending_then_finished(
    store: tuple[str, Path], config_path: Path, story: list[dict[str, Any]]
) -> None:
    url, keys = store
    with Ledger.init(url, keys, config=config_path) as ledger:
        ledger.record_many(story)
    numbers = {g.bucket: g.number for g in load_keys(keys, env={}).generations()}
    with (
        Ledger.open(url, _UnreachableAtRetire(keys), config=config_path) as ledger,
        pytest.raises(PurgePending, match="NOT yet beyond recovery") as pending,
    ):
        ledger.rotate_keys()
    assert exit_code(pending.value) == 4  # the CLI's table: recorded, a purge pending
    status = CliRunner().invoke(cli, ["--db", url, "--keys", str(keys), "--read-only",
                                      "status"])  # fmt: skip
    assert status.exit_code == 4, status.output
    assert "purge pending since" in status.stdout and "key rotation" in status.stdout
    assert "replaced key generations still held" in status.stdout
    # the next writable open, with a key store that works, destroys them
    finished = CliRunner().invoke(cli, ["--db", url, "--keys", str(keys), "status"])
    assert finished.exit_code == 0, finished.output
    assert "purges: none pending" in finished.stdout
    assert {g.bucket: g.number - 1 for g in load_keys(keys, env={}).generations()} == numbers
    with Ledger.open(url, keys, config=config_path) as ledger:
        assert ledger.read("cust-1002", **DPO)[0]["data"]["user.name"] == "Tom Reilly"


@pytest.mark.parametrize(
    "edit",
    [
        "UPDATE ledger_head SET key_epoch = key_epoch + 1",
        "UPDATE ledger_buckets SET generation = generation + 1 WHERE bucket = 0",
        "UPDATE ledger_head SET keymap = ledger_head.hash",
    ],
    ids=["key epoch", "key map", "key map digest"],
)
def test_what_a_writer_trusts_is_sealed(
    store: tuple[str, Path], config_path: Path, story: list[dict[str, Any]], edit: str
) -> None:
    """Edits made with SQL access but without the keys: a writer refuses to write on them,
    and verify names the change, with and without the keys."""
    url, keys = store
    with Ledger.init(url, keys, config=config_path) as ledger:
        ledger.record_many(story[:3])
    _sql(url, edit)
    with Ledger.open(url, keys, config=config_path) as ledger:
        size = ledger.size
        with pytest.raises(IntegrityError, match="changed outside the ledger"):
            ledger.record("objected", actor="svc:web", subject="cust-1",
                          purpose="marketing.communications.email")  # fmt: skip
        report = ledger.verify()
        assert not report.intact and report.first_bad == size
        assert ledger.size == size
    with Ledger.open(url, keys / "absent", config=config_path) as keyless:
        if "buckets" in edit or "keymap" in edit:  # no keys: the map digest still compares
            assert not keyless.verify().intact
    result = CliRunner().invoke(cli, ["--db", url, "--keys", str(keys), "verify"])
    assert result.exit_code == 1 and "NOT INTACT" in result.stdout
