"""The README's Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ledger import Ledger
from ledger.demo.story import CONFIG_TOML, events

README = Path(__file__).parents[2] / "README.md"


def test_the_python_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 2, "the README shows the engineer's and the responder's Python"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ledger.toml").write_text(CONFIG_TOML)
    monkeypatch.setenv("LEDGER_CONFIG", str(tmp_path / "ledger.toml"))
    with Ledger.init("sqlite:///ledger.db", "ledger-keys") as ledger:
        ledger.record_many(events())
        before = ledger.size
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
    with Ledger.open("sqlite:///ledger.db", "ledger-keys") as ledger:
        assert ledger.size == before + 1  # the engineer's one collection
        assert ledger.verify().intact
