"""Every file the ledger writes for a user, and the caps on every file it reads from one.

Writing (exports, reports, bundles, benchmark figures): a file is written to a new temporary
file beside it, created exclusively, never through a symbolic link, owner-only (0600 whatever
the umask), flushed to disk, then renamed onto the target in one step. A target that is a
symbolic link is refused before anything is written; a failure removes the temporary file and
leaves any previous file untouched. Every file is 0600, reports and bundles included: they hold
subject ids, which are pseudonymous personal data; ``chmod`` a copy to share it. A bundle's
folder (and any missing parent) is created 0700; its files are created relative to the
folder's descriptor, opened without following links.

Reading: every file or line read from a user has a cap (below), read with a bounded ``read`` or
``readline``, so a huge line or ``/dev/zero`` is refused with the file, the line and the limit,
in bounded memory, before anything is written.

Depends on the standard library and ``ledger.errors`` only (``ledger.verifier`` uses it).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO, BinaryIO

from ledger.errors import LedgerError, StoreExists

KiB = 1 << 10
MiB = 1 << 20
# One line of `ledger import`: room for an event at the contract's own caps (1 MiB of data,
# lists of up to 10,000 ids) written with JSON escapes.
MAX_IMPORT_LINE = 16 * MiB
# One line of a bundle's events.jsonl: a stored record, its values encrypted (larger than the
# event imported), so twice the import cap.
MAX_BUNDLE_LINE = 32 * MiB
# A signed checkpoint note or a verifier key file (a few hundred bytes in practice).
MAX_NOTE_FILE = 64 * KiB
# The organisation's configuration (TOML): up to 10,000 custom keys per vocabulary section.
MAX_CONFIG_FILE = 8 * MiB

FILE_MODE = 0o600
FOLDER_MODE = 0o700

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafePath(LedgerError):
    """An output path is a symbolic link (or became one): nothing was written."""


class TooLarge(LedgerError):
    """A file, or one line of it, is longer than the ledger reads: nothing was written."""

    def __init__(self, name: str, limit: int, what: str, line: int | None = None) -> None:
        self.name, self.limit, self.what, self.line = name, limit, what, line
        where = f"{name}, line {line}" if line is not None else name
        super().__init__(f"{where}: longer than {size_text(limit)}, the limit for {what}")


def size_text(limit: int) -> str:
    """A limit as people read it: ``16 MiB (16,777,216 bytes)``."""
    for unit, name in ((MiB, "MiB"), (KiB, "KiB")):
        if limit >= unit and limit % unit == 0:
            return f"{limit // unit} {name} ({limit:,} bytes)"
    return f"{limit:,} bytes"


# -- writing -------------------------------------------------------------------------------------


def refuse_symlink(path: Path) -> None:
    """UnsafePath if *path* is a symbolic link (even a dangling one)."""
    if os.path.islink(path):
        raise UnsafePath(
            f"{path} is a symbolic link: refusing to write through it "
            "(remove it, or give the path of a regular file; - writes to stdout)"
        )


def _is_device(path: Path) -> bool:
    """Whether *path* is an existing character device (/dev/null, a terminal), written in
    place; UnsafePath for a link, and for anything else that is not a regular file (a named
    pipe planted where the file should go would hand the output to whoever reads it)."""
    refuse_symlink(path)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return False
    if stat.S_ISCHR(mode):
        return True
    if not stat.S_ISREG(mode):
        raise UnsafePath(f"{path} is not a regular file: refusing to replace it")
    return False


def check_output(path: Path) -> None:
    """Refuse, before any work is done, an output path that private_output would refuse or
    could not create: a symbolic link, a named pipe, a file in a folder that does not exist."""
    if not _is_device(path) and not Path(path).parent.is_dir():
        raise FileNotFoundError(errno.ENOENT, "its folder does not exist", str(path))


def _temporary(folder: Path, name: str) -> tuple[int, Path]:
    """A new owner-only file beside the target, never an existing one or a link."""
    for _ in range(100):
        temp = folder / f".{name[:180]}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(temp, _CREATE, FILE_MODE)
        except FileExistsError:
            continue
        except OSError as exc:  # name the file asked for, not the temporary one
            raise OSError(exc.errno, exc.strerror, str(folder / name)) from None
        try:
            os.fchmod(fd, FILE_MODE)  # whatever the umask (and the mode given to os.open)
        except BaseException:
            os.close(fd)
            _remove(temp)
            raise
        return fd, temp
    raise FileExistsError(f"no free temporary file name in {folder}")


def _remove(path: Path, *, dir_fd: int | None = None) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path, dir_fd=dir_fd)


def _sync_folder(folder: Path | str, *, dir_fd: int | None = None) -> None:
    """Make a rename or a new entry durable (best effort: not every file system allows it)."""
    try:
        fd = os.open(folder, _FOLDER, dir_fd=dir_fd)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def private_output(path: Path) -> Iterator[BinaryIO]:
    """A binary handle whose bytes replace *path* (0600) when the block ends without error.

    Refuses a symbolic link (or a named pipe) at *path* before creating anything; on any error
    the temporary file is removed and *path* is as it was. A character device such as
    /dev/null is written in place."""
    path = Path(path)
    if _is_device(path):  # /dev/null: nothing to create, replace or make private
        with open(os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC), "wb") as device:
            yield device
        return
    folder = path.parent
    fd, temp = _temporary(folder, path.name)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        refuse_symlink(path)  # planted meanwhile: the rename would replace it, but say so
        os.replace(temp, path)  # renames onto the name: never writes through a link there
    except BaseException:
        _remove(temp)
        raise
    _sync_folder(folder)


def write_private(path: Path, data: bytes | str) -> None:
    """Replace *path* with *data* (UTF-8 if text), owner-only, atomically; see private_output."""
    with private_output(path) as out:
        out.write(data.encode("utf-8") if isinstance(data, str) else data)


class PrivateFolder:
    """A folder being filled: files and sub-folders created inside it only, owner-only,
    relative to a descriptor opened without following links."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd, self.path = fd, path
        self._entries: list[tuple[str, bool]] = []  # (name, is a folder), in creation order
        self._children: list[PrivateFolder] = []

    @contextlib.contextmanager
    def create(self, name: str) -> Iterator[IO[bytes]]:
        """A new file *name* in this folder (0600, never an existing one), on disk at the end."""
        fd = os.open(name, _CREATE, FILE_MODE, dir_fd=self.fd)
        self._entries.append((name, False))
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())

    def write(self, name: str, data: bytes | str) -> None:
        with self.create(name) as out:
            out.write(data.encode("utf-8") if isinstance(data, str) else data)

    def folder(self, name: str) -> PrivateFolder:
        """A new sub-folder *name* (0700)."""
        os.mkdir(name, FOLDER_MODE, dir_fd=self.fd)
        self._entries.append((name, True))
        shown = self.path / name
        child = PrivateFolder(_open_folder(name, shown, dir_fd=self.fd), shown)
        os.fchmod(child.fd, FOLDER_MODE)
        self._children.append(child)
        return child

    def _finish(self) -> None:
        for child in self._children:
            child._finish()
        with contextlib.suppress(OSError):
            os.fsync(self.fd)

    def _undo(self) -> None:
        """Remove everything created here (newest first); what was there before stays."""
        children = {child.path.name: child for child in self._children}
        for name, is_folder in reversed(self._entries):
            if is_folder:
                children[name]._undo()
                with contextlib.suppress(OSError):
                    os.rmdir(name, dir_fd=self.fd)
            else:
                _remove(Path(name), dir_fd=self.fd)

    def _close(self) -> None:
        for child in self._children:
            child._close()
        with contextlib.suppress(OSError):
            os.close(self.fd)


