"""`ledger report`: one self-contained HTML file (integrity, breaches, requests, RoPA, consent)."""

from __future__ import annotations

from pathlib import Path

import click

from ledger.errors import LedgerError
from ledger.files import check_output, write_private

from ._projections import render_report
from .main import Settings, cli, pass_settings
from .questions import _projections, _when, as_of_option


@cli.command()
@as_of_option
@click.option("--breach", "breach_id", default=None, metavar="ID", help="Only this breach.")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False, allow_dash=True),
    default=None,
    help="Write the HTML to FILE (replacing a previous report there, readable by you only; "
    "- for stdout) instead of stdout.",
)
@pass_settings
def report(
    settings: Settings, as_of: str | None, breach_id: str | None, output: Path | None
) -> None:
    """One self-contained HTML report of the ledger.

    Integrity, breaches, requests, the record of processing, transfers and consent.
    Verification runs when the report is made, and the projection tables are compared in full
    with the chain (when they do not match, the answers come from tables rebuilt from the chain
    for the report, which says so). No personal data value is read or shown.

    Example:

    \b
        ledger report -o report.html
        ledger report --as-of 2026-06-01 --breach INC-2026-001 -o breach.html
    """
    if output is not None and str(output) == "-":
        output = None
    if output is not None:
        try:
            check_output(output)  # a symbolic link is refused before the report is made
        except OSError as exc:
            raise LedgerError(f"cannot write the report to {output}: {exc.strerror}") from None
    with _projections(settings) as p:
        html = render_report(p, as_of=_when(as_of, p.ledger), breach=breach_id)
    compared = p.last_comparison
    if compared is not None and not compared.matches:
        click.echo(
            f"warning: {compared.line()}; the report's answers were rebuilt from the chain for "
            "it (run `ledger projections rebuild`)",
            err=True,
        )
    if output is None:
        click.echo(html, nl=False)
        return
    try:
        write_private(output, html)  # 0600: the report names subjects (pseudonymous ids)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise LedgerError(f"cannot write the report to {output}: {reason}") from None
    click.echo(f"wrote the report to {output}", err=True)
