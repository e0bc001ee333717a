"""The auditor's commands on a store: signed checkpoints and RFC 9162 proofs."""

from __future__ import annotations

import base64

import click
import orjson

from .main import Settings, cli, pass_settings


@cli.command()
@pass_settings
def checkpoint(settings: Settings) -> None:
    """Sign a checkpoint of the ledger as it is now.

    The checkpoint (a C2SP tlog-checkpoint: origin, size, root) is stored and printed. The
    store is checked first, against the newest stored checkpoint that verifies (or, with
    none, the whole chain): over a store that does not verify nothing is signed (exit 1).

    Example:

    \b
        ledger checkpoint > today.note
        ledger verify --checkpoint today.note --key ledger.vkey
    """
    with settings.open() as ledger:
        note = settings.log(ledger).checkpoint(settings.signer())
    click.echo(note, nl=False)


@cli.group()
def prove() -> None:
    """RFC 9162 inclusion and consistency proofs.

    Against the latest stored checkpoint that verifies, unless a size is given.

    Example:

    \b
        ledger prove inclusion 1042 --json
        ledger prove consistency 5000 --json
    """


def _print_proof(proof: dict[str, object], as_json: bool) -> None:
    if as_json:
        click.echo(orjson.dumps(proof, option=orjson.OPT_INDENT_2).decode())
        return
    for key, value in proof.items():
        if isinstance(value, list):
            click.echo(f"{key}:")
            for item in value:
                click.echo(f"  {base64.b64decode(str(item)).hex()}")
        elif key in ("root", "root1", "root2", "leafHash"):
            click.echo(f"{key}: {base64.b64decode(str(value)).hex()}")
        else:
            click.echo(f"{key}: {value}")


@prove.command()
@click.argument("sequence", type=int)
@click.option(
    "--size",
    type=int,
    default=None,
    help="Tree size (default: the latest checkpoint that verifies).",
)
@click.option("--json", "as_json", is_flag=True, help="JSON as in the RFC 6962 test vectors.")
@pass_settings
def inclusion(settings: Settings, sequence: int, size: int | None, as_json: bool) -> None:
    """Prove that event SEQUENCE is in the log.

    Example:

    \b
        ledger prove inclusion 1042
        ledger prove inclusion 1042 --size 5000 --json
    """
    with settings.open(read_only=True) as ledger:
        proof = settings.log(ledger).prove_inclusion(sequence, size)
    _print_proof(proof, as_json)


@prove.command()
@click.argument("old_size", type=int)
@click.argument("new_size", type=int, required=False)
@click.option("--json", "as_json", is_flag=True, help="JSON as in the RFC 6962 test vectors.")
@pass_settings
def consistency(settings: Settings, old_size: int, new_size: int | None, as_json: bool) -> None:
    """Prove that the log at NEW_SIZE extends the log at OLD_SIZE.

    NEW_SIZE defaults to the size of the latest checkpoint that verifies.

    Example:

    \b
        ledger prove consistency 5000
        ledger prove consistency 5000 6000 --json
    """
    with settings.open(read_only=True) as ledger:
        proof = settings.log(ledger).prove_consistency(old_size, new_size)
    _print_proof(proof, as_json)
