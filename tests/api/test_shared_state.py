"""Shared state that survives (issue 11, item 5), through the real HTTP stack.

A captured signed request is accepted once: not again by another worker process without Redis,
not again after the broker restarts, not again after Redis restarts empty. The daily evaluation
quota survives a Redis restart too; the limits refuse (503) while their store is down and work
again once it is back, without a restart of the broker.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import select

from broker.app import create_app
from broker.audit.models import AuditEvent
from broker.core import Core
from broker.notifications.notices import InboxNotices
from tests.api.live import Organisation, call, enrol, send, serve, signed, sqlite_core
from tests.api.test_live_api import matching_key
from tests.conftest import OPEN_POLICY, FakeClock
from tests.private_servers import private_redis


def _inbox(base: str, org: Organisation) -> tuple[str, dict[str, str], bytes]:
    """A captured signed request that succeeds (200) when it is accepted."""
    return signed(base, org, "GET", f"/v1/inbox?professional={org.professional}")


def _to(base: str, captured: tuple[str, dict[str, str], bytes]) -> httpx.Response:
    """Send the captured request, bytes and Host header unchanged, to the server at ``base``
    (another worker behind the same address)."""
    url, headers, body = captured
    path = url.split("/v1/", 1)[1]
    return send("GET", f"{base}/v1/{path}", headers, body)


def test_another_worker_refuses_a_replay_without_redis(tmp_path: Path, clock: FakeClock) -> None:
    first = sqlite_core(tmp_path, clock)
    vt = enrol(first, "vt-a", "veilig_thuis")
    # a second worker process on the same database
    second = Core(first.settings, clock=clock, notices=InboxNotices())
    with serve(create_app(core=first)) as one, serve(create_app(core=second)) as two:
        captured = _inbox(one, vt)
        assert _to(one, captured).status_code == 200
        replayed = _to(two, captured)
    assert replayed.status_code == 401, replayed.text
    assert replayed.json()["type"] == "urn:broker:problem:signature-replayed"
    second.dispose()
    first.dispose()


def test_a_restarted_broker_refuses_a_replay(tmp_path: Path, clock: FakeClock) -> None:
    before = sqlite_core(tmp_path, clock)
    vt = enrol(before, "vt-a", "veilig_thuis")
    with serve(create_app(core=before)) as base:
        captured = _inbox(base, vt)
        assert _to(base, captured).status_code == 200
    before.dispose()
    after = Core(before.settings, clock=clock, notices=InboxNotices())  # started again
    with serve(create_app(core=after)) as base:
        replayed = _to(base, captured)
    assert replayed.json()["type"] == "urn:broker:problem:signature-replayed"
    after.dispose()


def test_a_replay_after_redis_restarted_empty_is_refused(tmp_path: Path, clock: FakeClock
                                                         ) -> None:
    with private_redis(tmp_path) as store:
        core = sqlite_core(tmp_path, clock, redis_url=store.url)
        vt = enrol(core, "vt-a", "veilig_thuis")
        with serve(create_app(core=core)) as base:
            captured = _inbox(base, vt)
            assert _to(base, captured).status_code == 200
            assert _to(base, captured).status_code == 401
            store.restart_empty()
            assert call(base, vt, "GET", f"/v1/inbox?professional={vt.professional}"
                        ).status_code == 200  # the broker works on without a restart
            replayed = _to(base, captured)
        core.dispose()
    assert replayed.status_code == 401
    assert replayed.json()["type"] == "urn:broker:problem:signature-replayed"


def test_the_daily_quota_survives_a_redis_restart(tmp_path: Path, clock: FakeClock) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(OPEN_POLICY.read_text() + "quotas:\n  pseudonym_evaluations_per_day: 5\n")
    with private_redis(tmp_path) as store:
        core = sqlite_core(tmp_path, clock, policy=policy, redis_url=store.url)
        vt = enrol(core, "vt-a", "veilig_thuis")
        three = {"blinded_elements": [matching_key(core)["element"]] * 3}
        with serve(create_app(core=core)) as base:
            assert call(base, vt, "POST", "/v1/pseudonyms/evaluate", three).status_code == 200
            store.restart_empty()
            over = call(base, vt, "POST", "/v1/pseudonyms/evaluate", three)
            two = {"blinded_elements": three["blinded_elements"][:2]}
            rest = call(base, vt, "POST", "/v1/pseudonyms/evaluate", two)
        core.dispose()
    assert over.status_code == 429, over.text
    assert "evaluations" in over.json()["detail"]
    assert rest.status_code == 200  # exactly the quota, no more and no less
    assert rest.headers["RateLimit-Remaining"] == "0"


def test_limits_refuse_while_redis_is_down_and_work_again_after(tmp_path: Path,
                                                                clock: FakeClock) -> None:
    with private_redis(tmp_path) as store:
        core = sqlite_core(tmp_path, clock, redis_url=store.url)
        vt = enrol(core, "vt-a", "veilig_thuis")
        path = f"/v1/inbox?professional={vt.professional}"
        with serve(create_app(core=core)) as base:
            assert call(base, vt, "GET", path).status_code == 200
            store.stop()
            down = call(base, vt, "GET", path)
            store.start()
            back = call(base, vt, "GET", path)
        with core.session() as session:
            accepted = session.scalars(select(AuditEvent.event_type)).all()
        core.dispose()
    assert down.status_code == 503 and down.headers["Retry-After"]
    assert down.json()["type"] == "urn:broker:problem:service-unavailable"
    assert back.status_code == 200
    assert "auth:rate_limited" not in accepted


def test_a_redis_restart_starts_the_minute_windows_afresh(tmp_path: Path, clock: FakeClock
                                                          ) -> None:
    """What the README says a Redis restart grants: the current minute's window, no more."""
    with private_redis(tmp_path) as store:
        core = sqlite_core(tmp_path, clock, redis_url=store.url, api_org_rate="2/minute")
        vt = enrol(core, "vt-a", "veilig_thuis")
        path = f"/v1/inbox?professional={vt.professional}"
        with serve(create_app(core=core)) as base:
            before = [call(base, vt, "GET", path).status_code for _ in range(3)]
            store.restart_empty()
            after = [call(base, vt, "GET", path).status_code for _ in range(3)]
        core.dispose()
    assert before == after == [200, 200, 429]
