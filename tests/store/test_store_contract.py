"""The store contract, one set of tests run against each engine (as eventsourcing's
``ApplicationRecorderTestCase`` is subclassed per backend): head, rows, keys, tree nodes,
purge notes, checkpoints, eventsourcing's notifications, read-only refusal and errors.

Rows are written through the store alone, with stand-in hashes: these tests pin what a store
keeps and returns, not the chain (the facade's tests do that). Sizes cross SQLite's 500
values per IN list, so chunked and unchunked lookups answer alike.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from eventsourcing.persistence import StoredEvent

from ledger.core.chain import GENESIS
from ledger.errors import ReadOnlyStore, StoreError, StoreExists, StoreNotFound
from ledger.log.merkle import leaf_hash
from ledger.store import Store, open_store
from ledger.store.base import Head, PendingPurge, StoredRow, WrappedKey

MANY = 1234  # more than two of SQLite's IN lists
GENERATIONS = {bucket: 1 for bucket in range(16)}
META = {"ledger_id": "2f0c6d8e-0000-4000-8000-000000000001", "origin": "northgate-it/ledger"}


def _head(sequence: int = 0, digest: bytes = GENESIS) -> Head:
    return Head(sequence, digest, 0, None, b"keymap", b"seal")


def _row(sequence: int) -> StoredRow:
    """The stored row at *sequence*: every third one is an access with no client id."""
    subject = f"cust-{sequence % 7}"
    kind = ("collected", "accessed", "rectified")[sequence % 3]
    return StoredRow(
        sequence, str(uuid.UUID(int=sequence)), kind, subject,
        None if kind == "accessed" else f"helpdesk-{sequence}",
        b'{"n":%d}' % sequence, sequence.to_bytes(32, "big"), b"mac-%d" % sequence,
    )  # fmt: skip


def _key(n: int, kek: str = "3:1") -> WrappedKey:
    return WrappedKey(f"key-{n:05d}", f"cust-{n % 9}", f"user.c{n}", b"wrapped-%d" % n, kek)


class StoreContract:
    """What every store does; a subclass names the engine by its ``url`` fixture."""

    @pytest.fixture
    def url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def store(self, url: str) -> Iterator[Store]:
        made = open_store(url)
        made.create(META, _head(), GENERATIONS)
        yield made
        made.close()

    @pytest.fixture
    def filled(self, store: Store) -> Store:
        """The store holding rows 1 to MANY, with the head at MANY."""
        with store.writer() as tx:
            tx.insert([_row(n) for n in range(1, MANY + 1)])
            tx.set_head(_head(MANY, _row(MANY).hash))
        return store

    # -- a new store --------------------------------------------------------------------------

    def test_a_new_store_holds_its_meta_head_and_key_map(self, store: Store) -> None:
        assert store.exists()
        assert store.meta() == {**META, "schema_version": "2"}
        assert store.head() == _head()
        with store.snapshot() as snapshot:
            assert snapshot.head() == _head()
            assert snapshot.generations() == GENERATIONS
            assert snapshot.pending() == []
            assert snapshot.checkpoints() == []
            assert snapshot.levels() == []
            assert list(snapshot.rows()) == []
            assert snapshot.wrapped_keys() == []

    def test_a_store_is_never_created_twice(self, store: Store, url: str) -> None:
        again = open_store(url)
        try:
            with pytest.raises(StoreExists):
                again.create(META, _head(), GENERATIONS)
        finally:
            again.close()
        assert store.head() == _head()

    # -- rows -------------------------------------------------------------------------------

    def test_rows_read_back_as_written_by_every_lookup(self, filled: Store) -> None:
        rows = [_row(n) for n in range(1, MANY + 1)]
        assert list(filled.rows()) == rows
        assert list(filled.rows(600, 700)) == rows[599:700]
        wanted = [MANY, 3, 3, 501, 1, 1000, MANY + 5]  # unordered, repeated, one not stored
        assert filled.rows_at(wanted) == [_row(n) for n in sorted({1, 3, 501, 1000, MANY})]
        assert filled.rows_at(list(range(MANY, 0, -1))) == rows
        assert filled.rows_of_type("rectified") == [r for r in rows if r.type == "rectified"]
        assert list(filled.subject_rows("cust-3")) == [r for r in rows if r.subject == "cust-3"]
        assert filled.head() == _head(MANY, _row(MANY).hash)

    def test_a_write_transaction_that_fails_leaves_nothing(self, filled: Store) -> None:
        with pytest.raises(RuntimeError), filled.writer() as tx:
            tx.insert([_row(MANY + 1)])
            tx.set_head(_head(MANY + 1))
            raise RuntimeError("the batch was refused half way")
        assert filled.head().sequence == MANY
        assert filled.rows_at([MANY + 1]) == []

    def test_rows_beyond_the_head_are_stored_but_not_on_the_chain(self, filled: Store) -> None:
        with filled.writer() as tx:  # a row beyond the head, as a crashed import might leave
            tx.insert([_row(MANY + 1)])
        with filled.writer() as tx:
            assert tx.head.sequence == MANY
            ids = [f"helpdesk-{n}" for n in range(1, MANY + 2)]
            present = tx.present([*ids, *ids[:10], "helpdesk-none"])
            expected = {
                r.client_id: (r.sequence, r.hash, r.state)
                for r in map(_row, range(1, MANY + 1))
                if r.client_id
            }
            assert present == expected
            assert tx.subject_states("cust-2") == [
                r.state for r in map(_row, range(1, MANY + 1))
                if r.subject == "cust-2" and r.type in ("collected", "rectified")
            ]  # fmt: skip
        assert list(filled.rows())[-1] == _row(MANY + 1)  # rows() has no bound: it is there
        assert list(filled.rows(1, MANY))[-1] == _row(MANY)

    # -- the tree ---------------------------------------------------------------------------

    def test_leaves_are_hashed_from_the_stored_records_and_inner_nodes_read_back(
        self, filled: Store
    ) -> None:
        inner = [(1, i, b"n1-%d" % i) for i in range(600)] + [
            (2, i, b"n2-%d" % i) for i in range(3)
        ]
        with filled.writer() as tx:
            tx.add_nodes(inner)
            assert tx.nodes([(0, 0), (2, 1)]) == {(0, 0): leaf_hash(_row(1).state), (2, 1): b"n2-1"}
        positions = [(0, i) for i in range(0, MANY + 3, 2)] + [(1, i) for i in range(0, 700, 3)]
        expected = {(0, i): leaf_hash(_row(i + 1).state) for i in range(0, MANY, 2)}
        expected |= {(1, i): b"n1-%d" % i for i in range(0, 600, 3)}
        assert filled.nodes(positions) == expected
        with filled.snapshot() as snapshot:
            assert snapshot.nodes(positions) == expected
            assert snapshot.states_at([1, 2, MANY + 9]) == {1: _row(1).state, 2: _row(2).state}
            assert snapshot.inner_nodes([(2, 0), (2, 9)]) == {(2, 0): b"n2-0"}
            assert snapshot.levels() == [1, 2]
            assert list(snapshot.level(1, 598)) == [(598, b"n1-598"), (599, b"n1-599")]
            assert list(snapshot.level(2, 0, 2)) == [(0, b"n2-0"), (1, b"n2-1")]

    # -- keys and the key map ---------------------------------------------------------------

    def test_wrapped_keys_are_found_by_id_subject_and_generation(self, store: Store) -> None:
        keys = [_key(n, kek="3:1" if n % 2 else "5:2") for n in range(MANY)]
        with store.writer() as tx:
            tx.add_keys(keys)
        ids = [k.key_id for k in keys]
        assert store.keys([*ids, *ids[:5], "key-none"]) == {k.key_id: k for k in keys}
        with store.writer() as tx:
            assert sorted(tx.keys_by_id(ids[::-1]), key=str) == sorted(keys, key=str)
            subjects = ["cust-1", "cust-4"]
            assert tx.subject_keys(subjects) == sorted(
                (k for k in keys if k.subject in subjects), key=lambda k: (k.subject, k.category)
            )
            assert sorted(tx.keys_under(["5:2"]), key=str) == sorted(
                (k for k in keys if k.kek_id == "5:2"), key=str
            )
            assert sorted(tx.all_keys(), key=str) == sorted(keys, key=str)
            rewrapped = [
                WrappedKey(k.key_id, k.subject, k.category, b"again", "5:3") for k in keys[:3]
            ]
            tx.rewrap(rewrapped)
            tx.destroy_keys(ids[3:])  # more than one IN list
        with store.snapshot() as snapshot:
            assert snapshot.wrapped_keys() == rewrapped

    def test_the_key_map_changes_only_the_buckets_given(self, store: Store) -> None:
        with store.writer() as tx:
            tx.set_generations({3: 2, 15: 7})
            assert tx.generations() == {**GENERATIONS, 3: 2, 15: 7}
        with store.snapshot() as snapshot:
            assert snapshot.generations() == {**GENERATIONS, 3: 2, 15: 7}

    def test_meta_rows_are_updated_in_place(self, store: Store) -> None:
        with store.writer() as tx:
            tx.set_meta("origin", "northgate-it/audit")
        assert store.meta()["origin"] == "northgate-it/audit"

    # -- purge notes and checkpoints ----------------------------------------------------------

    def test_purge_notes_are_kept_in_order_until_they_end(self, store: Store) -> None:
        note = PendingPurge(0, "erasure", 4, "2026-03-01T09:30:00Z", ("3:1", "5:1"), None, None)
        with store.writer() as tx:
            first = tx.add_purge(note)
            second = tx.add_purge(
                PendingPurge(0, "rotation", 9, "2026-03-02T09:30:00Z", (), "7", None)
            )
        assert second == first + 1
        store.note_purge(first, "a reader holds a snapshot")
        pending = store.pending()
        assert [p.id for p in pending] == [first, second]
        assert pending[0] == PendingPurge(
            first, "erasure", 4, "2026-03-01T09:30:00Z", ("3:1", "5:1"), None,
            "a reader holds a snapshot",
        )  # fmt: skip
        assert pending[1].kind == "rotation" and pending[1].xid == "7"
        store.end_purges([first])
        assert [p.id for p in store.pending()] == [second]
        store.end_purges([])
        store.end_purges([second])
        assert store.pending() == []

    def test_checkpoints_are_kept_by_size_the_newest_note_winning(self, store: Store) -> None:
        assert store.checkpoint_made(5) is None
        store.add_checkpoint(5, b"r" * 32, "note five", "2026-03-01T09:30:00Z")
        store.add_checkpoint(2, b"s" * 32, "note two", "2026-03-01T09:00:00Z")
        store.add_checkpoint(5, b"t" * 32, "note five again", "2026-03-02T09:30:00Z")
        assert store.checkpoints() == [(2, "note two"), (5, "note five again")]
        assert store.checkpoint_made(5) == "2026-03-02T09:30:00Z"
        with store.snapshot() as snapshot:
            assert snapshot.checkpoints() == [(2, "note two"), (5, "note five again")]

    # -- eventsourcing's recorder -----------------------------------------------------------

    def test_the_recorder_serves_the_events_as_notifications(self, filled: Store) -> None:
        recorder = filled.recorder
        assert recorder.max_notification_id() == MANY
        found = recorder.select_notifications(start=500, limit=3)
        assert [n.id for n in found] == [500, 501, 502]
        for notification in found:
            row = _row(notification.id)
            assert str(notification.originator_id) == row.uuid
            assert notification.originator_version == 1
            assert notification.topic == row.type
            assert bytes(notification.state) == row.state
        assert [n.id for n in recorder.select_notifications(start=MANY - 1, limit=10)] == [
            MANY - 1, MANY,
        ]  # fmt: skip

    def test_events_inserted_through_the_recorder_are_refused(self, filled: Store) -> None:
        recorder = filled.recorder
        event = StoredEvent(uuid.uuid4(), 1, "collected", b'{"n":0}')
        with pytest.raises(StoreError) as refused:
            recorder.insert_events([event])
        assert "only through the ledger" in str(refused.value)
        assert recorder.max_notification_id() == MANY
        assert filled.head().sequence == MANY

    # -- read-only opens and errors ---------------------------------------------------------

    def test_a_read_only_open_reads_and_refuses_every_write(self, filled: Store, url: str) -> None:
        reader = open_store(url, read_only=True)
        try:
            assert reader.head() == filled.head()
            assert len(reader.rows_at([1, 2, 3])) == 3
            with pytest.raises(ReadOnlyStore) as refused, reader.writer():
                pass
            assert str(refused.value).endswith("is opened read-only: cannot write to it")
            with pytest.raises(ReadOnlyStore):
                reader.add_checkpoint(1, b"r" * 32, "note", "2026-03-01T09:30:00Z")
            with pytest.raises(ReadOnlyStore):
                reader.create(META, _head(), GENERATIONS)
            assert not reader.purge().done
        finally:
            reader.close()
        assert filled.checkpoints() == []

    def test_a_store_not_created_is_named_not_found(self, url: str) -> None:
        missing = open_store(url)
        try:
            assert not missing.exists()
            with pytest.raises(StoreNotFound):
                missing.meta()
            with pytest.raises(StoreNotFound):
                missing.head()
        finally:
            missing.close()


class TestSQLiteStore(StoreContract):
    @pytest.fixture
    def url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.mark.postgres
class TestPostgresStore(StoreContract):
    @pytest.fixture
    def url(self, postgres_url: str) -> str:
        return postgres_url
