"""The ledger never vouches for a tampered store.

Every SQL edit below is made behind the ledger's back, on SQLite and on PostgreSQL. Signing
(`checkpoint`, `export --bundle`, `keys rotate-signing`) refuses with exit 1 naming the first
bad position and writes nothing; `verify` names it; `report` and `prove` use only stored
checkpoints that verify; `verify --since-checkpoint` checks the events since the newest one.
"""

from __future__ import annotations

import base64
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import Result
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from support import ENGINES, fresh_store
from support import sql as _sql
from test_log import Cli, _started

from ledger import Ledger
from ledger.core.canonical import canonical, sha256
from ledger.core.chain import GENESIS, row_seal_message
from ledger.core.spec import RESERVED_ACTOR as SYSTEM_ACTOR
from ledger.core.spec import SIGNING_KEY_TYPE as SIGNING_KEY
from ledger.crypto.keys import load_keys
from ledger.crypto.signing import NEXT_FILE, create_signer, load_signer
from ledger.demo.workload import generate
from ledger.errors import IntegrityError, NotFound
from ledger.log import checkpoint as notes
from ledger.log.merkle import TreeBuilder, leaf_hash
from ledger.store.base import Head
from ledger.transparency import VerifiableLog, root_at, signing_verifiers

ORIGIN = "northgate-it/ledger"
FORGED_AT = "2030-01-01T00:00:00.000000Z"


# -- SQL behind the ledger's back, on either engine ----------------------------------------------


def _seq(url: str) -> str:
    """The events table's sequence column."""
    return "rowid" if url.startswith("sqlite") else "notification_id"


def _state(url: str, seq: int) -> tuple[bytes, bytes]:
    col = _seq(url)
    row = _sql(url, f"SELECT state, hash FROM ledger_events WHERE {col} = :s", {"s": seq})[0]
    return bytes(row[0]), bytes(row[1])


def _checkpoint_rows(url: str) -> list[tuple[Any, ...]]:
    return [
        (int(size), bytes(root), note, made)
        for size, root, note, made in _sql(
            url, "SELECT size, root, note, created_at FROM ledger_checkpoints ORDER BY size"
        )
    ]


def _head_size(url: str) -> int:
    return int(_sql(url, "SELECT sequence FROM ledger_head")[0][0])


def _event_count(url: str) -> int:
    return int(_sql(url, "SELECT count(*) FROM ledger_events")[0][0])


def change_byte(url: str, seq: int) -> None:
    """One byte of event *seq*'s stored record changed (its hash column left as it was)."""
    state, _ = _state(url, seq)
    changed = state[:-2] + bytes([state[-2] ^ 0x01]) + state[-1:]
    col = _seq(url)
    _sql(url, f"UPDATE ledger_events SET state = :v WHERE {col} = :s", {"v": changed, "s": seq})


def cut(url: str, keep: int) -> None:
    """The newest events removed, their tree nodes too, and the head rewritten to match (its
    seal cannot be rewritten without the keys)."""
    col = _seq(url)
    _, digest = _state(url, keep)
    _sql(url, f"DELETE FROM ledger_events WHERE {col} > :k", {"k": keep})
    for level, index in _sql(url, "SELECT level, idx FROM ledger_tree"):
        if (int(index) + 1) << int(level) > keep:
            _sql(
                url,
                "DELETE FROM ledger_tree WHERE level = :l AND idx = :i",
                {"l": level, "i": index},
            )
    _sql(url, "UPDATE ledger_head SET sequence = :k, hash = :h", {"k": keep, "h": digest})


def _insert_checkpoint(url: str, size: int, root: bytes, note: str) -> None:
    _sql(
        url,
        "INSERT INTO ledger_checkpoints (size, root, note, created_at) VALUES (:s, :r, :n, :c)",
        {"s": size, "r": root, "n": note, "c": FORGED_AT},
    )


def forge_zero(url: str, size: int) -> None:
    """A checkpoint row made up by SQL: all-zero root, all-zero signature, signed in 2030."""
    body = notes.Checkpoint(ORIGIN, size, bytes(32)).body()
    blob = base64.b64encode(bytes(68)).decode()
    _insert_checkpoint(url, size, bytes(32), f"{body}\n{notes.DASH} {ORIGIN} {blob}\n")


