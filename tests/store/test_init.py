"""`init` refuses bad input before writing anything, and leaves nothing behind when it fails."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ledger.cli.main import cli


def _args(store_url: str, tmp_path: Path, signing: Path | None = None) -> list[str]:
    return ["--db", store_url, "--keys", str(tmp_path / "keys"),
            "--signing-key", str(signing or tmp_path / "signing")]  # fmt: skip


def _nothing_made(store_url: str, tmp_path: Path) -> None:
    assert not (tmp_path / "keys").exists()
    assert not (tmp_path / "signing" / "signing.key").exists()
    if store_url.startswith("sqlite"):
        db = Path(store_url.removeprefix("sqlite:///"))
        assert not any(Path(f"{db}{s}").exists() for s in ("", "-wal", "-shm", "-journal"))
    else:
        from ledger.store import open_store

        store = open_store(store_url)
        try:
            assert not store.exists()
        finally:
            store.close()


@pytest.mark.parametrize(
    "origin", ["has space", "a+b", "x" * 201, "tab\there", "é-accent", ""], ids=repr
)
def test_a_bad_origin_is_refused_before_anything_is_written(
    store_url: str, tmp_path: Path, origin: str
) -> None:
    result = CliRunner().invoke(cli, [*_args(store_url, tmp_path), "init", "--origin", origin])
    assert result.exit_code == 2, result.output
    assert "the origin must be" in result.stderr
    _nothing_made(store_url, tmp_path)
    retry = CliRunner().invoke(cli, [*_args(store_url, tmp_path), "init", "--origin", "ok/1"])
    assert retry.exit_code == 0, retry.output


def test_a_signing_folder_that_cannot_be_written_is_refused_first(
    store_url: str, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(cli, [*_args(store_url, tmp_path, blocker / "signing"), "init"])
    assert result.exit_code == 2, result.output
    assert "cannot be written" in result.stderr
    _nothing_made(store_url, tmp_path)


def test_a_signing_key_that_fails_half_way_takes_the_new_store_and_keys_back(
    store_url: str, tmp_path: Path
) -> None:
    signing = tmp_path / "signing"
    (signing / "name").mkdir(parents=True)  # writing the key's name file fails
    result = subprocess.run(
        [sys.executable, "-m", "ledger.cli", *_args(store_url, tmp_path), "init"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith("error: cannot write the signing key")
    assert len(result.stderr.strip().splitlines()) == 1
    _nothing_made(store_url, tmp_path)
    assert sorted(p.name for p in signing.iterdir()) == ["name"]  # its own files removed
    (signing / "name").rmdir()
    retry = CliRunner().invoke(cli, [*_args(store_url, tmp_path), "init"])
    assert retry.exit_code == 0, retry.output
    assert "already exists" not in retry.output


def test_init_never_overwrites_an_existing_signing_key(store_url: str, tmp_path: Path) -> None:
    assert CliRunner().invoke(cli, [*_args(store_url, tmp_path), "init"]).exit_code == 0
    key = (tmp_path / "signing" / "signing.key").read_bytes()
    other = f"sqlite:///{tmp_path / 'other.db'}"
    args = ["--db", other, "--keys", str(tmp_path / "keys2"), "--signing-key"]
    again = CliRunner().invoke(cli, [*args, str(tmp_path / "signing"), "init"])
    assert again.exit_code == 2 and "refusing to overwrite" in again.stderr
    assert (tmp_path / "signing" / "signing.key").read_bytes() == key
    assert not (tmp_path / "other.db").exists() and not (tmp_path / "keys2").exists()


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_the_sqlite_store_and_its_wal_are_owner_only_under_any_umask(
    tmp_path: Path, umask: int
) -> None:
    db = tmp_path / "ledger.db"
    script = (
        "import os, sys; os.umask(int(sys.argv[1]));"
        "from ledger.cli.main import main; sys.argv = ['ledger', *sys.argv[2:]]; main()"
    )
    args = ["--db", f"sqlite:///{db}", "--keys", str(tmp_path / "keys"),
            "--signing-key", str(tmp_path / "signing")]  # fmt: skip
    for command in (["init"], ["status"]):
        result = subprocess.run([sys.executable, "-c", script, str(umask), *args, *command],
                                capture_output=True, text=True, timeout=120)  # fmt: skip
        assert result.returncode == 0, result.stderr
    files = [p for p in tmp_path.glob("ledger.db*")]
    assert db in files
    for path in files:
        assert path.stat().st_mode & 0o077 == 0, f"{path.name} is readable by others"
    for path in (tmp_path / "keys").iterdir():
        assert path.stat().st_mode & 0o777 == 0o600
