"""The checkpoint signing key: Ed25519, kept in its own folder, apart from the encryption keys."""

from __future__ import annotations

import contextlib
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

from ledger.errors import ConfigError, KeyUnavailable, StoreExists
from ledger.log.checkpoint import verifier_key

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


def check_signing_folder(folder: Path) -> None:
    """Refuse, before anything is written, a signing folder that cannot be created or written
    (so that ``init`` fails before it makes a store it would then have to take back)."""
    if (folder / PRIVATE_FILE).exists():
        raise StoreExists(f"a signing key already exists in {folder}: refusing to overwrite it")
    probe = folder
    while not probe.exists():
        if probe.is_symlink() or probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(
            f"the signing folder {folder} cannot be written: choose another --signing"
        )


def create_signer(folder: Path, name: str) -> Signer:
    """A new signing key in *folder* (owner-only), with its verifier key beside it; on any
    failure, nothing it wrote is left behind."""
    check_signing_folder(folder)
    made_folder = not folder.exists()
    written: list[Path] = []
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        signer = Signer(name, Ed25519PrivateKey.generate())
        written.append(folder / PRIVATE_FILE)
        _write_private(folder / PRIVATE_FILE, signer)
        for file, text in ((NAME_FILE, name), (PUBLIC_FILE, signer.verifier_key)):
            written.append(folder / file)
            (folder / file).write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        for path in written:
            with contextlib.suppress(OSError):
                path.unlink()
        if made_folder:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise ConfigError(
            f"cannot write the signing key in {folder}: {exc.strerror or exc}"
        ) from None
    return signer


def _write_private(path: Path, signer: Signer) -> None:
    """The private key in PEM, created owner-only (never overwriting), on disk when it returns."""
    pem = signer.private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
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
