"""The Python API engineers call: :class:`Ledger` composes the contract, the chain,
the envelope encryption and a store.

    with Ledger.open("sqlite:///ledger.db", keys="ledger-keys") as ledger:
        ledger.record("accessed", actor="staff:jsmith", subject="cust-1042",
                      categories=["user.contact.email"],
                      purpose="essential.service.operations.support",
                      system="helpdesk")
"""

from __future__ import annotations

import contextlib
import dataclasses
import hmac
import itertools
import os
import re
import threading
import time
import uuid as uuidlib
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any
from uuid import UUID

from eventsourcing.application import LocalNotificationLog
from eventsourcing.persistence import (
    ApplicationRecorder,
    Notification,
    PersistenceError,
    StoredEvent,
    Subscription,
)

from ledger.commit import GroupCommit, Outcome
from ledger.config import Config, load_config
from ledger.core import chain
from ledger.core.canonical import utc_timestamp
from ledger.core.chain import keymap_digest
from ledger.core.contract import filter_text
from ledger.core.spec import (
    DECLARATION_TYPE,
    RESERVED_ACTOR,
    RESERVED_SYSTEM,
    VOCABULARY_TYPE,
    is_system_type,
)
from ledger.crypto.envelope import DataKey
from ledger.crypto.keys import (
    LEGACY_KEK_FILE,
    SEAL_FILE,
    SLOTS_FILE,
    Generation,
    KeySource,
    LocalKeySource,
    create_keys,
    destroy_file,
    load_keys,
    remove_keys,
)
from ledger.declaration import (
    MAX_DECLARATION_FILE,
    Declaration,
    InvalidDeclaration,
    check_declaration,
    declaration_event,
    parse_declaration,
)
from ledger.errors import (
    ConfigError,
    IntegrityError,
    InvalidEvent,
    KeyUnavailable,
    LedgerError,
    PurgePending,
    ReadOnlyStore,
    StoreError,
    StoreExists,
)
from ledger.files import read_limited
from ledger.log.merkle import TreeBuilder
from ledger.sealing import (
    KeyCache,
    Pending,
    Receipt,
    Sealer,
    sealed_head,
    tree_at,
    unwrap,
)
from ledger.store import Store, StoredRow, open_store
from ledger.store.base import (
    SCHEMA_VERSION,
    Head,
    PendingPurge,
    PurgeResult,
    Snapshot,
    WrappedKey,
)
from ledger.store.urls import mask_url
from ledger.verification import parallel
from ledger.verification.checker import VerifyReport, verify_snapshot
from ledger.verification.keytable import KeyProblem, check_keys
from ledger.verification.replay import ReplayFinding, revalidate
from ledger.workers import Job, check_all

DEFAULT_URL = "sqlite:///ledger.db"
DEFAULT_KEYS = "ledger-keys"


_CHUNK = 1000