def forge_signed(url: str, size: int, signing: Path) -> None:
    """A checkpoint row with a real signature by the ledger's key, over a wrong root."""
    signer = load_signer(signing)
    wrong = sha256(b"not the ledger's root")
    note = notes.sign(notes.Checkpoint(ORIGIN, size, wrong), signer.name, signer.private)
    _insert_checkpoint(url, size, wrong, note)


def swap_notes(url: str, first: int, second: int) -> None:
    notes_by_size = {size: note for size, _, note, _ in _checkpoint_rows(url)}
    for size, other in ((first, second), (second, first)):
        _sql(
            url,
            "UPDATE ledger_checkpoints SET note = :n WHERE size = :s",
            {"n": notes_by_size[other], "s": size},
        )


def rewrite_history(url: str, keys: Path, seq: int) -> None:
    """What an owner holding every key can do: change event *seq*, re-link and re-seal every
    event after it, rebuild the tree and re-seal the head. The chain verifies; only the
    checkpoints signed before contradict it."""
    ledger_id = _sql(url, "SELECT value FROM ledger_meta WHERE name = 'ledger_id'")[0][0]
    source = load_keys(keys)
    col = _seq(url)
    prev, builder, nodes = GENESIS, TreeBuilder(), []
    for number, stored in _sql(url, f"SELECT {col}, state FROM ledger_events ORDER BY {col}"):
        state = bytes(stored)
        if number >= seq:
            record = orjson.loads(state)
            record["prev"] = prev.hex()
            if number == seq:
                record["recorded_at"] = "2020-01-01T00:00:00.000000Z"
            state = canonical(record)
            digest = sha256(state)
            mac = source.mac(row_seal_message(ledger_id, number, digest))
            _sql(
                url,
                f"UPDATE ledger_events SET state = :v, hash = :h, mac = :m WHERE {col} = :s",
                {"v": state, "h": digest, "m": mac, "s": number},
            )
        prev = sha256(state)
        nodes += builder.append(leaf_hash(state))[1:]
    _sql(url, "DELETE FROM ledger_tree")
    for level, index, digest in nodes:
        _sql(
            url,
            "INSERT INTO ledger_tree (level, idx, hash) VALUES (:l, :i, :h)",
            {"l": level, "i": index, "h": digest},
        )
    size, epoch, vocabulary, keymap = _sql(
        url, "SELECT sequence, key_epoch, vocabulary, keymap FROM ledger_head"
    )[0]
    head = Head(int(size), prev, int(epoch), vocabulary, bytes(keymap), None)
    seal = source.mac(head.seal_message(ledger_id))
    _sql(url, "UPDATE ledger_head SET hash = :h, seal = :s", {"h": prev, "s": seal})


# -- the ledger the edits are made to ------------------------------------------------------------


@pytest.fixture
def run(store_url: str, tmp_path: Path, config_path: Path, story: list[dict[str, Any]]) -> Cli:
    """The story's first 32 events (the positions below are fixed by them) after the
    vocabulary record, the signing key recorded and a checkpoint of 34, then 10 more events
    (35..44), on SQLite and on PostgreSQL."""
    runner = _started(Cli(tmp_path, config_path, store_url), story[:32])
    assert notes.parse(runner("checkpoint").stdout).size == 34
    runner.events(list(generate(10, seed=11)))
    return runner


def _json(result: Result) -> dict[str, Any]:
    parsed: dict[str, Any] = orjson.loads(result.stdout)
    return parsed


def _report_cell(html: str, name: str) -> str:
    found = re.search(f'<th scope="row">{name}</th><td>(.*?)</td>', html)
    assert found is not None, name
    return found.group(1)


Tamper = Callable[[Cli], object]


def _swapped(run: Cli) -> None:
    assert notes.parse(run("checkpoint").stdout).size == 44  # two genuine checkpoints
    swap_notes(run.url, 34, 44)


