"""RFC 9162 Merkle tree maths, against a reference written from the RFC's definitions."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from typing import overload

import pytest
from broker_primitives.merkle import (
    EMPTY_ROOT,
    Frontier,
    SubtreeCache,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)
from hypothesis import given, settings
from hypothesis import strategies as st


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# --- the reference: RFC 9162 §2.1.1, §2.1.3.1 and §2.1.4.1 read literally (recursive, slow) ---

def split(n: int) -> int:
    """k, the largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over leaf hashes."""
    if not leaves:
        return sha256(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = split(len(leaves))
    return sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n])."""
    n = len(leaves)
    if n == 1:
        return []
    k = split(n)
    if m < k:
        return [*path(m, leaves[:k]), mth(leaves[k:])]
    return [*path(m - k, leaves[k:]), mth(leaves[:k])]


def subproof(m: int, leaves: Sequence[bytes], complete: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b)."""
    n = len(leaves)
    if m == n:
        return [] if complete else [mth(leaves)]
    k = split(n)
    if m <= k:
        return [*subproof(m, leaves[:k], complete), mth(leaves[k:])]
    return [*subproof(m - k, leaves[k:], False), mth(leaves[:k])]


def leaves_of(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


LEAVES = leaves_of(300)


# --- hashing ---

def test_leaf_and_node_hashes_are_domain_separated() -> None:
    left, right = sha256(b"l"), sha256(b"r")
    assert leaf_hash(b"abc") == sha256(b"\x00abc")
    assert node_hash(left, right) == sha256(b"\x01" + left + right)
    assert leaf_hash(left + right) != node_hash(left, right)
    assert sha256(b"") == EMPTY_ROOT


# Test data of the certificate-transparency project (RFC 6962 has the same tree).
CT_DATA = [b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43",
           bytes(range(0x50, 0x58)), bytes(range(0x60, 0x70))]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_known_answers_of_the_certificate_transparency_test_data() -> None:
    leaves = [leaf_hash(d) for d in CT_DATA]
    assert [root_of(leaves[:n]).hex() for n in range(1, 9)] == CT_ROOTS
    assert [h.hex()[:8] for h in inclusion_proof(leaves, 0, 8)] == [
        "96a296d2", "5f083f0a", "6b47aaf2"]
    assert [h.hex()[:8] for h in consistency_proof(leaves, 6, 8)] == [
        "0ebc5d34", "ca854ea1", "d37ee418"]
    assert [h.hex()[:8] for h in consistency_proof(leaves, 2, 5)] == ["5f083f0a", "bc1a0643"]


@pytest.mark.parametrize("n", range(41))
def test_root_of_equals_the_rfc_definition(n: int) -> None:
    assert root_of(LEAVES[:n]) == mth(LEAVES[:n])


def test_root_of_accepts_any_sequence() -> None:
    assert root_of(tuple(LEAVES[:7])) == mth(LEAVES[:7])
    assert root_of([]) == EMPTY_ROOT


# --- the frontier ---

def test_frontier_root_equals_root_of_at_every_size() -> None:
    frontier = Frontier.empty()
    assert frontier.size == 0
    assert frontier.root() == EMPTY_ROOT
    for n, leaf in enumerate(LEAVES, start=1):
        frontier.append(leaf)
        assert frontier.size == n
        assert frontier.root() == root_of(LEAVES[:n]), n
        assert len(frontier.nodes) == n.bit_count()
        blob = frontier.to_bytes()
        assert len(blob) == 32 * n.bit_count()
        again = Frontier.from_bytes(n, blob)
        assert again == frontier
        assert again.root() == frontier.root()


def test_frontier_nodes_are_the_perfect_subtrees_of_the_size() -> None:
    frontier = Frontier.empty()
    frontier.extend(LEAVES[:13])  # 13 = 8 + 4 + 1
    assert frontier.nodes == (root_of(LEAVES[:8]), root_of(LEAVES[8:12]), LEAVES[12])


def test_frontier_restored_from_bytes_keeps_growing_correctly() -> None:
    frontier = Frontier.empty()
    frontier.extend(LEAVES[:37])
    restored = Frontier.from_bytes(37, frontier.to_bytes())
    restored.extend(LEAVES[37:100])
    assert restored.root() == root_of(LEAVES[:100])


def test_frontier_copy_is_independent() -> None:
    frontier = Frontier.empty()
    frontier.extend(LEAVES[:5])
    copy = frontier.copy()
    copy.append(LEAVES[5])
    assert frontier.size == 5
    assert frontier.root() == root_of(LEAVES[:5])
    assert copy.root() == root_of(LEAVES[:6])
    assert frontier != copy


@pytest.mark.parametrize(("size", "length"), [(0, 32), (1, 0), (1, 64), (3, 32), (7, 95),
                                              (8, 64)])
def test_frontier_from_bytes_refuses_a_blob_of_the_wrong_length(size: int, length: int) -> None:
    with pytest.raises(ValueError, match=rf"size {size} is {32 * size.bit_count()} bytes"):
        Frontier.from_bytes(size, bytes(length))


def test_frontier_refuses_a_negative_size_and_a_bad_leaf() -> None:
    with pytest.raises(ValueError, match="0 or more"):
        Frontier.from_bytes(-1, b"")
    with pytest.raises(ValueError, match="32 bytes"):
        Frontier.empty().append(b"short")


def test_frontier_is_not_hashable_because_it_changes() -> None:
    with pytest.raises(TypeError):
        hash(Frontier.empty())


# --- proofs: every proof of every small tree ---

@pytest.mark.parametrize("n", range(1, 34))
def test_every_inclusion_proof_is_the_rfcs_and_verifies(n: int) -> None:
    leaves = LEAVES[:n]
    root = mth(leaves)
    for m in range(n):
        proof = inclusion_proof(leaves, m, n)
        assert proof == path(m, leaves), (m, n)
        assert verify_inclusion(leaves[m], m, n, proof, root)
        assert not verify_inclusion(LEAVES[n], m, n, proof, root)  # another leaf
        if n > 1:
            other = (m + 1) % n
            assert not verify_inclusion(leaves[m], other, n, proof, root)


@pytest.mark.parametrize("n", range(1, 34))
def test_every_consistency_proof_is_the_rfcs_and_verifies(n: int) -> None:
    leaves = LEAVES[:n]
    second_root = mth(leaves)
    for m in range(1, n):
        proof = consistency_proof(leaves, m, n)
        assert proof == subproof(m, leaves, True), (m, n)
        first_root = mth(leaves[:m])
        assert verify_consistency(m, n, first_root, second_root, proof)
        assert not verify_consistency(m, n, mth(LEAVES[1:m + 1]), second_root, proof)
        assert not verify_consistency(m, n, first_root, mth(LEAVES[1:n + 1]), proof)
        assert not verify_consistency(m, n, second_root, first_root, proof)


def test_proofs_in_a_larger_tree_read_only_the_leaves_they_need() -> None:
    # The proofs of a tree of size n ignore leaves n… of a longer sequence.
    assert inclusion_proof(LEAVES, 3, 10) == path(3, LEAVES[:10])
    assert consistency_proof(LEAVES, 3, 10) == subproof(3, LEAVES[:10], True)


def test_consistency_edge_cases() -> None:
    root5 = mth(LEAVES[:5])
    assert consistency_proof(LEAVES, 5, 5) == []
    assert consistency_proof(LEAVES, 0, 5) == []
    assert consistency_proof(LEAVES, 0, 0) == []
    assert verify_consistency(5, 5, root5, root5, [])
    assert not verify_consistency(5, 5, root5, mth(LEAVES[:4]), [])
    assert not verify_consistency(5, 5, root5, root5, [root5])
    assert verify_consistency(0, 5, EMPTY_ROOT, root5, [])
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert not verify_consistency(0, 5, root5, root5, [])  # the empty tree's root is fixed
    assert not verify_consistency(0, 5, EMPTY_ROOT, root5, [root5])
    # RFC 9162 §2.1.4.2 step 1: between different non-zero sizes an empty path fails.
    assert not verify_consistency(4, 5, mth(LEAVES[:4]), root5, [])


class CountingLeaves(Sequence[bytes]):
    """A lazy sequence of leaves that counts what it serves."""

    def __init__(self, leaves: list[bytes]) -> None:
        self.leaves = leaves
        self.served = 0

    def __len__(self) -> int:
        return len(self.leaves)

    @overload
    def __getitem__(self, index: int) -> bytes: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[bytes]: ...

    def __getitem__(self, index: int | slice) -> bytes | Sequence[bytes]:
        if isinstance(index, slice):
            part = self.leaves[index]
            self.served += len(part)
            return part
        self.served += 1
        return self.leaves[index]

    def __iter__(self) -> Iterator[bytes]:
        raise AssertionError("the proof functions must read ranges, not iterate the whole log")


def test_proofs_read_a_lazy_sequence_in_linear_work() -> None:
    lazy = CountingLeaves(leaves_of(1000))
    assert inclusion_proof(lazy, 321, 1000) == path(321, lazy.leaves)
    assert lazy.served < 1000  # each sibling range once: at most n - 1 leaves
    lazy.served = 0
    assert consistency_proof(lazy, 321, 1000) == subproof(321, lazy.leaves, True)
    assert lazy.served <= 1000


def test_a_shared_cache_gives_the_same_proofs_and_reuses_subtrees() -> None:
    leaves = leaves_of(1000)
    cache = SubtreeCache(min_level=2)
    for size in (5, 64, 100, 513, 1000):
        for index in (0, size // 3, size - 1):
            assert inclusion_proof(leaves, index, size, cache=cache) == path(index,
                                                                              leaves[:size])
        assert consistency_proof(leaves, size // 2 or 1, size, cache=cache) == (
            consistency_proof(leaves, size // 2 or 1, size))
    assert 0 < len(cache) <= 1000 // 4 * 2  # only subtrees of 4 leaves or more are kept
    lazy = CountingLeaves(leaves)
    warm = SubtreeCache(min_level=2)
    inclusion_proof(lazy, 999, 1000, cache=warm)
    first = lazy.served
    lazy.served = 0
    inclusion_proof(lazy, 998, 1000, cache=warm)
    assert lazy.served < first / 10  # the second proof finds the left subtrees in the cache
    lazy.served = 0
    inclusion_proof(lazy, 999, 1000, cache=warm)
    # Again: only the siblings below the cached level (a pair and a leaf) are read.
    assert lazy.served == 3


@pytest.mark.parametrize(("index", "size", "available"),
                         [(5, 5, 5), (-1, 5, 5), (0, 0, 5), (0, 6, 5)])
def test_inclusion_proof_refuses_out_of_range_arguments(index: int, size: int,
                                                        available: int) -> None:
    with pytest.raises(ValueError):
        inclusion_proof(LEAVES[:available], index, size)


@pytest.mark.parametrize(("first", "second", "available"),
                         [(6, 5, 10), (-1, 5, 10), (3, 11, 10)])
def test_consistency_proof_refuses_out_of_range_arguments(first: int, second: int,
                                                          available: int) -> None:
    with pytest.raises(ValueError):
        consistency_proof(LEAVES[:available], first, second)


def test_subtree_cache_refuses_a_negative_level() -> None:
    with pytest.raises(ValueError):
        SubtreeCache(min_level=-1)


# --- malformed proofs are rejected, never raised on ---

def flipped(proof: list[bytes], item: int, byte: int) -> list[bytes]:
    damaged = bytearray(proof[item])
    damaged[byte] ^= 0x01
    return [*proof[:item], bytes(damaged), *proof[item + 1:]]


def test_damaged_inclusion_proofs_fail() -> None:
    n, m = 21, 13
    root, proof = mth(LEAVES[:n]), inclusion_proof(LEAVES, m, n)
    assert verify_inclusion(LEAVES[m], m, n, proof, root)
    assert not verify_inclusion(LEAVES[m], m, n, proof[:-1], root)  # too short
    assert not verify_inclusion(LEAVES[m], m, n, [*proof, proof[0]], root)  # too long
    assert not verify_inclusion(LEAVES[m], m, n, [], root)
    for item in range(len(proof)):
        for byte in (0, 31):
            assert not verify_inclusion(LEAVES[m], m, n, flipped(proof, item, byte), root)
    assert not verify_inclusion(LEAVES[m], n, n, proof, root)  # index ≥ size
    assert not verify_inclusion(LEAVES[m], m + n, n, proof, root)
    # Another size with another shape (a size with the same shape cannot be told apart: the
    # signature on a checkpoint binds its size to its root, the proof does not).
    assert not verify_inclusion(LEAVES[m], m, 2 * n, proof, root)
    assert not verify_inclusion(LEAVES[m], m, n, proof, mth(LEAVES[:n + 1]))  # wrong root
    assert not verify_inclusion(LEAVES[m], m, 0, [], EMPTY_ROOT)


def test_damaged_consistency_proofs_fail() -> None:
    m, n = 13, 21
    first_root, second_root = mth(LEAVES[:m]), mth(LEAVES[:n])
    proof = consistency_proof(LEAVES, m, n)
    assert verify_consistency(m, n, first_root, second_root, proof)
    assert not verify_consistency(m, n, first_root, second_root, proof[:-1])
    assert not verify_consistency(m, n, first_root, second_root, [*proof, proof[0]])
    for item in range(len(proof)):
        for byte in (0, 31):
            assert not verify_consistency(m, n, first_root, second_root,
                                          flipped(proof, item, byte))
    assert not verify_consistency(n, m, second_root, first_root, proof)  # first > second
    assert not verify_consistency(m, 2 * n, first_root, second_root, proof)
    assert not verify_consistency(m + 1, n, first_root, second_root, proof)


@pytest.mark.parametrize("bad", [
    {"leaf": b"short"}, {"leaf": "ab" * 16}, {"root": None}, {"index": -1}, {"index": True},
    {"index": 1.0}, {"size": -3}, {"path": b""}, {"path": [b"x"]}, {"path": None},
    {"path": ["00" * 32]},
])
def test_inclusion_verification_returns_false_for_wrong_types(bad: dict[str, object]) -> None:
    args: dict[str, object] = {"leaf": LEAVES[1], "index": 1, "size": 2, "path": [LEAVES[0]],
                               "root": mth(LEAVES[:2])}
    assert verify_inclusion(**args)  # type: ignore[arg-type]  # the base case is valid
    args.update(bad)
    assert verify_inclusion(**args) is False  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [
    {"first": -1}, {"second": "3"}, {"first": False}, {"first_root": b""},
    {"second_root": bytes(33)}, {"path": b""}, {"path": [bytes(31)]}, {"path": 7},
])
def test_consistency_verification_returns_false_for_wrong_types(bad: dict[str, object]) -> None:
    args: dict[str, object] = {"first": 1, "second": 3, "first_root": LEAVES[0],
                               "second_root": mth(LEAVES[:3]),
                               "path": consistency_proof(LEAVES, 1, 3)}
    assert verify_consistency(**args)  # type: ignore[arg-type]  # the base case is valid
    args.update(bad)
    assert verify_consistency(**args) is False  # type: ignore[arg-type]


# --- properties over larger trees ---

@settings(max_examples=60, deadline=None)
@given(data=st.data(), n=st.integers(min_value=1, max_value=300))
def test_inclusion_proofs_verify_and_any_flipped_bit_fails(data: st.DataObject, n: int) -> None:
    m = data.draw(st.integers(min_value=0, max_value=n - 1))
    root, proof = root_of(LEAVES[:n]), inclusion_proof(LEAVES, m, n)
    assert verify_inclusion(LEAVES[m], m, n, proof, root)
    assert proof == path(m, LEAVES[:n])
    if proof:
        item = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
        bit = data.draw(st.integers(min_value=0, max_value=255))
        damaged = bytearray(proof[item])
        damaged[bit // 8] ^= 1 << (bit % 8)
        proof[item] = bytes(damaged)
        assert not verify_inclusion(LEAVES[m], m, n, proof, root)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), n=st.integers(min_value=2, max_value=300))
def test_consistency_proofs_verify_and_any_flipped_bit_fails(data: st.DataObject,
                                                              n: int) -> None:
    m = data.draw(st.integers(min_value=1, max_value=n - 1))
    first_root, second_root = root_of(LEAVES[:m]), root_of(LEAVES[:n])
    proof = consistency_proof(LEAVES, m, n)
    assert verify_consistency(m, n, first_root, second_root, proof)
    item = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
    bit = data.draw(st.integers(min_value=0, max_value=255))
    damaged = bytearray(proof[item])
    damaged[bit // 8] ^= 1 << (bit % 8)
    proof[item] = bytes(damaged)
    assert not verify_consistency(m, n, first_root, second_root, proof)


hashes = st.binary(min_size=32, max_size=32)


@settings(max_examples=200, deadline=None)
@given(leaf=st.one_of(hashes, st.binary(max_size=40)), index=st.integers(-2, 70),
       size=st.integers(-2, 70), path=st.lists(st.one_of(hashes, st.binary(max_size=40)),
                                                max_size=8),
       root=st.one_of(hashes, st.binary(max_size=40)))
def test_inclusion_verification_of_arbitrary_input_never_raises(
        leaf: bytes, index: int, size: int, path: list[bytes], root: bytes) -> None:
    assert isinstance(verify_inclusion(leaf, index, size, path, root), bool)


@settings(max_examples=200, deadline=None)
@given(first=st.integers(-2, 70), second=st.integers(-2, 70),
       first_root=st.one_of(hashes, st.binary(max_size=40)),
       second_root=st.one_of(hashes, st.binary(max_size=40)),
       path=st.lists(st.one_of(hashes, st.binary(max_size=40)), max_size=8))
def test_consistency_verification_of_arbitrary_input_never_raises(
        first: int, second: int, first_root: bytes, second_root: bytes,
        path: list[bytes]) -> None:
    assert isinstance(verify_consistency(first, second, first_root, second_root, path), bool)


@settings(max_examples=100, deadline=None)
@given(n=st.integers(min_value=1, max_value=300), extra=st.integers(min_value=0, max_value=300))
def test_frontier_from_bytes_round_trips_and_extends(n: int, extra: int) -> None:
    frontier = Frontier.empty()
    frontier.extend(LEAVES[:n])
    restored = Frontier.from_bytes(n, frontier.to_bytes())
    restored.extend(leaves_of(n + extra)[n:])
    assert restored.root() == root_of(leaves_of(n + extra))
