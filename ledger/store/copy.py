"""Moving a whole ledger between stores (SQLite to PostgreSQL or back), byte for byte.

The copy carries the same ledger id, records, hashes, seals, tree nodes, wrapped
keys, key map and checkpoints, so it verifies with the same keys folder and against
the same signed checkpoints. The two stores then share that keys folder: an erasure
in either destroys the key-encryption key generation both use. Projections are not
copied: they rebuild from the events.
"""

from __future__ import annotations

import itertools

from ledger.core.chain import GENESIS
from ledger.errors import StoreExists
from ledger.log.checkpoint import parse
from ledger.store.base import Head, Store
from ledger.store.urls import mask_url

_CHUNK = 2000


def copy_ledger(source: Store, target: Store) -> int:
    """Copy *source* (as of one snapshot) into the new store *target*; how many events."""
    if target.exists():
        raise StoreExists(
            f"a ledger already exists at {mask_url(target.url)}: refusing to overwrite it"
        )
    meta = {k: v for k, v in source.meta().items() if k != "schema_version"}
    with source.snapshot() as snapshot:
        head = snapshot.head()
        generations = snapshot.generations()
        target.create(meta, Head(0, GENESIS, 0, None, head.keymap, None), generations)
        with target.writer() as tx:
            rows = (row for row in snapshot.rows() if row.sequence <= head.sequence)
            while chunk := list(itertools.islice(rows, _CHUNK)):
                tx.insert(chunk)
            for level in snapshot.levels():
                nodes = (
                    (level, index, digest)
                    for index, digest in snapshot.level(level)
                    if (index + 1) << level <= head.sequence
                )
                while batch := list(itertools.islice(nodes, _CHUNK)):
                    tx.add_nodes(batch)
            tx.add_keys(snapshot.wrapped_keys())
            tx.set_head(head)
        checkpoints = [
            (size, note) for size, note in snapshot.checkpoints() if size <= head.sequence
        ]
    for size, note in checkpoints:
        target.add_checkpoint(size, parse(note).root, note, meta.get("created_at", ""))
    return head.sequence
