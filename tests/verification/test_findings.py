"""Each kind of tampering yields one typed finding, at the same first bad position, whether
one process checks the chain or several do, on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from ledger import Ledger
from ledger.core import chain
from ledger.core.canonical import sha256
from ledger.store.engine import sqlalchemy_engine
from ledger.verification import parallel
from ledger.verification.checker import Finding, FindingKind, VerifyReport


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 4 events, ranges of 12: the story's 34 events span three ranges and the
    parent compares the tree levels above the chunks."""
    monkeypatch.setattr(parallel, "CHUNK_LEVEL", 2)
    monkeypatch.setattr(parallel, "RANGE_CHUNKS", 3)


FORGED = "00000000-0000-7000-8000-000000000000"  # the forged record's uuid


class Store:
    """The filled ledger's store, closed, for SQL behind the ledger's back."""

    def __init__(self, url: str, keys: Path, size: int) -> None:
        self.url, self.keys, self.size = url, keys, size
        self.seq = "rowid" if url.startswith("sqlite") else "notification_id"

    def sql(self, statement: str, **params: Any) -> None:
        engine, schema = sqlalchemy_engine(self.url)
        with engine.begin() as conn:
            if schema:
                conn.execute(text(f'SET search_path TO "{schema}"'))
            conn.execute(text(statement.replace("{seq}", self.seq)), params)
        engine.dispose()

    def row(self, seq: int) -> tuple[bytes, bytes, bytes]:
        """(state, hash, mac) of event *seq*."""
        engine, schema = sqlalchemy_engine(self.url)
        with engine.begin() as conn:
            if schema:
                conn.execute(text(f'SET search_path TO "{schema}"'))
            found = conn.execute(
                text(f"SELECT state, hash, mac FROM ledger_events WHERE {self.seq} = :s"),
                {"s": seq},
            ).one()
        engine.dispose()
        return bytes(found[0]), bytes(found[1]), bytes(found[2])

    def insert(self, seq: int, state: bytes, digest: bytes, originator: str = FORGED) -> None:
        """A row the ledger did not write, at *seq* (its uuid column *originator*)."""
        self.sql(
            "INSERT INTO ledger_events ({seq}, originator_id, originator_version, topic, "
            "state, hash, subject) VALUES (:seq, :id, 1, 'accessed', :state, :hash, 'cust-1001')",
            seq=seq, id=originator, state=state, hash=digest,
        )  # fmt: skip


def _forged(seq: int, prev: bytes) -> tuple[bytes, bytes]:
    """A well-formed record of an access at *seq* linked to *prev*: a valid chain link."""
    return chain.seal(
        seq=seq,
        recorded_at="2026-11-24T00:00:00.000000Z",
        prev=prev,
        uuid=FORGED,
        event={"type": "accessed", "at": "2026-11-24T00:00:00Z", "actor": "staff:mallory",
               "subject": "cust-1001", "categories": ["user.name"],
               "purpose": "essential.service", "system": "crm"},
    )  # fmt: skip


# -- the tamperings: each changes the store and says where and what must be found -------------


def change_a_byte(store: Store) -> int:
    state, _, _ = store.row(15)
    store.sql("UPDATE ledger_events SET state = :s WHERE {seq} = 15",
              s=state.replace(b'"actor":"staff:jsmith"', b'"actor":"staff:jsmitH"'))  # fmt: skip
    return 15


def change_a_record_and_its_hash(store: Store) -> int:
    state, _, _ = store.row(7)
    forged = state.replace(b'"retention":"P2Y"', b'"retention":"P9Y"')
    assert forged != state
    store.sql("UPDATE ledger_events SET state = :s, hash = :h WHERE {seq} = 7",
              s=forged, h=sha256(forged))  # fmt: skip
    return 7


def change_a_column(store: Store) -> int:
    store.sql("UPDATE ledger_events SET subject = 'cust-9999' WHERE {seq} = 5")
    return 5


def remove_a_row(store: Store) -> int:
    store.sql("DELETE FROM ledger_events WHERE {seq} = 13")  # the first of the second range
    return 13


def remove_the_newest_row(store: Store) -> int:
    store.sql("DELETE FROM ledger_events WHERE {seq} = :s", s=store.size)
    return store.size


def insert_a_row_in_the_middle(store: Store) -> int:
    store.sql("UPDATE ledger_events SET {seq} = {seq} + 1000 WHERE {seq} > 10")
    store.sql("UPDATE ledger_events SET {seq} = {seq} - 999 WHERE {seq} > 1000")
    store.insert(11, *_forged(11, store.row(10)[1]))
    return 12  # the forged 11 links well; the original 11, moved to 12, holds its old seq


def append_a_row_behind_the_head(store: Store) -> int:
    store.insert(store.size + 1, *_forged(store.size + 1, store.row(store.size)[1]))
    return store.size + 1


