"""Shared fixtures: real SQLite files in a temporary folder, the seed company's story."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from support import postgres_server

from ledger import Ledger
from ledger.config import Config
from ledger.demo.story import CONFIG_TOML, events


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
def server() -> str:
    """The test server's URL (no schema); fails the run when the server is required."""
    found = postgres_server()
    if found is None:
        pytest.skip("no PostgreSQL server (set LEDGER_TEST_POSTGRES_URL)")
    return found


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema on the test server, dropped afterwards."""
    server = postgres_server()
    if server is None:
        pytest.skip("no PostgreSQL server (set LEDGER_TEST_POSTGRES_URL)")
    schema = f"ledger_test_{uuid.uuid4().hex[:12]}"
    yield f"{server}?schema={schema}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def postgres_database_url() -> Iterator[str]:
    """A fresh database of its own on the test server, dropped afterwards: for tests of what
    PostgreSQL can clean, which any snapshot open in the same database holds up (the other
    tests share one database)."""
    server = postgres_server()
    if server is None:
        pytest.skip("no PostgreSQL server (set LEDGER_TEST_POSTGRES_URL)")
    name = f"ledger_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = server.rsplit("/", 1)[0]
    yield f"{base}/{name}?schema=ledger"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def isolated_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store not yet created, on each engine; on PostgreSQL in a database of its own."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return str(request.getfixturevalue("postgres_database_url"))


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store not yet created, on each engine."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(store_url: str, tmp_path: Path) -> tuple[str, Path]:
    """URL and keys folder of a ledger not yet created (SQLite and PostgreSQL)."""
    return store_url, tmp_path / "keys"


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
