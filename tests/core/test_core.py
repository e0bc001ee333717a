"""The pure core: canonical bytes, the record format, the envelope encryption and key sources."""

from __future__ import annotations

import base64
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.core import chain
from ledger.core.canonical import canonical, sha256, utc_timestamp
from ledger.crypto.envelope import DataKey, aead_open, aead_seal, new_key, wrap_aad
from ledger.crypto.keys import Generation, create_keys, load_keys
from ledger.errors import KeyUnavailable, StoreExists

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=10,
)


def test_canonical_sorts_keys_without_whitespace_and_keeps_unicode() -> None:
    assert canonical({"b": 1, "a": [True, None], "é": "ü\n"}) == (
        '{"a":[true,null],"b":1,"é":"ü\\n"}'.encode()
    )


@given(json_values)
def test_canonical_bytes_are_stable_across_a_round_trip(value: object) -> None:
    encoded = canonical(value)
    assert canonical(orjson.loads(encoded)) == encoded


def test_utc_timestamp_refuses_naive_times() -> None:
    from datetime import UTC, datetime

    assert utc_timestamp(datetime(2026, 3, 1, 9, 30, tzinfo=UTC)) == "2026-03-01T09:30:00.000000Z"
    with pytest.raises(ValueError, match="naive"):
        utc_timestamp(datetime(2026, 3, 1, 9, 30))


