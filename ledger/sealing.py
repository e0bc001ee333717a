"""Sealing a batch of checked events inside one write transaction.

Runs while the store's head is locked: assigns sequence numbers, finds or makes
each (subject, category) data key, encrypts values, shreds keys for erasures,
links each record to its predecessor, seals it, extends the Merkle tree, and
writes rows, keys, tree nodes and the new head. Nothing here survives a rollback
except what :class:`KeyCache` is told to forget.

Before it trusts anything the store says, it checks the head's seal (which covers the
key epoch and the key map) and the key map against the head: a writer never wraps a data
key under a generation that somebody without the keys chose. An erasure deletes the
subject's data keys and marks its bucket; at the end of the batch every marked bucket gets
a fresh key generation, staged durably in the key store, and the rest of the bucket is
re-wrapped under it, so the destroyed keys were only ever written under generations that
are destroyed once the transaction commits.
"""

from __future__ import annotations

import dataclasses
import hmac
import uuid as uuidlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ledger.config import Config
from ledger.core import chain
from ledger.core.canonical import canonical
from ledger.core.chain import keymap_digest
from ledger.core.spec import RESERVED_ACTOR as SYSTEM_ACTOR
from ledger.core.spec import VOCABULARY_TYPE
from ledger.crypto.envelope import DataKey, new_key, wrap_aad
from ledger.crypto.keys import Generation, KeySource
from ledger.errors import IntegrityError, InvalidEvent, KeyUnavailable
from ledger.log.merkle import TreeBuilder, leaf_hash
from ledger.store.base import Head, PendingPurge, StoredRow, WrappedKey, WriteTx


@dataclass(frozen=True)
class Receipt:
    """Where an event stands on the chain."""

    sequence: int
    hash: str
    recorded: bool = True  # False when an event with the same ``id`` was already on the ledger
    id: str | None = None


@dataclass
class Pending:
    """A checked event waiting for its transaction."""

    index: int
    uuid: str
    event: dict[str, Any]  # the contract's keys except data
    data: dict[str, Any] | None
    defaulted_at: bool = False  # ``at`` was filled in with the time of recording


class KeyCache:
    """Unwrapped data keys of this process and the key map, for the key epoch they are
    valid for."""

    def __init__(self) -> None:
        self.keys: dict[tuple[str, str], DataKey] = {}
        self.generations: dict[int, int] = {}
        self.epoch = -1

    def align(self, tx: WriteTx, keys: KeySource) -> None:
        """Forget every key and re-read the key map if another writer changed key-encryption
        keys since we last looked; the map must be the one the (sealed) head names."""
        head = tx.head
        if head.key_epoch == self.epoch and self.generations:
            return
        self.keys.clear()
        keys.refresh()  # drop from memory the generations another writer destroyed
        generations = tx.generations()
        if keymap_digest(generations) != head.keymap:
            raise IntegrityError(
                head.sequence,
                "the key-encryption key map does not match the head's seal: it was changed "
                "outside the ledger; nothing was written (run `ledger verify`)",
            )
        if len(generations) != keys.buckets:
            raise KeyUnavailable(
                f"the keys folder spreads subjects over {keys.buckets} buckets and the store "
                f"over {len(generations)}: it is not this ledger's keys folder"
            )
        if any(not keys.holds(Generation(b, n)) for b, n in generations.items()):
            missing = next(Generation(b, n) for b, n in generations.items()
                           if not keys.holds(Generation(b, n)))  # fmt: skip
            raise KeyUnavailable(
                f"the store wraps bucket {missing.bucket} under key-encryption key "
                f"{missing.id}, which the keys folder does not hold: another writer rotated "
                "it with another keys folder (writers must share one), or it was restored "
                "from an older copy; nothing was written"
            )
        self.generations = generations
        self.epoch = head.key_epoch


def check_head(tx: WriteTx, keys: KeySource, ledger_id: str) -> None:
    """Refuse to write on a head whose seal does not verify: its key epoch, key map or
    vocabulary would be somebody else's choice."""
    head = tx.head
    if head.seal is None or not hmac.compare_digest(
        keys.mac(head.seal_message(ledger_id)), head.seal
    ):
        raise IntegrityError(
            head.sequence,
            "the head's seal does not verify: it was changed outside the ledger; nothing was "
            "written (run `ledger verify`)",
        )


def unwrap(keys: KeySource, stored: WrappedKey) -> DataKey:
    """The usable data key of a stored wrapped key."""
    try:
        generation = Generation.parse(stored.kek_id)
    except ValueError:
        raise KeyUnavailable(
            f"the data key {stored.key_id} names no key-encryption key generation"
        ) from None
    secret = keys.unwrap(
        generation, stored.wrapped, wrap_aad(stored.key_id, stored.subject, stored.category)
    )
    return DataKey(stored.key_id, stored.subject, stored.category, secret)


