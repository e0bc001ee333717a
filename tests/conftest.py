"""Shared fixtures: real SQLite files in a temporary folder, the seed company's story."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger import Ledger
from ledger.config import Config
from ledger.demo import CONFIG_TOML, events


@pytest.fixture
def story() -> list[dict[str, Any]]:
    """The demo's events (a fresh copy: tests may change them)."""
    return copy.deepcopy(events())


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.toml"
    path.write_text(CONFIG_TOML, encoding="utf-8")
    return path


@pytest.fixture
def config(config_path: Path) -> Config:
    from ledger.config import load_config

    return load_config(config_path)


@pytest.fixture
def store(tmp_path: Path) -> tuple[str, Path]:
    """URL and keys folder of a ledger not yet created."""
    return f"sqlite:///{tmp_path / 'ledger.db'}", tmp_path / "keys"


@pytest.fixture
def ledger(store: tuple[str, Path], config: Config) -> Iterator[Ledger]:
    url, keys = store
    with Ledger.init(url, keys, config=config, origin="test/ledger") as opened:
        yield opened


@pytest.fixture
def filled(ledger: Ledger, story: list[dict[str, Any]]) -> Ledger:
    """A ledger holding the whole story."""
    ledger.record_many(story)
    return ledger


@pytest.fixture(autouse=True)
def _signing_key_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may create a signing key in the working directory."""
    monkeypatch.setenv("LEDGER_SIGNING", str(tmp_path / "default-signing"))
