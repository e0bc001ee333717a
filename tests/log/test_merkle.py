"""The Merkle tree against RFC 6962 known answers, and our proofs against our verifier."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.log import merkle

VECTORS = Path(__file__).parent / "vectors" / "rfc6962"  # see SOURCE.md there (Apache-2.0)
LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
ROOT_OF_EIGHT = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"


def _load(kind: str) -> list[tuple[str, dict[str, Any]]]:
    files = sorted((VECTORS / kind).rglob("*.json"))
    assert len(files) > 50, "the vectors must be present"
    return [(str(p.relative_to(VECTORS)), json.loads(p.read_text())) for p in files]


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value or "")


@pytest.mark.parametrize(
    ("name", "case"), _load("inclusion"), ids=lambda v: v if isinstance(v, str) else ""
)
def test_inclusion_vectors(name: str, case: dict[str, Any]) -> None:
    def check() -> None:
        merkle.verify_inclusion(
            case["leafIdx"],
            case["treeSize"],
            _b64(case["leafHash"]),
            [_b64(p) for p in case["proof"] or []],
            _b64(case["root"]),
        )

    if case["wantErr"]:
        with pytest.raises(merkle.ProofError):
            check()
    else:
        check()


@pytest.mark.parametrize(
    ("name", "case"), _load("consistency"), ids=lambda v: v if isinstance(v, str) else ""
)
def test_consistency_vectors(name: str, case: dict[str, Any]) -> None:
    def check() -> None:
        merkle.verify_consistency(
            case["size1"],
            case["size2"],
            _b64(case["root1"]),
            _b64(case["root2"]),
            [_b64(p) for p in case["proof"] or []],
        )

    if case["wantErr"]:
        with pytest.raises(merkle.ProofError):
            check()
    else:
        check()


def test_tree_hash_known_answers() -> None:
    assert merkle.root_of([]) == merkle.EMPTY_ROOT
    assert merkle.EMPTY_ROOT.hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert merkle.root_of(LEAVES).hex() == ROOT_OF_EIGHT
    assert merkle.root_of(LEAVES[:1]) == merkle.leaf_hash(b"")


def _naive_root(leaves: list[bytes]) -> bytes:
    if not leaves:
        return merkle.EMPTY_ROOT
    if len(leaves) == 1:
        return merkle.leaf_hash(leaves[0])
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return merkle.node_hash(_naive_root(leaves[:k]), _naive_root(leaves[k:]))


def _range_hash(leaves: list[bytes]) -> merkle.RangeHash:
    nodes: dict[tuple[int, int], bytes] = {}
    builder = merkle.TreeBuilder()
    for leaf in leaves:
        for level, index, digest in builder.append(merkle.leaf_hash(leaf)):
            nodes[(level, index)] = digest
    return merkle.range_hash_from_nodes(lambda level, index: nodes[(level, index)])


@given(st.integers(1, 70))
def test_builder_and_stored_nodes_agree_with_the_definition(size: int) -> None:
    leaves = [n.to_bytes(2, "big") for n in range(size)]
    assert merkle.root_of(leaves) == _naive_root(leaves)
    range_hash = _range_hash(leaves)
    assert range_hash(0, size) == _naive_root(leaves)
    if size > 1:
        k = 1 << ((size - 1).bit_length() - 1)
        assert range_hash(k, size) == _naive_root(leaves[k:])


@given(st.data())
def test_generated_proofs_verify_and_mutated_ones_fail(data: st.DataObject) -> None:
    size2 = data.draw(st.integers(1, 130))
    leaves = [n.to_bytes(3, "big") for n in range(size2)]
    range_hash = _range_hash(leaves)
    root2 = range_hash(0, size2)
    index = data.draw(st.integers(0, size2 - 1))
    proof = merkle.inclusion_proof(index, size2, range_hash)
    merkle.verify_inclusion(index, size2, merkle.leaf_hash(leaves[index]), proof, root2)
    if proof:
        bad = list(proof)
        at = data.draw(st.integers(0, len(bad) - 1))
        bad[at] = bytes([bad[at][0] ^ 1]) + bad[at][1:]
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(index, size2, merkle.leaf_hash(leaves[index]), bad, root2)
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(index, size2, merkle.leaf_hash(b"forged"), proof, root2)
    size1 = data.draw(st.integers(1, size2))
    root1 = range_hash(0, size1)
    consistency = merkle.consistency_proof(size1, size2, range_hash)
    merkle.verify_consistency(size1, size2, root1, root2, consistency)
    if consistency:
        with pytest.raises(merkle.ProofError):
            merkle.verify_consistency(size1, size2, root1, root2, consistency[:-1])
        with pytest.raises(merkle.ProofError):
            merkle.verify_consistency(size1, size2, root1, merkle.leaf_hash(b"x"), consistency)