def sealed_head(
    keys: KeySource,
    ledger_id: str,
    sequence: int,
    digest: bytes,
    key_epoch: int,
    vocabulary: str | None,
    generations: dict[int, int],
    keymap: bytes | None = None,
) -> Head:
    """A head with its seal; *keymap*, when given, is the (already verified) digest of
    *generations*."""
    if keymap is None:
        keymap = keymap_digest(generations)
    unsealed = Head(sequence, digest, key_epoch, vocabulary, keymap, None)
    return Head(
        sequence, digest, key_epoch, vocabulary, unsealed.keymap,
        keys.mac(unsealed.seal_message(ledger_id)),
    )  # fmt: skip


def tree_at(tx: WriteTx, head: Head) -> TreeBuilder:
    """The Merkle tree's right edge at *head*, read from the store."""
    positions = TreeBuilder.edge(head.sequence)
    found = tx.nodes(positions)
    missing = [p for p in positions if p not in found]
    if missing:
        level, index = missing[0]
        raise IntegrityError(
            head.sequence, f"the Merkle tree node (level {level}, index {index}) is missing"
        )
    return TreeBuilder.resume(head.sequence, [found[p] for p in positions])


_MISFILED = (
    "a data key in the keys table is filed under another subject or bucket than its own: the "
    "keys table was changed outside the ledger; nothing was written (run `ledger verify`)"
)


def _generation_of(key: WrappedKey) -> Generation:
    try:
        return Generation.parse(key.kek_id)
    except ValueError:
        raise IntegrityError(None, _MISFILED) from None