def test_record_round_trips_and_its_hash_is_sha256_of_its_bytes() -> None:
    event = {"type": "accessed", "at": "2026-03-01T09:30:00Z", "actor": "staff:jsmith"}
    raw, digest = chain.seal(
        seq=7,
        recorded_at="2026-03-01T09:30:01.000000Z",
        prev=bytes(range(32)),
        uuid="0190f0c2-0000-7000-8000-000000000000",
        event=event,
        shredded=[],
    )
    assert digest == sha256(raw)
    record = chain.parse(raw)
    assert (record.seq, record.prev, record.event, record.shredded) == (
        7,
        bytes(range(32)),
        event,
        [],
    )
    assert raw.startswith(b'{"event":{"actor":"staff:jsmith"')


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"not json", "not valid JSON"),
        (b"[]", "not a JSON object"),
        (b'{"v":2}', "version"),
        (b'{"v":1,"extra":1}', "unknown fields"),
        (b'{"v":1,"seq":"1","prev":"00","event":{},"recorded_at":"x","uuid":"u"}', "malformed"),
    ],
)
def test_malformed_records_are_named(raw: bytes, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        chain.parse(raw)


@given(json_values, st.text(min_size=1, max_size=20))
def test_sealed_values_open_only_with_their_event_and_key(value: object, category: str) -> None:
    key = DataKey("k1", "cust-1", category, new_key())
    envelope = key.seal_value(value, event_uuid="e1")
    assert key.open_value(envelope, event_uuid="e1") == value
    with pytest.raises(KeyUnavailable):
        key.open_value(envelope, event_uuid="e2")  # moved to another event
    other = DataKey("k1", "cust-1", category, new_key())
    with pytest.raises(KeyUnavailable):
        other.open_value(envelope, event_uuid="e1")


def test_a_tampered_ciphertext_does_not_open() -> None:
    key = DataKey("k1", "cust-1", "user.name", new_key())
    envelope = key.seal_value("Jo Bloggs", event_uuid="e1")
    sealed = bytearray(base64.b64decode(envelope["sealed"]))
    sealed[-1] ^= 1
    envelope["sealed"] = base64.b64encode(bytes(sealed)).decode()
    with pytest.raises(KeyUnavailable):
        key.open_value(envelope, event_uuid="e1")


def test_wrapped_keys_are_bound_to_their_slot_and_generation(tmp_path: Path) -> None:
    source = create_keys(tmp_path / "keys", buckets=4)
    secret = new_key()
    first = Generation(source.bucket("cust-1"), 1)
    wrapped = source.wrap(first, secret, wrap_aad("k1", "cust-1", "user.name"))
    assert source.unwrap(first, wrapped, wrap_aad("k1", "cust-1", "user.name")) == secret
    with pytest.raises(KeyUnavailable):
        source.unwrap(first, wrapped, wrap_aad("k1", "cust-2", "user.name"))
    other = Generation((first.bucket + 1) % 4, 1)
    with pytest.raises(KeyUnavailable):  # another bucket's key does not open it
        source.unwrap(other, wrapped, wrap_aad("k1", "cust-1", "user.name"))


def test_keys_folder_is_created_once_and_loads_back(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    created = create_keys(folder, buckets=8)
    with pytest.raises(StoreExists):
        create_keys(folder)
    loaded = load_keys(folder, env={})
    assert (loaded.store_id, loaded.seal_id, loaded.buckets) == (
        created.store_id, created.seal_id, 8)  # fmt: skip
    assert loaded.generations() == [Generation(b, 1) for b in range(8)]
    assert loaded.mac(b"head") == created.mac(b"head")
    assert (folder / "seal.key").read_text().strip() not in repr(loaded)
    for name in ("seal.key", "kek.slots"):
        assert (folder / name).stat().st_mode & 0o777 == 0o600


def test_a_generation_is_staged_then_retired_in_place(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    source = create_keys(folder, buckets=2)
    size = (folder / "kek.slots").stat().st_size
    old_key = source._key(Generation(1, 1))
    source.stage([Generation(1, 2)])
    other = load_keys(folder, env={})  # another process sees the staged generation
    assert other.holds(Generation(1, 2)) and other.holds(Generation(1, 1))
    source.retire([Generation(1, 1)])
    assert not load_keys(folder, env={}).holds(Generation(1, 1))
    assert old_key not in (folder / "kek.slots").read_bytes()  # overwritten, not unlinked
    assert (folder / "kek.slots").stat().st_size == size
    other.refresh()  # what a writer does when the sealed key map moves on
    with pytest.raises(KeyUnavailable, match="destroyed"):
        other.unwrap(Generation(1, 1), b"x" * 40, b"aad")
    source.stage([Generation(1, 3)])  # takes the emptied slot; generation 2 stays
    assert load_keys(folder, env={}).generations() == [
        Generation(0, 1), Generation(1, 2), Generation(1, 3)]  # fmt: skip


def test_keys_from_the_environment_are_refused_by_name(tmp_path: Path) -> None:
    create_keys(tmp_path / "keys")
    kek = base64.b64encode(new_key()).decode()
    for name in ("LEDGER_KEK", "LEDGER_SEAL_KEY"):
        with pytest.raises(KeyUnavailable, match=f"{name} is set, but keys are no longer"):
            load_keys(tmp_path / "keys", env={name: kek})
    with pytest.raises(KeyUnavailable, match="no key at"):
        load_keys(tmp_path / "absent", env={})


@pytest.mark.parametrize("name", ["seal.key", "kek.slots"])
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_key_file_others_can_read_is_refused_by_name(
    tmp_path: Path, name: str, mode: int
) -> None:
    create_keys(tmp_path / "keys", buckets=2)
    (tmp_path / "keys" / name).chmod(mode)
    with pytest.raises(KeyUnavailable, match=f"{name} can be read or written by other users"):
        load_keys(tmp_path / "keys", env={})


def test_a_symlinked_key_file_is_refused(tmp_path: Path) -> None:
    create_keys(tmp_path / "keys", buckets=2)
    (tmp_path / "keys" / "seal.key").rename(tmp_path / "elsewhere")
    (tmp_path / "keys" / "seal.key").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(KeyUnavailable, match="not a regular file"):
        load_keys(tmp_path / "keys", env={})


def test_a_damaged_slot_is_named_and_does_not_unwrap(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    source = create_keys(folder, buckets=2)
    wrapped = source.wrap(Generation(0, 1), new_key(), b"aad")
    raw = bytearray((folder / "kek.slots").read_bytes())
    raw[64 + 20] ^= 1  # bucket 0, first slot, inside the key
    (folder / "kek.slots").write_bytes(bytes(raw))
    with pytest.raises(KeyUnavailable, match="damaged"):
        load_keys(folder, env={}).unwrap(Generation(0, 1), wrapped, b"aad")


def test_aead_round_trip_and_wrong_associated_data() -> None:
    key = new_key()
    sealed = aead_seal(key, b"value", b"aad")
    assert aead_open(key, sealed, b"aad") == b"value"
    with pytest.raises(KeyUnavailable):
        aead_open(key, sealed, b"other")
