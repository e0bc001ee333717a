"""What the ledger needs from a store, independent of the database engine.

All SQL lives in the adapters beside this module (``sql.py`` for what both engines share);
the facade talks to a store only through these records and the protocols below. Stores
return what they hold; the one Merkle rule they are asked for, level 0 of the tree being
each event's leaf hash, is applied here (:func:`tree_nodes`), not in an adapter.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from eventsourcing.persistence import ApplicationRecorder

from ledger.core.chain import head_seal_message
from ledger.errors import IntegrityError, StoreNotFound
from ledger.log.merkle import leaf_hash

SCHEMA_VERSION = 2


@dataclass(frozen=True)
class Head:
    """The newest position of the chain, and what writers must know about it."""

    sequence: int
    hash: bytes
    key_epoch: int  # changes whenever key-encryption keys change: caches are then dropped
    vocabulary: str | None  # digest of the vocabulary last recorded on the ledger
    keymap: bytes  # digest of every bucket's current key-encryption key generation
    seal: bytes | None  # MAC over all of the above by the key holder

    def seal_message(self, ledger_id: str) -> bytes:
        """The bytes the head's seal is a MAC of (see :func:`ledger.chain.head_seal_message`)."""
        return head_seal_message(
            ledger_id, self.sequence, self.hash,
            key_epoch=self.key_epoch, keymap=self.keymap, vocabulary=self.vocabulary,
        )  # fmt: skip


class StoredRow(NamedTuple):
    """One stored event: the record bytes and the columns derived from them (a named tuple:
    one is built per row read)."""

    sequence: int
    uuid: str
    type: str
    subject: str | None
    client_id: str | None
    state: bytes
    hash: bytes
    mac: bytes | None  # MAC over (ledger id, sequence, hash) by the key holder


@dataclass(frozen=True)
class WrappedKey:
    """A data key as stored: wrapped under a key-encryption key, bound to its slot."""

    key_id: str
    subject: str
    category: str
    wrapped: bytes
    kek_id: str  # the key-encryption key generation it is wrapped under, "bucket:number"


@dataclass(frozen=True)
class PendingPurge:
    """A durable note that an erasure (or a key rotation) is not yet beyond recovery:
    key-encryption key generations still to destroy, or store files still to clean."""

    id: int
    kind: str  # "erasure" or "rotation"
    sequence: int  # the erasure's sequence (for a rotation: the ledger's size then)
    since: str  # when it was recorded (RFC 3339, UTC)
    retire: tuple[str, ...]  # generations to destroy, "bucket:number"
    xid: str | None  # PostgreSQL: the transaction that deleted the keys
    reason: str | None  # why the last attempt did not finish


@dataclass(frozen=True)
class PurgeResult:
    """Whether the store's files hold no copy of deleted key rows any more, and if not, why."""

    done: bool
    reason: str | None = None


# -- rows as the stores read them: checked, since SQL can put anything in a column ----------


def _changed(table: str) -> IntegrityError:
    return IntegrityError(
        None, f"the {table} table holds a malformed row: it was changed outside the ledger"
    )


