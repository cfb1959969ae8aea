"""Which events' personal details an erasure accounts for.

Personal details (source address, justification) are erased only by retention
(:mod:`broker.oversight.retention`), which appends an ``audit:details_erased`` event naming what it
erased: the events from ``first_seq`` to ``last_seq`` that occurred before ``occurred_before``
and still had details. An event whose digest commits to details that are gone is accounted for
only by such an event *after* it in the log; erasures written before the range was recorded
name only ``occurred_before`` and account for every earlier event older than that.

:class:`Erasures` answers that question for events met in sequence order, in time logarithmic in
the number of erasures (there is about one a day).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from broker.audit.events import Event

ERASED = Event.AUDIT_DETAILS_ERASED


@dataclass(frozen=True, order=True)
class Erasure:
    """An ``audit:details_erased`` event: where it is and what it names."""

    first_seq: int
    last_seq: int
    occurred_before: str  # UTC with milliseconds (chain.timestamp): ordered as text
    seq: int

    @classmethod
    def of(cls, seq: int, details: Mapping[str, object]) -> Erasure | None:
        """The erasure an event's details name; None when they are not an erasure's."""
        before = details.get("occurred_before")
        first, last = details.get("first_seq", 1), details.get("last_seq", seq - 1)
        if not isinstance(before, str) or type(first) is not int or type(last) is not int:
            return None
        return cls(first, last, before, seq)


class Erasures:
    """Whether an erasure later in the log accounts for an event's missing details; ask for
    events in increasing sequence order."""

    def __init__(self, erasures: Iterable[Erasure]) -> None:
        self._waiting = sorted(erasures)  # by first_seq
        self._next = 0
        self._active: list[tuple[int, str, int]] = []  # heap of (last_seq, before, seq)

    def covers(self, seq: int, occurred_at: str) -> bool:
        """Whether an erasure after event ``seq`` names it and it occurred before its cut-off."""
        while self._next < len(self._waiting) and self._waiting[self._next].first_seq <= seq:
            erasure = self._waiting[self._next]
            heapq.heappush(self._active, (erasure.last_seq, erasure.occurred_before,
                                          erasure.seq))
            self._next += 1
        while self._active and self._active[0][0] < seq:
            heapq.heappop(self._active)
        return any(after > seq and occurred_at < before
                   for _last, before, after in self._active)

