"""The RFC 9162 (RFC 6962) Merkle tree: hashes, proofs, verification. Pure: bytes in, bytes out.

Leaf hash ``SHA-256(0x00 || leaf)``, node hash ``SHA-256(0x01 || left || right)``,
the empty tree's root ``SHA-256("")``. Verification follows RFC 9162 §2.1.3.2
and §2.1.4.2, and checks every length strictly: a proof of the wrong size, or a
hash that is not 32 bytes, is refused rather than partly used.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

from ledger.errors import ProofError as ProofError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

RangeHash = Callable[[int, int], bytes]
"""Hash of the subtree over leaves [start, end): how a store answers for its tree."""


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two smaller than *size* (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


class TreeBuilder:
    """Computes a tree's root from its leaf hashes in order, in O(log n) memory.

    Keeps one hash per set bit of the size (the perfect subtrees on the right edge).
    """

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[bytes] = []  # perfect subtrees, largest first

    @staticmethod
    def edge(size: int) -> list[tuple[int, int]]:
        """(level, index) of the perfect subtrees ending a tree of *size* leaves, largest first."""
        positions = []
        start = 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                positions.append((level, start >> level))
                start += 1 << level
        return positions

    @classmethod
    def resume(cls, size: int, edge: Sequence[bytes]) -> TreeBuilder:
        """A builder for a tree of *size* leaves, from the hashes of its :meth:`edge`."""
        if len(edge) != bin(size).count("1"):
            raise ProofError(f"a tree of {size} leaves has {bin(size).count('1')} edge subtrees")
        builder = cls()
        builder.size = size
        builder._stack = list(edge)
        return builder

    def append(self, leaf_digest: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; return the perfect subtrees it completed, as (level, index, hash)."""
        completed = [(0, self.size, leaf_digest)]
        digest = leaf_digest
        index, level = self.size, 0
        while index & 1:
            digest = node_hash(self._stack.pop(), digest)
            index >>= 1
            level += 1
            completed.append((level, index, digest))
        self._stack.append(digest)
        self.size += 1
        return completed

    def peaks(self) -> list[bytes]:
        """The hashes of the perfect subtrees on the right edge, largest first (see edge)."""
        return list(self._stack)

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        digest = self._stack[-1]
        for left in reversed(self._stack[:-1]):
            digest = node_hash(left, digest)
        return digest


def root_of(leaves: Iterable[bytes]) -> bytes:
    """The root of the tree over *leaves* (raw leaf bytes)."""
    builder = TreeBuilder()
    for leaf in leaves:
        builder.append(leaf_hash(leaf))
    return builder.root()


def range_hash_from_nodes(node: Callable[[int, int], bytes]) -> RangeHash:
    """A RangeHash from stored perfect subtrees: *node(level, index)* is the hash of leaves
    [index * 2**level, (index + 1) * 2**level). A range must be a subtree of the tree, as
    every range in an RFC 9162 proof is: its start aligned to the largest power of two in
    its size. An imperfect range on the right edge is folded from those perfect subtrees."""

    def range_hash(start: int, end: int) -> bytes:
        parts: list[bytes] = []
        position = start
        remaining = end - start
        while remaining:
            level = remaining.bit_length() - 1
            if position & ((1 << level) - 1):
                raise ProofError(f"range [{start}, {end}) is not a subtree")
            parts.append(node(level, position >> level))
            position += 1 << level
            remaining -= 1 << level
        digest = parts[-1]
        for left in reversed(parts[:-1]):
            digest = node_hash(left, digest)
        return digest

    return range_hash


def inclusion_proof(index: int, size: int, range_hash: RangeHash) -> list[bytes]:
    """RFC 9162 §2.1.3.1: the audit path of leaf *index* in the tree of *size* leaves."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size} leaves")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            path.append(range_hash(start + k, end))
            end = start + k
        else:
            path.append(range_hash(start, start + k))
            start += k
    path.reverse()
    return path


def consistency_proof(size1: int, size2: int, range_hash: RangeHash) -> list[bytes]:
    """RFC 9162 §2.1.4.1: the proof that the tree of *size2* leaves extends that of *size1*."""
    if not 0 < size1 <= size2:
        raise ProofError(f"no consistency proof from {size1} to {size2} leaves")
    if size1 == size2:
        return []
    proof: list[bytes] = []
    start, end, m, whole = 0, size2, size1, True
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            proof.append(range_hash(start + k, end))
            end = start + k
        else:
            proof.append(range_hash(start, start + k))
            start += k
            m -= k
            whole = False
    if not whole:
        proof.append(range_hash(start, end))
    proof.reverse()
    return proof


def _check_hashes(*hashes: bytes) -> None:
    for digest in hashes:
        if len(digest) != HASH_SIZE:
            raise ProofError(f"a hash of {len(digest)} bytes, not {HASH_SIZE}")


def _decompose(index: int, size: int) -> tuple[int, int]:
    inner = (index ^ (size - 1)).bit_length()
    border = bin(index >> inner).count("1")
    return inner, border


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, digest in enumerate(proof):
        seed = node_hash(seed, digest) if (index >> i) & 1 == 0 else node_hash(digest, seed)
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, digest in enumerate(proof):
        if (index >> i) & 1:
            seed = node_hash(digest, seed)
    return seed


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    for digest in proof:
        seed = node_hash(digest, seed)
    return seed


def root_from_inclusion(index: int, size: int, leaf_digest: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that an inclusion proof implies; ProofError if it is malformed."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is beyond the tree size {size}")
    _check_hashes(leaf_digest, *proof)
    inner, border = _decompose(index, size)
    if len(proof) != inner + border:
        raise ProofError(f"wrong proof size {len(proof)}, want {inner + border}")
    digest = _chain_inner(leaf_digest, proof[:inner], index)
    return _chain_border_right(digest, proof[inner:])


def verify_inclusion(
    index: int, size: int, leaf_digest: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise ProofError unless *proof* shows leaf *index* with *leaf_digest* under *root*."""
    _check_hashes(root)
    if root_from_inclusion(index, size, leaf_digest, proof) != root:
        raise ProofError("the inclusion proof does not lead to the root")


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> None:
    """Raise ProofError unless *proof* shows the tree (size2, root2) extends (size1, root1)."""
    _check_hashes(*proof)
    if size2 < size1:
        raise ProofError(f"size2 {size2} is smaller than size1 {size1}")
    if size1 == 0:
        # Every tree extends the empty one: such a "proof" would prove nothing, so refuse it.
        raise ProofError("a consistency proof from the empty tree proves nothing")
    if size1 == size2:
        if proof:
            raise ProofError("equal sizes need an empty proof")
        if root1 != root2:
            raise ProofError("equal sizes but the roots differ")
        return
    _check_hashes(root1, root2)
    if not proof:
        raise ProofError("empty consistency proof")
    inner, border = _decompose(size1 - 1, size2)
    shift = (size1 & -size1).bit_length() - 1
    inner -= shift
    if size1 == 1 << shift:
        seed, rest = root1, list(proof)
    else:
        seed, rest = proof[0], list(proof[1:])
    if len(rest) != inner + border:
        raise ProofError(f"wrong proof size {len(proof)}")
    mask = (size1 - 1) >> shift
    got1 = _chain_border_right(_chain_inner_right(seed, rest[:inner], mask), rest[inner:])
    if got1 != root1:
        raise ProofError("the consistency proof does not lead to the old root")
    got2 = _chain_border_right(_chain_inner(seed, rest[:inner], mask), rest[inner:])
    if got2 != root2:
        raise ProofError("the consistency proof does not lead to the new root")
