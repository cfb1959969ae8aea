"""Consistency proofs from a stored compact range: RFC 9162 §2.1.4.1 without the old leaves.

A witness holds the broker's last checkpoint it cosigned; to move it on, the broker proves the
new tree consistent with that one. Reading every leaf for that would cost a pass over the whole
log each minute. It need not: the nodes the proof takes from the first tree are roots of that
tree's compact range (stored with each checkpoint), except the small ones, which are hashed from
its last leaves; every other node lies right of the first tree. So a proof costs the leaves
appended since, plus at most ``2 ** TAIL_LEVEL - 1`` before them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import overload

from broker_primitives.merkle import Frontier, SubtreeCache, consistency_proof

__all__ = ["TAIL_LEVEL", "consistency_proof_from", "tail_start"]

TAIL_LEVEL = 8


def tail_start(first: int) -> int:
    """The first leaf :func:`consistency_proof_from` needs for a proof from size ``first``:
    the start of the compact range's roots smaller than ``2 ** TAIL_LEVEL`` leaves."""
    return first - first % (1 << TAIL_LEVEL)


class _Tail(Sequence[bytes]):
    """The leaves of a tree from ``start`` on; asking for an earlier one is a bug."""

    def __init__(self, start: int, leaves: Sequence[bytes]) -> None:
        self._start = start
        self._leaves = leaves

    def __len__(self) -> int:
        return self._start + len(self._leaves)

    @overload
    def __getitem__(self, index: int) -> bytes: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[bytes]: ...

    def __getitem__(self, index: int | slice) -> bytes | Sequence[bytes]:
        if isinstance(index, slice):
            begin, end, step = index.indices(len(self))
            if step != 1 or (begin < self._start and end > begin):
                raise ValueError(f"leaves before {self._start} are not held")
            return self._leaves[begin - self._start:end - self._start]
        if not self._start <= index < len(self):
            raise ValueError(f"leaf {index} is not held")
        return self._leaves[index - self._start]


def consistency_proof_from(first: Frontier, tail: Sequence[bytes], second: int) -> list[bytes]:
    """:func:`consistency_proof` from the tree whose compact range is ``first`` to the tree of
    ``second`` leaves, given only ``tail``: the leaf hashes from ``tail_start(first.size)`` to
    ``second``.

    The nodes the proof takes from the first tree are roots of its compact range (RFC 9162
    §2.1.4.1: ``MTH(D[0:k])`` is taken only while ``m > k``, which makes ``k`` the largest power
    of two in what is left of ``m``, and the last, ``MTH(D[m - r:m])``, has ``r`` a power of
    two); the others lie right of leaf ``m``. So the large roots are seeded from ``first`` and the
    small ones are hashed from the tail.
    """
    start = tail_start(first.size)
    if not first.size <= second or len(tail) != second - start:
        raise ValueError(f"the tail must hold the leaves {start} to {second}")
    cache = SubtreeCache(min_level=TAIL_LEVEL)
    position = 0
    for node, level in zip(first.nodes, _levels(first.size), strict=True):
        if level >= TAIL_LEVEL:
            cache.seed(position, level, node)
        position += 1 << level
    return consistency_proof(_Tail(start, tail), first.size, second, cache=cache)


def _levels(size: int) -> list[int]:
    """The heights of a compact range's roots, largest first."""
    return [level for level in range(size.bit_length() - 1, -1, -1) if size >> level & 1]