def _chunked(items: Iterable[Pending], size: int) -> Iterator[list[Pending]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def uuid7() -> str:
    """A time-ordered UUID (RFC 9562 version 7): index inserts stay at the B-tree's right edge."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    h = f"{value:032x}"  # the canonical 8-4-4-4-12 form, without building a UUID object
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class Ledger:
    """A tamper-evident, encrypted ledger of personal-data events."""

    def __init__(
        self, store: Store, keys: KeySource | None, config: Config, meta: Mapping[str, str]
    ) -> None:
        self.store = store
        self.keys = keys
        self.config = config
        self.ledger_id = meta["ledger_id"]
        self.meta = dict(meta)
        self._cache = KeyCache()
        self.keys_problem: str | None = None if keys is not None else "no keys were given"
        self._tree: tuple[int, bytes, TreeBuilder] | None = None  # the head it was built for
        self._made: tuple[list[Path], Path | None] | None = None  # what init created
        self._purges_seen = -1  # the key epoch at which pending purges were last looked for
        # what the newest ledger.vocabulary event recorded (None before the first event)
        self.recorded_config: Config | None = None
        self.config_problem: str | None = None  # why the recorded one could not be used
        self._recorder: LedgerRecorder | None = None
        # one transaction of this process at a time; concurrent record() calls share one
        self._commit_lock = threading.Lock()
        self._group = GroupCommit(self._commit_group, self._commit_lock, limit=_CHUNK)
        self.group_commit = True  # False: every call a transaction of its own (benchmarks)
        self._sealing: int | None = None  # the thread sealing a transaction now, if any
        self._at_commit = False  # whether the last transaction's failure came at its commit

    # -- opening -----------------------------------------------------------------------------

    @classmethod
    def init(
        cls,
        url: str = DEFAULT_URL,
        keys: str | Path | KeySource = DEFAULT_KEYS,
        *,
        config: Config | str | Path | None = None,
        origin: str | None = None,
    ) -> Ledger:
        """Create a new ledger (and, given a folder, its keys); refuse to overwrite either.

        Input is checked before anything is written, and on any failure nothing this call
        created is left behind (so a retry does not find half a ledger)."""
        if origin is not None:
            check_origin(origin)
        settings = _config(config)
        store = open_store(url)
        if store.exists():
            raise StoreExists(
                f"a ledger already exists at {mask_url(url)}: refusing to overwrite it"
            )
        made: list[Path] = []
        made_folder: Path | None = None
        created_store = False
        try:
            if isinstance(keys, str | Path):
                folder = Path(keys)
                made_folder = None if folder.exists() else folder
                source: KeySource = create_keys(folder)
                made = [folder / SEAL_FILE, folder / SLOTS_FILE]
            else:
                source = keys
            generations = current_generations(source)
            ledger_id = str(uuidlib.uuid4())
            meta = {
                "ledger_id": ledger_id,
                "origin": origin or f"ledger/{ledger_id}",
                "keystore_id": source.store_id,
                "buckets": str(source.buckets),
                "seal_id": source.seal_id,
                "created_at": utc_timestamp(datetime.now(UTC)),
            }
            head = sealed_head(source, ledger_id, 0, chain.GENESIS, 0, None, generations)
            created_store = True
            store.create(meta, head, generations)
            from ledger.store.revisions import stamp  # Alembic is needed here and by `migrate` only

            stamp(url)
            opened = cls(store, source, settings, store.meta())
        except BaseException:
            if created_store:
                with contextlib.suppress(Exception):
                    store.remove()
            store.close()
            remove_keys(made, made_folder)
            raise
        opened._made = (made, made_folder)
        return opened

    def discard(self) -> None:
        """Remove the store and keys that :meth:`init` just made (a setup step after it
        failed); refused on a ledger that holds events."""
        if self._made is None or self.store.head().sequence != 0:
            raise StoreError("only a ledger just created, still empty, can be discarded")
        made, folder = self._made
        self.store.remove()
        remove_keys(made, folder)
        self._made = None

    @classmethod
    def open(
        cls,
        url: str | None = None,
        keys: str | Path | KeySource | None = None,
        *,
        config: Config | str | Path | None = None,
        read_only: bool = False,
    ) -> Ledger:
        """Open an existing ledger. Keys are needed to record and decrypt, not to verify or
        query projections; wrong keys are refused here, missing ones when first needed.

        A writable open with the keys also finishes any purge an earlier erasure left
        pending (see :meth:`finish_purges`)."""
        url = url or os.environ.get("LEDGER_DB") or DEFAULT_URL
        store = open_store(url, read_only=read_only)
        meta = store.meta()
        version = meta.get("schema_version")
        if version != str(SCHEMA_VERSION):
            store.close()
            raise StoreError(
                f"{mask_url(url)} has store schema version {version}, and this release reads "
                "version "
                f"{SCHEMA_VERSION}: run `ledger migrate` (or open it with the release that "
                "wrote it)"
            )
        source: KeySource | None
        problem = None
        if isinstance(keys, str | Path) or keys is None:
            folder = Path(keys or os.environ.get("LEDGER_KEYS") or DEFAULT_KEYS)
            try:
                source = load_keys(folder)
            except KeyUnavailable as exc:
                # Verifying and projections need no keys; recording and decrypting say so.
                source, problem = None, str(exc)
        else:
            source = keys
        if source is not None:
            try:
                _check_keys(source, meta)
            except KeyUnavailable:
                store.close()
                raise
        given = config is not None or bool(os.environ.get("LEDGER_CONFIG"))
        config_problem = None
        try:
            recorded = _recorded_config(store)
        except (LedgerError, ValueError) as exc:  # a damaged store still opens to be verified
            recorded, config_problem = None, f"the configuration recorded on the ledger: {exc}"
        try:
            settings = _config(config) if given or recorded is None else recorded
        except LedgerError:
            store.close()
            raise
        opened = cls(store, source, settings, meta)
        opened.keys_problem = problem
        opened.recorded_config = recorded
        opened.config_problem = None if given else config_problem
        if source is not None and not read_only:
            with contextlib.suppress(LedgerError):
                opened.finish_purges()
        return opened

    def close(self) -> None:
        """Release the store's connections, first finishing any purge left pending (a reader
        that held it up may be this very connection's export)."""
        if self.keys is not None and not self.store.read_only:
            with contextlib.suppress(LedgerError):
                if self.store.pending():
                    self.finish_purges()
        self.store.close()
        self._cache.keys.clear()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- writing -----------------------------------------------------------------------------

    def record(self, type: str, **fields: Any) -> Receipt:
        """Record one event (``at`` defaults to now); returns its sequence number and hash.

        Safe to call from many threads at once: their events share transactions (see
        :mod:`ledger.commit`), each call getting its own receipt or its own refusal."""
        return self.record_many([{"type": type, **fields}])[0]

    def record_many(self, events: Iterable[Mapping[str, Any]]) -> list[Receipt]:
        """Record events in one transaction: all of them or, on any refusal, none.

        ``at`` defaults to now; a refusal names the event's position in *events*. Calls
        from other threads may share the transaction (group commit), never the outcome.
        """
        if isinstance(events, Mapping | str | bytes) or not isinstance(events, Iterable):
            raise InvalidEvent(
                f"record_many takes a list of events (mappings), not {type(events).__name__}"
            )
        self._not_within_own_commit()
        if not self.group_commit:  # each call its own transaction, one after another
            return self.record_numbered(enumerate(events, start=1), default_at=True, label="event")
        prepared = self._prepare(enumerate(events, start=1), "event", True)
        with self._group.arriving():
            pending = list(itertools.islice(prepared, _CHUNK + 1))
        if len(pending) > _CHUNK:  # a large batch is a transaction of its own, in chunks
            return self._append(_chunked(itertools.chain(pending, prepared), _CHUNK))
        if not pending:
            return []
        return self._group.submit(pending)

    def record_numbered(
        self,
        events: Iterable[tuple[int, Any]],
        *,
        label: str = "line",
        default_at: bool = False,
        ledger_own: bool = False,
        lines: bool = False,
        workers: int = 1,
    ) -> list[Receipt]:
        """Like :meth:`record_many`, with each event's own number (an import line) for errors.

        A batch is checked and sealed in chunks inside one transaction, so memory stays flat
        for large imports; the first chunk is checked before the write lock is taken.
        *lines*: the events are import lines (bytes), parsed strictly. *workers* > 1: they
        are parsed and checked on that many processes (:mod:`ledger.workers`), with the
        outcome of one core.
        """
        prepared = self._prepare(events, label, default_at, ledger_own, lines, workers)
        chunks = _chunked(prepared, _CHUNK)
        try:
            first = next(chunks, None)
            if first is None:
                return []
            return self._append(itertools.chain([first], chunks), label=label)
        finally:
            prepared.close()  # a refusal stops the workers now, not when the frame is freed

    def _prepare(
        self,
        events: Iterable[tuple[int, Any]],
        label: str,
        default_at: bool,
        ledger_own: bool = False,
        lines: bool = False,
        workers: int = 1,
    ) -> Generator[Pending, None, None]:
        job = Job(self.config.vocabulary, label, default_at, ledger_own, raw=lines)
        # one time for every ``at`` this batch fills in (each check would read its own clock)
        now = datetime.now(UTC).isoformat() if default_at else None
        for index, checked, data, defaulted in check_all(job, events, workers, now):
            yield Pending(index, uuid7(), checked, data, defaulted)

    def _require_keys(self) -> KeySource:
        if self.store.read_only:
            raise ReadOnlyStore(
                f"{mask_url(self.store.url)} is opened read-only: cannot record events"
            )
        if self.keys is None:
            raise KeyUnavailable(f"cannot record without keys: {self.keys_problem}")
        if self.config_problem is not None:
            raise ConfigError(
                f"cannot record: {self.config_problem}; run `ledger verify`, or give the "
                "configuration (--config)"
            )
        return self.keys

    def _append(
        self, chunks: Iterable[list[Pending]], *, rotate_all: bool = False, label: str = "event"
    ) -> list[Receipt]:
        """Seal *chunks* as one transaction of their own, then finish what its erasures (or
        rotation) started; PurgePending when they are not yet beyond recovery."""
        self._not_within_own_commit()
        with self._commit_lock:
            sealer, receipts = self._seal(chunks, rotate_all=rotate_all, label=label)
            trouble = self._purge_outcomes(sealer, [receipts])[0]
        if trouble is not None:
            raise trouble
        return receipts

    def _not_within_own_commit(self) -> None:
        """Refuse a write from inside this thread's own transaction (an events iterable that
        records or reads while it is consumed): it would wait for itself forever."""
        if self._sealing == threading.get_ident():
            raise LedgerError(
                "cannot record from inside a batch being recorded by the same thread (the "
                "events given were still being produced): nothing of the batch was written"
            )

    def _commit_group(
        self, batches: Sequence[list[Pending]]
    ) -> tuple[list[Outcome], BaseException | None]:
        """Seal the batches of several callers in one transaction (the commit lock is held),
        each batch's outcome apart, and the interruption that cut the work short, if any;
        see :mod:`ledger.commit`."""
        if len(batches) > 1:
            try:
                sealer, receipts = self._seal([[item for batch in batches for item in batch]])
            except Exception as exc:
                if self._at_commit:  # its outcome is unknown: never sealed again
                    return [exc] * len(batches), None
                # nothing was written: each batch alone, below, each with its own outcome
            except BaseException as exc:
                return [self._interrupted(exc)] * len(batches), exc
            else:
                mine, start = [], 0
                for batch in batches:
                    mine.append(receipts[start : start + len(batch)])
                    start += len(batch)
                return self._answers(sealer, mine)
        outcomes: list[Outcome] = []
        for number, batch in enumerate(batches):
            try:
                sealer, receipts = self._seal([batch])
            except Exception as exc:
                outcomes.append(exc)
                continue
            except BaseException as exc:
                later = len(batches) - number - 1  # never begun: nothing of them written
                outcomes.append(self._interrupted(exc))
                outcomes += [self._interrupted(exc, unbegun=True)] * later
                return outcomes, exc
            answers, interruption = self._answers(sealer, [receipts])
            outcomes += answers
            if interruption is not None:
                outcomes += [self._interrupted(interruption, unbegun=True)] * (
                    len(batches) - number - 1
                )
                return outcomes, interruption
        return outcomes, None

    def _interrupted(self, exc: BaseException, *, unbegun: bool = False) -> LedgerError:
        """What the other callers of an interrupted transaction are told (*unbegun*: their
        batch's own transaction never began)."""
        why = f"the transaction recording this batch was interrupted ({type(exc).__name__}) "
        if unbegun or not self._at_commit:
            return LedgerError(why + "before it began to commit: nothing of it was written")
        return LedgerError(
            why + "while it committed: it may or may not have been recorded (events with an "
            "id can be sent again safely)"
        )

    def _answers(
        self, sealer: Sealer, groups: list[list[Receipt]]
    ) -> tuple[list[Outcome], BaseException | None]:
        """Each committed group's receipts, or PurgePending where its erasure is not yet
        beyond recovery (or could not be checked: the groups are recorded whatever happens
        here), and an interruption of that check, if any."""
        try:
            troubles = self._purge_outcomes(sealer, groups)
        except BaseException as exc:
            erased = set(sealer.erasures)
            why = (
                "the batch was recorded, but whether its erasure is beyond recovery could not "
                f"be checked ({type(exc).__name__})"
            )
            answers: list[Outcome] = [
                PurgePending(why, r) if any(x.sequence in erased for x in r) else r for r in groups
            ]
            return answers, None if isinstance(exc, Exception) else exc
        return [receipts if trouble is None else trouble
                for receipts, trouble in zip(groups, troubles, strict=True)], None  # fmt: skip

    def _seal(
        self, chunks: Iterable[list[Pending]], *, rotate_all: bool = False, label: str = "event"
    ) -> tuple[Sealer, list[Receipt]]:
        """One write transaction sealing *chunks* (the commit lock is held); its sealer and
        receipts once it has committed. ``_at_commit`` says, after a failure, whether it came
        while committing (outcome unknown) or before (nothing written)."""
        keys = self._require_keys()
        sealer: Sealer | None = None
        self._at_commit = False
        self._sealing = threading.get_ident()
        try:
            with self.store.writer() as tx:
                head = tx.head
                if self._tree is not None and self._tree[:2] == (head.sequence, head.hash):
                    tree = self._tree[2]
                else:
                    tree = tree_at(tx, head)
                sealer = Sealer(
                    tx,
                    keys=keys,
                    ledger_id=self.ledger_id,
                    config=self.config,
                    cache=self._cache,
                    tree=tree,
                    recorded_at=utc_timestamp(datetime.now(UTC)),
                    new_uuid=uuid7,
                    label=label,
                )
                receipts = [r for chunk in chunks for r in sealer.add(chunk)]
                if rotate_all:
                    sealer.start()
                    sealer.rotate = set(range(keys.buckets))
                sealer.finish(kind="rotation" if rotate_all else "erasure")
                self._at_commit = True
        except BaseException:
            if sealer is not None:  # keys made in a rolled-back transaction do not exist
                for slot in sealer.created:
                    self._cache.keys.pop(slot, None)
                if sealer.rotate:  # the key map may have moved on under us: re-read it
                    self._cache.epoch = -1
            self._tree = None
            raise
        finally:
            self._sealing = None
        self._tree = (sealer.seq, sealer.prev, sealer.tree)
        return sealer, receipts

    def _purge_outcomes(
        self, sealer: Sealer, groups: list[list[Receipt]]
    ) -> list[PurgePending | None]:
        """Destroy the generations a committed transaction replaced, clean the store's files,
        and finish purges left pending before. For each caller's *groups* of receipts: a
        PurgePending if its erasures (or one it repeated) are not yet beyond recovery."""
        clear: list[PurgePending | None] = [None] * len(groups)
        if sealer.purge is None and self._purges_seen == sealer.key_epoch:
            return clear  # no erasure here, and no key change anywhere since we last looked
        keys = self._require_keys()
        if sealer.purge is not None:
            with contextlib.suppress(KeyUnavailable):  # if not, reported below: still held
                keys.retire(sealer.retired)
        erased = set(sealer.erasures)

        def concerned(receipts: list[Receipt]) -> bool:
            """Whether this transaction's own purge is the group's: it erased there (or the
            transaction was a rotation, which erases nothing)."""
            return sealer.purge is not None and (
                not erased or any(r.sequence in erased for r in receipts)
            )

        try:
            left = self.finish_purges()
        except LedgerError as exc:  # the batch is committed: never report it as not done
            why = (
                "the batch was recorded, but whether its erasure is beyond recovery could not "
                f"be checked: {exc}"
            )
            return [PurgePending(why, r) if concerned(r) else None for r in groups]
        self._purges_seen = sealer.key_epoch
        answers: list[PurgePending | None] = []
        for receipts in groups:
            ours = {r.sequence for r in receipts}
            own = sealer.purge.id if sealer.purge is not None and concerned(receipts) else None
            mine = [p for p in left if p.sequence in ours or p.id == own]
            answers.append(PurgePending(_pending_message(mine[0], keys), receipts) if mine
                           else None)  # fmt: skip
        return answers

    def finish_purges(self) -> list[PendingPurge]:
        """Finish what earlier erasures and rotations left pending: destroy every key
        generation older than its bucket's current one, clean the store's files, and forget
        the notes of what is done. Returns what is still pending (with why).

        Nothing is destroyed unless the head's seal and the key map verify: a generation
        counts as replaced only when the sealed map says so."""
        if self.keys is None or self.store.read_only:
            return self.store.pending()
        keys = self.keys
        with self.store.snapshot() as snapshot:
            head = snapshot.head()
            generations = snapshot.generations()
            pending = snapshot.pending()
        if not _head_trusted(keys, self.ledger_id, head, generations):
            return [dataclasses.replace(p, reason="the head's seal or the key map does not "
                                        "verify: nothing was destroyed (run `ledger verify`)")
                    for p in pending]  # fmt: skip
        keys.refresh()
        _destroy_legacy_kek(keys)
        stale = [g for g in keys.generations() if g.number < generations.get(g.bucket, 0)]
        problem = None
        try:
            keys.retire(stale)
        except KeyUnavailable as exc:
            problem = str(exc)
        if not pending:
            return []
        files = (
            self.store.purge([p.xid for p in pending if p.xid])
            if problem is None
            else PurgeResult(False, None)
        )
        held = set(keys.generations())
        done: list[int] = []
        left: list[PendingPurge] = []
        for note in pending:
            still = [g for g in note.retire if _parsed(g) in held or _parsed(g) is None]
            if not still and files.done:
                done.append(note.id)
                continue
            if still:
                reason = f"the keys folder still holds key-encryption key {still[0]}" + (
                    f": {problem}" if problem else ""
                )
            else:
                reason = files.reason or "the store's files could not be cleaned"
            self.store.note_purge(note.id, reason)
            left.append(dataclasses.replace(note, reason=reason))
        with contextlib.suppress(StoreError):
            self.store.end_purges(done)
        return left

    def rotate_keys(self) -> tuple[int, int]:
        """Replace every bucket's key-encryption key with a fresh generation, re-wrapping every
        data key under it in one transaction, then destroy the old generations; events,
        chain, tree and checkpoints are untouched and every value stays readable. A writer in
        another process notices at its next write. Returns (buckets, data keys re-wrapped);
        raises PurgePending if the old generations could not all be destroyed yet."""
        keys = self._require_keys()
        self._not_within_own_commit()
        with self._commit_lock:
            sealer, _ = self._seal([], rotate_all=True)
            trouble = self._purge_outcomes(sealer, [[]])[0]
        if trouble is not None:
            raise trouble
        return keys.buckets, sealer.rewrapped

    def status(self) -> LedgerStatus:
        """Where the ledger stands: its size, its keys, and what erasures and rotations still
        have to finish (pending purges, key generations still held although replaced).

        On a writable ledger with its keys, pending purges are first tried again."""
        left = self.finish_purges()
        with self.store.snapshot() as snapshot:
            head = snapshot.head()
            generations = snapshot.generations()
        stale: list[str] = []
        ahead: list[str] = []
        missing: list[str] = []
        if self.keys is not None:
            with contextlib.suppress(KeyUnavailable):
                self.keys.refresh()
            held = self.keys.generations()
            for generation in held:
                current = generations.get(generation.bucket)
                if current is None or generation.number < current:
                    stale.append(generation.id)
                elif generation.number > current:
                    ahead.append(generation.id)
            missing = [
                Generation(bucket, number).id
                for bucket, number in sorted(generations.items())
                if Generation(bucket, number) not in set(held)
            ]
            if _legacy_kek(self.keys) is not None:
                stale.append(LEGACY_KEK_FILE)
        return LedgerStatus(
            size=head.sequence,
            keys_problem=self.keys_problem,
            buckets=len(generations),
            key_epoch=head.key_epoch,
            pending=left,
            stale=stale,
            ahead=ahead,
            missing=missing,
        )

    # -- verifying ---------------------------------------------------------------------------

    def verify(
        self,
        *,
        progress: Callable[[int], None] | None = None,
        workers: int | None = None,
        checkpoints: bool = True,
    ) -> VerifyReport:
        """Re-hash and re-link every stored event; with keys, check every seal too.

        *workers*: processes to check ranges of the chain at once (default: one per core
        for large ledgers, or ``LEDGER_VERIFY_WORKERS``; 1 checks in this process). The
        report is the same either way."""
        mac = self.keys.mac if self.keys is not None else None
        with self.store.snapshot() as snapshot:
            count = parallel.workers_for(snapshot.head().sequence, workers)
            if count > 1:
                report = parallel.verify_parallel(
                    snapshot,
                    url=self.store.url,
                    ledger_id=self.ledger_id,
                    mac=mac,
                    workers=count,
                    progress=progress,
                )
            else:
                report = verify_snapshot(
                    snapshot, ledger_id=self.ledger_id, mac=mac, progress=progress
                )
            if not report.intact:
                return report
            report = self._check_keys_table(snapshot, report)
        if checkpoints and report.intact:  # every stored checkpoint: signature and root
            from ledger.transparency import VerifiableLog  # the log layer sits above the facade

            report = VerifiableLog(self).check_stored_checkpoints().apply(report)
        return report

    def _check_keys_table(self, snapshot: Snapshot, report: VerifyReport) -> VerifyReport:
        """The keys table against the verified chain (with the keys: every key unwraps under
        its bucket's current generation)."""
        keys = self.keys
        generations = snapshot.generations()

        def opens(stored: WrappedKey) -> str | None:
            assert keys is not None
            try:
                generation = Generation.parse(stored.kek_id)
            except ValueError:
                return "a data key names no key-encryption key generation"
            bucket = keys.bucket(stored.subject)
            if generation != Generation(bucket, generations.get(bucket, -1)):
                return (
                    f"a data key is wrapped under {generation.id}, not under its bucket's "
                    "current key-encryption key: it was moved or put back outside the ledger"
                )
            try:
                unwrap(keys, stored)
            except KeyUnavailable:
                return (
                    "a data key does not unwrap: it was changed, or moved from another subject "
                    "or category, outside the ledger"
                )
            return None

        try:
            problem = check_keys(
                snapshot.rows(1, report.size),
                snapshot.wrapped_keys(),
                opens=opens if keys is not None else None,
            )
        except IntegrityError as exc:  # a malformed row in the keys table
            problem = KeyProblem(exc.sequence, exc.what)
        if problem is not None:
            return dataclasses.replace(
                report, intact=False, first_bad=problem.sequence, reason=problem.reason,
                root=None,
            )  # fmt: skip
        return dataclasses.replace(report, keys_checked=True)

    @property
    def seal_mac(self) -> Callable[[bytes], bytes] | None:
        """The seal key's MAC, when the keys are at hand (verification then checks seals)."""
        return self.keys.mac if self.keys is not None else None

    def events_of_type(self, kind: str) -> list[dict[str, Any]]:
        """The metadata of every stored event of one type, in ledger order."""
        stop = self.store.head().sequence
        return [
            chain.parse(row.state).event
            for row in self.store.rows_of_type(kind)
            if 1 <= row.sequence <= stop  # only what the chain covers, never a stray row
        ]

    def record_system(self, event: dict[str, Any]) -> Receipt:
        """Record one of the ledger's own events (`ledger.*`), outside the contract."""
        if not is_system_type(event["type"]):
            raise InvalidEvent("the ledger's own events are named ledger.*", key="type")
        at = utc_timestamp(datetime.now(UTC))
        return self._append([[Pending(0, uuid7(), {"at": at, **event}, None)]])[0]

    def declare(self, declaration: Mapping[str, Any] | str) -> Receipt:
        """Record the declared processing (a mapping, or TOML text), in force from now on;
        see ``docs/findings.md``. Checked against the vocabulary in force, and refused with
        InvalidDeclaration naming the line and key, nothing written. The same content as the
        declaration in force is not recorded again: its receipt, with ``recorded=False``."""
        if self.store.read_only:
            raise ReadOnlyStore(
                f"{mask_url(self.store.url)} is opened read-only: cannot record a declaration"
            )
        vocabulary = self.config.vocabulary
        if isinstance(declaration, str):
            content = parse_declaration(declaration, vocabulary)
        else:
            content = check_declaration(declaration, vocabulary)
        event = declaration_event(content)
        rows = self.store.rows_of_type(DECLARATION_TYPE)
        head = self.store.head().sequence
        in_force = [row for row in rows if 1 <= row.sequence <= head]
        if in_force and chain.parse(in_force[-1].state).event.get("digest") == event["digest"]:
            last = in_force[-1]
            return Receipt(last.sequence, last.hash.hex(), recorded=False)
        return self.record_system(event)

    def declare_file(self, path: str | Path) -> Receipt:
        """:meth:`declare` the TOML file at *path* (at most ``MAX_DECLARATION_FILE`` bytes)."""
        try:
            raw = read_limited(Path(path), MAX_DECLARATION_FILE, "a declaration file")
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidDeclaration(f"{path} is not valid UTF-8 text") from None
        return self.declare(text)

    def declarations(self) -> list[Declaration]:
        """Every recorded declaration, in ledger order (the last is in force now)."""
        head = self.store.head().sequence
        found = []
        for row in self.store.rows_of_type(DECLARATION_TYPE):
            if 1 <= row.sequence <= head:
                event = chain.parse(row.state).event
                found.append(
                    Declaration(row.sequence, event["at"], str(event.get("digest", "")),
                                dict(event.get("declaration") or {}))
                )  # fmt: skip
        return found

    def revalidate(self) -> list[ReplayFinding]:
        """Every stored event checked again under the vocabulary recorded before it."""
        with self.store.snapshot() as snapshot:
            return revalidate(snapshot.rows())

    @property
    def size(self) -> int:
        """How many events the ledger holds."""
        return self.store.head().sequence

    # -- eventsourcing's notification log ----------------------------------------------------

    @property
    def recorder(self) -> LedgerRecorder:
        """The ledger's events through eventsourcing's ``ApplicationRecorder`` API, read only:
        ``select_notifications(start, limit)`` gives ``Notification`` objects whose ``id`` is
        the ledger sequence, ``topic`` the event type and ``state`` the stored record bytes
        (canonical JSON; personal data values inside stay encrypted envelopes)."""
        if self._recorder is None:
            self._recorder = LedgerRecorder(self)
        return self._recorder

    @property
    def notification_log(self) -> LocalNotificationLog:
        """eventsourcing's notification log over :attr:`recorder` (sections such as
        ``log["1,10"]``, or ``log.select(start, limit)``)."""
        return LocalNotificationLog(self.recorder)

    # -- reading -----------------------------------------------------------------------------

    def export(
        self,
        *,
        subject: str | None = None,
        decrypt: bool = False,
        actor: str | None = None,
        purpose: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Events in ledger order, as the contract writes them plus the ledger's own fields.

        Without *decrypt*, ``data`` stays encrypted. With it, values are shown where
        keys remain (erased categories listed under ``data_erased``), and the read
        is first recorded as an ``accessed`` event by *actor* for *purpose*, per subject.
        """
        subject = filter_text("subject", subject)
        stop = self.store.head().sequence
        if not decrypt:
            for row in self._rows(subject, stop):
                yield export_view(chain.parse(row.state), row)
            return
        keys = self._reader_keys(actor, purpose)
        revealed = self._revealed(subject, stop)
        self._record_access(revealed, actor, purpose)
        opened: dict[str, DataKey] = {}
        for row in self._rows(subject, stop):
            record = chain.parse(row.state)
            yield export_view(record, row, self._open(record, keys, opened))

    def _rows(self, subject: str | None, stop: int) -> Iterator[StoredRow]:
        rows = self.store.rows(1, stop) if subject is None else self.store.subject_rows(subject)
        # only rows the chain covers: a row inserted outside 1..head is never shown
        return (row for row in rows if 1 <= row.sequence <= stop)

    def _reader_keys(self, actor: str | None, purpose: str | None) -> KeySource:
        if self.store.read_only:
            raise ReadOnlyStore(
                "a decrypting read is recorded on the ledger as an access, and this connection "
                "is read-only: open the ledger writable to decrypt"
            )
        if not actor or not purpose:
            raise InvalidEvent(
                "a decrypting read needs the reader (--actor) and the purpose (--purpose)",
                key="actor" if not actor else "purpose",
            )
        if actor.casefold() == RESERVED_ACTOR:
            raise InvalidEvent(
                f'"{RESERVED_ACTOR}" is the ledger\'s own actor: a read is recorded as its '
                "reader's",
                key="actor",
            )
        if self.keys is None:
            raise KeyUnavailable(f"cannot decrypt without keys: {self.keys_problem}")
        return self.keys

    def _revealed(self, subject: str | None, stop: int) -> dict[str, set[str]]:
        """Per subject, the categories a decrypting read up to *stop* would reveal."""
        wanted: dict[str, set[tuple[str, str]]] = {}
        for row in self._rows(subject, stop):
            record = chain.parse(row.state)
            if record.data and record.subject is not None:
                slots = wanted.setdefault(record.subject, set())
                for category, envelope in record.data.items():
                    slots.add((envelope["key"], category))
        live = self.store.keys([key_id for slots in wanted.values() for key_id, _ in slots])
        return {
            who: {category for key_id, category in slots if key_id in live}
            for who, slots in wanted.items()
            if any(key_id in live for key_id, _ in slots)
        }

    def _record_access(
        self, revealed: Mapping[str, set[str]], actor: str | None, purpose: str | None
    ) -> None:
        if not revealed:
            return
        self.record_numbered(
            enumerate(
                [
                    {
                        "type": "accessed",
                        "actor": actor,
                        "subject": who,
                        "categories": sorted(categories),
                        "purpose": purpose,
                        "system": RESERVED_SYSTEM,
                    }
                    for who, categories in sorted(revealed.items())
                ],
                start=1,
            ),
            label="access record",
            default_at=True,
            ledger_own=True,
        )

    def _open(
        self, record: chain.Record, keys: KeySource, opened: dict[str, DataKey]
    ) -> tuple[dict[str, Any], list[str]]:
        values: dict[str, Any] = {}
        erased: list[str] = []
        for category, envelope in (record.data or {}).items():
            key_id = envelope["key"]
            data_key = opened.get(key_id)
            if data_key is None:
                stored = self.store.keys([key_id]).get(key_id)
                if stored is None:
                    erased.append(category)
                    continue
                data_key = opened[key_id] = unwrap(keys, stored)
            values[category] = data_key.open_value(envelope, event_uuid=record.uuid)
        return values, sorted(erased)

    def read(self, subject: str, *, actor: str, purpose: str) -> list[dict[str, Any]]:
        """A subject's events with values decrypted; recorded first as an access."""
        return list(self.export(subject=subject, decrypt=True, actor=actor, purpose=purpose))


class LedgerRecorder(ApplicationRecorder):
    """eventsourcing's application recorder over the ledger's events (see
    :attr:`Ledger.recorder`), bounded to the chain: a row outside sequences 1 to the head
    (inserted by SQL, say) is never given out. Writing through it is refused: only
    :meth:`Ledger.record` and its kin append, because an event must be chained and sealed."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    @contextlib.contextmanager
    def _reading(self) -> Iterator[ApplicationRecorder]:
        """The store's own eventsourcing recorder, its errors as the ledger's (StoreError)."""
        shown = mask_url(self.ledger.store.url)
        try:
            # opened on first use: on PostgreSQL that already reads from the server
            recorder = getattr(self.ledger.store, "recorder", None)
            if not isinstance(recorder, ApplicationRecorder):
                raise StoreError(f"{shown} has no eventsourcing recorder")
            yield recorder
        except PersistenceError as exc:
            first = (str(exc).strip().splitlines() or [""])[0]
            raise StoreError(
                f"cannot read the notification log of {shown}: {type(exc).__name__}: {first}"
            ) from None

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        """Refused (StoreError): events are appended only through the ledger."""
        raise StoreError(
            "the notification log is read only: record events with Ledger.record or "
            "record_many, which chain and seal them"
        )

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """The stored event whose originator id is *originator_id* (an event's uuid names
        one event, at version 1), as eventsourcing selects an aggregate's events; only one
        that is on the chain: the record bytes stored at the sequence they name, within the
        head (a row added by SQL beside the chain is never given out)."""
        with self._reading() as recorder:
            # the events table keeps ids as text on both engines (PostgreSQL: no uuid = text)
            found = recorder.select_events(
                str(originator_id), gt=gt, lte=lte, desc=desc, limit=limit
            )
        return [s for s in found if self._on_chain(str(s.originator_id), s.state)]

    def _on_chain(self, originator_id: str, state: bytes) -> bool:
        try:
            record = chain.parse(state)
        except ValueError:
            return False
        sequence = record.seq
        if record.uuid != originator_id or not 1 <= sequence <= self.ledger.size:
            return False
        return [row.state for row in self.ledger.store.rows_at([sequence])] == [state]

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """Up to *limit* notifications from *start* (to *stop*, and never past the head), in
        sequence order, optionally only of the event types *topics*."""
        head = self.ledger.size
        stop = head if stop is None else min(stop, head)
        if start is None or start < 1:
            start, inclusive_of_start = 1, True
        with self._reading() as recorder:
            return recorder.select_notifications(
                start, limit, stop, topics, inclusive_of_start=inclusive_of_start
            )

    def max_notification_id(self) -> int | None:
        """The ledger's size; None while it holds no event."""
        return self.ledger.size or None

    def subscribe(
        self, gt: int | None = None, topics: Sequence[str] = ()
    ) -> Subscription[ApplicationRecorder]:
        """The notifications after *gt*, then each new one as it is recorded (polled: the
        ledger's writers send no notification to listen for)."""
        return PolledSubscription(self, gt=gt, topics=topics)


class PolledSubscription(Subscription[ApplicationRecorder]):
    """eventsourcing's subscription to a notification log, by polling it: blocks when every
    recorded event has been given out, and continues when new ones are recorded."""

    interval = 0.1  # seconds between looks while nothing new is there
    batch = 500

    def __init__(
        self, recorder: ApplicationRecorder, gt: int | None = None, topics: Sequence[str] = ()
    ) -> None:
        super().__init__(recorder, gt=gt, topics=topics)
        self._ready: deque[Notification] = deque()
        self._woken = threading.Event()

    def stop(self) -> None:
        super().stop()
        self._woken.set()

    def __next__(self) -> Notification:
        while not self._has_been_stopped:
            if self._ready:
                return self._ready.popleft()
            found = self._recorder.select_notifications(
                self._last_notification_id or 0, self.batch, topics=self._topics,
                inclusive_of_start=False,
            )  # fmt: skip
            if found:
                self._ready.extend(found)
                self._last_notification_id = found[-1].id
            else:
                self._woken.wait(self.interval)
        raise StopIteration


@dataclasses.dataclass(frozen=True)
class LedgerStatus:
    """What :meth:`Ledger.status` reports."""

    size: int
    keys_problem: str | None  # None when the keys are at hand
    buckets: int
    key_epoch: int
    pending: list[PendingPurge]  # purges not finished, oldest first, each with why
    stale: list[str]  # key generations the keys folder still holds although replaced
    ahead: list[str]  # newer than the store knows: being staged, or a rolled-back/copied store
    missing: list[str]  # the store's current generations the keys folder lacks (unreadable)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def export_view(
    record: chain.Record,
    row: StoredRow,
    opened: tuple[dict[str, Any], list[str]] | None = None,
    *,
    metadata_only: bool = False,
) -> dict[str, Any]:
    """An event as exports show it: the contract's keys plus the ledger's own fields.

    ``data`` is the encrypted envelopes, or with *opened* the values and the erased
    categories, or with *metadata_only* left out altogether.
    """
    view: dict[str, Any] = dict(record.event)
    if metadata_only:
        pass
    elif opened is None:
        if record.data:
            view["data"] = record.data
    else:
        values, erased = opened
        if values:
            view["data"] = values
        if erased:
            view["data_erased"] = erased
    if record.shredded is not None:
        view["shredded"] = record.shredded
    view["sequence"] = record.seq
    view["recorded_at"] = record.recorded_at
    view["uuid"] = record.uuid
    view["prev_hash"] = record.prev.hex()
    view["hash"] = row.hash.hex()
    return view


def _recorded_config(store: Store) -> Config | None:
    """The configuration in force as the ledger recorded it: the newest ``ledger.vocabulary``
    event, which must be the one the head names (None on a ledger with no event yet).

    A writer opened without a configuration uses it, so that writers with and without one
    do not take turns recording their own."""
    head = store.head()
    newest = None
    for row in store.rows_of_type(VOCABULARY_TYPE):
        if 1 <= row.sequence <= head.sequence:
            newest = chain.parse(row.state).event
    if newest is None:
        return None
    if newest.get("digest") != head.vocabulary:
        raise IntegrityError(
            head.sequence,
            "the newest recorded vocabulary is not the one the head names: run `ledger verify`",
        )
    return Config.from_recorded(newest)


def config_differs(ledger: Ledger) -> bool:
    """Whether the configuration in use differs from the one recorded on the ledger (a write
    then records the change, in force from its time on)."""
    recorded = ledger.store.head().vocabulary
    return recorded is not None and recorded != ledger.config.digest


def _config(config: Config | str | Path | None) -> Config:
    if isinstance(config, Config):
        return config
    if config is None:
        env = os.environ.get("LEDGER_CONFIG")
        return load_config(Path(env)) if env else Config.default()
    return load_config(Path(config))


_ORIGIN = re.compile(r"[!-*,-~]{1,200}")  # printable ASCII without spaces or '+'


def check_origin(origin: str) -> None:
    """An origin names the ledger in checkpoints and is its signing key's name (C2SP
    signed-note): printable ASCII, no spaces, no '+', at most 200 characters."""
    if not isinstance(origin, str) or not _ORIGIN.fullmatch(origin):
        raise ConfigError(
            "the origin must be 1 to 200 printable ASCII characters without spaces or '+' "
            "(it names the ledger in signed checkpoints), e.g. example.org/ledger"
        )


def current_generations(keys: KeySource) -> dict[int, int]:
    """Every bucket's newest generation in a new key store (one per bucket, or refused)."""
    newest: dict[int, int] = {}
    for generation in keys.generations():
        newest[generation.bucket] = max(newest.get(generation.bucket, 0), generation.number)
    if sorted(newest) != list(range(keys.buckets)):
        raise KeyUnavailable("the key store does not hold a key for every bucket")
    return newest


def _check_keys(keys: KeySource, meta: Mapping[str, str]) -> None:
    if "keystore_id" not in meta:
        raise KeyUnavailable("the store names no key store: run `ledger migrate` with its keys")
    if keys.store_id != meta["keystore_id"]:
        raise KeyUnavailable(
            f"the keys folder's key store (id {keys.store_id}) is not this ledger's "
            f"(id {meta['keystore_id']}): wrong keys folder"
        )
    if keys.seal_id != meta.get("seal_id"):
        raise KeyUnavailable(
            f"the seal key (id {keys.seal_id}) is not this ledger's (id {meta.get('seal_id')})"
        )
    if str(keys.buckets) != meta.get("buckets"):
        raise KeyUnavailable(
            f"the keys folder has {keys.buckets} buckets and the store {meta.get('buckets')}"
        )


def _head_trusted(
    keys: KeySource, ledger_id: str, head: Head, generations: Mapping[int, int]
) -> bool:
    if head.seal is None or keymap_digest(generations) != head.keymap:
        return False
    return hmac.compare_digest(keys.mac(head.seal_message(ledger_id)), head.seal)


def _legacy_kek(keys: KeySource) -> Path | None:
    """A schema-1 ``kek.key`` left in the keys folder (a migration stopped after its commit)."""
    if isinstance(keys, LocalKeySource):
        path = keys.folder / LEGACY_KEK_FILE
        if path.exists() or path.is_symlink():
            return path
    return None


def _destroy_legacy_kek(keys: KeySource) -> None:
    """This store is at schema 2 with this keys folder: the old single key protects nothing
    the ledger still needs, only copies from before the migration (erased ones included)."""
    path = _legacy_kek(keys)
    if path is not None:
        destroy_file(path)


def _parsed(text: str) -> Generation | None:
    try:
        return Generation.parse(text)
    except ValueError:
        return None


def _pending_message(note: PendingPurge, keys: KeySource) -> str:
    what = (
        f"the erasure at sequence {note.sequence}"
        if note.kind == "erasure"
        else "the key-encryption key rotation"
    )
    held = set(keys.generations())
    if any(_parsed(g) in held for g in note.retire):
        state = (
            "was recorded but is NOT yet beyond recovery: the key-encryption key it must "
            "destroy is still in the keys folder"
        )
    else:
        state = (
            "was recorded and its values are beyond use (the key-encryption key they were "
            "wrapped under is destroyed), but the store's files still hold unreadable copies "
            "of the deleted wrapped keys"
        )
    return (
        f"{what} {state} ({note.reason}); the purge is pending since {note.since} and is "
        "finished at the next write or open (`ledger status` shows it)"
    )
