"""RFC 9162 section 2.1 Merkle trees over SHA-256: hashing, proofs, verification.

Proof generation works over any :class:`HashSource` (the hash of each complete, aligned
subtree), so the same code serves an in-memory tree and a tiled log.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Protocol

from attestkit.errors import MerkleProofError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
MAX_PROOF_HASHES = 64  # a tree of up to 2^64 leaves never needs more


def leaf_hash(entry: bytes) -> bytes:
    """``SHA-256(0x00 || entry)``."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """The largest power of two strictly smaller than *n* (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """The Merkle tree hash of a list of leaf hashes (the empty tree hashes to SHA-256 of nothing)."""
    if not leaf_hashes:
        return EMPTY_ROOT
    level = list(leaf_hashes)
    # Fold the perfect subtrees of the binary decomposition, right to left.
    stack: list[tuple[int, bytes]] = []
    for value in level:
        height, current = 0, value
        while stack and stack[-1][0] == height:
            current = node_hash(stack.pop()[1], current)
            height += 1
        stack.append((height, current))
    current = stack.pop()[1]
    while stack:
        current = node_hash(stack.pop()[1], current)
    return current


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise MerkleProofError(f"{what} is {len(value)} bytes, not {HASH_SIZE}")


def _equal(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root an inclusion proof leads to (RFC 9162 2.1.3.2), or :class:`MerkleProofError`."""
    if not 0 <= index < size:
        raise MerkleProofError(f"leaf index {index} is outside a tree of size {size}")
    _check_hash(leaf, "leaf hash")
    if len(proof) > MAX_PROOF_HASHES:
        raise MerkleProofError("inclusion proof is too long")
    fn, sn, r = index, size - 1, leaf
    for number, p in enumerate(proof):
        _check_hash(p, f"proof hash {number}")
        if sn == 0:
            raise MerkleProofError("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise MerkleProofError("inclusion proof is shorter than the tree is deep")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Check that *leaf* (a 32-byte leaf hash) is at *index* in the tree of *size* with *root*."""
    if not _equal(root_from_inclusion_proof(index, size, leaf, proof), root):
        raise MerkleProofError("inclusion proof does not lead to the root hash")


def verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]) -> None:
    """Check that the tree (*size1*, *root1*) is a prefix of (*size2*, *root2*) (RFC 9162 2.1.4.2).

    A proof from size 0 is refused: the empty tree is a prefix of every tree, so callers
    handle that case without a proof.
    """
    if size1 < 0 or size2 < size1:
        raise MerkleProofError(f"cannot prove size {size1} consistent with the smaller size {size2}")
    if size1 == 0:
        raise MerkleProofError("a consistency proof from the empty tree is meaningless")
    if len(proof) > MAX_PROOF_HASHES:
        raise MerkleProofError("consistency proof is too long")
    if size1 == size2:
        if proof:
            raise MerkleProofError("equal sizes need an empty consistency proof")
        if not _equal(root1, root2):
            raise MerkleProofError("same tree size, different root hashes")
        return
    _check_hash(root1, "old root")
    _check_hash(root2, "new root")
    for number, p in enumerate(proof):
        _check_hash(p, f"proof hash {number}")
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    if not path:
        raise MerkleProofError("consistency proof is empty")
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise MerkleProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise MerkleProofError("consistency proof is too short")
    if not _equal(fr, root1):
        raise MerkleProofError("consistency proof does not lead to the old root")
    if not _equal(sr, root2):
        raise MerkleProofError("consistency proof does not lead to the new root")


class HashSource(Protocol):
    """Gives the hash of a complete subtree: level *level*, index *index* (leaves at level 0)."""

    def node(self, level: int, index: int) -> bytes:
        """``MTH(D[index * 2^level : (index + 1) * 2^level])``."""
        ...


class MemoryTree:
    """An in-memory tree over leaf hashes, for tests and for small logs."""

    def __init__(self, leaf_hashes: Sequence[bytes] = ()) -> None:
        self.levels: list[list[bytes]] = [list(leaf_hashes)]
        self._rebuild()

    def _rebuild(self) -> None:
        level = 0
        while len(self.levels[level]) > 1:
            below = self.levels[level]
            pairs = [node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
            if len(self.levels) == level + 1:
                self.levels.append(pairs)
            else:
                self.levels[level + 1] = pairs
            level += 1
        del self.levels[level + 1 :]

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash."""
        self.levels[0].append(leaf)
        self._rebuild()

    @property
    def size(self) -> int:
        """The number of leaves."""
        return len(self.levels[0])

    def node(self, level: int, index: int) -> bytes:
        """A complete subtree's hash."""
        return self.levels[level][index]


def subtree_hash(source: HashSource, start: int, end: int) -> bytes:
    """``MTH(D[start:end])`` for a range that RFC 9162's recursion produces (start aligned)."""
    n = end - start
    if n <= 0:
        return EMPTY_ROOT
    if n & (n - 1) == 0 and start % n == 0:
        level = n.bit_length() - 1
        return source.node(level, start >> level)
    k = _largest_power_of_two_below(n)
    return node_hash(subtree_hash(source, start, start + k), subtree_hash(source, start + k, end))


def tree_hash(source: HashSource, size: int) -> bytes:
    """The root hash of the first *size* leaves."""
    return subtree_hash(source, 0, size)


def _path(source: HashSource, m: int, start: int, end: int) -> list[bytes]:
    n = end - start
    if n == 1:
        return []
    k = _largest_power_of_two_below(n)
    if m < k:
        return [*_path(source, m, start, start + k), subtree_hash(source, start + k, end)]
    return [*_path(source, m - k, start + k, end), subtree_hash(source, start, start + k)]


def inclusion_proof(source: HashSource, index: int, size: int) -> list[bytes]:
    """The inclusion proof of leaf *index* in the tree of *size* (RFC 9162 2.1.3.1)."""
    if not 0 <= index < size:
        raise MerkleProofError(f"leaf index {index} is outside a tree of size {size}")
    return _path(source, index, 0, size)


def _subproof(source: HashSource, m: int, start: int, end: int, complete: bool) -> list[bytes]:
    n = end - start
    if m == n:
        return [] if complete else [subtree_hash(source, start, end)]
    k = _largest_power_of_two_below(n)
    if m <= k:
        return [*_subproof(source, m, start, start + k, complete), subtree_hash(source, start + k, end)]
    return [*_subproof(source, m - k, start + k, end, False), subtree_hash(source, start, start + k)]


def consistency_proof(source: HashSource, size1: int, size2: int) -> list[bytes]:
    """The consistency proof from *size1* to *size2* (RFC 9162 2.1.4.1); empty when they are equal."""
    if not 0 < size1 <= size2:
        raise MerkleProofError(f"no consistency proof from size {size1} to size {size2}")
    if size1 == size2:
        return []
    return _subproof(source, size1, 0, size2, True)


__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "HashSource",
    "MemoryTree",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_from_inclusion_proof",
    "root_of",
    "subtree_hash",
    "tree_hash",
    "verify_consistency",
    "verify_inclusion",
]
