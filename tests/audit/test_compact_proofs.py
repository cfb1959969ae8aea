"""Consistency proofs from a stored compact range equal the RFC's proofs from all leaves."""

from __future__ import annotations

import hashlib

import pytest
from broker_primitives.merkle import Frontier, consistency_proof, root_of, verify_consistency
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.audit.compact_proofs import TAIL_LEVEL, consistency_proof_from, tail_start

LEAVES = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(2100)]


def _frontier(size: int) -> Frontier:
    frontier = Frontier.empty()
    frontier.extend(LEAVES[:size])
    return frontier


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2100).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_the_proof_from_a_compact_range_is_the_rfc_proof(sizes: tuple[int, int]) -> None:
    first, second = sizes
    proof = consistency_proof_from(_frontier(first), LEAVES[tail_start(first):second], second)
    assert proof == consistency_proof(LEAVES, first, second)
    assert verify_consistency(first, second, root_of(LEAVES[:first]), root_of(LEAVES[:second]),
                              proof)


@pytest.mark.parametrize(("first", "second"), [(0, 0), (1, 1), (256, 256), (256, 257),
                                               (511, 2048), (1024, 2049), (1300, 2100)])
def test_edges_and_large_roots(first: int, second: int) -> None:
    proof = consistency_proof_from(_frontier(first), LEAVES[tail_start(first):second], second)
    assert proof == consistency_proof(LEAVES, first, second)


def test_no_leaf_before_the_tail_is_read() -> None:
    """Only the leaves from tail_start on are given: a read before it would raise."""
    first = 3 * (1 << TAIL_LEVEL) + 5
    assert tail_start(first) == 3 * (1 << TAIL_LEVEL)
    proof = consistency_proof_from(_frontier(first), LEAVES[tail_start(first):2000], 2000)
    assert proof == consistency_proof(LEAVES, first, 2000)


def test_a_tail_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match="tail"):
        consistency_proof_from(_frontier(300), LEAVES[256:999], 1000)
    with pytest.raises(ValueError, match="tail"):
        consistency_proof_from(_frontier(300), [], 200)
