"""A replay checks each event against the vocabulary recorded before it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner

from ledger import Ledger
from ledger.cli.main import cli
from ledger.config import Config
from ledger.core import chain
from ledger.core.spec import VOCABULARY_TYPE
from ledger.core.vocabulary import Vocabulary
from ledger.store.base import StoredRow
from ledger.verification.replay import revalidate

ISP = "essential.service.internet_provision"


def _share(purpose: str) -> dict[str, Any]:
    return {
        "type": "shared", "at": "2026-02-12T12:00:00Z", "actor": "staff:aday",
        "subject": "cust-1001", "categories": ["user.name"], "purpose": purpose,
        "basis": "contract", "recipient": "isp:fibrelink", "recipient_location": "GB",
    }  # fmt: skip


def test_vocabulary_changes_are_recorded_and_each_event_checked_under_its_own(
    store: tuple[str, Path], config: Config, config_path: Path
) -> None:
    url, keys = store
    with Ledger.init(url, keys, config=config) as ledger:
        ledger.record(**_share(ISP))
    with Ledger.open(url, keys, config=Config.default()) as plain:
        plain.record(**_share("essential.service"))
        types = [e["type"] for e in plain.export()]
        assert types == [VOCABULARY_TYPE, "shared", VOCABULARY_TYPE, "shared"]
        assert plain.revalidate() == []
    result = CliRunner().invoke(cli, ["--db", url, "--keys", str(keys), "verify", "--contract",
                                      "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["contract"] == []


def test_an_event_outside_the_vocabulary_of_its_time_is_reported() -> None:
    vocabulary = Vocabulary.default()
    records = [
        {"type": VOCABULARY_TYPE, "at": "2026-01-01T00:00:00Z", "actor": "system:ledger",
         **vocabulary.describe(), "digest": vocabulary.digest},
        _share(ISP),  # the custom key was never configured when this was written
    ]  # fmt: skip
    rows, prev = [], chain.GENESIS
    for seq, event in enumerate(records, start=1):
        state, digest = chain.seal(seq=seq, recorded_at="2026-01-01T00:00:00.000000Z",
                                   prev=prev, uuid=f"u{seq}", event=event)  # fmt: skip
        rows.append(StoredRow(seq, f"u{seq}", event["type"], event.get("subject"), None, state,
                              digest, None))  # fmt: skip
        prev = digest
    findings = revalidate(rows)
    assert [f.sequence for f in findings] == [2]
    assert "purpose" in findings[0].problem
