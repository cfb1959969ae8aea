"""Keys kept in the serving process, refused at once when revoked (broker.callers.cache), and the
nonce committed on its own before the request's work (broker.callers.replay): a replay waiting
behind a refused request is refused too."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
from flask import Flask
from nacl.signing import SigningKey, VerifyKey
from sqlalchemy import Engine, text

from broker.api.auth import KEY_CACHE
from broker.app import create_app
from broker.audit.services import Actor
from broker.callers.cache import Caller, KeyCache
from broker.callers.keys import OrganisationKeys
from broker.core import Core
from broker.notifications.notices import InboxNotices
from tests.api.live import Organisation, call, enrol, send, serve, signed
from tests.api.test_live_api import matching_key
from tests.conftest import OPEN_POLICY
from tests.uow import committed

EVALUATE = "/v1/pseudonyms/evaluate"
QUOTA = 5


@pytest.fixture
def policy_path(tmp_path: Path) -> Path:
    """The open policy with a small daily evaluation quota."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(OPEN_POLICY.read_text()
                      + f"quotas:\n  pseudonym_evaluations_per_day: {QUOTA}\n")
    return policy


def _refused_type(answer: httpx.Response) -> str:
    return str(answer.json()["type"]).rsplit(":", 1)[-1]


def _never(key_id: str) -> None:
    raise AssertionError(f"{key_id} was read from the database, not from the cache")


def _cache(app: Flask) -> KeyCache:
    cache: KeyCache = app.extensions[KEY_CACHE]
    return cache


def test_a_revoked_key_is_refused_at_once_by_a_worker_that_had_it_cached(core: Core) -> None:
    vt = enrol(core, "vt-a", "veilig_thuis")
    # a second worker process on the same database
    other = Core(core.settings, clock=core.clock, notices=InboxNotices())
    one, two = create_app(core=core), create_app(core=other)
    with serve(one) as first, serve(two) as second:
        assert call(first, vt, "GET", f"/v1/inbox?professional={vt.professional}").is_success
        assert call(second, vt, "GET", f"/v1/inbox?professional={vt.professional}").is_success
        # Both workers now answer the key from memory.
        for app in (one, two):
            cached = _cache(app).get(vt.key_id, _never)
            assert cached is not None and cached.caller.organisation == "vt-a"
        committed(core, OrganisationKeys).revoke(Actor.operator("test"), vt.key_id)
        after = [call(base, vt, "GET", f"/v1/inbox?professional={vt.professional}")
                 for base in (second, first)]
    assert [a.status_code for a in after] == [401, 401]
    assert {_refused_type(a) for a in after} == {"signature-key-unknown"}
    other.dispose()


def test_a_key_added_after_the_cache_was_filled_is_accepted(core: Core) -> None:
    vt = enrol(core, "vt-a", "veilig_thuis")
    with serve(create_app(core=core)) as base:
        assert call(base, vt, "GET", f"/v1/inbox?professional={vt.professional}").is_success
        new_key = SigningKey.generate()
        committed(core, OrganisationKeys).add(Actor.operator("test"), organisation="vt-a",
                                              key_id="vt-a-key-2",
                                              public_key=bytes(new_key.verify_key).hex())
        rotated = Organisation("vt-a", "vt-a-key-2", new_key, vt.professional)
        answer = call(base, rotated, "GET", f"/v1/inbox?professional={vt.professional}")
        unknown = call(base, rotated, "GET", "/v1/inbox", key_id="vt-a-key-3")
    assert answer.is_success, answer.text
    assert unknown.status_code == 401 and _refused_type(unknown) == "signature-key-unknown"


def test_a_key_read_while_the_cache_was_emptied_is_not_kept() -> None:
    cache = KeyCache()
    key = SigningKey.generate().verify_key
    caller = Caller("k-1", 1, "vt-a", "veilig_thuis")
    first = cache.get("k-1", lambda _: (key, caller))
    assert first is not None and first.version is None
    assert cache.still_valid(first, 7) is False  # read before any version was known: again
    found = cache.get("k-1", lambda _: (key, caller))  # the cache was emptied: read again
    assert found is not None and found.version == 7 and cache.still_valid(found, 7)
    assert cache.get("k-1", _never) == found  # from memory now

    def read_during_a_revocation(_: str) -> tuple[VerifyKey, Caller]:
        assert found is not None
        cache.still_valid(found, 8)  # another request read a newer version meanwhile
        return key, caller

    assert cache.get("k-2", read_during_a_revocation) is not None
    with pytest.raises(AssertionError, match="k-2 was read"):
        cache.get("k-2", _never)  # what was read across the emptying was not kept
    assert cache.still_valid(found, 8) is False  # and older answers are checked again


def _lock_waiters(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()")).scalar_one())


def _until(condition: object, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)


@pytest.mark.postgres
def test_a_replay_waiting_behind_a_refused_request_is_refused(core: Core) -> None:
    """The replay-while-refused defect: with the nonce in the request's transaction, a
    byte-identical replay waited on the nonce's row; the refusal's rollback freed it and the
    replay was carried out as a new request."""
    if core.engine.dialect.name != "postgresql":
        pytest.skip("needs PostgreSQL's row locks to hold the first request mid-way")
    vt = enrol(core, "vt-a", "veilig_thuis")
    element = matching_key(core)["element"]
    answers: dict[str, httpx.Response] = {}
    with serve(create_app(core=core)) as base:
        assert call(base, vt, "POST", EVALUATE, {"blinded_elements": [element]}).is_success
        captured = signed(base, vt, "POST", EVALUATE, {"blinded_elements": [element]},
                          extra_headers={"Idempotency-Key": "one-request"})

        def send_as(name: str) -> None:
            answers[name] = send("POST", *captured)

        with core.engine.connect() as blocker:
            # Another request uses up the quota and holds its row until it commits: the first
            # request waits on that row, after its nonce was checked.
            blocker.execute(text("UPDATE evaluation_counts SET evaluations = :n"), {"n": QUOTA})
            first = threading.Thread(target=send_as, args=("first",))
            first.start()
            _until(lambda: _lock_waiters(core.engine) >= 1)
            replay = threading.Thread(target=send_as, args=("replay",))
            replay.start()
            _until(lambda: "replay" in answers or _lock_waiters(core.engine) >= 2)
            blocker.commit()
        first.join(timeout=30)
        replay.join(timeout=30)
    assert answers["first"].status_code == 429, answers["first"].text
    assert answers["replay"].status_code == 401, answers["replay"].text
    assert _refused_type(answers["replay"]) == "signature-replayed"