TAMPERS: dict[str, tuple[Tamper, int, str]] = {
    # edit, the first bad position, words the refusal names it with
    "changed record byte": (lambda r: change_byte(r.url, 40), 40, "does not match its hash"),
    "newest rows cut, head rewritten": (lambda r: cut(r.url, 42), 42, "head's seal"),
    "forged all-zero checkpoint row": (
        lambda r: forge_zero(r.url, 44),
        44,
        "checkpoint of size 44 carries no signature",
    ),
    "real signature, wrong root": (
        lambda r: forge_signed(r.url, 44, r.tmp / "signing"),
        44,
        "checkpoint of size 44 (signed by northgate-it/ledger+",
    ),
    "notes swapped between sizes": (
        lambda r: _swapped(r),
        34,
        "checkpoint of size 34 holds the note of a checkpoint of size 44",
    ),
    # and every other check of the events since the checkpoint, and of its own last event
    "a row removed": (lambda r: _delete(r.url, 38), 38, "event 38 is missing"),
    "the newest row removed": (
        lambda r: _delete(r.url, 44),
        44,
        "event 44 is missing: the head records 44 events",
    ),
    "the head moved back over a row": (lambda r: _head_back(r.url), 44, "beyond the head"),
    "the head's hash rewritten": (
        lambda r: _sql(r.url, "UPDATE ledger_head SET hash = :h", {"h": sha256(b"x")}),
        44,
        "the head's hash is not the newest event's hash",
    ),
    "a changed tree node": (
        lambda r: _set_node(r.url, 1, 20, sha256(b"x")),  # events 41 and 42
        42,
        "node (level 1, index 20) does not match the events",
    ),
    "an extra tree node": (
        lambda r: _sql(
            r.url,
            "INSERT INTO ledger_tree (level, idx, hash) VALUES (1, 22, :h)",
            {"h": sha256(b"x")},
        ),
        44,
        "node (level 1, index 22) that no event accounts for",
    ),
    "the checkpoint's last event's seal changed": (
        lambda r: _change_mac(r.url, 34),
        34,
        "the row's seal does not verify",
    ),
}


def _delete(url: str, seq: int) -> None:
    _sql(url, f"DELETE FROM ledger_events WHERE {_seq(url)} = :s", {"s": seq})


def _head_back(url: str) -> None:
    size = _head_size(url)
    _, digest = _state(url, size - 1)
    _sql(url, "UPDATE ledger_head SET sequence = :k, hash = :h", {"k": size - 1, "h": digest})


def _set_node(url: str, level: int, index: int, digest: bytes) -> None:
    _sql(
        url,
        "UPDATE ledger_tree SET hash = :h WHERE level = :l AND idx = :i",
        {"h": digest, "l": level, "i": index},
    )


def _change_mac(url: str, seq: int) -> None:
    col = _seq(url)
    mac = bytes(_sql(url, f"SELECT mac FROM ledger_events WHERE {col} = :s", {"s": seq})[0][0])
    _sql(
        url,
        f"UPDATE ledger_events SET mac = :m WHERE {col} = :s",
        {"m": bytes([mac[0] ^ 1]) + mac[1:], "s": seq},
    )


@pytest.mark.parametrize("name", list(TAMPERS))
def test_signing_over_a_tampered_store_refuses_naming_the_first_bad_position_and_writes_nothing(
    run: Cli, name: str
) -> None:
    edit, position, words = TAMPERS[name]
    edit(run)
    checkpoints, events, head = (
        _checkpoint_rows(run.url),
        _event_count(run.url),
        _head_size(run.url),
    )

    signed = run("checkpoint")
    assert signed.exit_code == 1, signed.output
    assert f"error: sequence {position}: " in signed.stderr and words in signed.stderr
    assert "no checkpoint was signed" in signed.stderr and signed.stdout == ""

    bundle = run.tmp / "evidence"
    exported = run("export", "--bundle", str(bundle))
    assert exported.exit_code == 1, exported.output
    assert f"error: sequence {position}: " in exported.stderr and words in exported.stderr
    assert not bundle.exists()

    rotated = run("keys", "rotate-signing")
    assert rotated.exit_code == 1 and f"sequence {position}: " in rotated.stderr
    assert not (run.tmp / "signing" / NEXT_FILE).exists()  # not even the new key was made

    # nothing written: no checkpoint row, no signing-key event, the head untouched
    assert _checkpoint_rows(run.url) == checkpoints
    assert (_event_count(run.url), _head_size(run.url)) == (events, head)

    verified = run("verify", "--json")
    assert verified.exit_code == 1
    assert _json(verified)["first_bad"] == position and words in _json(verified)["reason"]
    since = run("verify", "--since-checkpoint", "--json")
    assert since.exit_code == 1
    assert _json(since)["first_bad"] == position and words in _json(since)["reason"]