def _int(value: object, table: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _changed(table)
    return value


def _blob(value: object, table: str) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise _changed(table)
    return bytes(value)


def _text(value: object, table: str) -> str:
    if not isinstance(value, str):
        raise _changed(table)
    return value


def stored_row(values: Sequence[Any]) -> StoredRow:
    """A stored row from (sequence, uuid, type, subject, client_id, state, hash, mac)."""
    return StoredRow(
        sequence=values[0], uuid=values[1], type=values[2], subject=values[3],
        client_id=values[4], state=bytes(values[5]), hash=bytes(values[6]),
        mac=None if values[7] is None else bytes(values[7]),
    )  # fmt: skip


def head_row(found: Sequence[object] | None) -> Head:
    """The head from (sequence, hash, key_epoch, vocabulary, keymap, seal)."""
    if found is None:
        raise StoreNotFound("the store has no head row: not a ledger store")
    sequence, digest, epoch, vocabulary, keymap, seal = found
    return Head(
        _int(sequence, "head"), _blob(digest, "head"), _int(epoch, "head"),
        None if vocabulary is None else _text(vocabulary, "head"),
        b"" if keymap is None else _blob(keymap, "head"),
        None if seal is None else _blob(seal, "head"),
    )  # fmt: skip


def generation_rows(rows: Iterable[Sequence[object]]) -> dict[int, int]:
    """The key map from (bucket, generation) rows."""
    return {_int(b, "key map"): _int(g, "key map") for b, g in rows}


def purge_rows(rows: Iterable[Sequence[object]]) -> list[PendingPurge]:
    """Pending purges from (id, kind, sequence, since, retire, xid, reason) rows."""
    found = []
    for i, kind, seq, since, retire, xid, reason in rows:
        if xid is not None and not (isinstance(xid, str) and xid.isdigit()):
            raise _changed("pending purges")
        found.append(PendingPurge(
            _int(i, "pending purges"), _text(kind, "pending purges"),
            _int(seq, "pending purges"), _text(since, "pending purges"),
            tuple(_text(retire, "pending purges").split()), xid,
            None if reason is None else _text(reason, "pending purges"),
        ))  # fmt: skip
    return found


def key_row(row: Sequence[object]) -> WrappedKey:
    """A wrapped key from (key_id, subject, category, wrapped, kek_id)."""
    key_id, subject, category, wrapped, kek_id = row
    return WrappedKey(
        _text(key_id, "keys"), _text(subject, "keys"), _text(category, "keys"),
        _blob(wrapped, "keys"), _text(kek_id, "keys"),
    )  # fmt: skip


class TreeSource(Protocol):
    """What the tree's nodes are read from: stored records and stored interior nodes."""

    def states_at(self, sequences: Sequence[int]) -> dict[int, bytes]:
        """The stored record bytes at the given sequences (those that are stored)."""
        ...

    def inner_nodes(self, positions: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """The stored Merkle tree nodes (level >= 1) at *positions*, by (level, index)."""
        ...


def tree_nodes(
    source: TreeSource, positions: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], bytes]:
    """Merkle tree nodes by (level, index): level 0 is the leaf hash of the event at that
    index (sequence index + 1), hashed here from its stored record; higher levels are the
    stored perfect subtrees. Positions with nothing stored are left out."""
    leaves = [index + 1 for level, index in positions if level == 0]
    found = {
        (0, sequence - 1): leaf_hash(state) for sequence, state in source.states_at(leaves).items()
    }
    found.update(source.inner_nodes([(level, i) for level, i in positions if level > 0]))
    return found


class WriteTx(Protocol):
    """One write transaction: the head is locked from its start to its commit."""

    head: Head

    def present(self, client_ids: Sequence[str]) -> dict[str, tuple[int, bytes, bytes]]:
        """Caller ids already on the chain (sequences 1 to the head), with the sequence, hash
        and record bytes of the event that holds each."""
        ...

    def subject_keys(self, subjects: Sequence[str]) -> list[WrappedKey]:
        """Every live data key of *subjects*."""
        ...

    def keys_by_id(self, key_ids: Sequence[str]) -> list[WrappedKey]:
        """The live wrapped keys with these ids, wherever the table files them."""
        ...

    def subject_states(self, subject: str) -> list[bytes]:
        """The record bytes of the subject's events on the chain (sequences 1 to the head) of
        the types that carry values."""
        ...

    def add_keys(self, keys: Sequence[WrappedKey]) -> None: ...

    def all_keys(self) -> list[WrappedKey]:
        """Every live wrapped data key (for re-wrapping under a new key-encryption key)."""
        ...

    def keys_under(self, kek_ids: Sequence[str]) -> list[WrappedKey]:
        """Every live data key wrapped under one of the generations *kek_ids*."""
        ...

    def generations(self) -> dict[int, int]:
        """The current key-encryption key generation of every bucket."""
        ...

    def set_generations(self, generations: dict[int, int]) -> None:
        """Record new current generations for some buckets."""
        ...

    def add_purge(self, purge: PendingPurge) -> int:
        """Record a pending purge in this transaction; its id."""
        ...

    def xid(self) -> str | None:
        """PostgreSQL: this transaction's id (VACUUM can remove what it deleted once every
        snapshot is newer); None on SQLite."""
        ...

    def rewrap(self, keys: Sequence[WrappedKey]) -> None:
        """Replace the wrapped bytes and key-encryption key id of existing data keys."""
        ...

    def set_meta(self, name: str, value: str) -> None: ...

    def destroy_keys(self, key_ids: Sequence[str]) -> None:
        """Delete wrapped keys so that no copy stays readable in the store."""
        ...

    def insert(self, rows: Sequence[StoredRow]) -> None: ...

    def states_at(self, sequences: Sequence[int]) -> dict[int, bytes]: ...

    def inner_nodes(self, positions: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]: ...

    def nodes(self, positions: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """Merkle tree nodes by (level, index); level 0 is an event's leaf hash
        (:func:`tree_nodes` over this transaction)."""
        ...

    def add_nodes(self, nodes: Sequence[tuple[int, int, bytes]]) -> None:
        """Store perfect subtrees (level >= 1) completed by this transaction's events."""
        ...

    def set_head(self, head: Head) -> None: ...


class Snapshot(Protocol):
    """Reads that all see one state of the store, however long they take."""

    def head(self) -> Head: ...

    def rows(self, start: int = 1, stop: int | None = None) -> Iterator[StoredRow]:
        """Every stored row from *start* to *stop* (inclusive; no bound: including any beyond
        the head), in sequence order."""
        ...

    def level(
        self, level: int, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[int, bytes]]:
        """The stored Merkle nodes of one level (>= 1) with index in [start, stop), by index."""
        ...

    def levels(self) -> list[int]:
        """The levels that hold stored nodes."""
        ...

    def states_at(self, sequences: Sequence[int]) -> dict[int, bytes]: ...

    def inner_nodes(self, positions: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]: ...

    def nodes(self, positions: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """Merkle tree nodes by (level, index); level 0 is an event's leaf hash
        (:func:`tree_nodes` over this snapshot)."""
        ...

    def checkpoints(self) -> list[tuple[int, str]]:
        """Stored checkpoint notes by size (an empty list before the first)."""
        ...

    def wrapped_keys(self) -> list[WrappedKey]:
        """Every live wrapped data key."""
        ...

    def generations(self) -> dict[int, int]:
        """The current key-encryption key generation of every bucket."""
        ...

    def pending(self) -> list[PendingPurge]:
        """Purges not finished yet, oldest first."""
        ...


class Store(Protocol):
    """A ledger store: one gap-free, totally ordered sequence of stored rows, plus keys."""

    url: str
    read_only: bool

    @property
    def recorder(self) -> ApplicationRecorder:
        """eventsourcing's application recorder over the ledger's events: notifications are
        the events, the notification id is the ledger sequence; inserting is refused."""
        ...

    def exists(self) -> bool: ...

    def create(self, meta: dict[str, str], head: Head, generations: dict[int, int]) -> None:
        """Create the store's tables (and, for SQLite, its file, owner-only) with *meta*, the
        sealed *head* and every bucket's first key-encryption key generation."""
        ...

    def remove(self) -> None:
        """Remove a store this process has just created (a failed ``init`` leaves nothing)."""
        ...

    def meta(self) -> dict[str, str]: ...

    def head(self) -> Head: ...

    def writer(self) -> AbstractContextManager[WriteTx]: ...

    def rows(self, start: int = 1, stop: int | None = None) -> Iterator[StoredRow]: ...

    def subject_rows(self, subject: str) -> Iterator[StoredRow]: ...

    def rows_at(self, sequences: Sequence[int]) -> list[StoredRow]: ...

    def rows_of_type(self, kind: str) -> list[StoredRow]: ...

    def keys(self, key_ids: Sequence[str]) -> dict[str, WrappedKey]: ...

    def nodes(self, positions: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]: ...

    def snapshot(self) -> AbstractContextManager[Snapshot]: ...

    def add_checkpoint(self, size: int, root: bytes, note: str, created_at: str) -> None: ...

    def checkpoints(self) -> list[tuple[int, str]]: ...

    def checkpoint_made(self, size: int) -> str | None:
        """When the checkpoint of *size* was signed and stored (RFC 3339 UTC), if it was."""
        ...

    def purge(self, xids: Sequence[str] = ()) -> PurgeResult:
        """Clean deleted key rows out of the store's files (SQLite: the WAL checkpointed and
        truncated; PostgreSQL: the keys table vacuumed once no snapshot older than the
        transactions *xids* is left). Waits a bounded time, then says why it could not."""
        ...

    def pending(self) -> list[PendingPurge]:
        """Purges not finished yet, oldest first."""
        ...

    def end_purges(self, ids: Sequence[int]) -> None:
        """Forget purges that finished."""
        ...

    def note_purge(self, purge_id: int, reason: str) -> None:
        """Keep why a purge could not finish yet (best effort: the disk may be full)."""
        ...

    def close(self) -> None: ...
