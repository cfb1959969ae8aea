"""The limits cost one round trip to Redis per signed request (issue 13): the counts and the ends
of the windows, the address's and the organisation's, come back from one script, on the
counters limits' own fixed window keeps."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from limits import parse
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import FixedWindowRateLimiter

from broker.api.limits import count_hit, count_hits
from broker.app import create_app
from broker.oversight.refusals import flush_tallies
from tests.api.live import call, enrol, serve, sqlite_core
from tests.api.test_refusal_audit import events
from tests.conftest import FakeClock
from tests.private_servers import private_redis
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


def test_a_request_over_its_address_limit_does_not_use_up_its_organisations(
        storage: Storage) -> None:
    """A flooding host is refused for its address; its requests must not fill its
    organisation's window too, or the organisation's other hosts would be refused (429) for
    requests they never sent: counting stops at the first window over its limit."""
    tag = uuid.uuid4().hex
    address = (parse("2/minute"), 1, ("address", "lookups", tag))
    organisation = (parse("100/minute"), 1, ("org", "requests", tag))
    for _ in range(10):
        count_hits(storage, [address, organisation])
    used, _ = count_hit(storage, parse("100/minute"), 1, "org", "requests", tag)
    assert used == 3  # the two the address was allowed, and this one


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




def _commands(client: redis.Redis) -> dict[str, int]:
    """Commands the Redis server ran so far, those its scripts ran included."""
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(entry["calls"]) for name, entry in stats.items()}


@pytest.mark.redis
def test_a_signed_request_costs_one_round_trip_to_redis(tmp_path: Path, clock: FakeClock
                                                        ) -> None:
    """Both limits, the address's and the organisation's, in one script (issue 13)."""
    with private_redis(tmp_path) as store:
        core = sqlite_core(tmp_path, clock, redis_url=store.url)
        vt = enrol(core, "vt-a", "veilig_thuis")
        client = redis.Redis.from_url(store.url)
        path = f"/v1/inbox?professional={vt.professional}"
        with serve(create_app(core=core)) as base:
            assert call(base, vt, "GET", path).status_code == 200  # its key is cached now
            before = _commands(client)
            answer = call(base, vt, "GET", path)
            after = _commands(client)
        client.close()
        core.dispose()
    assert answer.status_code == 200
    ran = {name: calls - before.get(name, 0) for name, calls in after.items()
           if name != "info" and calls != before.get(name, 0)}
    assert ran == {"evalsha": 1, "incrby": 2, "ttl": 2}  # one script, two windows counted
    assert answer.headers["RateLimit-Limit"] == "1200"  # the organisation's (the default)


def test_the_address_limit_refuses_signed_requests_too(tmp_path: Path, clock: FakeClock
                                                       ) -> None:
    core = sqlite_core(tmp_path, clock, api_ip_rate="2/minute")
    vt = enrol(core, "vt-a", "veilig_thuis")
    path = f"/v1/inbox?professional={vt.professional}"
    with serve(create_app(core=core)) as base:
        answers = [call(base, vt, "GET", path) for _ in range(3)]
        other_page = call(base, vt, "GET", "/v1/involvements/x")  # counted per endpoint
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json()["type"] == "urn:broker:problem:rate-limited"
    assert answers[2].headers["RateLimit-Limit"] == "2"
    assert answers[2].headers["RateLimit-Remaining"] == "0"
    assert other_page.status_code == 404
    clock.now += timedelta(minutes=1)
    assert flush_tallies(core) == 1
    [event] = events(core, "auth:unauthenticated_refused")
    assert event.details["reasons"] == {"api rate-limited": 1}
    assert events(core, "auth:rate_limited") == []  # the organisation's limit was not used up
    core.dispose()
