"""Files, inputs, messages: what the ledger writes for a user is owner-only, atomic and never
written through a symbolic link; what it reads from a user is capped, in bounded memory; and no
refusal repeats what a value or an unknown key contained.

Real files, the real SQLite store, the command through CliRunner and as a real process.
"""

from __future__ import annotations

import os
import resource
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from io import BytesIO
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import Ledger
from ledger.cli.main import cli
from ledger.core.contract import CONTRACT_KEYS, ENUMS
from ledger.core.countries import COUNTRY_CODES
from ledger.errors import InvalidEvent, StoreExists
from ledger.files import (
    MAX_BUNDLE_LINE,
    MAX_CONFIG_FILE,
    MAX_IMPORT_LINE,
    MAX_NOTE_FILE,
    TooLarge,
    UnsafePath,
    bounded_lines,
    private_folder,
    private_output,
    read_limited,
    write_private,
)
from ledger.importer import import_lines

SECRET = "Tom Reilly"  # a value of the demo story, readable only in a decrypting export
DECRYPT = ("--decrypt", "--actor", "staff:dpo", "--purpose", "essential.legal_obligation")
MEMORY_CAP = 400 * (1 << 20)  # address space of the child process in the memory tests
HUGE = 300 * (1 << 20)  # a line far beyond every cap, and near the memory cap


def _jsonl(events: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(e) + b"\n" for e in events)


class Cli:
    """`ledger` against one SQLite store in *tmp*."""

    def __init__(self, tmp: Path, config: Path) -> None:
        self.tmp = tmp
        self.db = f"sqlite:///{tmp / 'ledger.db'}"
        self.base = ["--db", self.db, "--keys", str(tmp / "keys"), "--config", str(config),
                     "--signing-key", str(tmp / "signing")]  # fmt: skip

    def __call__(self, *args: str, input: bytes | None = None) -> Result:
        return CliRunner().invoke(cli, [*self.base, *args], input=input)

    def size(self) -> int:
        result = self("verify", "--json")
        assert result.exit_code == 0, result.output
        return int(orjson.loads(result.stdout)["size"])

    def checkpoints(self) -> int:
        with Ledger.open(self.db, self.tmp / "keys", read_only=True) as ledger:
            return len(ledger.store.checkpoints())


@pytest.fixture
def run(tmp_path: Path, config_path: Path, story: list[dict[str, Any]]) -> Cli:
    """A ledger holding the demo story."""
    runner = Cli(tmp_path, config_path)
    assert runner("init").exit_code == 0
    imported = runner("import", "-", input=_jsonl(story))
    assert imported.exit_code == 0, imported.output
    return runner


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A file elsewhere, that a planted link points at: it must never change."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    target = folder / "victim.txt"
    target.write_text("untouched\n", encoding="utf-8")
    target.chmod(0o644)
    return target


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def _refused(result: Result, *fragments: str, code: int = 2) -> str:
    output = result.stdout + result.stderr
    assert result.exit_code == code, (result.exit_code, output, result.exception)
    assert "Traceback" not in output and "MemoryError" not in output, output
    for fragment in fragments:
        assert fragment in output, (fragment, output)
    return output


@contextmanager
def _umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


# -- writing: exports, reports, bundles ----------------------------------------------------------


def test_a_decrypting_export_onto_an_existing_0644_file_leaves_it_0600(run: Cli) -> None:
    out = run.tmp / "export.jsonl"
    out.write_text("an older, readable export\n", encoding="utf-8")
    out.chmod(0o644)
    result = run("export", *DECRYPT, "-o", str(out))
    assert result.exit_code == 0, result.output
    assert _mode(out) == 0o600  # replaced by a new owner-only file, not rewritten in place
    assert SECRET in out.read_text(encoding="utf-8")
    assert "older" not in out.read_text(encoding="utf-8")
    assert _leftovers(run.tmp) == []


@pytest.mark.parametrize("decrypt", [False, True])
def test_an_export_through_a_planted_symlink_is_refused(
    run: Cli, outside: Path, decrypt: bool
) -> None:
    link = run.tmp / "export.jsonl"
    link.symlink_to(outside)
    before = run.size()
    result = run("export", *(DECRYPT if decrypt else ()), "-o", str(link))
    _refused(result, str(link), "symbolic link")
    assert outside.read_text(encoding="utf-8") == "untouched\n" and _mode(outside) == 0o644
    assert link.is_symlink() and _leftovers(run.tmp) == []
    assert run.size() == before  # refused before the decrypting read was recorded as an access