def swap_two_rows(store: Store) -> int:
    four, six = store.row(4), store.row(6)
    for seq, (state, digest, mac) in ((4, six), (6, four)):
        store.sql("UPDATE ledger_events SET state = :s, hash = :h, mac = :m WHERE {seq} = :q",
                  s=state, h=digest, m=mac, q=seq)  # fmt: skip
    return 4


def store_a_row_before_the_first(store: Store) -> int:
    state, digest, _ = store.row(1)
    store.insert(0, state, digest, str(uuid.uuid4()))  # row 1's record, again
    return 0


def change_a_tree_node(store: Store) -> int:
    store.sql("UPDATE ledger_tree SET hash = :z WHERE level = 3 AND idx = 1", z=bytes(32))
    return 16  # leaves 9-16: completed by event 16, above a worker's chunks


def delete_a_tree_node(store: Store) -> int:
    store.sql("DELETE FROM ledger_tree WHERE level = 1 AND idx = 9")
    return 20  # leaves 19-20, inside the second range


def add_a_stray_tree_node(store: Store) -> int:
    store.sql("INSERT INTO ledger_tree (level, idx, hash) VALUES (1, :i, :z)",
              i=store.size // 2 + 5, z=bytes(32))  # fmt: skip
    return store.size


def store_a_leaf_in_the_tree(store: Store) -> int:
    # leaves are never stored: a level-0 row inside the tree's span is still extra
    store.sql("INSERT INTO ledger_tree (level, idx, hash) VALUES (0, 3, :z)", z=bytes(32))
    return store.size


def store_a_node_below_the_leaves(store: Store) -> int:
    store.sql("INSERT INTO ledger_tree (level, idx, hash) VALUES (-1, 0, :z)", z=bytes(32))
    return store.size


def cut_the_newest_rows_and_forge_the_head(store: Store) -> int:
    keep = store.size - 2
    store.sql("DELETE FROM ledger_events WHERE {seq} > :k", k=keep)
    store.sql("UPDATE ledger_head SET sequence = :k, hash = :h", k=keep, h=store.row(keep)[1])
    return keep


def forge_the_head_hash(store: Store) -> int:
    store.sql("UPDATE ledger_head SET hash = :z", z=bytes(32))
    return store.size


def change_the_key_map(store: Store) -> int:
    store.sql("UPDATE ledger_buckets SET generation = generation + 1 "
              "WHERE bucket = (SELECT min(bucket) FROM ledger_buckets)")  # fmt: skip
    return store.size


Tamper = Callable[[Store], int]

# (tampering, with the keys at hand, the finding's kind)
CASES: list[tuple[Tamper, bool, FindingKind]] = [
    (change_a_byte, True, FindingKind.HASH_MISMATCH),
    (change_a_record_and_its_hash, True, FindingKind.SEAL),
    (change_a_column, False, FindingKind.COLUMNS),
    (remove_a_row, False, FindingKind.MISSING),
    (remove_the_newest_row, False, FindingKind.MISSING),
    (insert_a_row_in_the_middle, False, FindingKind.MOVED),
    (append_a_row_behind_the_head, False, FindingKind.BEYOND_HEAD),
    (swap_two_rows, False, FindingKind.MOVED),
    (store_a_row_before_the_first, False, FindingKind.STRAY),
    (change_a_tree_node, False, FindingKind.TREE),
    (delete_a_tree_node, False, FindingKind.TREE),
    (add_a_stray_tree_node, False, FindingKind.TREE_EXTRA),
    (store_a_leaf_in_the_tree, False, FindingKind.TREE_EXTRA),
    (store_a_node_below_the_leaves, False, FindingKind.TREE_EXTRA),
    (cut_the_newest_rows_and_forge_the_head, True, FindingKind.HEAD_SEAL),
    (forge_the_head_hash, False, FindingKind.HEAD),
    (change_the_key_map, False, FindingKind.KEYMAP_CHANGED),
]


@pytest.fixture
def closed(filled: Ledger, store: tuple[str, Path]) -> Store:
    size = filled.size
    filled.close()
    return Store(store[0], store[1], size)


def _both(store: Store, keys: bool) -> tuple[VerifyReport, VerifyReport]:
    folder = store.keys if keys else store.keys / "absent"
    with Ledger.open(store.url, folder, read_only=True) as ledger:
        return ledger.verify(workers=1), ledger.verify(workers=2)


@pytest.mark.parametrize(("tamper", "keys", "kind"), CASES, ids=[c[0].__name__ for c in CASES])
def test_each_tampering_is_the_same_typed_finding_on_one_core_and_several(
    closed: Store, tamper: Tamper, keys: bool, kind: FindingKind
) -> None:
    position = tamper(closed)
    one, several = _both(closed, keys)
    assert one.finding is not None, one
    assert one.finding.kind is kind and one.first_bad == position, one.finding
    assert one.finding == Finding(kind, one.first_bad, one.reason or "")
    assert several.findings == one.findings
    assert several.to_dict() == one.to_dict()
    assert not one.intact and one.seals_checked is keys


def test_the_chain_alone_finds_a_rehashed_record_at_the_next_link(closed: Store) -> None:
    position = change_a_record_and_its_hash(closed)
    one, several = _both(closed, keys=False)
    assert one.finding == several.finding
    assert one.finding is not None and one.finding.kind is FindingKind.CHAIN_BROKEN
    assert one.first_bad == position + 1


def test_an_intact_ledger_has_no_finding_either_way(closed: Store) -> None:
    one, several = _both(closed, keys=True)
    assert one.intact and several.intact and one.findings == several.findings == ()
    assert one.root == several.root and "findings" not in one.to_dict()


# -- the check since a signed checkpoint: the same core, from the checkpoint on ---------------


def flip_a_recent_byte(store: Store) -> int:
    state, _, _ = store.row(store.size - 2)
    store.sql("UPDATE ledger_events SET state = :s WHERE {seq} = :q",
              s=state.replace(b'"seq"', b'"seQ"'), q=store.size - 2)  # fmt: skip
    return store.size - 2


SINCE_CASES: list[tuple[Tamper, bool, FindingKind]] = [
    (flip_a_recent_byte, False, FindingKind.HASH_MISMATCH),
    (remove_the_newest_row, False, FindingKind.MISSING),
    (append_a_row_behind_the_head, False, FindingKind.BEYOND_HEAD),
    (store_a_row_before_the_first, False, FindingKind.STRAY),
    (cut_the_newest_rows_and_forge_the_head, True, FindingKind.HEAD_SEAL),
    (forge_the_head_hash, False, FindingKind.HEAD),
    (change_the_key_map, False, FindingKind.KEYMAP_CHANGED),
]


@pytest.mark.parametrize(
    ("tamper", "keys", "kind"), SINCE_CASES, ids=[c[0].__name__ for c in SINCE_CASES]
)
def test_the_check_since_a_checkpoint_finds_what_a_full_verify_finds(
    store: tuple[str, Path], tmp_path: Path, tamper: Tamper, keys: bool, kind: FindingKind
) -> None:
    from ledger.crypto.signing import create_signer
    from ledger.demo.workload import generate
    from ledger.transparency import VerifiableLog

    url, folder = store
    events = list(generate(30))
    with Ledger.init(url, folder, origin="test/ledger") as ledger:
        ledger.record_many(events[:20])
        VerifiableLog(ledger).checkpoint(create_signer(tmp_path / "signing", "test/ledger"))
        signed = ledger.size
        ledger.record_many(events[20:])
        size = ledger.size
    position = tamper(Store(url, folder, size))
    assert position == 0 or position > signed  # after the checkpoint: the events it reads
    with Ledger.open(url, folder if keys else folder / "absent", read_only=True) as ledger:
        full = ledger.verify(workers=1)
        since = VerifiableLog(ledger).verify_since_checkpoint().check
    assert since.start == signed and since.base is not None  # from the checkpoint
    assert full.finding is not None and full.finding.kind is kind, full.finding
    assert since.report.finding == full.finding and since.report.first_bad == position


# -- two tamperings at once: the first position wins, on both paths --------------------------


def test_a_stray_row_is_reported_first_on_both_paths_whatever_else_is_wrong(
    closed: Store,
) -> None:
    remove_a_row(closed)
    store_a_row_before_the_first(closed)
    one, several = _both(closed, keys=False)
    assert one.finding is not None and one.finding.kind is FindingKind.STRAY
    assert several.to_dict() == one.to_dict() and one.checked == 0


def test_an_upper_tree_node_before_a_bad_row_of_the_same_range_is_found_first(
    store: tuple[str, Path],
) -> None:
    from ledger.demo.workload import generate

    url, folder = store
    with Ledger.init(url, folder) as ledger:
        ledger.record_many(list(generate(100)))  # ranges of 3 chunks: events 13-24 is one
        size = ledger.size
    tampered = Store(url, folder, size)
    change_a_tree_node(tampered)  # level 3, completed by event 16: checked by the parent
    state, _, _ = tampered.row(20)
    tampered.sql("UPDATE ledger_events SET state = :s WHERE {seq} = 20",
                 s=state.replace(b'"seq"', b'"seQ"'))  # fmt: skip
    one, several = _both(tampered, keys=False)
    assert one.finding is not None and one.finding.kind is FindingKind.TREE
    assert one.first_bad == 16 and several.to_dict() == one.to_dict()


def test_a_removed_newest_row_is_named_by_the_row_beyond_the_head_on_both_paths(
    closed: Store,
) -> None:
    appended = append_a_row_behind_the_head(closed)
    remove_the_newest_row(closed)
    one, several = _both(closed, keys=False)
    assert one.finding is not None and one.finding.kind is FindingKind.MISSING
    assert f"the next stored row is {appended}" in one.finding.reason
    assert several.to_dict() == one.to_dict()