@pytest.mark.parametrize("name", ["forged all-zero checkpoint row", "real signature, wrong root"])
def test_report_and_proofs_pass_over_a_forged_checkpoint_and_verify_names_it(
    run: Cli, name: str
) -> None:
    genuine = {size: made for size, _, _, made in _checkpoint_rows(run.url)}
    TAMPERS[name][0](run)
    report = run("report")
    assert report.exit_code == 0, report.output
    assert _report_cell(report.stdout, "Last checkpoint size") == "34 events"
    assert "2030" not in _report_cell(report.stdout, "Last checkpoint signed")
    assert genuine[34][:10] in _report_cell(report.stdout, "Last checkpoint signed")

    proof = run("prove", "inclusion", "40", "--json")
    assert (
        proof.exit_code == 2 and "no inclusion proof for event 40 in a tree of 34" in proof.stderr
    )
    proof = run("prove", "inclusion", "3", "--json")
    assert proof.exit_code == 0 and _json(proof)["treeSize"] == 34
    assert _json(run("prove", "consistency", "20", "--json"))["size2"] == 34

    verified = run("verify")
    assert verified.exit_code == 1
    assert verified.stdout.startswith("NOT INTACT at sequence 44: ")
    assert "stored checkpoint of size 44" in verified.stdout
    listed = _json(run("verify", "--json"))["checkpoints"]
    assert [(c["size"], c["valid"]) for c in listed] == [(34, True), (44, False)]

    with Ledger.open(run.url, run.tmp / "keys") as ledger:
        log = VerifiableLog(ledger)  # no key at hand: the keys recorded on the ledger
        assert log.latest_checkpoint().size == 34
        assert [c.size for c in log.check_stored_checkpoints().bad] == [44]


def test_swapped_notes_leave_no_checkpoint_to_prove_against(run: Cli) -> None:
    TAMPERS["notes swapped between sizes"][0](run)
    proof = run("prove", "inclusion", "3")
    assert proof.exit_code == 2 and "no stored checkpoint verifies" in proof.stderr
    report = run("report")
    assert _report_cell(report.stdout, "Last checkpoint").startswith("none")


def test_a_checkpoint_after_new_events_is_signed_and_checked_incrementally(run: Cli) -> None:
    since = run("verify", "--since-checkpoint")
    assert since.exit_code == 0, since.output
    assert re.fullmatch(
        r"intact: events 35\.\.44 checked against checkpoint of size 34 \(signed by "
        r"northgate-it/ledger\+[0-9a-f]{8}, stored \S+Z\), consistent with it; chain and seals "
        r"verified\n",
        since.stdout,
    ), since.stdout
    assert _json(run("verify", "--since-checkpoint", "--json"))["checked"] == 10

    signed = run("checkpoint")
    assert signed.exit_code == 0, signed.output
    assert notes.parse(signed.stdout).size == 44
    run.events(list(generate(5, seed=12)))
    report = _json(run("verify", "--since-checkpoint", "--json"))
    assert report["intact"] and report["checked"] == 5
    assert report["since"]["checkpoint"] == 44
    assert (report["since"]["first_checked"], report["since"]["last_checked"]) == (45, 49)
    plain = run("verify")
    assert plain.exit_code == 0
    assert "49 events, chain and seals verified; 2 stored checkpoints verified" in plain.stdout

    bundle = run.tmp / "evidence"
    assert run("export", "--bundle", str(bundle)).exit_code == 0
    checked = run("verify-bundle", str(bundle), "--key", str(run.tmp / "signing" / "verifier.key"))
    assert checked.exit_code == 0, checked.output


def test_since_checkpoint_catches_a_change_after_the_checkpoint(run: Cli) -> None:
    change_byte(run.url, 36)
    since = run("verify", "--since-checkpoint")
    assert since.exit_code == 1
    assert since.stdout.startswith("NOT INTACT at sequence 36: the stored record does not match")


