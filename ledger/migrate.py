"""`ledger migrate`: a store upgraded to this release's schema, with the key migration of
schema 1 to 2, which verifies the chain and the head before it reseals anything (so it sits
above the store layer; the Alembic plumbing is ``ledger.store.revisions``)."""

from __future__ import annotations

import contextlib
import hmac
from pathlib import Path

from sqlalchemy import Connection, inspect, text

from ledger.core import chain
from ledger.core.spec import VOCABULARY_TYPE
from ledger.crypto.envelope import wrap_aad
from ledger.crypto.keys import (
    LEGACY_KEK_FILE,
    SLOTS_FILE,
    Generation,
    LocalKeySource,
    add_slots,
    destroy_file,
    legacy_kek_id,
    legacy_unwrap,
    read_legacy_kek,
    read_seal_key,
)
from ledger.errors import ConfigError, IntegrityError, KeyUnavailable, StoreError
from ledger.sealing import sealed_head
from ledger.store import open_store
from ledger.store.base import Head, Store
from ledger.store.engine import sqlalchemy_engine
from ledger.store.revisions import current_revision, head_revision, upgrade
from ledger.store.urls import mask_url
from ledger.verification.checker import ChainChecker


def migrate(url: str, keys: Path | None = None) -> tuple[str | None, str]:
    """Upgrade the store to the newest migration; (revision before, revision after).

    From schema 1 this needs the keys folder (see :class:`KeyMigration`); once the new
    schema is committed, the single key-encryption key of schema 1 is destroyed."""
    before = current_revision(url)
    plan = KeyMigration.prepare(url, keys) if before in (None, "0001") else None
    try:
        upgrade(url, key_migration=plan)
    except BaseException:
        if plan is not None:
            plan.abandon()
        raise
    if plan is not None:
        plan.finish()
    return before, head_revision()


