"""Nothing beside the chain is read without being checked: stray rows, the keys table, reused
ids, the ledger's own names, and malformed side rows (SQL edits without the keys)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import sql as _sql

from ledger import Ledger
from ledger.cli.main import cli
from ledger.crypto.keys import load_keys
from ledger.errors import IntegrityError, InvalidEvent, KeyUnavailable, LedgerError

DPO = {"actor": "staff:dpo", "purpose": "essential.legal_obligation"}


def _collect(subject: str, name: str = "Ada Lovelace", **extra: Any) -> dict[str, Any]:
    return {"type": "collected", "actor": "svc:helpdesk", "subject": subject,
            "categories": ["user.name"], "purpose": "essential.service.operations.support",
            "basis": "contract", "source": "form", "system": "helpdesk", "location": "GB",
            "retention": "P2Y", "data": {"user.name": name}, **extra}  # fmt: skip


def _erase(subject: str, **extra: Any) -> dict[str, Any]:
    return {"type": "erased", "actor": "staff:dpo", "subject": subject, "categories": ["*"],
            "reason": "erasure request", **extra}  # fmt: skip


@pytest.fixture
def sqlite_ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger.init(f"sqlite:///{tmp_path / 'p.db'}", tmp_path / "keys") as opened:
        yield opened


# -- stray rows ------------------------------------------------------------------------------


def _copy_row_to(url: str, sequence: int, target: int) -> None:
    """Insert a copy of the row at *sequence* at position *target* (outside the chain)."""
    if url.startswith("sqlite"):
        _sql(url, "INSERT INTO ledger_events (rowid, originator_id, originator_version, topic, "
                  "state, hash, mac, subject, client_id) SELECT "
                  f"{target}, originator_id || 'x', originator_version, topic, state, hash, mac, "
                  f"subject, NULL FROM ledger_events WHERE rowid = {sequence}")  # fmt: skip
    else:
        _sql(url, "INSERT INTO ledger_events (originator_id, originator_version, topic, state, "
                  "notification_id, hash, mac, subject, client_id) SELECT "
                  "originator_id || 'x', originator_version, topic, state, "
                  f"{target}, hash, mac, subject, NULL FROM ledger_events "
                  f"WHERE notification_id = {sequence}")  # fmt: skip


@pytest.mark.parametrize("target", [0, -5])
def test_a_row_inserted_before_the_chain_is_never_read_and_verify_names_it(
    ledger: Ledger, store: tuple[str, Path], target: int
) -> None:
    url, keys = store
    ledger.record(**_collect("cust-1"))
    ledger.record("consent_given", actor="svc:web", subject="cust-1",
                  purpose="marketing.communications.email", method="web form",
                  notice="privacy-notice-v3")  # fmt: skip
    consent_at = ledger.size
    _copy_row_to(url, consent_at, target)  # a forged consent the chain does not cover
    with Ledger.open(url, keys) as reopened:
        exported = list(reopened.export(subject="cust-1"))
        assert [e["sequence"] for e in exported] == [2, 3]
        assert all(e["sequence"] >= 1 for e in reopened.read("cust-1", **DPO))
        assert [e["subject"] for e in reopened.events_of_type("consent_given")] == ["cust-1"]
        report = reopened.verify()
    assert not report.intact and report.first_bad == target
    assert f"a row is stored at sequence {target}" in (report.reason or "")
    result = CliRunner().invoke(cli, ["--db", url, "--keys", str(keys), "verify"])
    assert result.exit_code == 1 and f"NOT INTACT at sequence {target}" in result.stdout


def test_a_row_at_sequence_0_holding_an_id_is_not_taken_for_the_event(
    ledger: Ledger, store: tuple[str, Path]
) -> None:
    """A stray row carrying the id of an erasure still to come must not make that erasure
    "already present": it is refused (the id is taken outside the chain) or recorded."""
    url, keys = store
    ledger.record(**_collect("cust-1", id="c-1"))
    _copy_row_to(url, 2, 0)
    _sql(url, "UPDATE ledger_events SET client_id = 'erase-1' WHERE "
              + ("rowid = 0" if url.startswith("sqlite") else "notification_id = 0"))  # fmt: skip
    with Ledger.open(url, keys) as reopened:
        try:
            receipt = reopened.record(**_erase("cust-1", id="erase-1"))
        except LedgerError:
            assert reopened.events_of_type("erased") == []  # refused: nothing was written
        else:
            assert receipt.recorded and receipt.sequence == 3  # not "already present" at 0
        assert not reopened.verify().intact


# -- idempotency -------------------------------------------------------------------------------


def test_the_same_id_with_other_content_is_refused_naming_the_id_and_sequence(
    ledger: Ledger,
) -> None:
    first = ledger.record(**_collect("cust-1", id="evt-1"))
    size = ledger.size
    with pytest.raises(InvalidEvent) as refused:
        ledger.record(**_erase("cust-1", id="evt-1"))  # an erasure reusing a collection's id
    text = str(refused.value)
    assert f"the id 'evt-1' is already on the ledger (sequence {first.sequence})" in text
    assert "Nothing was written" in text and ledger.size == size
    with pytest.raises(InvalidEvent, match="differs in data"):
        ledger.record(**_collect("cust-1", name="Someone Else", id="evt-1"))
    assert "Someone Else" not in str(refused.value)
    again = ledger.record(**_collect("cust-1", id="evt-1"))  # equal content: already present
    assert not again.recorded and again.sequence == first.sequence
    reordered = dict(reversed(list(_collect("cust-1", id="evt-1").items())))
    assert not ledger.record(**reordered).recorded


def test_a_retry_within_one_batch_is_compared_too(ledger: Ledger) -> None:
    with pytest.raises(InvalidEvent, match="event 2, key 'id': the id 'x-1'"):
        ledger.record_many([_collect("cust-1", id="x-1"), _collect("cust-2", id="x-1")])
    assert ledger.size == 0
    receipts = ledger.record_many([_collect("cust-1", id="x-1"), _collect("cust-1", id="x-1")])
    assert [r.recorded for r in receipts] == [True, False]


def test_an_import_reusing_an_id_for_an_erasure_is_refused_by_line(
    store: tuple[str, Path], tmp_path: Path
) -> None:
    url, keys = store
    Ledger.init(url, keys).close()
    lines = tmp_path / "a.jsonl"
    at = {"at": "2026-11-01T10:00:00Z"}
    lines.write_bytes(orjson.dumps({**_collect("cust-1", id="e-1"), **at}) + b"\n")
    assert CliRunner().invoke(cli, ["--db", url, "--keys", str(keys), "import",
                                    str(lines)]).exit_code == 0  # fmt: skip
    lines.write_bytes(orjson.dumps({**_erase("cust-1", id="e-1"), **at}) + b"\n")
    result = subprocess.run(
        [sys.executable, "-m", "ledger.cli", "--db", url, "--keys", str(keys), "import",
         str(lines)], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert "line 1, key 'id': the id 'e-1' is already on the ledger (sequence 2)" in result.stderr
    with Ledger.open(url, keys) as ledger:
        assert ledger.events_of_type("erased") == []


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.text(min_size=1, max_size=30).filter(lambda t: t.strip() and "\x00" not in t),
    other=st.text(min_size=1, max_size=30).filter(lambda t: t.strip() and "\x00" not in t),
)
def test_a_retry_is_accepted_exactly_when_its_content_is_equal(
    sqlite_ledger: Ledger, name: str, other: str
) -> None:
    client_id = f"p-{sqlite_ledger.size}"
    first = sqlite_ledger.record(**_collect("cust-p", name=name, id=client_id))
    if name == other:
        assert not sqlite_ledger.record(**_collect("cust-p", name=other, id=client_id)).recorded
    else:
        with pytest.raises(InvalidEvent) as refused:
            sqlite_ledger.record(**_collect("cust-p", name=other, id=client_id))
        assert str(refused.value) == (  # exactly this: no value, old or new, is repeated
            f"event 1, key 'id': the id '{client_id}' is already on the ledger (sequence "
            f"{first.sequence}) with other content (it differs in data); an id names one "
            "event: use a new id for a new event. Nothing was written"
        )


# -- the ledger's own names --------------------------------------------------------------------


@pytest.mark.parametrize("actor", ["system:ledger", "SYSTEM:Ledger"])
def test_the_ledgers_own_actor_is_reserved(ledger: Ledger, actor: str) -> None:
    with pytest.raises(InvalidEvent, match="the ledger's own actor"):
        ledger.record(**{**_collect("cust-1"), "actor": actor})
    with pytest.raises(InvalidEvent, match="the ledger's own actor"):
        ledger.read("cust-1", actor=actor, purpose="essential.legal_obligation")
    assert ledger.size == 0


def test_the_ledgers_own_system_is_reserved_but_its_reads_use_it(ledger: Ledger) -> None:
    with pytest.raises(InvalidEvent, match="the ledger's own system"):
        ledger.record("accessed", actor="staff:x", subject="cust-1", categories=["user.name"],
                      purpose="essential.legal_obligation", system="Ledger")  # fmt: skip
    ledger.record(**_collect("cust-1"))
    ledger.read("cust-1", **DPO)
    (access,) = ledger.events_of_type("accessed")
    assert access["system"] == "ledger" and access["actor"] == "staff:dpo"


# -- the keys table ----------------------------------------------------------------------------


def _keys_table(ledger: Ledger, store: tuple[str, Path]) -> tuple[str, Path]:
    ledger.record(**_collect("cust-1"))
    ledger.record(**_collect("cust-2", name="Grace Hopper"))
    return store


def test_a_key_deleted_without_an_erasure_is_named(ledger: Ledger, store: tuple[str, Path]) -> None:
    url, keys = _keys_table(ledger, store)
    _sql(url, "DELETE FROM ledger_keys WHERE subject = 'cust-1'")
    with Ledger.open(url, keys) as reopened:
        report = reopened.verify()
    assert not report.intact and report.first_bad == 2
    assert "missing from the keys table, and no erasure is recorded" in (report.reason or "")
    keyless = CliRunner().invoke(cli, ["--db", url, "--keys", str(keys / "none"), "verify"])
    assert keyless.exit_code == 1 and "missing from the keys table" in keyless.stdout


def test_a_key_put_back_after_an_erasure_is_named(ledger: Ledger, store: tuple[str, Path]) -> None:
    url, keys = _keys_table(ledger, store)
    with ledger.store.snapshot() as snapshot:
        (saved,) = [k for k in snapshot.wrapped_keys() if k.subject == "cust-1"]
    ledger.record(**_erase("cust-1"))
    erased_at = ledger.size
    _sql(url, "INSERT INTO ledger_keys (key_id, subject, category, wrapped, kek_id) VALUES "
              f"('{saved.key_id}', 'cust-1', 'user.name', "
              f"{_blob(url, saved.wrapped)}, '{saved.kek_id}')")  # fmt: skip
    with Ledger.open(url, keys) as reopened:
        report = reopened.verify()
        assert not report.intact and report.first_bad == erased_at
        assert "that the erasure at sequence" in (report.reason or "")
        # and the value does not come back: its generation was destroyed by the erasure
        with pytest.raises(KeyUnavailable, match="destroyed"):
            reopened.read("cust-1", **DPO)


def _blob(url: str, value: bytes) -> str:
    return f"X'{value.hex()}'" if url.startswith("sqlite") else f"'\\x{value.hex()}'::bytea"


def test_a_key_swapped_between_subjects_is_named_with_the_keys(
    ledger: Ledger, store: tuple[str, Path]
) -> None:
    url, keys = _keys_table(ledger, store)
    _sql(url, "UPDATE ledger_keys SET wrapped = (SELECT wrapped FROM ledger_keys "
              "WHERE subject = 'cust-2') WHERE subject = 'cust-1'")  # fmt: skip
    with Ledger.open(url, keys) as reopened:
        report = reopened.verify()
    assert not report.intact and "does not unwrap" in (report.reason or "")


@pytest.mark.parametrize(
    "edit",
    [
        "UPDATE ledger_keys SET kek_id = '{other}' WHERE subject = 'cust-1'",
        "UPDATE ledger_keys SET subject = 'cust-9' WHERE subject = 'cust-1'",
    ],
    ids=["other bucket", "other subject"],
)
def test_an_erasure_over_a_misfiled_key_refuses_and_destroys_nothing(
    ledger: Ledger, store: tuple[str, Path], edit: str
) -> None:
    url, keys = _keys_table(ledger, store)
    with ledger.store.snapshot() as snapshot:
        (key,) = [k for k in snapshot.wrapped_keys() if k.subject == "cust-1"]
    bucket = int(key.kek_id.split(":")[0])
    _sql(url, edit.format(other=f"{(bucket + 1) % 1024}:1"))
    held = load_keys(keys, env={}).generations()
    with Ledger.open(url, keys) as reopened, pytest.raises(IntegrityError, match="filed under"):
        reopened.record(**_erase("cust-1"))
    assert load_keys(keys, env={}).generations() == held  # nothing rotated or destroyed
    with Ledger.open(url, keys) as reopened:
        assert reopened.events_of_type("erased") == []
        assert not reopened.verify().intact


# -- malformed side rows: one line, never an internal error ------------------------------------


@pytest.mark.parametrize(
    "edit",
    [
        "UPDATE ledger_head SET key_epoch = 'x'",
        "UPDATE ledger_buckets SET generation = 'x' WHERE bucket = 3",
        "INSERT INTO ledger_purge (id, kind, sequence, since, retire, xid, reason) "
        "VALUES (7, 'erasure', 1, 'now', '1:1', 'abc', NULL)",
        "UPDATE ledger_keys SET wrapped = 'text'",
    ],
    ids=["head", "key map", "purge note", "wrapped key"],
)
def test_malformed_side_rows_give_one_line_and_no_internal_error(
    ledger: Ledger, store: tuple[str, Path], edit: str
) -> None:
    url, keys = _keys_table(ledger, store)
    if "wrapped = 'text'" in edit and not url.startswith("sqlite"):
        edit = "UPDATE ledger_keys SET wrapped = 'text'::bytea, kek_id = 'x'"
    try:
        _sql(url, edit)
    except Exception:  # PostgreSQL's types refuse the edit itself: nothing to check
        pytest.skip("the column type refuses this value")
    for args in (["verify"], ["status"], ["export"], ["import", "-"]):
        result = CliRunner().invoke(cli, ["--db", url, "--keys", str(keys), *args], input="")
        assert result.exit_code in (0, 1, 2, 4), (args, result.output)
        assert "internal error" not in result.output and "Traceback" not in result.output
    verified = CliRunner().invoke(cli, ["--db", url, "--keys", str(keys), "verify"])
    assert verified.exit_code == 1, verified.output


# -- a migration stopped after its commit -------------------------------------------------------


def test_a_leftover_schema_1_key_is_destroyed_at_the_next_open(
    ledger: Ledger, store: tuple[str, Path]
) -> None:
    url, keys = store
    ledger.record(**_collect("cust-1"))
    leftover = keys / "kek.key"
    shutil.copy(keys / "seal.key", leftover)  # what a migration killed before finish() leaves
    status = CliRunner().invoke(cli, ["--db", url, "--keys", str(keys), "--read-only", "status"])
    assert status.exit_code == 4 and "kek.key" in status.stdout
    assert CliRunner().invoke(cli, ["--db", url, "--keys", str(keys), "status"]).exit_code == 0
    assert not leftover.exists()


def test_no_checkpoint_is_signed_without_the_keys_even_over_an_intact_store(
    store: tuple[str, Path], tmp_path: Path
) -> None:
    url, keys = store
    signing = ["--signing-key", str(tmp_path / "signing")]
    assert CliRunner().invoke(cli, ["--db", url, "--keys", str(keys), *signing,
                                    "init"]).exit_code == 0  # fmt: skip
    with Ledger.open(url, keys) as ledger:
        ledger.record(**_collect("cust-1"))
    keyless = ["--db", url, "--keys", str(tmp_path / "none"), *signing]
    refused = CliRunner().invoke(cli, [*keyless, "checkpoint"])
    assert refused.exit_code == 2, refused.output
    assert "the ledger signs only what it verified" in refused.stderr
    with Ledger.open(url, keys) as ledger:
        assert ledger.store.checkpoints() == []
    signed = CliRunner().invoke(cli, ["--db", url, "--keys", str(keys), *signing, "checkpoint"])
    assert signed.exit_code == 0, signed.output