def test_since_checkpoint_reports_history_rewritten_before_it_as_inconsistency(
    run: Cli,
) -> None:
    """An owner with every key rewrites event 10 and everything after it: the chain and the
    seals verify, and only the checkpoint of 34, signed before, says otherwise."""
    rewrite_history(run.url, run.tmp / "keys", 10)
    since = run("verify", "--since-checkpoint", "--json")
    assert since.exit_code == 1
    assert _json(since)["first_bad"] == 34
    assert "not consistent with the stored checkpoint of size 34" in _json(since)["reason"]
    verified = run("verify", "--json")
    assert verified.exit_code == 1 and _json(verified)["first_bad"] == 34
    assert "its first 34 events are not those it committed to" in _json(verified)["reason"]
    signed = run("checkpoint")
    assert signed.exit_code == 1 and "sequence 34: " in signed.stderr


def _restore(url: str, seq: int, state: bytes) -> None:
    col = _seq(url)
    _sql(url, f"UPDATE ledger_events SET state = :v WHERE {col} = :s", {"v": state, "s": seq})


def test_what_signing_reads_of_the_vouched_history_and_what_it_vouches_for(run: Cli) -> None:
    """Signing reads the events since the checkpoint of 34 and, of those before, event 34
    (its hash is what event 35 links to) and the stored tree's edge. Event 34 changed is
    refused. Event 10, inside a stored subtree the checkpoint vouches for, is not read again
    (that is what keeps signing cheap); the root signed is that of the history as it was
    written, so the changed store fails against the new checkpoint as against the old."""
    genuine = _json(run("prove", "consistency", "34", "44", "--json"))["root2"]
    boundary, _ = _state(run.url, 34)
    change_byte(run.url, 34)
    refused = run("checkpoint")
    assert refused.exit_code == 1, refused.output
    assert "sequence 34: the ledger is not consistent with the checkpoint of size 34" in (
        refused.stderr
    )
    _restore(run.url, 34, boundary)

    change_byte(run.url, 10)
    note = run("checkpoint").stdout
    assert notes.parse(note).size == 44
    assert notes.parse(note).root == base64.b64decode(genuine)
    (run.tmp / "new.note").write_text(note)
    against = run("verify", "--checkpoint", str(run.tmp / "new.note"), "--json")
    assert against.exit_code == 1 and _json(against)["first_bad"] == 10
    assert run("verify").exit_code == 1  # the whole-chain check reads it


def test_a_recorded_key_vouches_only_for_a_tree_that_holds_its_record(
    filled: Ledger, tmp_path: Path
) -> None:
    """A forger who writes their own key into the ledger's signing-key record, and signs a
    checkpoint of the stored tree with it, is not believed: the record is not in that tree."""
    log = VerifiableLog(filled)
    log.checkpoint(create_signer(tmp_path / "s", "test/ledger"))
    (row,) = filled.store.rows_of_type(SIGNING_KEY)
    intruder = create_signer(tmp_path / "intruder", "test/ledger")
    record = orjson.loads(row.state)
    record["event"]["verifier_key"] = intruder.verifier_key
    url = filled.store.url
    with filled.store.snapshot() as snapshot:
        root = root_at(snapshot, row.sequence)  # the genuine tree's, before the record changes
    _sql(url, f"UPDATE ledger_events SET state = :v WHERE {_seq(url)} = :s",
         {"v": canonical(record), "s": row.sequence})  # fmt: skip
    forged = notes.sign(notes.Checkpoint("test/ledger", row.sequence, root), intruder.name,
                        intruder.private)  # fmt: skip
    _sql(url, "UPDATE ledger_checkpoints SET note = :n WHERE size = :s",
         {"n": forged, "s": row.sequence})  # fmt: skip
    (bad,) = VerifiableLog(filled).check_stored_checkpoints().bad
    assert f"whose record at sequence {row.sequence} is not in the tree it signs" in (
        bad.problem or ""
    )


def test_truncation_below_the_checkpoint_is_named_by_it_even_without_keys(run: Cli) -> None:
    cut(run.url, 30)
    run.base[run.base.index("--keys") + 1] = str(run.tmp / "no-keys")
    since = run("verify", "--since-checkpoint", "--json")
    assert since.exit_code == 1 and _json(since)["first_bad"] == 31
    assert "removed or an older copy restored" in _json(since)["reason"]
    refused = run("checkpoint")
    assert refused.exit_code == 1 and "sequence 31: " in refused.stderr


