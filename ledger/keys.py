"""Where the key-encryption key comes from: a keys folder, an environment variable, or a KMS.

A :class:`KeySource` wraps and unwraps data keys and authenticates the store's
head; nothing else ever sees the key-encryption key. The local source keeps a
random 256-bit key in a file readable by its owner only (or takes it from
``LEDGER_KEK``); a KMS-backed source implements the same three calls remotely.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from ledger.crypto import KEY_BYTES, aead_open, aead_seal, new_key
from ledger.errors import KeyUnavailable, StoreExists

KEK_FILE = "kek.key"
SEAL_FILE = "seal.key"
ENV_KEK = "LEDGER_KEK"
ENV_SEAL = "LEDGER_SEAL_KEY"


class KeySource(Protocol):
    """The key-encryption key's three uses; the key itself never leaves the source."""

    @property
    def kek_id(self) -> str:
        """A public fingerprint that tells which key-encryption key this is."""
        ...

    def wrap(self, data_key: bytes, aad: bytes) -> bytes:
        """Encrypt a data key, bound to *aad*."""
        ...

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes:
        """Decrypt a wrapped data key; KeyUnavailable if it is not this source's."""
        ...

    def mac(self, message: bytes) -> bytes:
        """A MAC over *message* that only the key holder can compute (seals rows and the head)."""
        ...


class LocalKeySource:
    """A key-encryption key and a seal key held in this process (from files or the environment).

    The seal key is apart from the key-encryption key so that rotating the latter
    leaves every stored seal valid.
    """

    def __init__(self, kek: bytes, seal_key: bytes, *, origin: str) -> None:
        if len(kek) != KEY_BYTES or len(seal_key) != KEY_BYTES:
            raise KeyUnavailable(f"the keys from {origin} are not 32 bytes each")
        self._kek = kek
        self.origin = origin
        self._kek_id = hashlib.sha256(b"ledger-kek-id/v1\x00" + kek).hexdigest()[:16]
        self._seal_id = hashlib.sha256(b"ledger-seal-id/v1\x00" + seal_key).hexdigest()[:16]
        self._mac_key = seal_key

    def seal_key_bytes(self) -> bytes:
        """The seal key itself, to carry over into a rotated source (never logged)."""
        return self._mac_key

    @property
    def seal_id(self) -> str:
        """A public fingerprint of the seal key."""
        return self._seal_id

    @property
    def kek_id(self) -> str:
        return self._kek_id

    def wrap(self, data_key: bytes, aad: bytes) -> bytes:
        return aead_seal(self._kek, data_key, aad)

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes:
        return aead_open(self._kek, wrapped, aad)

    def mac(self, message: bytes) -> bytes:
        return hmac.digest(self._mac_key, message, "sha256")  # one-shot, in C

    def __repr__(self) -> str:  # never show key material
        return f"LocalKeySource(kek_id={self._kek_id!r}, origin={self.origin!r})"


def _decode(text: str, origin: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyUnavailable(f"the key-encryption key in {origin} is not valid base64") from None


def _write_secret(path: Path, key: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.b64encode(key).decode("ascii") + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def create_keys(folder: Path) -> LocalKeySource:
    """Create a keys folder with a fresh key-encryption key and seal key; never overwrite."""
    for name in (KEK_FILE, SEAL_FILE):
        if (folder / name).exists():
            raise StoreExists(f"keys already exist in {folder}: refusing to overwrite them")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    kek, seal_key = new_key(), new_key()
    _write_secret(folder / KEK_FILE, kek)
    _write_secret(folder / SEAL_FILE, seal_key)
    return LocalKeySource(kek, seal_key, origin=str(folder))


NEXT_KEK_FILE = "kek.key.next"


def prepare_rotation(folder: Path, current: LocalKeySource) -> LocalKeySource:
    """A fresh key-encryption key written beside the current one (kek.key.next), with the same
    seal key; it replaces kek.key only once the store has re-wrapped every data key."""
    path = folder / NEXT_KEK_FILE
    path.unlink(missing_ok=True)  # an unfinished earlier rotation that never committed
    kek = new_key()
    _write_secret(path, kek)
    return LocalKeySource(kek, current.seal_key_bytes(), origin=str(folder))


def finish_rotation(folder: Path) -> None:
    """Make kek.key.next the key-encryption key; the old one is gone."""
    os.replace(folder / NEXT_KEK_FILE, folder / KEK_FILE)


def pending_rotation(folder: Path, wanted_kek_id: str) -> LocalKeySource | None:
    """The rotated key, if a rotation committed in the store but not yet in the folder."""
    path = folder / NEXT_KEK_FILE
    if not path.exists():
        return None
    current = load_keys(folder, env={})
    rotated = LocalKeySource(_read_secret(path), current.seal_key_bytes(), origin=str(folder))
    if rotated.kek_id != wanted_kek_id:
        return None
    finish_rotation(folder)
    return rotated


def _read_secret(path: Path) -> bytes:
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise KeyUnavailable(
            f"no key at {path}: run `ledger init`, or point --keys (LEDGER_KEYS) at the keys folder"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyUnavailable(f"cannot read {path}: {type(exc).__name__}") from None
    return _decode(text, str(path))


def load_keys(folder: Path | None, env: Mapping[str, str] | None = None) -> LocalKeySource:
    """The key source from ``LEDGER_KEK`` and ``LEDGER_SEAL_KEY`` if set, else the keys folder."""
    environ = os.environ if env is None else env
    if environ.get(ENV_KEK) or environ.get(ENV_SEAL):
        missing = [name for name in (ENV_KEK, ENV_SEAL) if not environ.get(name)]
        if missing:
            raise KeyUnavailable(f"{missing[0]} is not set: keys from the environment need both")
        return LocalKeySource(
            _decode(environ[ENV_KEK], ENV_KEK),
            _decode(environ[ENV_SEAL], ENV_SEAL),
            origin="the environment",
        )
    if folder is None:
        raise KeyUnavailable(f"no keys: give a keys folder or set {ENV_KEK} and {ENV_SEAL}")
    return LocalKeySource(
        _read_secret(folder / KEK_FILE), _read_secret(folder / SEAL_FILE), origin=str(folder)
    )
