"""The declaration commands: record the declared processing, and show the one in force."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ledger.declaration import Declaration

from ._projections import rfc3339
from .main import Settings, cli, pass_settings
from .questions import _checked, _json, _projections, _table, _when, as_of_option, json_option


@cli.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@pass_settings
def declare(settings: Settings, file: Path) -> None:
    """Record the declared processing, in force from now on.

    FILE is TOML. Per purpose (a data-use key): the lawful bases, the categories, the
    subject categories, where the data is stored, the retention per category and the
    recipients; and the notice versions it matches (see docs/findings.md). Checked like
    events; a refusal names the line and key, and nothing is written. Declaring again
    what is in force records nothing.

    Example:

    \b
        ledger declare declaration.toml
    """
    with settings.open() as ledger:
        receipt = ledger.declare_file(file)
        found = next(d for d in reversed(ledger.declarations()) if d.seq == receipt.sequence)
    unchanged = "" if receipt.recorded else " (unchanged: already in force, nothing recorded)"
    count = len(found.content["purposes"])
    click.echo(
        f"declared: {count} purpose{'' if count == 1 else 's'}, digest {found.digest}, in "
        f"force from {rfc3339(found.at)} (sequence {found.seq}){unchanged}"
    )


@cli.command()
@as_of_option
@json_option
@pass_settings
def declaration(settings: Settings, as_of: str | None, as_json: bool) -> None:
    """Show the declaration in force (at --as-of).

    The latest recorded at or before --as-of (a declaration is in force from the time it
    is recorded, never backdated): its sequence, recorded time and digest, then a row per
    purpose: bases, categories,
    subject categories, locations, retention and recipients.

    Example:

    \b
        ledger declaration
        ledger declaration --as-of 2026-06-01 --json
    """
    with _projections(settings) as p:
        when = _when(as_of, p.ledger)
        found = p.declaration(as_of=when)
    _checked(p)
    if as_json:
        return _json(found)
    if found is None:
        click.echo(f"no declaration in force at {when or 'now'}")
        return
    _show(found)


def _show(found: Declaration) -> None:
    content: dict[str, Any] = found.content
    click.echo(
        f"declaration in force: sequence {found.seq}, recorded {rfc3339(found.at)}, "
        f"digest {found.digest}"
    )
    click.echo(f"notices: {', '.join(content.get('notices', [])) or '-'}")
    rows = []
    for purpose, declared in content.get("purposes", {}).items():
        retention = ", ".join(f"{c} {d}" for c, d in declared.get("retention", {}).items())
        recipients = "; ".join(
            f"{r['id']} ({r['country']}{', ' + r['transfer'] if r.get('transfer') else ''}): "
            + ", ".join(r["categories"])
            for r in declared.get("recipients", [])
        )
        rows.append([
            purpose, ", ".join(declared.get("bases", [])),
            ", ".join(declared.get("categories", [])),
            ", ".join(declared.get("subject_categories", [])) or "-",
            ", ".join(declared.get("locations", [])) or "-", retention or "-", recipients or "-",
        ])  # fmt: skip
    _table(["purpose", "bases", "categories", "subjects", "locations", "retention",
            "recipients"], rows)  # fmt: skip
