"""The `ledger` command as users and scripts meet it: CliRunner, and once as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result

from ledger.cli.main import cli


def _jsonl(events: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(e) + b"\n" for e in events)


class Cli:
    """Runs `ledger` against one store, keys folder and configuration."""

    def __init__(self, tmp_path: Path, config_path: Path, url: str) -> None:
        self.db = url
        self.keys = tmp_path / "keys"
        self.config = config_path
        self.signing = tmp_path / "signing"
        self.tmp = tmp_path

    def __call__(self, *args: str, input: bytes | None = None) -> Result:
        return CliRunner().invoke(
            cli,
            [
                "--db",
                self.db,
                "--keys",
                str(self.keys),
                "--config",
                str(self.config),
                "--signing-key",
                str(self.signing),
                *args,
            ],
            input=input,
        )


@pytest.fixture
def run(store_url: str, tmp_path: Path, config_path: Path) -> Cli:
    """The command against a store on SQLite, and on PostgreSQL."""
    return Cli(tmp_path, config_path, store_url)


def test_init_creates_store_and_keys_and_refuses_to_overwrite(run: Cli) -> None:
    first = run("init")
    assert first.exit_code == 0, first.output
    assert run.keys.joinpath("kek.slots").exists()
    kek = run.keys.joinpath("kek.slots").read_bytes()
    again = run("init")
    assert again.exit_code == 2
    assert "refusing to overwrite" in again.stderr
    assert run.keys.joinpath("kek.slots").read_bytes() == kek


def test_init_refuses_when_only_the_keys_exist(run: Cli, tmp_path: Path) -> None:
    assert run("init").exit_code == 0
    other = CliRunner().invoke(
        cli,
        [
            "--db",
            f"sqlite:///{tmp_path / 'b.db'}",
            "--keys",
            str(run.keys),
            "--signing-key",
            str(tmp_path / "other-signing"),
            "init",
        ],
    )
    assert other.exit_code == 2
    assert "refusing to overwrite" in other.stderr
    assert not (tmp_path / "b.db").exists()


def test_import_records_all_and_reports_the_count(run: Cli, story: list[dict[str, Any]]) -> None:
    run("init")
    path = run.tmp / "events.jsonl"
    path.write_bytes(_jsonl(story))
    result = run("import", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"recorded {len(story)} events")
    verify = run("verify", "--json")
    assert verify.exit_code == 0
    assert orjson.loads(verify.stdout)["size"] == len(story) + 1  # + the vocabulary event


def test_import_from_stdin_with_blank_lines(run: Cli, story: list[dict[str, Any]]) -> None:
    run("init")
    result = run("import", "-", input=b"\n" + _jsonl(story[:3]) + b"\n\n")
    assert result.exit_code == 0, result.output
    assert "recorded 3 events" in result.stdout


def test_import_is_all_or_nothing_and_names_line_and_key(
    run: Cli, story: list[dict[str, Any]]
) -> None:
    run("init")
    bad = dict(story[5])
    bad["purpose"] = "essential.service.operations.suport"
    lines = _jsonl(story[:5]) + _jsonl([bad]) + _jsonl(story[6:])
    path = run.tmp / "bad.jsonl"
    path.write_bytes(lines)
    result = run("import", str(path))
    assert result.exit_code == 2
    assert "line 6" in result.stderr and "'purpose'" in result.stderr
    assert "essential.service.operations.support" in result.stderr  # the closest accepted key
    assert len(result.stderr.strip().splitlines()) == 1
    assert orjson.loads(run("verify", "--json").stdout)["size"] == 0


def test_import_with_a_bad_json_line_writes_nothing(run: Cli, story: list[dict[str, Any]]) -> None:
    run("init")
    path = run.tmp / "broken.jsonl"
    path.write_bytes(_jsonl(story[:4]) + b'{"type": "accessed", "at": \n' + _jsonl(story[4:]))
    result = run("import", str(path))
    assert result.exit_code == 2
    assert "line 5" in result.stderr
    assert orjson.loads(run("verify", "--json").stdout)["size"] == 0


def test_reimport_is_safe_every_event_already_present(
    run: Cli, story: list[dict[str, Any]]
) -> None:
    run("init")
    path = run.tmp / "events.jsonl"
    path.write_bytes(_jsonl(story))
    run("import", str(path))
    again = run("import", str(path))
    assert again.exit_code == 0
    assert f"recorded 0 events; {len(story)} already present" in again.stdout


def test_importing_an_export_is_refused(run: Cli, story: list[dict[str, Any]]) -> None:
    run("init")
    path = run.tmp / "events.jsonl"
    path.write_bytes(_jsonl(story[:3]))
    run("import", str(path))
    exported = run("export", "-o", str(run.tmp / "export.jsonl"))
    assert exported.exit_code == 0, exported.output
    result = run("import", str(run.tmp / "export.jsonl"))
    assert result.exit_code == 2
    assert "export" in result.stderr


def test_export_writes_contract_keys_and_ledger_fields(
    run: Cli, story: list[dict[str, Any]]
) -> None:
    run("init")
    run("import", "-", input=_jsonl(story))
    result = run("export", "--subject", "cust-1002")
    assert result.exit_code == 0
    rows = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert {r["subject"] for r in rows} == {"cust-1002"}
    assert [r["sequence"] for r in rows] == sorted(r["sequence"] for r in rows)
    for row in rows:
        assert {"sequence", "recorded_at", "hash", "prev_hash", "uuid"} <= row.keys()
    assert "Reilly" not in result.stdout


def test_export_decrypt_needs_actor_and_purpose_and_records_the_access(
    run: Cli, story: list[dict[str, Any]]
) -> None:
    run("init")
    run("import", "-", input=_jsonl(story))
    refused = run("export", "--subject", "cust-1002", "--decrypt")
    assert refused.exit_code == 2
    assert "--actor" in refused.stderr
    out = run.tmp / "cust-1002.jsonl"
    result = run(
        "export",
        "--subject",
        "cust-1002",
        "--decrypt",
        "--actor",
        "staff:dpo",
        "--purpose",
        "essential.legal_obligation",
        "-o",
        str(out),
    )
    assert result.exit_code == 0, result.output
    assert (out.stat().st_mode & 0o777) == 0o600
    rows = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert rows[0]["data"]["user.name"] == "Tom Reilly"
    tail = [
        orjson.loads(line) for line in run("export", "--subject", "cust-1002").stdout.splitlines()
    ]
    assert tail[-1]["type"] == "accessed" and tail[-1]["actor"] == "staff:dpo"
    assert tail[-1]["system"] == "ledger"


def test_errors_are_one_line_without_traceback(run: Cli) -> None:
    result = run("import", "-", input=b"{}\n")
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_demo_runs_twice_each_in_its_own_fresh_folder(tmp_path: Path) -> None:
    outputs = []
    for _ in range(2):
        result = CliRunner().invoke(cli, ["demo", "--dir", str(tmp_path)])
        assert result.exit_code == 0, result.output
        assert "intact" in result.stdout
        outputs.append(result.stdout)
    folders = sorted(p for p in tmp_path.iterdir() if p.name.startswith("ledger-demo-"))
    assert len(folders) == 2
    assert "cust-1004" in outputs[0] and "readable values left: none" in outputs[0]
    for folder in folders:  # each run writes its report, and says where
        html = (folder / "report.html").read_text(encoding="utf-8")
        assert html.startswith("<!DOCTYPE html>") and "INC-2026-001" in html
        assert str(folder / "report.html") in "".join(outputs).replace("\n", "")


def _installed(tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    """The installed `ledger` command, and an environment pointing it at *tmp_path*."""
    env = {
        **os.environ,
        "LEDGER_DB": f"sqlite:///{tmp_path / 'p.db'}",
        "LEDGER_KEYS": str(tmp_path / "keys"),
        "LEDGER_SIGNING": str(tmp_path / "signing"),
    }
    exe = Path(sys.executable).with_name("ledger")
    return ([str(exe)] if exe.exists() else [sys.executable, "-m", "ledger.cli"]), env


def test_the_installed_command_runs_as_a_real_process(tmp_path: Path) -> None:
    command, env = _installed(tmp_path)
    init = subprocess.run([*command, "init"], env=env, capture_output=True, timeout=60)
    assert init.returncode == 0, init.stderr
    verify = subprocess.run(
        [*command, "verify", "--json"], env=env, capture_output=True, timeout=60
    )
    assert verify.returncode == 0
    assert orjson.loads(verify.stdout)["intact"] is True
    bad = subprocess.run(
        [*command, "import", "-"],
        env=env,
        input=b'{"type": "x"}\n',
        capture_output=True,
        timeout=60,
    )
    assert bad.returncode == 2
    assert bad.stderr.decode().startswith("error: line 1")
    assert b"Traceback" not in bad.stderr


def test_a_refusal_deep_in_a_large_import_rolls_back_every_chunk(run: Cli) -> None:
    from ledger.demo.workload import generate

    run("init")
    events = list(generate(2500))
    bad = next(n for n in range(2100, 2500) if events[n]["type"] == "collected")
    events[bad]["basis"] = "vibes"
    result = run("import", "-", input=_jsonl(events))
    assert result.exit_code == 2
    assert f"line {bad + 1}, key 'basis'" in result.stderr
    assert orjson.loads(run("verify", "--json").stdout)["size"] == 0
    events[bad]["basis"] = "contract"
    again = run("import", "-", input=_jsonl(events))
    assert again.exit_code == 0, again.output
    assert "recorded 2500 events" in again.stdout


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path: Path) -> None:
    command, env = _installed(tmp_path)
    subprocess.run([*command, "init"], env=env, check=True, capture_output=True, timeout=60)
    from ledger.demo.workload import generate

    subprocess.run(
        [*command, "import", "-"],
        env=env,
        input=_jsonl(list(generate(3000))),
        check=True,
        capture_output=True,
        timeout=120,
    )
    reader = subprocess.Popen(
        [*command, "export"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert reader.stdout is not None and reader.stderr is not None
    assert reader.stdout.readline().startswith(b"{")
    reader.stdout.close()
    reader.wait(60)
    assert reader.stderr.read() == b""
    assert reader.returncode == 0


def test_a_dpo_asks_the_demo_as_a_real_process(tmp_path: Path) -> None:
    """`ledger demo`, then the questions of UK law as of 2026 asked of it by the installed
    command, at 15 August 2026: the request paused and why, the recipient still to be told,
    the complaint awaiting acknowledgement, and the record's processor part."""
    command, env = _installed(tmp_path)
    made = subprocess.run([*command, "demo", "--dir", str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert made.returncode == 0, made.stderr
    folder = next(tmp_path.glob("ledger-demo-*"))
    env |= {"LEDGER_DB": f"sqlite:///{folder / 'ledger.db'}", "LEDGER_KEYS": str(folder / "keys"),
            "LEDGER_CONFIG": str(folder / "ledger.toml")}  # fmt: skip

    def ask(*args: str) -> Any:
        done = subprocess.run([*command, *args, "--as-of", "2026-08-15", "--json"], env=env,
                              capture_output=True, timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stderr.startswith(b"checked: the tables match the chain")
        return orjson.loads(done.stdout)

    paused = [c for c in ask("requests", "--open") if c["status"] == "paused"]
    assert [(c["request"], c["awaiting"], c["paused_since"]) for c in paused] == [
        ("DSR-2026-011", ["clarification"], "2026-07-07")
    ]
    untold = ask("notices")
    assert [(n["recipient"], n["change"], n["subject"]) for n in untold["notices"]] == [
        ("sup:edu-procure", "restriction", "cust-1003")
    ]
    late = [c for c in ask("complaints", "--open") if c["late"]]
    assert [(c["complaint"], c["acknowledge_by"]) for c in late] == [("CMP-2026-002", "2026-07-31")]
    record = ask("ropa")
    assert [p["controller"] for p in record["processor"]] == ["org:ashby-primary"]


def test_import_on_several_workers_names_the_same_first_bad_line(tmp_path: Path) -> None:
    """`ledger import --workers 2` of a file large enough for the pool, with two bad lines:
    the first one is named, exactly as with one worker, and nothing is written; then the
    good file is recorded whole. Run as a real process, the way operators run it."""
    from ledger.demo.workload import generate

    events = list(generate(6000, seed=3))
    bad_early, bad_late = dict(events[5400]), dict(events[5900])
    bad_early["purpose"] = "essential.service.operations.suport"
    bad_late["type"] = "nonsense"
    bad = [*events[:5400], bad_early, *events[5401:5900], bad_late, *events[5901:]]
    path, good = tmp_path / "bad.jsonl", tmp_path / "good.jsonl"
    path.write_bytes(_jsonl(bad))
    good.write_bytes(_jsonl(events))
    command, env = _installed(tmp_path)
    subprocess.run([*command, "init"], env=env, check=True, capture_output=True, timeout=60)
    refusals = []
    for workers in ("1", "2"):
        done = subprocess.run(
            [*command, "import", "--workers", workers, str(path)],
            env=env, capture_output=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        refusals.append(done.stderr)
    assert refusals[0] == refusals[1]
    assert b"line 5401" in refusals[0] and b"'purpose'" in refusals[0]
    size = subprocess.run(
        [*command, "verify", "--json"], env=env, capture_output=True, timeout=60, check=True
    )
    assert orjson.loads(size.stdout)["size"] == 0
    done = subprocess.run(
        [*command, "import", "--workers", "2", str(good)],
        env=env, capture_output=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert b"recorded 6000 events" in done.stdout
    assert CliRunner().invoke(cli, ["import", "--workers", "0", str(good)]).exit_code == 2
