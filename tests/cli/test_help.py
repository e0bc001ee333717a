"""Every command documents itself: help whose summary is a whole sentence, and an "Example:"
block of commands that name it and only options it has (sqlite-utils' test_docs, for us)."""

from __future__ import annotations

import inspect
import shlex

import click
import pytest
from click.testing import CliRunner

from ledger.cli.main import cli

Path_ = tuple[str, ...]


def _walk(command: click.Command, path: Path_) -> list[tuple[Path_, click.Command]]:
    found = [(path, command)]
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            found += _walk(command.commands[name], (*path, name))
    return found


COMMANDS = _walk(cli, ("ledger",))
GROUPS = [(path, command) for path, command in COMMANDS if isinstance(command, click.Group)]


def _examples(command: click.Command) -> list[str]:
    """The command lines of the help's "Example:" block (continued lines joined)."""
    text = inspect.cleandoc(command.help or "")
    _, found, block = text.partition("\nExample:\n")
    assert found, "no Example: block"
    paragraph = block.strip("\n").split("\n\n")[0].split("\n")
    assert paragraph[0].strip() == "\b", "the example is not a \\b paragraph: click rewraps it"
    lines: list[str] = []
    for line in (raw.strip() for raw in paragraph[1:]):
        if lines and lines[-1].endswith("\\"):
            lines[-1] = lines[-1][:-1] + line
        else:
            lines.append(line)
    return lines


def _options(command: click.Command) -> set[str]:
    return {name for param in command.params for name in getattr(param, "opts", [])} | {"--help"}


def test_every_command_is_found() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert len(COMMANDS) >= 30
    assert {"ledger verify-bundle", "ledger keys rotate-signing", "ledger prove inclusion",
            "ledger projections status", "ledger bench", "ledger report"} <= names  # fmt: skip


@pytest.mark.parametrize(
    "path, command", COMMANDS, ids=lambda v: " ".join(v) if isinstance(v, tuple) else ""
)
def test_every_command_has_help_with_an_example(path: Path_, command: click.Command) -> None:
    assert command.help and command.help.strip(), " ".join(path)
    assert _examples(command), " ".join(path)


@pytest.mark.parametrize(
    "path, command", COMMANDS, ids=lambda v: " ".join(v) if isinstance(v, tuple) else ""
)
def test_every_example_names_its_command_and_only_options_it_has(
    path: Path_, command: click.Command
) -> None:
    # the first line is about the command itself; the next may show the commands it goes with
    lines = _examples(command)
    assert _resolve(lines[0])[: len(path) - 1] == path[1:], f"{lines[0]!r} is not about {path}"
    for line in lines[1:]:
        _resolve(line)


def _resolve(line: str) -> Path_:
    """The command path an example line runs; every option it gives must exist there."""
    words = shlex.split(line)
    for stop in (">", "<", "|"):  # a shell redirection or pipe ends the command
        words = words[: words.index(stop)] if stop in words else words
    assert words[0] == "ledger", line
    rest, at = words[1:], cli
    while rest and rest[0].startswith("--"):  # the global options, before the command
        assert rest[0] in _options(cli), line
        flag = any(
            p.is_flag for p in cli.params if isinstance(p, click.Option) and rest[0] in p.opts
        )
        rest = rest[1:] if flag else rest[2:]
    named: list[str] = []
    while isinstance(at, click.Group) and rest and rest[0] in at.commands:
        at = at.commands[rest[0]]
        named.append(rest.pop(0))
    assert named, f"{line!r} names no command"
    for word in rest:
        if word.startswith("-") and word != "-":
            assert word in _options(at), f"{line!r}: {word} is not an option of {named}"
    return tuple(named)


@pytest.mark.parametrize(
    "path, group", GROUPS, ids=lambda v: " ".join(v) if isinstance(v, tuple) else ""
)
def test_no_command_summary_is_cut_mid_sentence(path: Path_, group: click.Group) -> None:
    shown = CliRunner().invoke(cli, [*path[1:], "--help"], terminal_width=80)
    assert shown.exit_code == 0, shown.output
    listing = shown.stdout.split("\nCommands:\n")[1]
    assert "..." not in listing, listing
    for name, command in group.commands.items():
        summary = command.get_short_help_str(limit=1_000)
        assert summary.endswith("."), (name, summary)
        assert summary in " ".join(listing.split()), (name, summary)  # whole, maybe wrapped


@pytest.mark.parametrize(
    "path, command", COMMANDS, ids=lambda v: " ".join(v) if isinstance(v, tuple) else ""
)
def test_the_examples_are_shown_as_written(path: Path_, command: click.Command) -> None:
    shown = CliRunner().invoke(cli, [*path[1:], "--help"], terminal_width=80)
    assert shown.exit_code == 0, shown.output
    assert "\n  Example:\n" in shown.stdout
    shown_lines = {line.strip() for line in shown.stdout.splitlines()}
    for raw in inspect.cleandoc(command.help or "").partition("\nExample:\n")[2].split("\n")[2:]:
        if raw.strip():  # each line on a line of its own: not rewrapped into one paragraph
            assert raw.strip() in shown_lines, raw