def _open_folder(name: str | Path, shown: Path, *, dir_fd: int | None = None) -> int:
    try:
        return os.open(name, _FOLDER, dir_fd=dir_fd)
    except OSError as exc:
        if os.path.islink(shown):
            raise UnsafePath(f"{shown} is a symbolic link: refusing to write through it") from None
        raise exc


def _make_folders(path: Path) -> list[Path]:
    """Create *path* and its missing parents, each 0700; the folders created, outermost first.
    A component that appears meanwhile must be a real folder, not a link."""
    missing: list[Path] = []
    probe = path
    while not os.path.lexists(probe):
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    created: list[Path] = []
    try:
        for folder in reversed(missing):
            try:
                os.mkdir(folder, FOLDER_MODE)
            except FileExistsError:
                if not stat.S_ISDIR(os.lstat(folder).st_mode):
                    refuse_symlink(folder)
                    raise
                continue
            created.append(folder)
            fd = _open_folder(folder, folder)
            try:
                os.fchmod(fd, FOLDER_MODE)
            finally:
                os.close(fd)
    except BaseException:
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                os.rmdir(folder)
        raise
    return created


def check_private_folder(path: Path) -> None:
    """Refuse *path* as a new folder to fill: a symbolic link, or anything but an empty folder."""
    refuse_symlink(path)
    if os.path.lexists(path):
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            raise StoreExists(f"{path} exists and is not a folder: refusing to overwrite it")
        if not _empty(path):
            raise StoreExists(f"{path} is not empty: refusing to overwrite it")


def _empty(folder: Path | int) -> bool:
    with os.scandir(folder) as entries:
        return next(entries, None) is None


@contextlib.contextmanager
def private_folder(path: Path) -> Iterator[PrivateFolder]:
    """A new folder at *path* (0700, parents too), or an existing empty one, to fill.

    Refuses a symbolic link at *path* and a folder that is not empty. On any error, everything
    created (files, sub-folders, the folder and its new parents) is removed again."""
    path = Path(path)
    check_private_folder(path)
    created = _make_folders(path)
    try:
        root = PrivateFolder(_open_folder(path, path), path)
    except BaseException:
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                os.rmdir(folder)
        raise
    try:
        if not _empty(root.fd):  # filled by someone else since the check
            raise StoreExists(f"{path} is not empty: refusing to overwrite it")
        yield root
        root._finish()
    except BaseException:
        root._undo()
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                os.rmdir(folder)
        raise
    finally:
        root._close()
    _sync_folder(path.parent)


# -- reading -------------------------------------------------------------------------------------


def read_limited(path: Path, limit: int, what: str) -> bytes:
    """The bytes of a small file; TooLarge (reading at most limit + 1 bytes) if it is longer."""
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(str(path), limit, what)
    return data


def stream_name(stream: object) -> str:
    """How to name a stream in a message: its file name, or standard input."""
    name = getattr(stream, "name", None)
    if not isinstance(name, str) or name in ("-", "<stdin>"):
        return "standard input"
    return name


def bounded_lines(stream: IO[bytes], limit: int, what: str) -> Iterator[bytes]:
    """The lines of a binary stream (with their line breaks), each read with
    ``readline(limit + 1)``; TooLarge naming the stream and line at the first longer than
    *limit* bytes (not counting its line break). Memory stays within about *limit*."""
    number = 0
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        number += 1
        if len(line) > limit and not line.endswith(b"\n"):
            raise TooLarge(stream_name(stream), limit, what, number)
        yield line
