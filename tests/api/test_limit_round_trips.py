"""The per-organisation limit costs one round trip to Redis (issue 13): the count and the end of
the window come back from one script, on the counter limits' own fixed window keeps."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from limits import parse
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import FixedWindowRateLimiter

from broker.api.auth import count_hit
from tests.services import redis_url


def _storages() -> list[Any]:
    return ["memory", pytest.param("redis", marks=pytest.mark.redis)]


@pytest.fixture(params=_storages())
def storage(request: pytest.FixtureRequest) -> Storage:
    if request.param == "memory":
        return MemoryStorage()
    return RedisStorage(redis_url())


def test_the_count_and_the_window_agree_with_limits_own_strategy(storage: Storage) -> None:
    item = parse("3/minute")
    who = ("org", "requests", uuid.uuid4().hex)
    strategy = FixedWindowRateLimiter(storage)
    for expected in (1, 2, 3, 4):
        used, reset_at = count_hit(storage, item, 1, *who)
        assert used == expected
        stats = strategy.get_window_stats(item, *who)
        assert stats.remaining == max(0, 3 - expected)
        assert abs(stats.reset_time - reset_at) <= 1.5
        assert time.time() < reset_at <= time.time() + 61
    assert not strategy.test(item, *who)  # the limit is used up for limits itself too


@pytest.mark.redis
def test_one_round_trip_per_count() -> None:
    storage = RedisStorage(redis_url())
    client = storage.get_connection()
    count_hit(storage, parse("5/minute"), 1, "org", "requests", uuid.uuid4().hex)  # the script
    sent: list[object] = []
    original = client.execute_command

    def counted(*args: Any, **kwargs: Any) -> Any:
        sent.append(args[0])
        return original(*args, **kwargs)

    client.execute_command = counted  # type: ignore[method-assign]
    count_hit(storage, parse("5/minute"), 2, "org", "requests", uuid.uuid4().hex)
    assert sent == ["EVALSHA"]