class Sealer:
    """Seals one batch in one write transaction (see module docstring)."""

    def __init__(
        self,
        tx: WriteTx,
        *,
        keys: KeySource,
        ledger_id: str,
        config: Config,
        cache: KeyCache,
        tree: TreeBuilder,
        recorded_at: str,
        new_uuid: Any,
        label: str = "event",
    ) -> None:
        self.tx = tx
        self.keys = keys
        self.ledger_id = ledger_id
        self.config = config
        self.vocabulary = config.vocabulary
        self.cache = cache
        self.tree = tree
        self.recorded_at = recorded_at
        self.new_uuid = new_uuid
        self.label = label  # how refusals name an event's position ("line" for an import)
        self.head = tx.head
        self.seq, self.prev = tx.head.sequence, tx.head.hash
        self.key_epoch = tx.head.key_epoch
        self.rows: list[StoredRow] = []
        self.nodes: list[tuple[int, int, bytes]] = []
        self.new_keys: list[WrappedKey] = []
        self.created: list[tuple[str, str]] = []  # cache slots to forget on rollback
        self.stored: dict[tuple[str, str], WrappedKey] = {}
        # caller ids recorded in this batch: sequence, hash, and the event as given
        self.recorded: dict[str, tuple[int, bytes, Pending]] = {}
        self.started = False
        self.wrote = False  # whether any new event was written (not only ids already present)
        self.rotate: set[int] = set()  # buckets whose generation this batch replaces
        self.erasures: list[int] = []  # sequences of the erasures that destroyed keys
        self.retired: list[Generation] = []  # generations to destroy once this commits
        self.purge: PendingPurge | None = None  # the durable note of that, if any
        self.rewrapped = 0  # data keys moved to a new generation

    def start(self) -> None:
        """Check the head and the key map before trusting them (see module docstring)."""
        if self.started:
            return
        self.started = True
        check_head(self.tx, self.keys, self.ledger_id)
        self.cache.align(self.tx, self.keys)

    def add(self, pending: Sequence[Pending]) -> list[Receipt]:
        """Seal *pending* and write its rows, keys and tree nodes; receipts in order."""
        self.start()
        ids = [p.event["id"] for p in pending if "id" in p.event]
        stored = self.tx.present(ids) if ids else {}
        self._prefetch(pending)
        receipts: list[Receipt] = []
        for item in pending:
            client_id = item.event.get("id")
            if client_id is not None and client_id in self.recorded:
                found_seq, found_hash, earlier = self.recorded[client_id]
                self._same_content(item, client_id, found_seq, earlier.event, earlier.data)
                receipts.append(Receipt(found_seq, found_hash.hex(), False, client_id))
                continue
            if client_id is not None and client_id in stored:
                found_seq, found_hash, state = stored[client_id]
                record = chain.parse(state)
                values = self._stored_values(record, item)
                self._same_content(item, client_id, found_seq, record.event, values)
                receipts.append(Receipt(found_seq, found_hash.hex(), False, client_id))
                continue
            if not self.wrote:
                # what is in force is recorded before the first event written under it, and
                # only when an event is written (a retry that records nothing records nothing)
                self.wrote = True
                if self.head.vocabulary != self.config.digest:
                    self._append(self._vocabulary_event(), self.new_uuid(), None, None)
            shredded = self._shred(item.event) if item.event["type"] == "erased" else None
            if shredded:
                self.erasures.append(self.seq + 1)
            sealed = None
            if item.data:
                subject = item.event["subject"]
                sealed = {
                    category: self._data_key(subject, category).seal_value(
                        value, event_uuid=item.uuid
                    )
                    for category, value in item.data.items()
                }
            receipt = self._append(item.event, item.uuid, sealed, shredded)
            receipts.append(receipt)
            if client_id is not None:
                self.recorded[client_id] = (receipt.sequence, bytes.fromhex(receipt.hash), item)
        self._flush_keys()
        self.tx.insert(self.rows)
        self.tx.add_nodes(self.nodes)
        self.rows, self.nodes = [], []
        return receipts

    def _stored_values(self, record: chain.Record, item: Pending) -> dict[str, Any] | None:
        """The values an event on the ledger carried, decrypted to compare with a retry; a
        category whose key an erasure destroyed is compared by name only (``...``)."""
        if not record.data:
            return None
        subject = record.subject or ""
        by_id = {k.key_id: k for k in self.tx.subject_keys([subject])} if item.data else {}
        values: dict[str, Any] = {}
        for category, envelope in record.data.items():
            stored = by_id.get(envelope["key"])
            if stored is None:
                values[category] = ...
                continue
            values[category] = unwrap(self.keys, stored).open_value(
                envelope, event_uuid=record.uuid
            )
        return values

    def _same_content(
        self,
        item: Pending,
        client_id: str,
        sequence: int,
        event: dict[str, Any],
        values: dict[str, Any] | None,
    ) -> None:
        """Refuse a retry whose content differs from the event that holds its id (as an
        idempotency key whose request changed): nothing is written. ``at`` filled in by the
        ledger is not compared; canonical JSON is, so equal content in another order is equal."""
        skip = {"at"} if item.defaulted_at else set()
        mine = {k: v for k, v in item.event.items() if k not in skip}
        theirs = {k: v for k, v in event.items() if k not in skip}
        differ = sorted(k for k in mine.keys() | theirs.keys()
                        if k not in mine or k not in theirs
                        or canonical(mine[k]) != canonical(theirs[k]))  # fmt: skip
        new, old = item.data or {}, values or {}
        if new.keys() != old.keys() or any(
            old[c] is not ... and canonical(new[c]) != canonical(old[c]) for c in new
        ):
            differ.append("data")
        if differ:
            raise InvalidEvent(
                f"the id {client_id!r} is already on the ledger (sequence {sequence}) with other "
                f"content (it differs in {', '.join(differ)}); an id names one event: use a new "
                "id for a new event. Nothing was written",
                key="id",
            ).at_line(item.index, self.label)

    def finish(self, *, kind: str = "erasure") -> None:
        """Replace the generations of the buckets this batch erased from (or, for a rotation,
        of every bucket), then write the new head: the last step before commit."""
        self.start()
        generations = dict(self.cache.generations)
        # a batch of events recorded its vocabulary first; a rotation alone recorded nothing
        vocabulary = self.config.digest if self.wrote else self.head.vocabulary
        if self.rotate:
            fresh = {bucket: generations[bucket] + 1 for bucket in sorted(self.rotate)}
            old = [Generation(bucket, generations[bucket]) for bucket in sorted(self.rotate)]
            self.keys.stage([Generation(b, n) for b, n in fresh.items()])
            moved = self.tx.keys_under([g.id for g in old])
            self.tx.rewrap([self._rewrapped(k, fresh) for k in moved])
            self.rewrapped = len(moved)
            self.tx.set_generations(fresh)
            generations.update(fresh)
            self.key_epoch += 1
            self.retired = old
            note = PendingPurge(
                0, kind, self.erasures[0] if self.erasures else self.seq, self.recorded_at,
                tuple(g.id for g in old), self.tx.xid(), None,
            )  # fmt: skip
            self.purge = dataclasses.replace(note, id=self.tx.add_purge(note))
        # without a rotation the map is the one the verified head's seal covers
        keymap = None if self.rotate else self.head.keymap
        self.tx.set_head(
            sealed_head(self.keys, self.ledger_id, self.seq, self.prev, self.key_epoch,
                        vocabulary, generations, keymap)
        )  # fmt: skip
        self.cache.generations = generations
        self.cache.epoch = self.key_epoch

    def _check_filed(self, subject: str) -> None:
        """Refuse to erase when a data key the chain gives the subject is filed in the keys
        table under another subject (an erasure by the subject column would miss it)."""
        used: set[str] = set()
        for state in self.tx.subject_states(subject):
            try:
                data = chain.parse(state).data or {}
            except ValueError:
                raise IntegrityError(
                    None, "a stored record is malformed: run `ledger verify`"
                ) from None
            used.update(e["key"] for e in data.values() if isinstance(e.get("key"), str))
        if any(key.subject != subject for key in self.tx.keys_by_id(sorted(used))):
            raise IntegrityError(None, _MISFILED)

    def _rewrapped(self, stored: WrappedKey, fresh: dict[int, int]) -> WrappedKey:
        old = _generation_of(stored)
        if old.bucket != self.keys.bucket(stored.subject):
            raise IntegrityError(None, _MISFILED)
        new = Generation(old.bucket, fresh[old.bucket])
        aad = wrap_aad(stored.key_id, stored.subject, stored.category)
        secret = self.keys.unwrap(old, stored.wrapped, aad)
        return WrappedKey(
            stored.key_id, stored.subject, stored.category, self.keys.wrap(new, secret, aad),
            new.id,
        )  # fmt: skip

    def _vocabulary_event(self) -> dict[str, Any]:
        return {
            "type": VOCABULARY_TYPE,
            "at": self.recorded_at,
            "actor": SYSTEM_ACTOR,
            **self.config.describe(),
            "digest": self.config.digest,
        }

    def _append(
        self,
        event: dict[str, Any],
        uuid: str,
        data: dict[str, dict[str, str]] | None,
        shredded: list[str] | None,
    ) -> Receipt:
        self.seq += 1
        state, digest = chain.seal(
            seq=self.seq,
            recorded_at=self.recorded_at,
            prev=self.prev,
            uuid=uuid,
            event=event,
            data=data,
            shredded=shredded,
        )
        client_id = event.get("id")
        self.rows.append(
            StoredRow(
                sequence=self.seq,
                uuid=uuid,
                type=event["type"],
                subject=event.get("subject"),
                client_id=client_id,
                state=state,
                hash=digest,
                mac=self.keys.mac(chain.row_seal_message(self.ledger_id, self.seq, digest)),
            )
        )
        self.prev = digest
        self.nodes.extend(self.tree.append(leaf_hash(state))[1:])
        return Receipt(self.seq, digest.hex(), True, client_id)

    def _prefetch(self, pending: Sequence[Pending]) -> None:
        """One query for the stored keys of every subject whose keys are not cached."""
        subjects = {
            item.event["subject"]
            for item in pending
            if item.data
            and any((item.event["subject"], c) not in self.cache.keys for c in item.data)
        }
        if subjects:
            for stored in self.tx.subject_keys(sorted(subjects)):
                self.stored[(stored.subject, stored.category)] = stored

    def _data_key(self, subject: str, category: str) -> DataKey:
        slot = (subject, category)
        cached = self.cache.keys.get(slot)
        if cached is not None:
            return cached
        stored = self.stored.get(slot)
        if stored is not None:
            data_key = unwrap(self.keys, stored)
        else:
            key_id = str(uuidlib.uuid4())
            secret = new_key()
            bucket = self.keys.bucket(subject)
            generation = Generation(bucket, self.cache.generations[bucket])
            wrapped = self.keys.wrap(generation, secret, wrap_aad(key_id, subject, category))
            self.new_keys.append(WrappedKey(key_id, subject, category, wrapped, generation.id))
            data_key = DataKey(key_id, subject, category, secret)
        self.created.append(slot)
        self.cache.keys[slot] = data_key
        return data_key

    def _flush_keys(self) -> None:
        if self.new_keys:
            self.tx.add_keys(self.new_keys)
            self.new_keys = []

    def _shred(self, event: dict[str, Any]) -> list[str]:
        """Destroy the subject's data keys that the erasure covers; the categories shredded."""
        self._flush_keys()  # keys made earlier in this batch must be found and destroyed too
        subject = event["subject"]
        wanted = event["categories"]
        self._check_filed(subject)
        doomed = [
            key
            for key in self.tx.subject_keys([subject])
            if wanted == ["*"] or any(self.vocabulary.covers(w, key.category) for w in wanted)
        ]
        if doomed:
            self.tx.destroy_keys([key.key_id for key in doomed])
            # the subject's bucket comes from its id and the seal key, never from a column
            bucket = self.keys.bucket(subject)
            for key in doomed:
                if _generation_of(key).bucket != bucket:
                    raise IntegrityError(None, _MISFILED)
            self.rotate.add(bucket)
        for key in doomed:
            self.cache.keys.pop((subject, key.category), None)
            self.stored.pop((subject, key.category), None)
        return sorted(key.category for key in doomed)
