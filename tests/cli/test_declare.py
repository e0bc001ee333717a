"""`ledger declare` and `ledger declaration` through CliRunner, and once as a real process."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result
from support import NORTHGATE_DECLARATION as NORTHGATE
from test_cli import _installed

from ledger.cli.main import cli

P = '"essential.service.operations.support"'
# broken copies: the text, the line and the key path the refusal names
REFUSALS = {
    "lower_case_country": (NORTHGATE.replace('country = "GB"', 'country = "gb"'), 12,
                           f"purposes.{P}.recipients[1].country"),
    "missing_transfer_for_us": (NORTHGATE.replace('transfer = "dpf"\n', ""), 15,
                                f"purposes.{P}.recipients[2].transfer"),
    "toml_syntax_error": (NORTHGATE.replace('country = "GB"', "country = GB"), 12, None),
    "unknown_top_key": (NORTHGATE.replace("notices =", 'notice_url = "x"\nnotices ='), 1, None),
    "recipient_email_id": (NORTHGATE.replace('id = "isp:fibrelink"',
                                             'id = "jo.bloggs@fibrelink.example"'), 11,
                           f"purposes.{P}.recipients[1].id"),
}  # fmt: skip
DECLARED = re.compile(
    r"declared: (\d+) purposes?, digest ([0-9a-f]{64}), in force from (\S+) \(sequence (\d+)\)"
)


@pytest.fixture
def run(tmp_path: Path, config_path: Path) -> Any:
    base = ["--db", f"sqlite:///{tmp_path / 'l.db'}", "--keys", str(tmp_path / "k"),
            "--config", str(config_path), "--signing-key", str(tmp_path / "s")]  # fmt: skip

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, [*base, *args])

    assert invoke("init").exit_code == 0
    return invoke


def _file(tmp_path: Path, text: str, name: str = "declaration.toml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _size(run: Any) -> int:
    return int(orjson.loads(run("status", "--json").stdout)["size"])


def test_declare_prints_the_purposes_digest_time_and_sequence(run: Any, tmp_path: Path) -> None:
    result = run("declare", _file(tmp_path, NORTHGATE))
    assert result.exit_code == 0, result.output
    found = DECLARED.fullmatch(result.stdout.strip())
    assert found is not None, result.stdout
    assert found.group(1) == "2"
    shown = orjson.loads(run("declaration", "--json").stdout)
    assert shown["digest"] == found.group(2)
    assert shown["seq"] == int(found.group(4))
    assert shown["at"] == found.group(3)
    assert set(shown["content"]["purposes"]) == {
        "essential.service.operations.support", "essential.service.payment_processing"
    }  # fmt: skip


def test_declaring_the_same_again_records_nothing(run: Any, tmp_path: Path) -> None:
    path = _file(tmp_path, NORTHGATE)
    first = run("declare", path)
    size = _size(run)
    again = run("declare", path)
    assert again.exit_code == 0
    assert "unchanged" in again.stdout and _size(run) == size
    digests = [DECLARED.match(r.stdout) for r in (first, again)]
    assert digests[0] and digests[1] and digests[0].group(2) == digests[1].group(2)


@pytest.mark.parametrize("name", ["lower_case_country", "missing_transfer_for_us",
                                  "toml_syntax_error", "unknown_top_key"])  # fmt: skip
def test_a_bad_declaration_exits_2_with_one_line_and_writes_nothing(
    run: Any, tmp_path: Path, name: str
) -> None:
    text, line, key = REFUSALS[name]
    size = _size(run)
    result = run("declare", _file(tmp_path, text))
    assert result.exit_code == 2
    assert result.stdout == ""
    (message,) = result.stderr.splitlines()
    assert message.startswith(f"error: line {line}")
    if key is not None:
        assert f"key '{key}'" in message
    assert _size(run) == size


def test_a_missing_file_exits_2(run: Any, tmp_path: Path) -> None:
    result = run("declare", str(tmp_path / "nowhere.toml"))
    assert result.exit_code == 2 and result.stderr.startswith("error: ")


def test_the_declaration_table_shows_each_purpose(run: Any, tmp_path: Path) -> None:
    run("declare", _file(tmp_path, NORTHGATE))
    result = run("declaration")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("declaration in force: sequence ")
    assert lines[1] == "notices: privacy-notice-v3"
    assert lines[2].split() == ["purpose", "bases", "categories", "subjects", "locations",
                                "retention", "recipients"]  # fmt: skip
    support = next(x for x in lines if x.startswith("essential.service.operations.support"))
    assert "contract, legitimate_interests" in support
    assert "user.content.private P30D" in support
    assert "proc:payflow-us (US, dpf): user.name" in support


def test_no_declaration_in_force_before_the_first(run: Any, tmp_path: Path) -> None:
    assert run("declaration").stdout.startswith("no declaration in force at now")
    run("declare", _file(tmp_path, NORTHGATE))
    before = run("declaration", "--as-of", "2026-01-01")
    assert before.exit_code == 0
    assert before.stdout.startswith("no declaration in force at 2026-01-01")
    assert orjson.loads(run("declaration", "--as-of", "2026-01-01", "--json").stdout) is None


def test_declaration_as_of_before_and_after_a_replacement(run: Any, tmp_path: Path) -> None:
    first = DECLARED.match(run("declare", _file(tmp_path, NORTHGATE)).stdout)
    longer = NORTHGATE.replace('"P30D"', '"P60D"')
    second = DECLARED.match(run("declare", _file(tmp_path, longer, "v2.toml")).stdout)
    assert first is not None and second is not None
    assert int(second.group(4)) == int(first.group(4)) + 1
    at_first = orjson.loads(run("declaration", "--as-of", first.group(3), "--json").stdout)
    assert (at_first["digest"], at_first["seq"]) == (first.group(2), int(first.group(4)))
    now = orjson.loads(run("declaration", "--json").stdout)
    assert now["digest"] == second.group(2)
    support = now["content"]["purposes"]["essential.service.operations.support"]
    assert support["retention"]["user.content.private"] == "P60D"
    assert run("verify").exit_code == 0


def test_declare_runs_as_a_real_process(tmp_path: Path) -> None:
    command, env = _installed(tmp_path)
    subprocess.run([*command, "init"], env=env, check=True, capture_output=True, timeout=60)
    good = subprocess.run([*command, "declare", _file(tmp_path, NORTHGATE)], env=env,
                          capture_output=True, timeout=60)  # fmt: skip
    assert good.returncode == 0, good.stderr
    assert DECLARED.fullmatch(good.stdout.decode().strip())
    text = REFUSALS["recipient_email_id"][0]
    bad = subprocess.run([*command, "declare", _file(tmp_path, text, "bad.toml")], env=env,
                         capture_output=True, timeout=60)  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr.decode().startswith("error: line 11, key 'purposes.")
    assert b"bloggs" not in bad.stderr and b"Traceback" not in bad.stderr
