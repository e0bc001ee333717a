"""`ledger verify-bundle`: the auditor's offline check of an evidence bundle, no store needed.

The bundle itself is written by ``ledger export --bundle``.
"""

from __future__ import annotations

from pathlib import Path

import click
import orjson

from ledger.log.verifier import verify_bundle
from ledger.transparency import read_verifier

from .exit_codes import INTEGRITY
from .main import cli


@cli.command(name="verify-bundle")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--key", "key_file", required=True,
              type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="The verifier key the checkpoints must be signed with.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify_bundle_command(folder: Path, key_file: Path, as_json: bool) -> None:
    """Check an evidence bundle offline.

    Nothing is needed but the bundle and the verifier key: no store, no encryption keys.
    Re-links the chain of its events, recomputes the Merkle root at each checkpoint and checks
    each checkpoint's signature (following signing-key handovers recorded on the ledger).
    Exit 1 if the bundle is not intact, naming the first bad position.

    Example:

    \b
        ledger verify-bundle evidence --key ledger.vkey
        ledger verify-bundle evidence --key ledger.vkey --json
        ledger export --bundle evidence
    """
    report = verify_bundle(folder, read_verifier(key_file))
    if as_json:
        click.echo(orjson.dumps(report.__dict__).decode())
    elif report.intact:
        click.echo(f"intact: {report.events} events, checkpoints at {report.checkpoints}, "
                   f"root {report.root}")  # fmt: skip
    else:
        click.echo(f"NOT INTACT at {report.first_bad}: {report.reason}")
    if not report.intact:
        raise SystemExit(INTEGRITY)
