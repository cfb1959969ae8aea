"""Merkle tree maths of the audit log: RFC 9162 (Certificate Transparency 2.0) §2.1.

Rules this module guarantees:

- Hashes are SHA-256. A leaf is ``SHA-256(0x00 || data)``, an interior node
  ``SHA-256(0x01 || left || right)`` and the root of the empty tree ``SHA-256("")`` (§2.1.1).
- The tree of ``n`` leaves is the RFC's: for ``n > 1`` its left subtree holds the first ``k``
  leaves, ``k`` the largest power of two smaller than ``n``. Equivalently, pairing level by level
  and carrying an odd last node up unchanged gives the same root; :func:`root_of` does that.
- Every function here works on leaf *hashes* (32 bytes), never on leaf data, except
  :func:`leaf_hash` itself.
- Proofs are generated exactly as §2.1.3.1 (``PATH``) and §2.1.4.1 (``PROOF``/``SUBPROOF``)
  define them, and verified exactly as §2.1.3.2 and §2.1.4.2 describe. The RFC defines a
  consistency proof only for ``0 < first < second``; for the two edge cases this module follows
  the common reading (the one of RFC 6962's ``SUBPROOF(m, D[m], true) = {}``): between equal
  sizes the proof is empty and the roots must be equal, and from the empty tree the proof is
  empty and the first root must be ``SHA-256("")``.
- Proof generation reads leaves through any ``Sequence[bytes]`` (a list, or a lazy sequence that
  serves them from a database); it reads ranges by slicing (``leaves[i:j]``), so such a sequence
  can fetch a range in one query. Out-of-range arguments raise :class:`ValueError`; the verify
  functions never raise and return False for malformed input.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "Frontier",
    "SubtreeCache",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_of",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()  # RFC 9162 §2.1.1: MTH({}) = SHA-256()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """The RFC 9162 leaf hash of ``data``: ``SHA-256(0x00 || data)``."""
    return _sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The RFC 9162 interior node hash: ``SHA-256(0x01 || left || right)``."""
    return _sha256(_NODE_PREFIX + left + right).digest()


def root_of(leaves: Sequence[bytes]) -> bytes:
    """The Merkle tree hash (root) of the tree whose leaf hashes are ``leaves``.

    Iterative, level by level: about one hash per leaf, no recursion, and the memory of one
    level at a time.
    """
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    sha, prefix = _sha256, _NODE_PREFIX
    while len(level) > 1:
        odd = level[-1] if len(level) % 2 else None
        level = [sha(prefix + left + right).digest()
                 for left, right in zip(level[0::2], level[1::2], strict=False)]
        if odd is not None:
            # The RFC's left-heavy split equals carrying the odd last node up unchanged.
            level.append(odd)
    return level[0]


def _largest_power_of_two_below(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n > 1``): RFC 9162's ``k``."""
    return 1 << ((n - 1).bit_length() - 1)


class SubtreeCache:
    """Roots of perfect (power-of-two, aligned) subtrees, kept between proofs.

    A perfect subtree never changes once its leaves exist, so a caller that generates many
    proofs over the same leaves (one export: a proof per checkpoint) can pass one cache to every
    call: each perfect subtree of at least ``2 ** min_level`` leaves is then hashed once. Only
    those are kept, so the cache holds fewer than ``2 * n / 2 ** min_level`` roots for ``n``
    leaves.
    """

    def __init__(self, min_level: int = 8) -> None:
        if min_level < 0:
            raise ValueError("min_level must be 0 or more")
        self.min_level = min_level
        self._roots: dict[tuple[int, int], bytes] = {}

    def __len__(self) -> int:
        return len(self._roots)

    def seed(self, start: int, level: int, root: bytes) -> None:
        """Know the root of the ``2 ** level`` leaves from ``start`` without their leaves."""
        if level < self.min_level or start % (1 << level):
            raise ValueError("only aligned subtrees of at least 2 ** min_level leaves are kept")
        self._roots[start, level] = root

    def perfect_root(self, leaves: Sequence[bytes], start: int, level: int) -> bytes:
        """The root of the ``2 ** level`` leaves from ``start`` (aligned to their count)."""
        if level < self.min_level:
            return root_of(leaves[start:start + (1 << level)])
        cached = self._roots.get((start, level))
        if cached is not None:
            return cached
        if level == self.min_level:
            root = root_of(leaves[start:start + (1 << level)])
        else:
            half = 1 << (level - 1)
            # Depth is at most the level (< 64): this recursion is shallow by construction.
            root = node_hash(self.perfect_root(leaves, start, level - 1),
                             self.perfect_root(leaves, start + half, level - 1))
        self._roots[start, level] = root
        return root


