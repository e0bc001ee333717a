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
NEXT_FILE = "signing.key.next"  # a rotation's new key, until its co-signed checkpoint is stored
RETIRED = "retired"  # the verifier keys of rotated-out signing keys (public: nothing secret)
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
    signer = Signer(name, Ed25519PrivateKey.generate())
    _write_private(folder / PRIVATE_FILE, signer)
    (folder / NAME_FILE).write_text(name + "\n", encoding="utf-8")
    (folder / PUBLIC_FILE).write_text(signer.verifier_key + "\n", encoding="utf-8")
    return signer


def _write_private(path: Path, signer: Signer) -> None:
    """The private key in PEM, created owner-only (never overwriting), on disk when it returns."""
    pem = signer.private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())


def _load_private(path: Path, folder: Path) -> Ed25519PrivateKey:
    private = load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(private, Ed25519PrivateKey):
        raise KeyUnavailable(f"the signing key in {folder} is not an Ed25519 key")
    return private


def next_signer(folder: Path) -> Signer:
    """The successor key of a rotation: the one an interrupted rotation left, or a new one
    (written owner-only beside the current key before anything is signed with it)."""
    current = load_signer(folder)
    path = folder / NEXT_FILE
    if path.exists():
        return Signer(current.name, _load_private(path, folder))
    successor = Signer(current.name, Ed25519PrivateKey.generate())
    _write_private(path, successor)
    return successor


def retire_signer(folder: Path, old: Signer) -> Signer:
    """Make the successor the signing key: the old private key is removed (its verifier key
    is kept under ``retired/``, for checking older checkpoints)."""
    retired = folder / RETIRED
    retired.mkdir(mode=0o700, exist_ok=True)
    key_id = old.verifier_key.split("+")[1]
    (retired / f"{key_id}.vkey").write_text(old.verifier_key + "\n", encoding="utf-8")
    os.replace(folder / NEXT_FILE, folder / PRIVATE_FILE)  # atomic: one key is current
    new = load_signer(folder)
    (folder / PUBLIC_FILE).write_text(new.verifier_key + "\n", encoding="utf-8")
    return new


def load_signer(folder: Path) -> Signer:
    """The signing key in *folder*; KeyUnavailable naming what is missing."""
    try:
        name = (folder / NAME_FILE).read_text(encoding="utf-8").strip()
        private = _load_private(folder / PRIVATE_FILE, folder)
    except FileNotFoundError:
        raise KeyUnavailable(
            f"no signing key in {folder}: run `ledger init`, or point --signing-key at it"
        ) from None
    return Signer(name, private)