def test_the_cli_refuses_as_a_subprocess(run: Cli) -> None:
    change_byte(run.url, 41)
    base = [sys.executable, "-m", "ledger.cli", *run.base]
    signed = subprocess.run([*base, "checkpoint"], capture_output=True, text=True, check=False)
    assert signed.returncode == 1, signed.stderr
    assert signed.stderr.startswith("error: sequence 41: the stored record does not match")
    since = subprocess.run(
        [*base, "verify", "--since-checkpoint"], capture_output=True, text=True, check=False
    )
    assert since.returncode == 1 and since.stdout.startswith("NOT INTACT at sequence 41")


def test_checkpoints_by_a_retired_key_verify_after_a_rotation(run: Cli) -> None:
    assert run("keys", "rotate-signing").exit_code == 0
    run.events(list(generate(3, seed=13)))
    assert run("checkpoint").exit_code == 0
    listed = _json(run("verify", "--json"))["checkpoints"]
    assert all(c["valid"] for c in listed) and len({c["signed_by"] for c in listed}) == 2
    with Ledger.open(run.url, run.tmp / "keys") as ledger:
        assert VerifiableLog(ledger, signing_verifiers(run.tmp / "signing")).latest_checkpoint()
        assert VerifiableLog(ledger).check_stored_checkpoints().intact  # recorded keys only


# -- the property ------------------------------------------------------------------------------


def _tamper(url: str, data: st.DataObject, size: int) -> int:
    """One random edit; the first sequence it touches (size + 1: a checkpoint row)."""
    col = _seq(url)
    kind = data.draw(
        st.sampled_from(
            [
                "state",
                "hash",
                "mac",
                "delete",
                "cut",
                "head",
                "node",
                "seal",
                "keymap",
                "checkpoint",
            ]
        )
    )
    if kind in ("state", "hash", "mac", "delete"):
        seq = data.draw(st.integers(1, size), label="sequence")
        if kind == "delete":
            _delete(url, seq)
            return seq
        column = {"state": "state", "hash": "hash", "mac": "mac"}[kind]
        value = bytes(
            _sql(url, f"SELECT {column} FROM ledger_events WHERE {col} = :s", {"s": seq})[0][0]
        )
        offset = data.draw(st.integers(0, len(value) - 1), label="offset")
        changed = value[:offset] + bytes([value[offset] ^ 0x01]) + value[offset + 1 :]
        _sql(
            url,
            f"UPDATE ledger_events SET {column} = :v WHERE {col} = :s",
            {"v": changed, "s": seq},
        )
        return seq
    if kind == "cut":
        keep = data.draw(st.integers(1, size - 1), label="keep")
        cut(url, keep)
        return keep + 1
    if kind == "node":
        stored = sorted(
            (int(lv), int(ix)) for lv, ix in _sql(url, "SELECT level, idx FROM ledger_tree")
        )
        level, index = data.draw(st.sampled_from(stored), label="node")
        _set_node(url, level, index, sha256(b"forged"))
        return (index + 1) << level  # the event that completes it
    if kind == "head":  # the head moved back over the newest row, which stays
        _head_back(url)
        return size
    if kind == "keymap":  # a bucket pointed at another key-encryption key generation
        _sql(url, "UPDATE ledger_buckets SET generation = generation + 1 WHERE bucket = 0")
        return size
    if kind == "seal":
        _sql(url, "UPDATE ledger_head SET seal = :s", {"s": sha256(b"forged")})
        return size
    stored_rows = _checkpoint_rows(url)
    change_note: bool = bool(stored_rows) and data.draw(st.booleans(), label="change a note")
    if change_note:
        row_size, _, note, _ = data.draw(st.sampled_from(stored_rows), label="checkpoint")
        offset = data.draw(st.integers(0, len(note) - 2), label="note offset")
        changed = note[:offset] + chr(ord(note[offset]) ^ 0x01) + note[offset + 1 :]
        _sql(
            url,
            "UPDATE ledger_checkpoints SET note = :n WHERE size = :s",
            {"n": changed, "s": row_size},
        )
    else:
        taken = {row[0] for row in stored_rows}
        forged = st.integers(1, size + 3).filter(lambda n: n not in taken)
        forge_zero(url, data.draw(forged, label="forged size"))
    return size + 1


