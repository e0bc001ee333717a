"""The key store: key-encryption keys that an erasure can really destroy.

Data keys (one per subject and category) are stored in the database only
wrapped. They are wrapped under *bucket* key-encryption keys: every subject
falls in one of a fixed number of buckets (a keyed hash of its id), and each
bucket has one current key *generation*. An erasure deletes the subject's
data keys, re-wraps the rest of its bucket under a fresh generation and then
destroys the old generation here, in the keys folder. From then on every copy
of the erased wrapped keys that the database still holds anywhere (SQLite's
WAL and free pages, PostgreSQL's dead tuples, WAL archives, replicas, backups
taken earlier) is wrapped under a key that no longer exists.

The keys folder holds two files, each readable by its owner only:

- ``seal.key``: the seal key (base64 of 32 random bytes), which seals rows and
  the head (HMAC) and places subjects in buckets;
- ``kek.slots``: the key-encryption keys, in fixed-size slots that are
  overwritten in place (no allocation, so a full disk cannot stop a
  destruction), two per bucket: the current generation, and room for the next.
  The layout is in :class:`SlotFile`.

A :class:`KeySource` is what the ledger needs of a key store; a KMS-backed
source implements the same calls (a bucket is then a KMS key, a generation a
key version, and ``retire`` schedules the version's destruction).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hashlib
import hmac
import os
import re
import stat
import struct
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Protocol

from ledger.crypto.envelope import KEY_BYTES, aead_open, aead_seal, new_key
from ledger.errors import KeyUnavailable, StoreExists

SEAL_FILE = "seal.key"
SLOTS_FILE = "kek.slots"
LEGACY_KEK_FILE = "kek.key"  # the single key-encryption key of stores before schema 2
DEFAULT_BUCKETS = 1024
MAX_BUCKETS = 1 << 16
_ENV_RETIRED = ("LEDGER_KEK", "LEDGER_SEAL_KEY")


_GENERATION_ID = re.compile(r"(0|[1-9][0-9]{0,9}):([1-9][0-9]{0,9})")


class Generation(NamedTuple):
    """One key-encryption key: a bucket and its generation number (``"17:3"`` as text)."""

    bucket: int
    number: int

    @property
    def id(self) -> str:
        return f"{self.bucket}:{self.number}"

    @classmethod
    def parse(cls, text: str) -> Generation:
        """The generation named by ``"bucket:number"``; ValueError if malformed."""
        # one spelling per generation (no leading zeros or signs): ids are matched as text
        if not isinstance(text, str) or not _GENERATION_ID.fullmatch(text):
            raise ValueError("a key-encryption key id is bucket:number")
        bucket, _, number = text.partition(":")
        return cls(int(bucket), int(number))

    def next(self) -> Generation:
        return Generation(self.bucket, self.number + 1)


class KeySource(Protocol):
    """What the ledger needs of a key store; the keys themselves never leave it."""

    @property
    def store_id(self) -> str:
        """A public id of this key store, recorded in the ledger (a wrong folder is named)."""
        ...

    @property
    def seal_id(self) -> str:
        """A public fingerprint of the seal key."""
        ...

    @property
    def buckets(self) -> int:
        """How many buckets subjects are spread over (fixed when the store is made)."""
        ...

    def bucket(self, subject: str) -> int:
        """The bucket of *subject* (a keyed hash: stable, and unpredictable without the keys)."""
        ...

    def holds(self, generation: Generation) -> bool:
        """Whether this store holds *generation* (re-reading it once if not)."""
        ...

    def generations(self) -> list[Generation]:
        """Every generation the store holds now."""
        ...

    def wrap(self, generation: Generation, data_key: bytes, aad: bytes) -> bytes:
        """Encrypt a data key under *generation*, bound to *aad*."""
        ...

    def unwrap(self, generation: Generation, wrapped: bytes, aad: bytes) -> bytes:
        """Decrypt a wrapped data key; KeyUnavailable if the generation is gone or wrong."""
        ...

    def stage(self, generations: Sequence[Generation]) -> None:
        """Make fresh keys for *generations* (each the successor of its bucket's current one),
        durably, before anything is wrapped under them."""
        ...

    def retire(self, generations: Iterable[Generation]) -> None:
        """Destroy *generations*, durably; KeyUnavailable if that cannot be done now."""
        ...

    def refresh(self) -> None:
        """Re-read the store: another process may have staged or retired generations."""
        ...

    def mac(self, message: bytes) -> bytes:
        """A MAC over *message* that only the key holder can compute (seals rows and the head)."""
        ...


# -- the slot file ---------------------------------------------------------------------------

_MAGIC = b"LEDGER-KEKSLOTS\x00"
_HEADER = struct.Struct(">16sII16s")  # magic, version, buckets, store id
_HEADER_BYTES = 64
_SLOT = struct.Struct(">II32s")  # bucket, generation, key
_SLOT_BYTES = 64
_CHECK_BYTES = 16
_EMPTY = bytes(_SLOT_BYTES)


def _check(domain: bytes, body: bytes) -> bytes:
    return hashlib.sha256(domain + body).digest()[:_CHECK_BYTES]


def _slot_bytes(generation: Generation, key: bytes) -> bytes:
    body = _SLOT.pack(generation.bucket, generation.number, key)
    return (body + _check(b"ledger-kek-slot/v1\x00", body)).ljust(_SLOT_BYTES, b"\x00")


class SlotFile:
    """``kek.slots``: a 64-byte header, then two 64-byte slots per bucket.

    Header: 16 bytes ``LEDGER-KEKSLOTS\\0``, version (4 bytes, big-endian, 1), bucket count
    (4), store id (16 random bytes), zeros to byte 48, then SHA-256 of the first 48 bytes
    prefixed by ``ledger-kek-header/v1\\0``, its first 16 bytes. Slot ``2b`` and ``2b+1``
    belong to bucket ``b``; a slot is bucket (4), generation (4), key (32), the first 16
    bytes of SHA-256(``ledger-kek-slot/v1\\0`` ‖ those 40 bytes), 8 zero bytes; an empty
    (destroyed) slot is 64 zero bytes. Every change is an in-place write of whole slots,
    under an exclusive ``flock``, followed by ``fsync``.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    @staticmethod
    def size(buckets: int) -> int:
        return _HEADER_BYTES + 2 * buckets * _SLOT_BYTES

    @classmethod
    def create(cls, path: Path, buckets: int) -> tuple[SlotFile, bytes]:
        """A new slot file with generation 1 of every bucket; (file, store id)."""
        store_id = os.urandom(16)
        body = _HEADER.pack(_MAGIC, 1, buckets, store_id).ljust(48, b"\x00")
        header = (body + _check(b"ledger-kek-header/v1\x00", body)).ljust(_HEADER_BYTES, b"\x00")
        slots = b"".join(
            _slot_bytes(Generation(bucket, 1), new_key()) + _EMPTY for bucket in range(buckets)
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, header + slots)
            os.fsync(fd)
        finally:
            os.close(fd)
        return cls(path), store_id

    def read(self) -> tuple[int, bytes, dict[Generation, bytes], list[Generation]]:
        """(bucket count, store id, the keys by generation, damaged slots' generations)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            raise KeyUnavailable(f"no {SLOTS_FILE} in {self.path.parent}") from None
        except OSError as exc:
            raise KeyUnavailable(f"cannot read {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            header = os.pread(fd, _HEADER_BYTES, 0)
            if len(header) != _HEADER_BYTES or header[:16] != _MAGIC:
                raise KeyUnavailable(f"{self.path} is not a key-encryption key slot file")
            if _check(b"ledger-kek-header/v1\x00", header[:48]) != header[48:64]:
                raise KeyUnavailable(f"the header of {self.path} is damaged")
            _, version, buckets, store_id = _HEADER.unpack(header[: _HEADER.size])
            if version != 1 or not 0 < buckets <= MAX_BUCKETS:
                raise KeyUnavailable(f"{self.path} has an unknown layout (version {version})")
            body = os.pread(fd, 2 * buckets * _SLOT_BYTES, _HEADER_BYTES)
        finally:
            os.close(fd)
        if len(body) != 2 * buckets * _SLOT_BYTES:
            raise KeyUnavailable(f"{self.path} is truncated")
        keys: dict[Generation, bytes] = {}
        damaged: list[Generation] = []
        for slot in range(2 * buckets):
            raw = body[slot * _SLOT_BYTES : (slot + 1) * _SLOT_BYTES]
            if raw == _EMPTY:
                continue
            bucket, number, key = _SLOT.unpack(raw[: _SLOT.size])
            generation = Generation(bucket, number)
            if bucket != slot // 2 or _check(b"ledger-kek-slot/v1\x00", raw[:40]) != raw[40:56]:
                damaged.append(Generation(slot // 2, number))
                continue
            keys[generation] = key
        return buckets, store_id, keys, damaged

    def locked_slots(self, buckets: int) -> _Locked:
        """The raw slots under an exclusive lock, for a read-then-write change."""
        return _Locked(self.path, buckets)


class _Locked:
    """An exclusive flock on the slot file with its slots read, for compare-and-write."""

    def __init__(self, path: Path, buckets: int) -> None:
        self.path = path
        self.buckets = buckets
        self.fd = -1

    def __enter__(self) -> _Locked:
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_NOFOLLOW)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except OSError as exc:
            if self.fd >= 0:
                os.close(self.fd)
            raise KeyUnavailable(
                f"cannot write {self.path}: {exc.strerror} (the keys folder must be writable "
                "to record and erase)"
            ) from None
        return self

    def slot(self, index: int) -> bytes:
        return os.pread(self.fd, _SLOT_BYTES, _HEADER_BYTES + index * _SLOT_BYTES)

    def put(self, index: int, raw: bytes) -> None:
        try:
            if os.pwrite(self.fd, raw, _HEADER_BYTES + index * _SLOT_BYTES) != _SLOT_BYTES:
                raise KeyUnavailable(f"a short write to {self.path}")
        except OSError as exc:
            raise KeyUnavailable(f"cannot write {self.path}: {exc.strerror}") from None

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                try:
                    os.fsync(self.fd)
                except OSError as error:
                    raise KeyUnavailable(f"cannot write {self.path}: {error.strerror}") from None
        finally:
            os.close(self.fd)


def _slot_holds(raw: bytes, generation: Generation) -> bool:
    if raw == _EMPTY or len(raw) != _SLOT_BYTES:
        return False
    bucket, number, _ = _SLOT.unpack(raw[: _SLOT.size])
    return (bucket, number) == generation


# -- the local key source ----------------------------------------------------------------------


@dataclass(frozen=True)
class _State:
    buckets: int
    store_id: str
    keys: dict[Generation, bytes]
    damaged: tuple[Generation, ...]


class LocalKeySource:
    """The key store in a keys folder: ``seal.key`` and ``kek.slots`` (see module docstring)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.origin = str(folder)
        self._lock = threading.Lock()
        self._seal = _read_secret(folder / SEAL_FILE)
        self._seal_id = hashlib.sha256(b"ledger-seal-id/v1\x00" + self._seal).hexdigest()[:16]
        self._slots = SlotFile(folder / SLOTS_FILE)
        _check_private(folder / SLOTS_FILE)
        self._state = self._load()

    def _load(self) -> _State:
        buckets, store_id, keys, damaged = self._slots.read()
        return _State(buckets, store_id.hex(), keys, tuple(damaged))

    @property
    def store_id(self) -> str:
        return self._state.store_id

    @property
    def seal_id(self) -> str:
        return self._seal_id

    @property
    def buckets(self) -> int:
        return self._state.buckets

    def bucket(self, subject: str) -> int:
        digest = hmac.digest(self._seal, b"ledger-bucket/v1\x00" + subject.encode(), "sha256")
        return int.from_bytes(digest[:8], "big") % self._state.buckets

    def holds(self, generation: Generation) -> bool:
        if generation in self._state.keys:
            return True
        self.refresh()
        return generation in self._state.keys

    def generations(self) -> list[Generation]:
        return sorted(self._state.keys)

    def _key(self, generation: Generation) -> bytes:
        key = self._state.keys.get(generation)
        if key is None:
            self.refresh()
            key = self._state.keys.get(generation)
        if key is None:
            damaged = generation in self._state.damaged
            raise KeyUnavailable(
                f"the key-encryption key {generation.id} is "
                + (
                    f"damaged in {self._slots.path}"
                    if damaged
                    else f"not in {self.folder}: it was destroyed (an erasure or rotation), or "
                    "this keys folder is not the one the ledger's writers share"
                )
            )
        return key

    def wrap(self, generation: Generation, data_key: bytes, aad: bytes) -> bytes:
        return aead_seal(self._key(generation), data_key, aad)

    def unwrap(self, generation: Generation, wrapped: bytes, aad: bytes) -> bytes:
        return aead_open(self._key(generation), wrapped, aad)

    def stage(self, generations: Sequence[Generation]) -> None:
        if not generations:
            return
        fresh = {g: new_key() for g in generations}
        with self._slots.locked_slots(self.buckets) as slots:
            for generation, key in fresh.items():
                current = Generation(generation.bucket, generation.number - 1)
                first = 2 * generation.bucket
                # the slot that does not hold the current generation: an empty slot, an
                # older generation (overwriting it destroys it too) or an abandoned stage
                index = first + 1 if _slot_holds(slots.slot(first), current) else first
                slots.put(index, _slot_bytes(generation, key))
        self.refresh()

    def retire(self, generations: Iterable[Generation]) -> None:
        doomed = set(generations)
        if not doomed:
            return
        with self._slots.locked_slots(self.buckets) as slots:
            for generation in doomed:
                for index in (2 * generation.bucket, 2 * generation.bucket + 1):
                    # compare, then destroy: another process may have staged into this slot
                    if _slot_holds(slots.slot(index), generation):
                        slots.put(index, _EMPTY)
        self.refresh()

    def refresh(self) -> None:
        state = self._load()
        with self._lock:
            self._state = state

    def mac(self, message: bytes) -> bytes:
        return hmac.digest(self._seal, message, "sha256")  # one-shot, in C

    def __repr__(self) -> str:  # never show key material
        return f"LocalKeySource(store_id={self.store_id!r}, folder={self.origin!r})"


# -- files -------------------------------------------------------------------------------------


def _check_private(path: Path) -> None:
    """Refuse a key file that other users can read or that is not a regular file."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return  # reported by whoever reads it
    except OSError as exc:
        raise KeyUnavailable(f"cannot read {path}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise KeyUnavailable(f"{path} is not a regular file (a symlink?): refusing to use it")
    if info.st_mode & 0o077:
        raise KeyUnavailable(
            f"{path} can be read or written by other users (mode {stat.S_IMODE(info.st_mode):o}): "
            f"refusing to use it; run `chmod 600 {path}` if you trust its contents"
        )


def _read_secret(path: Path) -> bytes:
    _check_private(path)
    try:
        with open(path, "rb", opener=lambda p, f: os.open(p, f | os.O_NOFOLLOW)) as handle:
            text = handle.read(256).decode("ascii")
    except FileNotFoundError:
        raise KeyUnavailable(
            f"no key at {path}: run `ledger init`, or point --keys (LEDGER_KEYS) at the keys folder"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyUnavailable(f"cannot read {path}: {type(exc).__name__}") from None
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyUnavailable(f"the key in {path} is not valid base64") from None
    if len(key) != KEY_BYTES:
        raise KeyUnavailable(f"the key in {path} is not {KEY_BYTES} bytes")
    return key


def _write_secret(path: Path, key: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.b64encode(key).decode("ascii") + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def create_keys(folder: Path, *, buckets: int = DEFAULT_BUCKETS) -> LocalKeySource:
    """Create a keys folder with a seal key and a slot file; never overwrite either.

    On any failure, nothing this call created is left behind."""
    if not 0 < buckets <= MAX_BUCKETS:
        raise KeyUnavailable(f"the bucket count must be between 1 and {MAX_BUCKETS}")
    for name in (SEAL_FILE, SLOTS_FILE, LEGACY_KEK_FILE):
        if (folder / name).exists() or (folder / name).is_symlink():
            raise StoreExists(f"keys already exist in {folder}: refusing to overwrite them")
    made_folder = not folder.exists()
    created: list[Path] = []
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        created.append(folder / SEAL_FILE)
        _write_secret(folder / SEAL_FILE, new_key())
        created.append(folder / SLOTS_FILE)
        SlotFile.create(folder / SLOTS_FILE, buckets)
        _fsync_folder(folder)
        return LocalKeySource(folder)
    except BaseException:
        remove_keys(created, folder if made_folder else None)
        raise


def add_slots(folder: Path, *, buckets: int = DEFAULT_BUCKETS) -> LocalKeySource:
    """Create ``kek.slots`` beside the existing seal key of a schema-1 keys folder (``ledger
    migrate``); an abandoned one from an interrupted migration is destroyed first."""
    path = folder / SLOTS_FILE
    if path.exists() or path.is_symlink():
        destroy_file(path)
    try:
        SlotFile.create(path, buckets)
        _fsync_folder(folder)
        return LocalKeySource(folder)
    except BaseException:
        with contextlib.suppress(OSError, KeyUnavailable):
            destroy_file(path)
        raise


def remove_keys(files: Sequence[Path], folder: Path | None) -> None:
    """Destroy key files this process made (a failed `init`): overwrite, then unlink."""
    for path in files:
        try:
            size = os.lstat(path).st_size
            fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW)
            try:
                os.pwrite(fd, bytes(size), 0)
                os.fsync(fd)
            finally:
                os.close(fd)
            path.unlink()
        except OSError:
            pass
    if folder is not None:
        with contextlib.suppress(OSError):
            folder.rmdir()


def destroy_file(path: Path) -> None:
    """Overwrite a key file in place with zeros, fsync, then remove it (the old single
    key-encryption key after a store is converted)."""
    remove_keys([path], None)
    if path.exists():
        raise KeyUnavailable(f"cannot remove {path}: remove it by hand, it holds a retired key")


def load_keys(folder: Path | None, env: Mapping[str, str] | None = None) -> LocalKeySource:
    """The key store in *folder* (``--keys``, ``LEDGER_KEYS``)."""
    environ = os.environ if env is None else env
    named = [name for name in _ENV_RETIRED if environ.get(name)]
    if named:
        raise KeyUnavailable(
            f"{named[0]} is set, but keys are no longer taken from the environment: an erasure "
            "must destroy a key, and the ledger cannot rewrite the environment; use a keys "
            "folder (--keys, LEDGER_KEYS) or a KeySource backed by a KMS"
        )
    if folder is None:
        raise KeyUnavailable("no keys: give a keys folder (--keys or LEDGER_KEYS)")
    if not (folder / SLOTS_FILE).exists() and (folder / LEGACY_KEK_FILE).exists():
        raise KeyUnavailable(
            f"the keys folder {folder} is from an earlier release (one kek.key): run "
            "`ledger migrate` with it to move the store to per-bucket keys"
        )
    return LocalKeySource(folder)


def read_legacy_kek(folder: Path) -> bytes:
    """The single key-encryption key of a store made before schema 2 (``kek.key``)."""
    return _read_secret(folder / LEGACY_KEK_FILE)


def read_seal_key(folder: Path) -> bytes:
    """The seal key of a keys folder (owner-only, or refused)."""
    return _read_secret(folder / SEAL_FILE)


def legacy_unwrap(kek: bytes, wrapped: bytes, aad: bytes) -> bytes:
    """Unwrap a data key wrapped under the single key-encryption key of schema 1."""
    return aead_open(kek, wrapped, aad)


def legacy_kek_id(kek: bytes) -> str:
    """The fingerprint schema 1 recorded for its key-encryption key."""
    return hashlib.sha256(b"ledger-kek-id/v1\x00" + kek).hexdigest()[:16]
