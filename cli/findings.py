"""`ledger findings`: where the ledger disagrees with the declaration in force, or with a
subject's choice (../shared/FINDINGS.md)."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import click

from ._projections import rfc3339
from .main import Settings, cli, pass_settings
from .questions import _checked, _json, _projections, _table, _when, as_of_option, json_option

if TYPE_CHECKING:  # the source tree's name for ledger.projections (see _projections)
    from projections.findings import KINDS
else:
    from ledger.projections.findings import KINDS


@cli.command()
@as_of_option
@click.option("--kind", default=None, type=click.Choice(KINDS), help="Only findings of this kind.")
@click.option("--subject", default=None, help="Only this subject.")
@json_option
@pass_settings
def findings(
    settings: Settings, as_of: str | None, kind: str | None, subject: str | None, as_json: bool
) -> None:
    """Processing against the declaration or a choice.

    Counts per kind first, then each finding newest first with the events that show it
    (their sequences): processing after a consent withdrawn or an objection, consent claimed
    and not in force, restricted data processed (Art. 18), a purpose, category, basis,
    recipient or location the declaration in force does not have, storage abroad with no
    transfer mechanism, data held past its retention, recipients not told of a change within
    30 days (Art. 19). Derived from the chain for now or any moment, never stored.

    Example:

    \b
        ledger findings
        ledger findings --kind processing_after_withdrawal --subject cust-1042 --json
    """
    with _projections(settings) as p:
        found = p.findings(as_of=_when(as_of, p.ledger), kind=kind, subject=subject)
    _checked(p)
    if as_json:
        return _json(list(found))
    counts = Counter(f.kind for f in found)
    for name in KINDS:
        if counts[name]:
            click.echo(f"{name}: {counts[name]}")
    click.echo(f"findings: {len(found)}")
    if found.not_judged is not None:
        n = found.not_judged
        click.echo(
            f"no declaration in force for {n.events} processing events (seq {n.first} to "
            f"{n.last}): undeclared kinds and basis_mismatch not judged for them"
        )
    _table(
        ["kind", "at", "subject", "purpose", "category", "recipient/country", "sequences",
         "detail"],
        [[f.kind, rfc3339(f.at), f.subject or "-", f.purpose or "-", f.category or "-",
          " ".join(x for x in (f.recipient, f.country) if x) or "-",
          ",".join(map(str, f.sequences)), f.detail] for f in found],
    )  # fmt: skip
