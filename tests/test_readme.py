"""The README's Python example runs as written."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from ledger import Ledger

README = Path(__file__).parent.parent / "README.md"


def test_the_engineers_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README shows the Python API"
    monkeypatch.chdir(tmp_path)
    Ledger.init("sqlite:///ledger.db", "ledger-keys").close()
    exec(compile(blocks[0], "README.md", "exec"), {})
    with Ledger.open("sqlite:///ledger.db", "ledger-keys") as ledger:
        assert ledger.size == 2
        assert ledger.verify().intact
    assert os.path.exists("ledger.db")
