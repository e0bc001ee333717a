"""The configuration in force is recorded on the ledger: vocabulary and organisation settings,
only when they change and an event is written; writers without one use the recorded one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ledger import Ledger
from ledger.cli.main import cli
from ledger.config import Config, load_config
from ledger.errors import ConfigError, IntegrityError, InvalidEvent


def _objection(n: int) -> dict[str, Any]:
    return {"id": f"obj-{n}", "type": "objected", "actor": "svc:web", "subject": f"cust-{n}",
            "purpose": "marketing.communications.email"}  # fmt: skip


def _recorded(ledger: Ledger) -> list[dict[str, Any]]:
    return ledger.events_of_type("ledger.vocabulary")


def test_the_first_vocabulary_event_carries_the_organisation_settings(
    ledger: Ledger, config: Config
) -> None:
    ledger.record(**_objection(1))
    (event,) = _recorded(ledger)
    assert event["organisation"] == {
        "name": "Northgate IT Services Ltd", "time_zone": "Europe/London",
        "bank_holidays": "GB-ENG", "target_days": 28, **config.record}  # fmt: skip
    assert set(config.record) == {"contact", "dpo", "representative", "security_measures"}
    assert event["purposes"] == config.purposes and config.purposes
    assert event["digest"] == config.digest == ledger.store.head().vocabulary
    assert Config.from_recorded(event).digest == config.digest


def test_writers_with_and_without_a_config_do_not_take_turns(
    store: tuple[str, Path], config_path: Path
) -> None:
    url, keys = store
    with Ledger.init(url, keys, config=config_path) as ledger:
        ledger.record(**_objection(1))
    for n in range(2, 6):  # alternate: no config, then the same config again
        with Ledger.open(url, keys, config=None if n % 2 else config_path) as ledger:
            ledger.record(**_objection(n))
    with Ledger.open(url, keys) as ledger:
        assert len(_recorded(ledger)) == 1
        assert ledger.config.digest == load_config(config_path).digest  # adopted, not default
        assert "essential.service.internet_provision" in ledger.config.vocabulary.keys("purpose")


def test_a_retry_that_records_nothing_records_no_vocabulary(
    store: tuple[str, Path], config_path: Path, tmp_path: Path
) -> None:
    url, keys = store
    with Ledger.init(url, keys, config=config_path) as ledger:
        ledger.record(**_objection(1))
        size = ledger.size
    other = tmp_path / "other.toml"
    other.write_text(config_path.read_text().replace('time_zone = "Europe/London"',
                                                     'time_zone = "Europe/Dublin"'))  # fmt: skip
    with Ledger.open(url, keys, config=other) as ledger:
        receipt = ledger.record(**_objection(1))  # the same id: already present
        assert not receipt.recorded
        assert ledger.size == size
        ledger.record(**_objection(2))  # a real write records the change first
        events = _recorded(ledger)
    assert len(events) == 2 and events[1]["organisation"]["time_zone"] == "Europe/Dublin"
    assert events[1]["digest"] == load_config(other).digest


def test_a_config_that_differs_from_the_ledger_is_flagged_by_the_command_line(
    store: tuple[str, Path], config_path: Path, tmp_path: Path
) -> None:
    url, keys = store
    with Ledger.init(url, keys, config=config_path) as ledger:
        ledger.record(**_objection(1))
    other = tmp_path / "other.toml"
    other.write_text(config_path.read_text() + "target_days = 20\n")
    args = ["--db", url, "--keys", str(keys)]
    same = CliRunner().invoke(cli, [*args, "--config", str(config_path), "requests"])
    assert same.exit_code == 0 and "differs from the configuration" not in same.stderr
    flagged = CliRunner().invoke(cli, [*args, "--config", str(other), "requests"])
    assert flagged.exit_code == 0, flagged.output
    assert f"note: {other} differs from the configuration recorded on the ledger" in flagged.stderr
    plain = CliRunner().invoke(cli, [*args, "requests"])
    assert plain.exit_code == 0 and "differs" not in plain.stderr


def test_a_refused_custom_key_says_a_config_may_be_missing(store: tuple[str, Path]) -> None:
    url, keys = store
    with Ledger.init(url, keys) as ledger, pytest.raises(InvalidEvent) as refused:
        ledger.record("collected", actor="svc:isp", subject="cust-1", categories=["user.name"],
                      purpose="essential.service.internet_provision", basis="contract",
                      source="form", system="crm", location="GB", retention="P1Y")  # fmt: skip
    assert "is the configuration that adds it missing? give --config" in str(refused.value)


def test_a_damaged_recorded_vocabulary_still_opens_for_verify_but_refuses_writes(
    store: tuple[str, Path], config_path: Path
) -> None:
    url, keys = store
    with Ledger.init(url, keys, config=config_path) as ledger:
        ledger.record(**_objection(1))
    from support import sql as _sql

    _sql(url, "UPDATE ledger_head SET vocabulary = 'forged'")
    with Ledger.open(url, keys) as ledger:
        assert not ledger.verify().intact
        with pytest.raises(ConfigError, match="the configuration recorded on the ledger"):
            ledger.record(**_objection(2))
    with (
        Ledger.open(url, keys, config=config_path) as ledger,  # given explicitly: the head's
        pytest.raises(IntegrityError, match="seal does not verify"),  # seal still refuses
    ):
        ledger.record(**_objection(2))
