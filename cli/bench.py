"""`ledger bench`: the ledger measured against plain eventsourcing and hashlib, in one run."""

from __future__ import annotations

from pathlib import Path

import click
import orjson

from ledger.files import check_output, write_private

from .main import cli


@cli.command()
@click.option(
    "--events",
    "sizes",
    type=int,
    multiple=True,
    help="Ledger sizes to measure (repeatable; default 10,000 and 100,000).",
)
@click.option(
    "--json",
    "json_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also write the figures as JSON.",
)
@click.option("--no-proofs", is_flag=True, help="Skip the proof timings.")
def bench(sizes: tuple[int, ...], json_file: Path | None, no_proofs: bool) -> None:
    """Measure the ledger against plain eventsourcing.

    Appends, verification (against eventsourcing reading back and hashlib over the same bytes),
    its peak memory, proofs, projection rebuild and the as-of inventory, for each size, with
    each ratio measured in the same run.

    Example:

    \b
        ledger bench --events 10000
        ledger bench --events 10000 --events 100000 --json figures.json
    """
    from ._projections import bench as benchmark

    if json_file is not None:
        check_output(json_file)  # refused before the measurements, not after
    runs = [benchmark.measure(n, proofs=not no_proofs) for n in (sizes or (10_000, 100_000))]
    click.echo(benchmark.table(runs))
    if json_file is not None:
        figures = orjson.dumps([r.to_dict() for r in runs], option=orjson.OPT_INDENT_2)
        write_private(json_file, figures)