class KeyMigration:
    """Schema 1 to 2: every data key re-wrapped from ``kek.key`` under generation 1 of its
    bucket in a new ``kek.slots``, the head resealed in the v2 format.

    Nothing is resealed that was not verified: the chain (hashes, links, row seals) and the
    v1 head seal are checked first, and the vocabulary digest the new seal covers is the
    one the newest ``ledger.vocabulary`` event on the chain names (schema 1 left the head's
    copy unsealed)."""

    def __init__(self, url: str, folder: Path, ledger_id: str, head: Head, kek: bytes) -> None:
        self.url, self.folder, self.ledger_id, self.kek = url, folder, ledger_id, kek
        self.head = head
        self.source: LocalKeySource | None = None

    @classmethod
    def prepare(cls, url: str, folder: Path | None) -> KeyMigration:
        if folder is None:
            raise ConfigError(
                "store schema 2 moves the data keys under per-bucket key-encryption keys: run "
                "`ledger migrate` with the store's keys folder (--keys)"
            )
        if not (folder / LEGACY_KEK_FILE).exists():
            raise KeyUnavailable(
                f"no {LEGACY_KEK_FILE} in {folder}: a schema-1 store is migrated with the "
                "keys folder it was created with"
            )
        kek = read_legacy_kek(folder)
        seal = read_seal_key(folder)
        store = open_store(url)
        try:
            meta = store.meta()
            ledger_id = meta["ledger_id"]
            if meta.get("kek_id") not in (None, legacy_kek_id(kek)):
                raise KeyUnavailable(
                    f"the key-encryption key in {folder} is not this ledger's: wrong keys folder"
                )
            head = _verified_v1_head(url, store, ledger_id, seal)
        finally:
            store.close()
        return cls(url, folder, ledger_id, head, kek)

    def apply(self, bind: Connection) -> None:
        """Inside the Alembic transaction: new tables, re-wrapped keys, new head and meta."""
        postgres = bind.dialect.name == "postgresql"
        blob, big = ("bytea", "bigint") if postgres else ("BLOB", "INTEGER")
        columns = {c["name"] for c in inspect(bind).get_columns("ledger_head")}
        for statement in (
            f"CREATE TABLE IF NOT EXISTS ledger_buckets (bucket integer PRIMARY KEY, "
            f"generation {big} NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS ledger_purge (id {big} PRIMARY KEY, kind text NOT NULL,"
            f" sequence {big} NOT NULL, since text NOT NULL, retire text NOT NULL, xid text, "
            "reason text)",
            "CREATE INDEX IF NOT EXISTS ledger_keys_kek ON ledger_keys (kek_id)",
            *([] if "keymap" in columns else [f"ALTER TABLE ledger_head ADD COLUMN keymap {blob}"]),
        ):
            bind.execute(text(statement))
        self.source = source = add_slots(self.folder)
        generations = {bucket: 1 for bucket in range(source.buckets)}
        last = ""
        while batch := bind.execute(
            text("SELECT key_id, subject, category, wrapped FROM ledger_keys "
                 "WHERE key_id > :last ORDER BY key_id LIMIT 1000"),
            {"last": last},
        ).fetchall():  # fmt: skip
            updates = []
            for key_id, subject, category, wrapped in batch:
                aad = wrap_aad(key_id, subject, category)
                secret = legacy_unwrap(self.kek, bytes(wrapped), aad)
                generation = Generation(source.bucket(subject), 1)
                updates.append(
                    {"id": key_id, "wrapped": source.wrap(generation, secret, aad),
                     "kek": generation.id}
                )  # fmt: skip
                last = key_id
            bind.execute(
                text("UPDATE ledger_keys SET wrapped = :wrapped, kek_id = :kek WHERE key_id = :id"),
                updates,
            )
        bind.execute(text("DELETE FROM ledger_buckets"))
        bind.execute(
            text("INSERT INTO ledger_buckets (bucket, generation) VALUES (:b, :g)"),
            [{"b": b, "g": g} for b, g in sorted(generations.items())],
        )
        old = self.head
        head = sealed_head(source, self.ledger_id, old.sequence, old.hash, old.key_epoch + 1,
                           old.vocabulary, generations)  # fmt: skip
        bind.execute(
            text("UPDATE ledger_head SET key_epoch = :epoch, vocabulary = :vocabulary, "
                 "keymap = :keymap, seal = :seal WHERE id = 1"),
            {"epoch": head.key_epoch, "vocabulary": head.vocabulary, "keymap": head.keymap,
             "seal": head.seal},
        )  # fmt: skip
        bind.execute(
            text(
                "DELETE FROM ledger_meta WHERE name IN "
                "('kek_id', 'keystore_id', 'buckets', 'seal_id', 'schema_version')"
            )
        )
        bind.execute(
            text("INSERT INTO ledger_meta (name, value) VALUES (:name, :value)"),
            [{"name": name, "value": value} for name, value in (
                ("keystore_id", source.store_id), ("buckets", str(source.buckets)),
                ("seal_id", source.seal_id), ("schema_version", "2"))],
        )  # fmt: skip

    def abandon(self) -> None:
        """The upgrade failed and was rolled back: the new slot file protects nothing."""
        if self.source is not None:
            with contextlib.suppress(KeyUnavailable):
                destroy_file(self.folder / SLOTS_FILE)

    def finish(self) -> None:
        """The new schema is committed: destroy the single key-encryption key of schema 1
        (every copy of a key wrapped under it, erased ones included, is then beyond use)."""
        destroy_file(self.folder / LEGACY_KEK_FILE)


def _verified_v1_head(url: str, store: Store, ledger_id: str, seal: bytes) -> Head:
    """The schema-1 head, once the chain and its v1 seal verify; the vocabulary digest taken
    from the chain."""

    def mac(message: bytes) -> bytes:
        return hmac.digest(seal, message, "sha256")

    engine, _ = sqlalchemy_engine(url)  # its connections' search_path is the schema
    try:
        with engine.connect() as connection:
            found = connection.execute(
                text("SELECT sequence, hash, key_epoch, seal FROM ledger_head WHERE id = 1")
            ).fetchone()
    finally:
        engine.dispose()
    if found is None:
        raise StoreError(f"{mask_url(url)} has no head row: not a ledger store")
    sequence, digest, epoch, stored_seal = int(found[0]), bytes(found[1]), int(found[2]), found[3]
    want = mac(b"ledger-head/v1\x00" + ledger_id.encode() + b"\x00"
               + sequence.to_bytes(8, "big") + digest)  # fmt: skip
    if stored_seal is None or not hmac.compare_digest(want, bytes(stored_seal)):
        raise IntegrityError(sequence, "the head's seal does not verify: nothing was migrated")
    checker = ChainChecker(ledger_id, mac)
    vocabulary = None
    with store.snapshot() as snapshot:
        for row in snapshot.rows(1, sequence):
            checker.check(row)
            if row.type == VOCABULARY_TYPE:
                vocabulary = str(chain.parse(row.state).event.get("digest"))
    if checker.expected != sequence + 1 or checker.prev != digest:
        raise IntegrityError(
            checker.expected, "the chain does not end at the head: nothing was migrated"
        )
    return Head(sequence, digest, epoch, vocabulary, b"", None)