def _range_root(leaves: Sequence[bytes], start: int, end: int,
                cache: SubtreeCache | None) -> bytes:
    """MTH(D[start:end]) for a range the RFC's recursion produces (``start`` aligned to every
    power of two not larger than ``end - start``)."""
    if cache is None:
        return root_of(leaves[start:end])
    # Decompose into perfect subtrees, largest (leftmost) first, then fold from the right.
    parts = []
    position, remaining = start, end - start
    while remaining:
        level = remaining.bit_length() - 1
        parts.append(cache.perfect_root(leaves, position, level))
        position += 1 << level
        remaining -= 1 << level
    root = parts[-1]
    for part in reversed(parts[:-1]):
        root = node_hash(part, root)
    return root


def _check_leaves(leaves: Sequence[bytes], size: int) -> None:
    if len(leaves) < size:
        raise ValueError(f"the tree of size {size} needs {size} leaves, only {len(leaves)} given")


def inclusion_proof(leaves: Sequence[bytes], index: int, size: int, *,
                    cache: SubtreeCache | None = None) -> list[bytes]:
    """The inclusion proof (audit path) of leaf ``index`` in the tree of the first ``size``
    leaves, as RFC 9162 §2.1.3.1 defines ``PATH(m, D[n])``: sibling hashes from the leaf up.

    ``leaves`` holds at least ``size`` leaf hashes. Raises ValueError unless
    ``0 <= index < size``. Hashes O(size) nodes (fewer with a warm ``cache``).
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in a tree of size {size}")
    _check_leaves(leaves, size)
    path: list[bytes] = []  # collected top-down, returned bottom-up
    start, end = 0, size
    while end - start > 1:
        k = _largest_power_of_two_below(end - start)
        if index - start < k:
            # PATH(m, D[0:k]) : MTH(D[k:n])
            path.append(_range_root(leaves, start + k, end, cache))
            end = start + k
        else:
            # PATH(m - k, D[k:n]) : MTH(D[0:k])
            path.append(_range_root(leaves, start, start + k, cache))
            start += k
    path.reverse()
    return path


def consistency_proof(leaves: Sequence[bytes], first: int, second: int, *,
                      cache: SubtreeCache | None = None) -> list[bytes]:
    """The consistency proof between the trees of the first ``first`` and ``second`` leaves,
    as RFC 9162 §2.1.4.1 defines ``PROOF(m, D[n]) = SUBPROOF(m, D[n], true)``.

    ``leaves`` holds at least ``second`` leaf hashes. Raises ValueError unless
    ``0 <= first <= second``. For ``first == 0`` or ``first == second`` the proof is empty.
    """
    if not 0 <= first <= second:
        raise ValueError(f"no consistency proof from size {first} to size {second}")
    _check_leaves(leaves, second)
    if first in (0, second):
        return []
    proof: list[bytes] = []  # collected top-down, returned bottom-up
    start, end, m, known = 0, second, first, True
    while m != end - start:
        k = _largest_power_of_two_below(end - start)
        if m <= k:
            # SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
            proof.append(_range_root(leaves, start + k, end, cache))
            end = start + k
        else:
            # SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
            proof.append(_range_root(leaves, start, start + k, cache))
            start += k
            m -= k
            known = False
    if not known:
        # SUBPROOF(m, D[m], false) = {MTH(D[m])}; with b true the verifier knows it already.
        proof.append(_range_root(leaves, start, end, cache))
    proof.reverse()
    return proof


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes | bytearray) and len(value) == HASH_SIZE


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_path(path: object) -> bool:
    # bytes is a Sequence too (of ints): a path is a sequence of hashes, never one blob.
    return (isinstance(path, Sequence) and not isinstance(path, bytes | bytearray | str)
            and all(_is_hash(item) for item in path))


def verify_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes],
                     root: bytes) -> bool:
    """Whether ``path`` proves that ``leaf`` (a leaf hash) is leaf ``index`` of the tree of
    ``size`` leaves with root ``root`` (RFC 9162 §2.1.3.2). False for malformed input."""
    if not (_is_hash(leaf) and _is_hash(root) and _is_size(index) and _is_size(size)
            and _is_path(path)):
        return False
    if index >= size:  # step 1
        return False
    fn, sn = index, size - 1  # step 2
    r = leaf  # step 3
    for p in path:  # step 4
        if sn == 0:  # 4a: the path is longer than the tree is high
            return False
        if fn & 1 or fn == sn:  # 4b
            r = node_hash(p, r)
            while fn and not fn & 1:  # 4b.ii: up to the level where fn is a right child
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1  # 4c
        sn >>= 1
    return sn == 0 and r == root  # step 5


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes,
                       path: Sequence[bytes]) -> bool:
    """Whether ``path`` proves that the tree of ``second`` leaves with root ``second_root``
    extends the tree of ``first`` leaves with root ``first_root`` (RFC 9162 §2.1.4.2).

    Edge cases (see the module docstring): ``first == second`` needs an empty path and equal
    roots; ``first == 0`` needs an empty path and ``first_root == EMPTY_ROOT``. False for
    malformed input.
    """
    if not (_is_size(first) and _is_size(second) and _is_hash(first_root)
            and _is_hash(second_root) and _is_path(path)) or first > second:
        return False
    if first == second:
        return len(path) == 0 and first_root == second_root
    if first == 0:
        return len(path) == 0 and first_root == EMPTY_ROOT
    return _verify_consistency_rfc(first, second, first_root, second_root, path)


def _verify_consistency_rfc(first: int, second: int, first_root: bytes, second_root: bytes,
                            path: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2 for ``0 < first < second``, step by step."""
    if not path:  # step 1
        return False
    nodes = list(path)
    if first & (first - 1) == 0:  # step 2: first is an exact power of two
        nodes.insert(0, first_root)
    fn, sn = first - 1, second - 1  # step 3
    while fn & 1:  # step 4
        fn >>= 1
        sn >>= 1
    fr = sr = nodes[0]  # step 5
    for c in nodes[1:]:  # step 6
        if sn == 0:  # 6a
            return False
        if fn & 1 or fn == sn:  # 6b
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:  # 6b.iii
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1  # 6c
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0  # step 7


