"""A replay cache in one process's memory, for tests of the signature code (the broker serves
with :class:`broker.callers.replay.DatabaseReplayCache` only).

It keeps the rules of :class:`broker_primitives.httpsig.signatures.ReplayCache`: one atomic
test-and-set (thread-safe); expired entries pruned as it goes, so memory is bounded by the
requests of one validity window; a hard ``max_entries`` cap turns a flood into refusals (fail
closed), never into forgotten nonces. It forgets everything when its process ends.
"""

from __future__ import annotations

import heapq
import threading

from broker.callers.replay import ReplayCacheUnavailable


class InMemoryReplayCache:
    """A replay cache in this process's memory (tests only)."""

    def __init__(self, *, max_entries: int = 1_000_000) -> None:
        """Keep at most ``max_entries`` live nonces; beyond that, refuse rather than forget."""
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max_entries = max_entries
        self._expiry: dict[tuple[str, str], int] = {}
        self._queue: list[tuple[int, tuple[str, str]]] = []  # a heap ordered by expiry
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """The number of nonces currently remembered (expired ones may linger until pruned)."""
        return len(self._expiry)

    def seen_before(self, key_id: str, nonce: str, expires_at: int, now: int) -> bool:
        """Record the nonce until ``expires_at``; True if it was already recorded and still live.

        Raises:
            ReplayCacheUnavailable: ``max_entries`` live nonces are already held.
        """
        entry = (key_id, nonce)
        with self._lock:
            self._prune(now)
            current = self._expiry.get(entry)
            if current is not None and current > now:
                return True
            if len(self._expiry) >= self._max_entries:
                raise ReplayCacheUnavailable("The replay cache is full; try again shortly")
            self._expiry[entry] = expires_at
            heapq.heappush(self._queue, (expires_at, entry))
            return False

    def _prune(self, now: int) -> None:
        # Each entry is pushed once per recording, so pruning costs O(log n) per request overall.
        while self._queue and self._queue[0][0] <= now:
            expires_at, entry = heapq.heappop(self._queue)
            if self._expiry.get(entry) == expires_at:
                del self._expiry[entry]
