"""The replay cache: each signature nonce is accepted once per key id, until the signature expires.

RFC 9421 §7.2.2 leaves replay protection to the application; the broker's rule (issue 4) is that a
nonce, per key id, is refused on any second use for as long as the signature that carried it could
still be accepted. The verifier asks the cache only *after* a signature has verified, so nobody can
fill the cache or burn a nonce without a valid signature.

Rules this module guarantees:

- :meth:`ReplayCache.seen_before` is one atomic test-and-set: of two concurrent calls with the same
  key id and nonce, exactly one returns False. An entry is kept until ``expires_at``.
- Key id and nonce are kept apart unambiguously (no ``"a:b" + "c"`` == ``"a" + "b:c"``).
- Failing closed: when the store cannot answer, :class:`ReplayCacheUnavailable` is raised and the
  caller refuses the request. A cache never answers "not seen" when it does not know.
- :class:`InMemoryReplayCache` (the embedded default, one process) is thread-safe and prunes
  expired entries as it goes, so memory is bounded by the requests of one validity window; a hard
  ``max_entries`` cap turns a flood into refusals (fail closed), never into forgotten nonces.
- :class:`RedisReplayCache` (several workers or hosts) uses ``SET key 1 NX EXAT expires_at``: the
  test-and-set is one Redis command, and Redis drops the entry at expiry by itself. Redis's clock
  must be in sync (NTP) with the app servers, as the app servers' are with each other.
"""

from __future__ import annotations

import heapq
import threading
from typing import Protocol

from redis.exceptions import RedisError

from broker.errors import BrokerError

__all__ = [
    "InMemoryReplayCache",
    "RedisReplayCache",
    "ReplayCache",
    "ReplayCacheUnavailable",
]


class ReplayCacheUnavailable(BrokerError):
    """The replay cache cannot answer; the request must be refused (fail closed)."""

    code = "replay-cache-unavailable"
    status = 503


class ReplayCache(Protocol):
    """Where used nonces are remembered until their signatures expire."""

    def seen_before(self, key_id: str, nonce: str, expires_at: int, now: int) -> bool:
        """Record ``nonce`` for ``key_id`` until ``expires_at``; True if it was already recorded.

        Atomic: the check and the record are one step. Times are Unix seconds.

        Raises:
            ReplayCacheUnavailable: the store cannot answer.
        """
        ...


class InMemoryReplayCache:
    """A replay cache in this process's memory: for the embedded default and for tests."""

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
                raise ReplayCacheUnavailable(
                    "The replay cache is full; try again shortly",
                    "De replay-cache is vol; probeer het zo opnieuw",
                )
            self._expiry[entry] = expires_at
            heapq.heappush(self._queue, (expires_at, entry))
            return False

    def _prune(self, now: int) -> None:
        # Each entry is pushed once per recording, so pruning costs O(log n) per request overall.
        while self._queue and self._queue[0][0] <= now:
            expires_at, entry = heapq.heappop(self._queue)
            if self._expiry.get(entry) == expires_at:
                del self._expiry[entry]


class RedisClient(Protocol):
    """The one Redis command the cache needs (as offered by ``redis.Redis``)."""

    def set(self, name: str, value: int, *, nx: bool, exat: int) -> object:
        """``SET name value NX EXAT exat``: truthy when set, None when the key existed."""
        ...


class RedisReplayCache:
    """A replay cache in Redis, shared by every worker and host (``BROKER_REDIS_URL``)."""

    def __init__(self, redis_client: RedisClient, prefix: str = "broker:nonce:") -> None:
        """Use ``redis_client`` (a ``redis.Redis``); keys are ``<prefix><n>:<key_id>:<nonce>``.

        ``n`` is the length of the key id, so key id and nonce cannot be confused.
        """
        self._redis = redis_client
        self._prefix = prefix

    def key(self, key_id: str, nonce: str) -> str:
        """The Redis key for one nonce; the length prefix keeps key id and nonce apart."""
        return f"{self._prefix}{len(key_id)}:{key_id}:{nonce}"

    def seen_before(self, key_id: str, nonce: str, expires_at: int, now: int) -> bool:
        """``SET key 1 NX EXAT expires_at``; True when the key already existed.

        ``now`` is unused: Redis expires the key at ``expires_at`` on its own clock.

        Raises:
            ReplayCacheUnavailable: Redis did not answer or answered with an error.
        """
        try:
            created = self._redis.set(self.key(key_id, nonce), 1, nx=True, exat=expires_at)
        except RedisError as exc:
            raise ReplayCacheUnavailable(
                "The replay cache (Redis) is unavailable; the request is refused",
                "De replay-cache (Redis) is niet bereikbaar; het verzoek wordt geweigerd",
            ) from exc
        return not created