class Frontier:
    """The compact range of a tree: the roots of the perfect subtrees that the binary
    decomposition of its size gives, largest (leftmost) first.

    With it the root can be kept up to date as leaves are appended, without the leaves.
    A Frontier is *mutable*: :meth:`append` and :meth:`extend` change it in place (amortised
    O(1) hashes per leaf); :meth:`copy` gives an independent one. It is stored as
    :meth:`to_bytes` beside its size: ``popcount(size)`` hashes of 32 bytes.
    """

    __slots__ = ("_nodes", "_size")

    def __init__(self, size: int, nodes: Iterable[bytes]) -> None:
        """A frontier of ``size`` leaves from its subtree roots; prefer :meth:`empty` or
        :meth:`from_bytes`, which check their input."""
        if not _is_size(size):
            raise ValueError(f"a tree size is a whole number of 0 or more, not {size!r}")
        self._size = size
        self._nodes = list(nodes)
        if len(self._nodes) != size.bit_count():
            raise ValueError(f"a tree of size {size} has {size.bit_count()} subtree roots, "
                             f"not {len(self._nodes)}")

    @classmethod
    def empty(cls) -> Frontier:
        """The frontier of the empty tree."""
        return cls(0, ())

    @classmethod
    def from_bytes(cls, size: int, blob: bytes) -> Frontier:
        """The frontier of a tree of ``size`` leaves from :meth:`to_bytes`'s output.

        Raises ValueError when ``size`` is negative or ``blob`` does not hold exactly
        ``popcount(size)`` hashes.
        """
        if not _is_size(size):
            raise ValueError(f"a tree size is a whole number of 0 or more, not {size!r}")
        expected = size.bit_count() * HASH_SIZE
        if len(blob) != expected:
            raise ValueError(
                f"a frontier of a tree of size {size} is {expected} bytes "
                f"({size.bit_count()} hashes of {HASH_SIZE}), not {len(blob)}"
            )
        data = bytes(blob)
        return cls(size, (data[i:i + HASH_SIZE] for i in range(0, expected, HASH_SIZE)))

    @property
    def size(self) -> int:
        """The number of leaves in the tree."""
        return self._size

    @property
    def nodes(self) -> tuple[bytes, ...]:
        """The subtree roots, largest (leftmost) first."""
        return tuple(self._nodes)

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash to the right of the tree."""
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"a leaf hash is {HASH_SIZE} bytes, not {len(leaf)}")
        node, size, nodes = bytes(leaf), self._size, self._nodes
        # Each set low bit of the old size is a perfect subtree as large as the one being
        # carried: merge them, like a binary counter's carry.
        while size & 1:
            node = node_hash(nodes.pop(), node)
            size >>= 1
        nodes.append(node)
        self._size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Add leaf hashes to the right of the tree, in order."""
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        """The Merkle tree hash of the tree (``EMPTY_ROOT`` when it is empty)."""
        if not self._nodes:
            return EMPTY_ROOT
        root = self._nodes[-1]
        for node in reversed(self._nodes[:-1]):
            root = node_hash(node, root)
        return root

    def to_bytes(self) -> bytes:
        """The subtree roots concatenated, largest first (``popcount(size) * 32`` bytes)."""
        return b"".join(self._nodes)

    def copy(self) -> Frontier:
        """An independent frontier of the same tree."""
        return Frontier(self._size, self._nodes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Frontier):
            return NotImplemented
        return self._size == other._size and self._nodes == other._nodes

    __hash__ = None  # type: ignore[assignment]  # mutable: equal frontiers may diverge later

    def __repr__(self) -> str:
        return f"Frontier(size={self._size}, root={self.root().hex()})"
