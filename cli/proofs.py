"""The auditor's commands: checkpoints, the verifier key, proofs, and offline bundles."""

from __future__ import annotations

import base64
from pathlib import Path

import click
import orjson

from ledger.api import Ledger
from ledger.files import check_output, write_private
from ledger.log.verifier import verify_bundle
from ledger.transparency import VerifiableLog, read_verifier, signing_verifiers

from .exit_codes import INTEGRITY
from .main import Settings, cli, pass_settings


def _log(ledger: Ledger, settings: Settings) -> VerifiableLog:
    """The verifiable log, with the signing folder's verifier keys (its own and the retired
    ones) to check stored checkpoints under, besides the keys recorded on the ledger."""
    return VerifiableLog(ledger, signing_verifiers(settings.signing))


@cli.command()
@pass_settings
def checkpoint(settings: Settings) -> None:
    """Sign a checkpoint of the ledger as it is now (C2SP tlog-checkpoint), store and print it.

    The store is checked first, against the newest stored checkpoint that verifies (or, with
    none, the whole chain): over a store that does not verify nothing is signed (exit 1)."""
    with settings.open() as ledger:
        note = _log(ledger, settings).checkpoint(settings.signer())
    click.echo(note, nl=False)


@cli.group()
def keys() -> None:
    """The ledger's public keys."""


@keys.command()
@pass_settings
def public(settings: Settings) -> None:
    """Print the verifier key (C2SP note format: name+keyid+base64) for auditors."""
    click.echo(settings.signer().verifier_key)


@keys.command()
@pass_settings
def rotate(settings: Settings) -> None:
    """Give every bucket a new key-encryption key, re-wrap every data key under it and destroy
    the old ones; events, chain and checkpoints are unchanged, every value stays readable, and
    writers in other processes pick up the new keys at their next write."""
    with settings.open() as ledger:
        buckets, count = ledger.rotate_keys()
    click.echo(
        f"re-wrapped {count} data keys under new key-encryption keys in {buckets} buckets; "
        "the old keys are destroyed"
    )


@keys.command(name="rotate-signing")
@pass_settings
def rotate_signing(settings: Settings) -> None:
    """Replace the checkpoint signing key: old and new co-sign a checkpoint, then the old
    private key is removed (its verifier key is kept under retired/)."""
    with settings.open() as ledger:
        old, new, note = _log(ledger, settings).rotate_signing_key(settings.signing)
    click.echo(note, nl=False)
    click.echo(f"signing key rotated: {old.verifier_key} -> {new.verifier_key}", err=True)
    click.echo("give auditors the new verifier key: ledger keys public", err=True)


@cli.group()
def prove() -> None:
    """RFC 9162 proofs, against the latest stored checkpoint that verifies by default."""


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
    """Prove that event SEQUENCE is in the log."""
    with settings.open(read_only=True) as ledger:
        proof = _log(ledger, settings).prove_inclusion(sequence, size)
    _print_proof(proof, as_json)


@prove.command()
@click.argument("old_size", type=int)
@click.argument("new_size", type=int, required=False)
@click.option("--json", "as_json", is_flag=True, help="JSON as in the RFC 6962 test vectors.")
@pass_settings
def consistency(settings: Settings, old_size: int, new_size: int | None, as_json: bool) -> None:
    """Prove that the log at NEW_SIZE (default: the latest checkpoint) extends OLD_SIZE."""
    with settings.open(read_only=True) as ledger:
        proof = _log(ledger, settings).prove_consistency(old_size, new_size)
    _print_proof(proof, as_json)


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
    """Measure the ledger against plain eventsourcing and hashlib, in the same run."""
    from ._projections import bench as benchmark

    if json_file is not None:
        check_output(json_file)  # refused before the measurements, not after
    runs = [benchmark.measure(n, proofs=not no_proofs) for n in (sizes or (10_000, 100_000))]
    click.echo(benchmark.table(runs))
    if json_file is not None:
        figures = orjson.dumps([r.to_dict() for r in runs], option=orjson.OPT_INDENT_2)
        write_private(json_file, figures)


@cli.command(name="verify-bundle")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--key", "key_file", required=True,
              type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="The verifier key the checkpoints must be signed with.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True)
def verify_bundle_command(folder: Path, key_file: Path, as_json: bool) -> None:
    """Check an evidence bundle offline, with nothing but the verifier key. Exit 1 if not intact."""
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
