"""Tests for broker.callers.replay (and the tests' in-memory cache, tests/replay_cache.py): each
nonce once per key id, atomically, failing closed."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy import create_engine, func, select

from broker.callers.models import ReplayNonce
from broker.callers.replay import (
    DatabaseReplayCache,
    ReplayCacheUnavailable,
    nonce_digest,
    purge_expired,
)
from broker.core import Core
from tests.replay_cache import InMemoryReplayCache

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


# --- In the database (what the broker serves with) ---------------------------------------------


def test_database_second_use_is_seen(core: Core) -> None:
    cache = DatabaseReplayCache(core.engine)
    assert cache.seen_before("org-a", "nonce-1", NOW + 360, NOW) is False
    assert cache.seen_before("org-a", "nonce-1", NOW + 360, NOW + 359) is True
    assert cache.seen_before("org-b", "nonce-1", NOW + 360, NOW) is False  # per key id
    assert cache.seen_before("org-a", "nonce-2", NOW + 360, NOW) is False


def test_database_keeps_key_id_and_nonce_apart(core: Core) -> None:
    cache = DatabaseReplayCache(core.engine)
    assert nonce_digest("a:b", "c") != nonce_digest("a", "b:c")
    assert len(nonce_digest("org-a", "n" * 300)) == 16
    assert cache.seen_before("a:b", "c", NOW + 10, NOW) is False
    assert cache.seen_before("a", "b:c", NOW + 10, NOW) is False


def test_database_entry_is_kept_until_expiry_then_taken_over(core: Core) -> None:
    cache = DatabaseReplayCache(core.engine)
    assert cache.seen_before("org-a", "n", NOW + 10, NOW) is False
    assert cache.seen_before("org-a", "n", NOW + 10, NOW + 9) is True
    assert cache.seen_before("org-a", "n", NOW + 30, NOW + 10) is False  # expired: new
    assert cache.seen_before("org-a", "n", NOW + 30, NOW + 29) is True  # and kept again


def test_database_survives_a_new_cache_on_the_same_database(core: Core) -> None:
    assert DatabaseReplayCache(core.engine).seen_before("org-a", "n", NOW + 60, NOW) is False
    assert DatabaseReplayCache(core.engine).seen_before("org-a", "n", NOW + 60, NOW) is True


def test_database_is_atomic_under_threads(core: Core) -> None:
    answers = _race(DatabaseReplayCache(core.engine).seen_before)
    assert sorted(answers) == [False] + [True] * 31


def test_purge_deletes_only_what_can_no_longer_be_accepted(core: Core) -> None:
    cache = DatabaseReplayCache(core.engine)
    for index in range(10):
        cache.seen_before("org-a", f"n{index}", NOW + index, NOW)
    assert purge_expired(core.engine, NOW + 5) == 6  # expires_at 0..5 are refused anyway
    assert purge_expired(core.engine, NOW + 5) == 0
    assert cache.seen_before("org-a", "n6", NOW + 6, NOW + 5) is True  # still remembered
    with core.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(ReplayNonce)) == 4


def test_unreachable_database_fails_closed() -> None:
    engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none",
                           connect_args={"connect_timeout": 1})
    with pytest.raises(ReplayCacheUnavailable) as caught:
        DatabaseReplayCache(engine).seen_before("org-a", "n", NOW + 10, NOW)
    assert caught.value.code == "replay-cache-unavailable" and caught.value.status == 503
