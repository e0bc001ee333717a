"""The checkpoint signing key: Ed25519, kept in its own folder, apart from the encryption keys."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from ledger.checkpoint import verifier_key
from ledger.errors import KeyUnavailable, StoreExists

DEFAULT_SIGNING = "ledger-signing"
PRIVATE_FILE = "signing.key"
PUBLIC_FILE = "verifier.key"
NAME_FILE = "name"


@dataclass(frozen=True)
class Signer:
    """A named Ed25519 signing key."""

    name: str
    private: Ed25519PrivateKey

    @property
    def verifier_key(self) -> str:
        return verifier_key(self.name, self.private.public_key())

    def __repr__(self) -> str:  # never show key material
        return f"Signer(name={self.name!r})"


def create_signer(folder: Path, name: str) -> Signer:
    """A new signing key in *folder* (owner-only), with its verifier key beside it."""
    if (folder / PRIVATE_FILE).exists():
        raise StoreExists(f"a signing key already exists in {folder}: refusing to overwrite it")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    private = Ed25519PrivateKey.generate()
    signer = Signer(name, private)
    pem = private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    fd = os.open(folder / PRIVATE_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())
    (folder / NAME_FILE).write_text(name + "\n", encoding="utf-8")
    (folder / PUBLIC_FILE).write_text(signer.verifier_key + "\n", encoding="utf-8")
    return signer


def load_signer(folder: Path) -> Signer:
    """The signing key in *folder*; KeyUnavailable naming what is missing."""
    try:
        pem = (folder / PRIVATE_FILE).read_bytes()
        name = (folder / NAME_FILE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise KeyUnavailable(
            f"no signing key in {folder}: run `ledger init`, or point --signing-key at it"
        ) from None
    private = load_pem_private_key(pem, password=None)
    if not isinstance(private, Ed25519PrivateKey):
        raise KeyUnavailable(f"the signing key in {folder} is not an Ed25519 key")
    return Signer(name, private)
