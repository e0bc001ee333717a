"""Rotating the key-encryption key: every data key re-wrapped, nothing else touched."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ledger import Ledger
from ledger.cli.main import cli
from ledger.errors import KeyUnavailable
from ledger.keys import NEXT_KEK_FILE, LocalKeySource, load_keys, prepare_rotation


def test_rotation_rewraps_every_key_and_leaves_chain_and_values_alone(
    store: tuple[str, Path], config_path: Path, story: list[dict[str, Any]]
) -> None:
    url, keys = store
    with Ledger.init(url, keys, config=config_path) as ledger:
        ledger.record_many(story)
        before = ledger.verify()
    old_kek = (keys / "kek.key").read_text()
    result = CliRunner().invoke(cli, ["--db", url, "--keys", str(keys), "--config",
                                      str(config_path), "keys", "rotate"])  # fmt: skip
    assert result.exit_code == 0, result.output
    # cust-1001 7 categories, cust-1002 8, cust-1003 5; cust-1004's keys were destroyed
    assert "re-wrapped 20 data keys" in result.stdout
    assert (keys / "kek.key").read_text() != old_kek and not (keys / NEXT_KEK_FILE).exists()
    with Ledger.open(url, keys, config=config_path) as ledger:
        after = ledger.verify()
        assert after.intact and after.root == before.root and after.size == before.size
        rows = ledger.read("cust-1002", actor="staff:dpo", purpose="essential.legal_obligation")
        assert rows[0]["data"]["user.name"] == "Tom Reilly"
    old = LocalKeySource(base64.b64decode(old_kek), bytes(32), origin="old")
    with pytest.raises(KeyUnavailable, match="not this ledger's"):
        Ledger.open(url, old)  # the retired key-encryption key opens nothing


def test_a_rotation_interrupted_after_commit_is_finished_on_the_next_open(
    store: tuple[str, Path], story: list[dict[str, Any]], config_path: Path
) -> None:
    url, keys = store
    with Ledger.init(url, keys, config=config_path) as ledger:
        ledger.record_many(story)
        rotated = prepare_rotation(keys, load_keys(keys, env={}))
        # the store commits the re-wrap; the process dies before renaming the key file
        from ledger.crypto import wrap_aad
        from ledger.store.base import WrappedKey

        with ledger.store.writer() as tx:
            current = load_keys(keys, env={})
            tx.rewrap([
                WrappedKey(k.key_id, k.subject, k.category,
                           rotated.wrap(current.unwrap(k.wrapped, wrap_aad(k.key_id, k.subject,
                                                                          k.category)),
                                        wrap_aad(k.key_id, k.subject, k.category)),
                           rotated.kek_id)
                for k in tx.all_keys()
            ])  # fmt: skip
            tx.set_meta("kek_id", rotated.kek_id)
    assert (keys / NEXT_KEK_FILE).exists()
    with Ledger.open(url, keys, config=config_path) as reopened:
        rows = reopened.read("cust-1001", actor="staff:dpo", purpose="essential.legal_obligation")
        assert rows[0]["data"]["user.name"] == "Priya Shah"
    assert not (keys / NEXT_KEK_FILE).exists()