def test_a_dangling_symlink_is_refused_too(run: Cli) -> None:
    link = run.tmp / "export.jsonl"
    link.symlink_to(run.tmp / "nowhere" / "x.jsonl")
    _refused(run("export", "-o", str(link)), "symbolic link")
    assert not (run.tmp / "nowhere").exists()


def test_a_report_through_a_planted_symlink_is_refused(run: Cli, outside: Path) -> None:
    link = run.tmp / "report.html"
    link.symlink_to(outside)
    _refused(run("report", "-o", str(link)), str(link), "symbolic link")
    assert outside.read_text(encoding="utf-8") == "untouched\n"
    assert _leftovers(run.tmp) == []


def test_a_report_replaces_an_older_one_owner_only(run: Cli) -> None:
    out = run.tmp / "report.html"
    out.write_text("old", encoding="utf-8")
    out.chmod(0o644)
    result = run("report", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert _mode(out) == 0o600 and out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_a_bundle_through_a_planted_symlink_is_refused(run: Cli, tmp_path: Path) -> None:
    elsewhere = tmp_path / "empty-elsewhere"
    elsewhere.mkdir()
    link = run.tmp / "evidence"
    link.symlink_to(elsewhere, target_is_directory=True)
    before, checkpoints = run.size(), run.checkpoints()
    _refused(run("export", "--bundle", str(link)), str(link), "symbolic link")
    assert list(elsewhere.iterdir()) == []
    assert (run.size(), run.checkpoints()) == (before, checkpoints)  # refused before signing


def test_a_bundle_is_a_0700_folder_of_0600_files_even_under_umask_0(run: Cli) -> None:
    bundle = run.tmp / "new" / "parent" / "evidence"
    with _umask(0):
        result = run("export", "--bundle", str(bundle))
    assert result.exit_code == 0, result.output
    for folder in (run.tmp / "new", run.tmp / "new" / "parent", bundle, bundle / "checkpoints"):
        assert _mode(folder) == 0o700, folder
    files = [p for p in bundle.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"events.jsonl", "verifier.key"}
    assert all(_mode(p) == 0o600 for p in files)
    key = run.tmp / "signing" / "verifier.key"
    assert run("verify-bundle", str(bundle), "--key", str(key)).exit_code == 0


def test_a_bundle_fills_an_existing_empty_folder_and_refuses_a_full_one(run: Cli) -> None:
    bundle = run.tmp / "evidence"
    bundle.mkdir()
    assert run("export", "--bundle", str(bundle)).exit_code == 0
    assert (bundle / "events.jsonl").exists()
    _refused(run("export", "--bundle", str(bundle)), "not empty")


def test_files_are_0600_under_umask_0(run: Cli) -> None:
    with _umask(0):
        assert run("export", "-o", str(run.tmp / "plain.jsonl")).exit_code == 0
        assert run("export", *DECRYPT, "-o", str(run.tmp / "clear.jsonl")).exit_code == 0
        assert run("report", "-o", str(run.tmp / "r.html")).exit_code == 0
    for name in ("plain.jsonl", "clear.jsonl", "r.html"):
        assert _mode(run.tmp / name) == 0o600, name


def test_a_real_process_under_umask_0_writes_an_owner_only_export(run: Cli) -> None:
    exe = Path(sys.executable).with_name("ledger")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "ledger.cli"]
    out = run.tmp / "clear.jsonl"
    done = subprocess.run(
        [*command, *run.base, "export", *DECRYPT, "-o", str(out)],
        capture_output=True, timeout=120, preexec_fn=lambda: os.umask(0),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert _mode(out) == 0o600 and SECRET in out.read_text(encoding="utf-8")


def test_dash_writes_to_stdout(run: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(run.tmp)  # a file named "-" would land here
    exported = run("export", "-o", "-")
    assert exported.exit_code == 0 and exported.stdout.startswith("{")
    report = run("report", "-o", "-")
    assert report.exit_code == 0 and report.stdout.startswith("<!DOCTYPE html>")
    assert not (run.tmp / "-").exists()


def test_a_device_is_written_in_place_and_a_named_pipe_is_refused(run: Cli) -> None:
    assert run("export", "-o", "/dev/null").exit_code == 0
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)  # never replaced by a regular file
    assert run("report", "-o", "/dev/null").exit_code == 0
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    pipe = run.tmp / "planted.fifo"
    os.mkfifo(pipe)
    _refused(run("export", *DECRYPT, "-o", str(pipe)), str(pipe), "not a regular file")
    assert stat.S_ISFIFO(os.lstat(pipe).st_mode) and _leftovers(run.tmp) == []


def test_bench_figures_refuse_a_symlink_before_measuring(tmp_path: Path, outside: Path) -> None:
    link = tmp_path / "figures.json"
    link.symlink_to(outside)
    result = CliRunner().invoke(cli, ["bench", "--events", "10", "--json", str(link)])
    _refused(result, "symbolic link")
    assert outside.read_text(encoding="utf-8") == "untouched\n"


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    target.write_bytes(b"before\n")
    with pytest.raises(RuntimeError), private_output(target) as out:
        out.write(b"half of it")
        raise RuntimeError("the disk filled up")
    assert target.read_bytes() == b"before\n" and _leftovers(tmp_path) == []
    with pytest.raises(KeyboardInterrupt), private_output(tmp_path / "new.jsonl") as out:
        raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


def test_a_failed_bundle_leaves_nothing_behind(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "evidence"
    with pytest.raises(RuntimeError), private_folder(path) as bundle:
        bundle.write("events.jsonl", b"{}\n")
        bundle.folder("checkpoints").write("1.note", "x")
        raise RuntimeError("the store went away")
    assert list(tmp_path.iterdir()) == []  # the parents it created are gone too
    existing = tmp_path / "mine"
    existing.mkdir(mode=0o755)
    with pytest.raises(RuntimeError), private_folder(existing) as bundle:
        bundle.write("events.jsonl", b"{}\n")
        raise RuntimeError
    assert existing.is_dir() and list(existing.iterdir()) == []


def test_the_helpers_refuse_links_and_occupied_names(tmp_path: Path, outside: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(outside)
    with pytest.raises(UnsafePath, match="symbolic link"):
        write_private(link, "x")
    with pytest.raises(UnsafePath), private_folder(link):
        pass
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(StoreExists, match="not a folder"), private_folder(tmp_path / "file"):
        pass
    with private_folder(tmp_path / "b") as bundle, pytest.raises(FileExistsError):
        bundle.write("x", "1")
        bundle.write("x", "2")  # never overwrites, even inside its own folder
    assert outside.read_text(encoding="utf-8") == "untouched\n"


# -- reading: caps on every file and line read from a user -------------------------------------


def test_bounded_lines_cut_at_the_limit_not_counting_the_line_break() -> None:
    def lines(data: bytes) -> list[bytes]:
        return list(bounded_lines(BytesIO(data), 4, "a test line"))

    assert lines(b"abcd\nefgh") == [b"abcd\n", b"efgh"]
    assert lines(b"abc\r\n") == [b"abc\r\n"]
    for data, line in ((b"abcde\n", 1), (b"ab\nabcde", 2), (b"ok\n\nabcdefghij\n", 3)):
        with pytest.raises(TooLarge) as caught:
            lines(data)
        assert caught.value.line == line
        assert "line" in str(caught.value) and "4 bytes" in str(caught.value)


def test_read_limited_reads_at_most_one_byte_past_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "note"
    path.write_bytes(b"x" * 10)
    assert read_limited(path, 10, "a note") == b"x" * 10
    path.write_bytes(b"x" * 11)
    with pytest.raises(TooLarge, match="longer than 10 bytes, the limit for a note"):
        read_limited(path, 10, "a note")
    with pytest.raises(TooLarge, match="64 KiB"):
        read_limited(Path("/dev/zero"), MAX_NOTE_FILE, "a checkpoint")


def _write_line(path: Path, size: int, *, first: bytes = b"", fill: bytes = b"x") -> Path:
    """A file of *first*, then one line of *size* bytes (and its line break), written in chunks."""
    chunk = fill * (1 << 20)
    with open(path, "wb") as out:
        out.write(first)
        for _ in range(size // len(chunk)):
            out.write(chunk)
        out.write(fill * (size % len(chunk)) + b"\n")
    return path


def test_an_import_line_one_byte_over_the_cap_is_refused_naming_file_line_and_limit(
    run: Cli, story: list[dict[str, Any]]
) -> None:
    before = run.size()
    first = orjson.dumps({**story[0], "id": "new-1"}) + b"\n"
    path = _write_line(run.tmp / "big.jsonl", MAX_IMPORT_LINE + 1, first=first)
    result = run("import", str(path))
    _refused(result, f"line 2: longer than 16 MiB ({MAX_IMPORT_LINE:,} bytes)", str(path))
    assert run.size() == before  # nothing recorded, not even line 1
    through_stdin = run("import", "-", input=path.read_bytes())
    _refused(through_stdin, "line 2: longer than 16 MiB", "standard input")
    assert run.size() == before


def test_an_import_line_of_exactly_the_cap_is_read(run: Cli, story: list[dict[str, Any]]) -> None:
    event = orjson.dumps({**story[0], "id": "padded-1"})
    padded = event[:-1] + b" " * (MAX_IMPORT_LINE - len(event)) + b"}"  # JSON allows spaces
    assert len(padded) == MAX_IMPORT_LINE
    path = run.tmp / "padded.jsonl"
    path.write_bytes(padded + b"\n")
    before = run.size()
    result = run("import", str(path))
    assert result.exit_code == 0, result.output
    assert run.size() == before + 1


def test_dev_zero_is_refused_as_an_import_a_checkpoint_a_key_and_a_configuration(
    run: Cli,
) -> None:
    _refused(run("import", "/dev/zero"), "line 1: longer than 16 MiB", "/dev/zero")
    _refused(run("verify", "--checkpoint", "/dev/zero"), "/dev/zero", "64 KiB", "checkpoint")
    note = run.tmp / "note"
    note.write_text(run("checkpoint").stdout, encoding="utf-8")
    _refused(run("verify", "--checkpoint", str(note), "--key", "/dev/zero"), "64 KiB")
    bundle = run.tmp / "evidence"
    assert run("export", "--bundle", str(bundle)).exit_code == 0
    _refused(run("verify-bundle", str(bundle), "--key", "/dev/zero"), "64 KiB", "verifier key")
    config = CliRunner().invoke(cli, [*run.base[:4], "--config", "/dev/zero", "verify"])
    _refused(config, "/dev/zero", "8 MiB", "configuration")


def test_a_checkpoint_file_one_byte_over_the_cap_is_refused(run: Cli) -> None:
    note = run.tmp / "note"
    note.write_bytes(b"x" * (MAX_NOTE_FILE + 1))
    _refused(run("verify", "--checkpoint", str(note)), str(note), "64 KiB (65,536 bytes)")
    note.write_bytes(b"x" * MAX_NOTE_FILE)  # within the cap: read, and refused as not a note
    result = run("verify", "--checkpoint", str(note))
    assert "64 KiB" not in result.output and result.exit_code in (1, 2)
    big = run.tmp / "big.toml"
    big.write_bytes(b"#" * (MAX_CONFIG_FILE + 1))
    _refused(CliRunner().invoke(cli, [*run.base[:4], "--config", str(big), "verify"]), "8 MiB")


@pytest.fixture
def bundle(run: Cli) -> tuple[Path, Path]:
    """An evidence bundle of the story, and the verifier key."""
    folder = run.tmp / "evidence"
    assert run("export", "--bundle", str(folder)).exit_code == 0
    return folder, run.tmp / "signing" / "verifier.key"


def test_a_bundle_line_over_the_cap_is_not_intact_naming_line_and_limit(
    run: Cli, bundle: tuple[Path, Path]
) -> None:
    folder, key = bundle
    events = folder / "events.jsonl"
    lines = events.read_bytes().splitlines(keepends=True)
    first_two = b"".join(lines[:2])
    _write_line(events, MAX_BUNDLE_LINE + 1, first=first_two)
    result = run("verify-bundle", str(folder), "--key", str(key))
    _refused(result, "NOT INTACT at 3", "events.jsonl, line 3", "32 MiB", code=1)
    as_json = orjson.loads(run("verify-bundle", str(folder), "--key", str(key), "--json").stdout)
    assert as_json["intact"] is False and as_json["first_bad"] == 3 and as_json["events"] == 2


def test_a_bundle_checkpoint_over_the_cap_is_not_intact(
    run: Cli, bundle: tuple[Path, Path]
) -> None:
    folder, key = bundle
    note = sorted((folder / "checkpoints").iterdir())[-1]
    note.write_bytes(note.read_bytes() + b"x" * MAX_NOTE_FILE)
    result = run("verify-bundle", str(folder), "--key", str(key))
    _refused(result, "NOT INTACT", note.name, "64 KiB", code=1)


def _capped(limit: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


def _installed() -> list[str]:
    exe = Path(sys.executable).with_name("ledger")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "ledger.cli"]


def test_a_300_mb_import_line_is_refused_in_bounded_memory(
    run: Cli, story: list[dict[str, Any]]
) -> None:
    before = run.size()
    path = _write_line(run.tmp / "huge.jsonl", HUGE, first=orjson.dumps(story[0]) + b"\n")
    done = subprocess.run(
        [*_installed(), *run.base, "import", str(path)],
        capture_output=True, timeout=300, preexec_fn=_capped(MEMORY_CAP),
    )  # fmt: skip
    path.unlink()
    stderr = done.stderr.decode()
    assert done.returncode == 2, stderr
    assert stderr == (
        f"error: line 2: longer than 16 MiB ({MAX_IMPORT_LINE:,} bytes), the limit for one "
        f"event line (in {path})\n"
    )
    assert run.size() == before


def test_a_300_mb_bundle_line_is_refused_in_bounded_memory(
    run: Cli, bundle: tuple[Path, Path]
) -> None:
    folder, key = bundle
    _write_line(folder / "events.jsonl", HUGE)
    done = subprocess.run(
        [*_installed(), "verify-bundle", str(folder), "--key", str(key)],
        capture_output=True, timeout=300, preexec_fn=_capped(MEMORY_CAP),
    )  # fmt: skip
    (folder / "events.jsonl").unlink()
    assert done.returncode == 1, done.stderr
    assert done.stdout.decode().startswith("NOT INTACT at 1: events.jsonl, line 1: longer than")
    assert b"MemoryError" not in done.stderr and b"Traceback" not in done.stderr


def test_the_memory_cap_is_one_a_real_command_runs_under(run: Cli) -> None:
    """The cap is not so low that any command would fail under it: verify runs under it."""
    done = subprocess.run(
        [*_installed(), *run.base, "verify"],
        capture_output=True, timeout=120, preexec_fn=_capped(MEMORY_CAP),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


# -- messages: nothing from a value or an unknown key is repeated -------------------------------


def test_a_duplicate_key_is_not_quoted_by_the_command(run: Cli) -> None:
    result = run("import", "-", input=b'{"x":1,"Bloggs":1,"Bloggs":2}\n')
    output = _refused(result, "line 1", "duplicate key", "field 3")
    assert "Bloggs" not in output


def test_an_unknown_key_is_described_by_its_position(run: Cli, story: list[dict[str, Any]]) -> None:
    event = {**story[0], "Bloggs": "x"}
    output = _refused(run("import", "-", input=_jsonl([event])), "an unknown field (position")
    assert "Bloggs" not in output
    known = {**story[0], "breach": "INC-1"}  # a key of the contract, of another type: named
    _refused(run("import", "-", input=_jsonl([known])), "key 'breach'")


names = st.from_regex(r"[A-Z][a-z]{2,9}( [A-Z][a-z]{2,11}){0,2}", fullmatch=True)
personal = st.one_of(
    names,
    st.from_regex(r"[a-z]{2,8}\.[a-z]{2,10}@[a-z]{3,9}\.example", fullmatch=True),
    st.from_regex(r"\+44 7[0-9]{3} [0-9]{6}", fullmatch=True),
    st.from_regex(r"[0-9]{1,3} [A-Z][a-z]{3,9} (Road|Street|Avenue)", fullmatch=True),
    st.from_regex(r"[A-Z]{2}[0-9]{6}[A-D]", fullmatch=True),  # a national insurance number
    st.sampled_from(["Zoë Ødegård", "Siobhán Ní Bhriain", "Bloggs", "jo_bloggs", "Jo-Bloggs"]),
)
KNOWN_WORDS = {*CONTRACT_KEYS, *(v for values in ENUMS.values() for v in values), *COUNTRY_CODES}


BREACH = {"type": "breach_assessed", "actor": "staff:dpo", "breach": "INC-1", "risk": "high"}
EXTENDED = {"type": "request_extended", "actor": "staff:dpo", "request": "R-1",
            "subject": "cust-1", "reason": "busy"}  # fmt: skip


def _dump(value: Any) -> bytes:
    return orjson.dumps(value)


def _malformed(base: dict[str, Any], s: str) -> list[bytes]:
    """Lines that are each refused, with *s* as a key or a value in a place that breaks the
    contract (or JSON itself)."""
    body = _dump(base)[1:-1]
    key = _dump(s)
    subject_event = {k: v for k, v in base.items() if k != "data"}
    return [
        b'{"x":1,' + key + b":1," + key + b":2}",
        b'{"type":"accessed",' + key + b':"a",' + key + b':"b"}',
        b"{" + body + b',"data":{"user.name":{' + key + b":1," + key + b":2}}}",
        b"{" + body + b"," + key + b':"x"}',
        b"{" + key + b":1," + body + b"}",
        _dump({**base, "data": {s: "value"}}),
        _dump({**base, "data": {"user.name": "Jo", s: "value"}}),
        _dump({**base, "basis": s}),
        _dump({**base, "location": s}),
        _dump({**base, "at": s}),
        _dump({**base, "retention": s}),
        _dump({**base, "type": s}),
        _dump({**base, "purpose": s}),
        _dump({**base, "categories": [s]}),
        _dump({**base, "categories": [s, s]}),
        _dump({**subject_event, "subject": s + "@example.com"}),
        _dump({**subject_event, "subject": " " + s}),
        _dump({**subject_event, "subject": s * 300}),
        _dump({**base, "source": s + "\t"}),
        _dump({**BREACH, "at": base["at"], "subjects_estimate": s}),
        _dump({**EXTENDED, "at": base["at"], "due": s}),
        b'{"type": "accessed", ' + key + b": ",
        b"{" + body + b"," + key + b":NaN}",
    ]


def test_no_refusal_repeats_a_personal_looking_key_or_value(
    tmp_path: Path, config_path: Path, story: list[dict[str, Any]]
) -> None:
    base = next(e for e in story if e["type"] == "collected" and "data" in e)
    placeholder = "\x01"  # never in any message: what every message says with nothing personal
    runner = Cli(tmp_path, config_path)
    assert runner("init").exit_code == 0
    with Ledger.open(runner.db, tmp_path / "keys", config=config_path) as ledger:
        before = ledger.size

        def messages(line: bytes) -> str:
            """The exception's text and the command's output, for one refused line."""
            with pytest.raises(InvalidEvent) as caught:
                import_lines(ledger, [line])
            result = runner("import", "-", input=line + b"\n")
            _refused(result, "error: line 1")
            return f"{caught.value}\n{result.stdout}{result.stderr}"

        # What every message says with nothing personal in it: its own words may be skipped.
        neutral = [messages(line) for line in _malformed(base, placeholder)]

        @settings(max_examples=100, deadline=None,
                  suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
        @given(personal, st.integers(0, len(neutral) - 1))
        def check(s: str, which: int) -> None:
            if s in KNOWN_WORDS or s in neutral[which]:  # e.g. "Kingdom" in "United Kingdom"
                return
            text = messages(_malformed(base, s)[which])
            assert s not in text, (which, s, text)

        check()
        assert ledger.size == before


def test_every_template_is_refused_with_the_plain_examples(
    tmp_path: Path, config_path: Path, story: list[dict[str, Any]]
) -> None:
    """Each malformed line of the property test is refused for a fixed personal string too,
    through the API and as a real process (so the property never passes by accident)."""
    base = next(e for e in story if e["type"] == "collected" and "data" in e)
    runner = Cli(tmp_path, config_path)
    assert runner("init").exit_code == 0
    lines = _malformed(base, "Jo Bloggs")
    with tempfile.NamedTemporaryFile(dir=tmp_path, suffix=".jsonl", delete=False) as handle:
        handle.write(b"\n".join(lines) + b"\n")
    with Ledger.open(runner.db, tmp_path / "keys", config=config_path) as ledger:
        for line in lines:
            with pytest.raises(InvalidEvent) as caught:
                import_lines(ledger, [line])
            assert "Jo Bloggs" not in str(caught.value), str(caught.value)
    done = subprocess.run(
        [*_installed(), *runner.base, "import", handle.name], capture_output=True, timeout=120
    )
    assert done.returncode == 2 and done.stderr.startswith(b"error: line 1")
    assert b"Jo Bloggs" not in done.stderr + done.stdout
