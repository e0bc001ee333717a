"""Sealing a batch of checked events inside one write transaction.

Runs while the store's head is locked: assigns sequence numbers, finds or makes
each (subject, category) data key, encrypts values, shreds keys for erasures,
links each record to its predecessor, seals it, extends the Merkle tree, and
writes rows, keys, tree nodes and the new head. Nothing here survives a rollback
except what :class:`KeyCache` is told to forget.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ledger import chain
from ledger.crypto import DataKey, new_key, wrap_aad
from ledger.errors import IntegrityError
from ledger.keys import KeySource
from ledger.merkle import TreeBuilder, leaf_hash
from ledger.store.base import Head, StoredRow, WrappedKey, WriteTx
from ledger.vocabulary import Vocabulary

VOCABULARY_TYPE = "ledger.vocabulary"
SYSTEM_ACTOR = "system:ledger"


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


class KeyCache:
    """Unwrapped data keys of this process, and the store's key epoch they are valid for."""

    def __init__(self) -> None:
        self.keys: dict[tuple[str, str], DataKey] = {}
        self.epoch = -1

    def align(self, epoch: int) -> None:
        """Forget every key if another writer destroyed keys since we last looked."""
        if epoch != self.epoch:
            self.keys.clear()
            self.epoch = epoch


def unwrap(keys: KeySource, stored: WrappedKey) -> DataKey:
    """The usable data key of a stored wrapped key."""
    secret = keys.unwrap(stored.wrapped, wrap_aad(stored.key_id, stored.subject, stored.category))
    return DataKey(stored.key_id, stored.subject, stored.category, secret)


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


class Sealer:
    """Seals one batch in one write transaction (see module docstring)."""

    def __init__(
        self,
        tx: WriteTx,
        *,
        keys: KeySource,
        ledger_id: str,
        vocabulary: Vocabulary,
        cache: KeyCache,
        tree: TreeBuilder,
        recorded_at: str,
        new_uuid: Any,
    ) -> None:
        self.tx = tx
        self.keys = keys
        self.ledger_id = ledger_id
        self.vocabulary = vocabulary
        self.cache = cache
        self.tree = tree
        self.recorded_at = recorded_at
        self.new_uuid = new_uuid
        self.head = tx.head
        self.seq, self.prev = tx.head.sequence, tx.head.hash
        self.key_epoch = tx.head.key_epoch
        self.rows: list[StoredRow] = []
        self.nodes: list[tuple[int, int, bytes]] = []
        self.new_keys: list[WrappedKey] = []
        self.created: list[tuple[str, str]] = []  # cache slots to forget on rollback
        self.stored: dict[tuple[str, str], WrappedKey] = {}
        self.recorded: dict[str, tuple[int, bytes]] = {}  # caller ids recorded in this batch
        self.started = False

    def add(self, pending: Sequence[Pending]) -> list[Receipt]:
        """Seal *pending* and write its rows, keys and tree nodes; receipts in order."""
        if not self.started:
            self.started = True
            self.cache.align(self.head.key_epoch)
            if self.head.vocabulary != self.vocabulary.digest:
                self._append(self._vocabulary_event(), self.new_uuid(), None, None)
        ids = [p.event["id"] for p in pending if "id" in p.event]
        present = self.tx.present(ids) if ids else {}
        present.update((i, self.recorded[i]) for i in ids if i in self.recorded)
        self._prefetch(pending)
        receipts: list[Receipt] = []
        for item in pending:
            client_id = item.event.get("id")
            if client_id is not None and client_id in present:
                found_seq, found_hash = present[client_id]
                receipts.append(Receipt(found_seq, found_hash.hex(), False, client_id))
                continue
            shredded = self._shred(item.event) if item.event["type"] == "erased" else None
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
                present[client_id] = self.recorded[client_id] = (
                    receipt.sequence,
                    bytes.fromhex(receipt.hash),
                )
        self._flush_keys()
        self.tx.insert(self.rows)
        self.tx.add_nodes(self.nodes)
        self.rows, self.nodes = [], []
        return receipts

    def finish(self) -> None:
        """Write the new head: the last step before commit."""
        seal = self.keys.mac(chain.head_seal_message(self.ledger_id, self.seq, self.prev))
        self.tx.set_head(Head(self.seq, self.prev, self.key_epoch, self.vocabulary.digest, seal))
        self.cache.epoch = self.key_epoch

    def _vocabulary_event(self) -> dict[str, Any]:
        return {
            "type": VOCABULARY_TYPE,
            "at": self.recorded_at,
            "actor": SYSTEM_ACTOR,
            **self.vocabulary.describe(),
            "digest": self.vocabulary.digest,
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
            wrapped = self.keys.wrap(secret, wrap_aad(key_id, subject, category))
            self.new_keys.append(WrappedKey(key_id, subject, category, wrapped, self.keys.kek_id))
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
        doomed = [
            key
            for key in self.tx.subject_keys([subject])
            if wanted == ["*"] or any(self.vocabulary.covers(w, key.category) for w in wanted)
        ]
        if doomed:
            self.tx.destroy_keys([key.key_id for key in doomed])
            self.key_epoch += 1
        for key in doomed:
            self.cache.keys.pop((subject, key.category), None)
            self.stored.pop((subject, key.category), None)
        return sorted(key.category for key in doomed)