@pytest.mark.parametrize("engine", ENGINES)
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_signing_refuses_or_signs_only_the_untampered_history(
    engine: str, data: st.DataObject
) -> None:
    """For a random edit of a small ledger: signing refuses (and then the store does not
    verify: no false alarm), or the store verifies intact, or the edit lies inside what the
    newest checkpoint already vouches for. Whatever is signed is the root of the history as
    it was written, and an edit after the newest checkpoint is never signed over."""
    before = data.draw(st.integers(0, 12), label="events before the checkpoint (0: none)")
    after = data.draw(st.integers(1, 12), label="events after it")
    with fresh_store(engine) as (url, keys), tempfile.TemporaryDirectory() as tmp:
        signer = create_signer(Path(tmp) / "signing", "prop/ledger")
        with Ledger.init(url, keys, origin="prop/ledger") as ledger:
            ledger.record_system(
                {
                    "type": SIGNING_KEY,
                    "actor": SYSTEM_ACTOR,
                    "name": signer.name,
                    "verifier_key": signer.verifier_key,
                }
            )
            vouched = 0
            if before:
                ledger.record_many(list(generate(before, seed=before)))
                vouched = notes.parse(VerifiableLog(ledger).checkpoint(signer)).size
            ledger.record_many(list(generate(after, seed=100 + after)))
            size = ledger.size
            honest = VerifiableLog(ledger).verify_since_checkpoint()
            assert honest.intact and honest.check.root is not None
            genuine = honest.check.root
        touched = _tamper(url, data, size)
        stored = _checkpoint_rows(url)
        with Ledger.open(url, keys) as ledger:
            log = VerifiableLog(ledger)
            intact = ledger.verify(workers=1).intact and log.check_stored_checkpoints().intact
            try:
                note = log.checkpoint(signer)
            except IntegrityError:
                event("refused")
                assert not intact, "a refusal over a store that verifies"
                assert _checkpoint_rows(url) == stored  # nothing written
                return
            signed = notes.parse(note)
            event("signed: " + ("intact" if intact else "an edit inside the vouched prefix"))
            assert (signed.size, signed.root) == (size, genuine)
            assert intact or touched <= vouched, f"signed over an edit at {touched} > {vouched}"
            if not intact:
                verifier = notes.parse_verifier_key(signer.verifier_key)
                assert not log.verify_against(note, verifier).report.intact


def test_no_checkpoint_yet_means_the_whole_chain_is_checked_before_signing(
    ledger: Ledger, tmp_path: Path
) -> None:
    ledger.record_many(list(generate(20, seed=3)))
    change_byte(ledger.store.url, 2)
    log = VerifiableLog(ledger)
    with pytest.raises(IntegrityError) as refused:
        log.checkpoint(create_signer(tmp_path / "s", "test/ledger"))
    assert refused.value.sequence == 2
    assert ledger.store.checkpoints() == [] and ledger.events_of_type(SIGNING_KEY) == []
    since = log.verify_since_checkpoint()
    assert not since.intact and since.report.first_bad == 2 and since.check.base is None
    with pytest.raises(NotFound):
        log.latest()


def test_a_change_made_while_the_signing_key_is_recorded_is_caught_before_signing(
    filled: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first checkpoint with a key records the key, after the store was checked: what
    was written meanwhile, the key's own record included, is checked again before signing."""
    record_system = Ledger.record_system

    def record_then_edit(self: Ledger, event: dict[str, Any]) -> Any:
        receipt = record_system(self, event)
        change_byte(self.store.url, receipt.sequence)  # edited as soon as it is written
        return receipt

    monkeypatch.setattr(Ledger, "record_system", record_then_edit)
    with pytest.raises(IntegrityError) as refused:
        VerifiableLog(filled).checkpoint(create_signer(tmp_path / "s", "test/ledger"))
    assert refused.value.sequence == filled.size
    assert "the stored record does not match its hash" in refused.value.what
    assert filled.store.checkpoints() == []
