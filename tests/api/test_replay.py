"""Tests for broker.api.replay: each nonce once per key id, atomically, failing closed."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry

from broker.api.replay import InMemoryReplayCache, RedisReplayCache, ReplayCacheUnavailable
from tests.services import redis_url

NOW = 1_780_000_000


def _race(
    seen_before: Callable[[str, str, int, int], bool], key_id: str = "org-a", nonce: str = "n" * 22
) -> list[bool]:
    """32 threads record the same nonce at once; returns what each was told."""
    barrier = threading.Barrier(32)
    answers: list[bool] = []
    lock = threading.Lock()

    def record() -> None:
        barrier.wait()
        answer = seen_before(key_id, nonce, NOW + 360, NOW)
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=record) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


# --- In memory ---------------------------------------------------------------------------------


def test_in_memory_second_use_is_seen() -> None:
    cache = InMemoryReplayCache()
    assert cache.seen_before("org-a", "nonce-1", NOW + 360, NOW) is False
    assert cache.seen_before("org-a", "nonce-1", NOW + 360, NOW + 359) is True
    assert cache.seen_before("org-b", "nonce-1", NOW + 360, NOW) is False  # per key id
    assert cache.seen_before("org-a", "nonce-2", NOW + 360, NOW) is False


def test_in_memory_key_id_and_nonce_are_kept_apart() -> None:
    cache = InMemoryReplayCache()
    assert cache.seen_before("a:b", "c", NOW + 10, NOW) is False
    assert cache.seen_before("a", "b:c", NOW + 10, NOW) is False


def test_in_memory_entries_are_kept_until_expiry_then_pruned() -> None:
    cache = InMemoryReplayCache()
    for index in range(100):
        cache.seen_before("org-a", f"nonce-{index}", NOW + 10 + index, NOW)
    assert len(cache) == 100
    cache.seen_before("org-a", "later", NOW + 1000, NOW + 60)  # prunes those expired by then
    assert len(cache) == 100 - 51 + 1
    assert cache.seen_before("org-a", "nonce-0", NOW + 500, NOW + 60) is False  # expired: new
    assert cache.seen_before("org-a", "nonce-99", NOW + 500, NOW + 60) is True


def test_in_memory_is_atomic_under_threads() -> None:
    answers = _race(InMemoryReplayCache().seen_before)
    assert sorted(answers) == [False] + [True] * 31


def test_in_memory_full_cache_refuses_rather_than_forgets() -> None:
    cache = InMemoryReplayCache(max_entries=2)
    cache.seen_before("org-a", "one", NOW + 10, NOW)
    cache.seen_before("org-a", "two", NOW + 20, NOW)
    with pytest.raises(ReplayCacheUnavailable) as caught:
        cache.seen_before("org-a", "three", NOW + 30, NOW)
    assert caught.value.status == 503
    assert cache.seen_before("org-a", "one", NOW + 10, NOW + 1) is True  # still remembered
    assert cache.seen_before("org-a", "three", NOW + 30, NOW + 10) is False  # room again


def test_in_memory_needs_room() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        InMemoryReplayCache(max_entries=0)


# --- Redis -------------------------------------------------------------------------------------


class _FailingRedis:
    def set(self, name: str, value: int, *, nx: bool, exat: int) -> object:
        raise RedisConnectionError("connection refused")


def test_redis_errors_fail_closed() -> None:
    with pytest.raises(ReplayCacheUnavailable) as caught:
        RedisReplayCache(_FailingRedis()).seen_before("org-a", "n", NOW + 10, NOW)
    assert caught.value.code == "replay-cache-unavailable"


def test_unreachable_redis_fails_closed() -> None:
    # No retries: redis-py's default retries with backoff would only make the refusal slower.
    client = redis.Redis(
        host="127.0.0.1", port=1, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )
    with pytest.raises(ReplayCacheUnavailable):
        RedisReplayCache(client).seen_before("org-a", "n", NOW + 10, NOW)


def test_redis_keys_keep_key_id_and_nonce_apart() -> None:
    cache = RedisReplayCache(_FailingRedis(), prefix="p:")
    assert cache.key("a:b", "c") != cache.key("a", "b:c")
    assert cache.key("org-a", "n1") == "p:5:org-a:n1"


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    """The test Redis server (BROKER_TEST_REDIS_URL); skips, or fails under CI, if unreachable."""
    client = redis.Redis.from_url(redis_url(), socket_timeout=2)
    yield client
    client.close()


@pytest.fixture
def prefix(redis_client: redis.Redis) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    prefix = f"test:{uuid.uuid4().hex}:"
    yield prefix
    keys = list(redis_client.scan_iter(match=prefix + "*"))
    if keys:
        redis_client.delete(*keys)


@pytest.mark.redis
def test_redis_second_use_is_seen(redis_client: redis.Redis, prefix: str) -> None:
    cache = RedisReplayCache(redis_client, prefix=prefix)
    now = int(time.time())  # the server's clock decides expiry (EXAT), so use real time
    assert cache.seen_before("org-a", "nonce-1", now + 360, now) is False
    assert cache.seen_before("org-a", "nonce-1", now + 360, now) is True
    assert cache.seen_before("org-b", "nonce-1", now + 360, now) is False
    ttl = redis_client.ttl(cache.key("org-a", "nonce-1"))
    assert 350 <= ttl <= 360  # kept until expires_at (EXAT)


@pytest.mark.redis
def test_redis_entry_is_gone_after_expires_at(redis_client: redis.Redis, prefix: str) -> None:
    cache = RedisReplayCache(redis_client, prefix=prefix)
    past = 1_000_000_000  # an EXAT in the past: Redis keeps nothing
    assert cache.seen_before("org-a", "old", past, past) is False
    assert cache.seen_before("org-a", "old", past, past) is False


@pytest.mark.redis
def test_redis_is_atomic_under_threads(redis_client: redis.Redis, prefix: str) -> None:
    cache = RedisReplayCache(redis_client, prefix=prefix)
    now = int(time.time())
    answers = _race(lambda k, n, _e, t: cache.seen_before(k, n, now + 60, t))
    assert sorted(answers) == [False] + [True] * 31
