"""`ledger keys`: the verifier key for auditors, and rotating the keys the ledger holds."""

from __future__ import annotations

import click

from .main import Settings, cli, pass_settings


@cli.group()
def keys() -> None:
    """The verifier key, and key rotation.

    Example:

    \b
        ledger keys public > ledger.vkey
        ledger keys rotate
        ledger keys rotate-signing
    """


@keys.command()
@pass_settings
def public(settings: Settings) -> None:
    """Print the verifier key for auditors.

    The key is in the C2SP note format, name+keyid+base64: give it to whoever checks the
    ledger's checkpoints, proofs and bundles.

    Example:

    \b
        ledger keys public > ledger.vkey
    """
    click.echo(settings.signer().verifier_key)


@keys.command()
@pass_settings
def rotate(settings: Settings) -> None:
    """Give every bucket a new key-encryption key.

    Every data key is re-wrapped under the new generation in one transaction and the old
    generations are destroyed. Events, chain and checkpoints are unchanged, every value stays
    readable, and writers in other processes pick up the new keys at their next write.

    Example:

    \b
        ledger keys rotate
        ledger status
    """
    with settings.open() as ledger:
        buckets, count = ledger.rotate_keys()
    click.echo(
        f"re-wrapped {count} data keys under new key-encryption keys in {buckets} buckets; "
        "the old keys are destroyed"
    )


@keys.command(name="rotate-signing")
@pass_settings
def rotate_signing(settings: Settings) -> None:
    """Replace the checkpoint signing key.

    Old and new key co-sign a checkpoint over the handover, then the old private key is
    removed (its verifier key is kept under retired/). Run again, it finishes an interrupted
    rotation.

    Example:

    \b
        ledger keys rotate-signing > handover.note
        ledger keys public > ledger.vkey
    """
    with settings.open() as ledger:
        old, new, note = settings.log(ledger).rotate_signing_key(settings.signing)
    click.echo(note, nl=False)
    click.echo(f"signing key rotated: {old.verifier_key} -> {new.verifier_key}", err=True)
    click.echo("give auditors the new verifier key: ledger keys public", err=True)
