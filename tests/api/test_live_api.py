"""The API's resources through the real HTTP stack: registration, look-ups, idempotency,
validation problems, rate limits, the evaluation quota and failing closed."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from broker_primitives.identifiers import parse_bsn
from sqlalchemy import func, select

from broker.api.schemas import b64url
from broker.app import create_app
from broker.audit.models import AuditEvent
from broker.audit.services import Actor
from broker.callers.idempotency import purge_records
from broker.callers.models import IdempotencyRecord
from broker.core import Core
from broker.registry.models import Involvement
from tests.api.live import Organisation, call, enrol, send, serve, signed, sqlite_core
from tests.conftest import OPEN_POLICY, FakeClock
from tests.factories import CHILD_BSN
from tests.services import redis_url
from tests.uow import in_uow

OPERATOR = Actor.operator("test")  # evaluations charged to no organisation


def matching_key(core: Core, bsn: str = CHILD_BSN) -> dict[str, Any]:
    """A matching key as a client sends it (made here through the in-process service)."""
    [pseudonym] = core.pseudonymise(OPERATOR, [parse_bsn(bsn)])
    return {"category": pseudonym.category, "element": b64url(pseudonym.element),
            "key_epoch": pseudonym.oprf_epoch}


def new_involvement(core: Core, org: Organisation, bsn: str = CHILD_BSN) -> dict[str, Any]:
    """One item of a registration request."""
    return {"professional": org.professional, "purpose": "protection",
            "matching_keys": [matching_key(core, bsn)]}


def count(core: Core, model: Any, **where: Any) -> int:
    """Rows of ``model`` matching ``where``."""
    with core.session() as session:
        return session.scalar(select(func.count()).select_from(model).filter_by(**where)) or 0


def test_register_read_renew_change_end(core: Core, base: str,
                                        orgs: tuple[Organisation, Organisation]) -> None:
    vt, school = orgs
    created = call(base, vt, "POST", "/v1/involvements",
                   {"involvements": [new_involvement(core, vt),
                                     new_involvement(core, vt, "111222333")]})
    assert created.status_code == 201, created.text
    first, second = created.json()["involvements"]
    assert (first["organisation"], first["state"], first["key_count"]) == ("vt-a", "active", 1)
    path = f"/v1/involvements/{first['id']}"
    assert call(base, vt, "GET", path).json() == first
    assert call(base, school, "GET", path).status_code == 404  # not yours: not found
    both = call(base, vt, "PATCH", path, {"ends_on": "2027-01-31", "professional": "vt-a-p"})
    assert both.status_code == 422  # one change per request: all or nothing
    assert call(base, vt, "GET", path).json() == first
    renewed = call(base, vt, "PATCH", path, {"ends_on": "2027-01-31"})
    assert renewed.json()["ends_on"] == "2027-01-31", renewed.text
    enrol(core, "vt-b", "veilig_thuis")
    moved = call(base, vt, "PATCH", path, {"professional": "vt-b-p"})
    assert moved.status_code == 422  # another organisation's professional
    ended = call(base, vt, "DELETE", f"/v1/involvements/{second['id']}")
    assert ended.json()["state"] == "ended"
    again = call(base, vt, "PATCH", f"/v1/involvements/{second['id']}",
                 {"state": "ended", "end_reason": "concern_resolved"})
    assert again.status_code == 409
    assert again.json()["type"] == "urn:broker:problem:conflict"


def test_lookup_finds_the_other_organisation(core: Core, base: str,
                                             orgs: tuple[Organisation, Organisation]) -> None:
    vt, school = orgs
    assert call(base, vt, "POST", "/v1/involvements",
                {"involvements": [new_involvement(core, vt)]}).status_code == 201
    found = call(base, school, "POST", "/v1/lookups", {
        "matching_keys": [matching_key(core)], "purpose": "care_coordination",
        "basis": "legal_task", "statute": "jeugdwet_7_1_1", "professional": school.professional})
    assert found.status_code == 200, found.text
    answer = found.json()
    assert [(m["organisation"], m["matched_on"]) for m in answer["matches"]] == [
        ("VT-A", ["person"])]
    with core.session() as session:
        event = session.scalar(select(AuditEvent).filter_by(event_id=answer["lookup_id"]))
    assert event is not None and event.actor == "key:school-a-key-1"
    assert event.on_behalf_of == "professional:school-a-p"
    assert event.channel == "api"


def test_idempotency_key_replays_and_refuses_reuse(core: Core, base: str,
                                                   orgs: tuple[Organisation, Organisation]
                                                   ) -> None:
    vt, _ = orgs
    body = {"involvements": [new_involvement(core, vt)]}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = call(base, vt, "POST", "/v1/involvements", body, extra_headers=key)
    second = call(base, vt, "POST", "/v1/involvements", body, extra_headers=key)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert count(core, Involvement) == 1
    assert count(core, AuditEvent, event_type="api:answer_replayed") == 1
    other = call(base, vt, "POST", "/v1/involvements",
                 {"involvements": [new_involvement(core, vt, "111222333")]}, extra_headers=key)
    assert other.status_code == 422
    assert other.json()["type"] == "urn:broker:problem:idempotency-key-reused"
    assert count(core, Involvement) == 1


def test_stored_answers_are_purged_after_a_week(core: Core, clock: FakeClock, base: str,
                                                orgs: tuple[Organisation, Organisation]) -> None:
    vt, _ = orgs
    answered_at = clock.now  # the stored answer's time is the core's clock's
    call(base, vt, "POST", "/v1/involvements", {"involvements": [new_involvement(core, vt)]},
         extra_headers={"Idempotency-Key": "k-1"})
    assert count(core, IdempotencyRecord) == 1
    clock.now = answered_at + timedelta(days=6)
    assert in_uow(core, purge_records, Actor.system("test")) == 0
    clock.now = answered_at + timedelta(days=8)
    assert in_uow(core, purge_records, Actor.system("test")) == 1
    assert count(core, IdempotencyRecord) == 0
    assert count(core, AuditEvent, event_type="api:idempotency_purged") == 1


def test_bad_bodies_are_problems_with_field_errors(core: Core, base: str,
                                                   orgs: tuple[Organisation, Organisation]
                                                   ) -> None:
    vt, _ = orgs
    before = count(core, Involvement)
    unknown = call(base, vt, "POST", "/v1/involvements",
                   {"involvements": [new_involvement(core, vt)], "bsn": "123456782"})
    assert unknown.status_code == 422
    assert "bsn" in unknown.json()["errors"]
    assert "123456782" not in unknown.text
    broken = new_involvement(core, vt)
    broken["matching_keys"][0]["element"] = "A" * 43
    bad_point = call(base, vt, "POST", "/v1/involvements", {"involvements": [broken]})
    assert bad_point.status_code == 422
    assert bad_point.json()["type"] == "urn:broker:problem:invalid-pseudonym"
    no_purpose = call(base, vt, "POST", "/v1/lookups", {"matching_keys": [matching_key(core)],
                                                        "purpose": "fishing", "basis": "consent"})
    assert no_purpose.status_code == 422
    assert count(core, Involvement) == before




def test_organisation_rate_limit_and_headers(tmp_path: Path, clock: FakeClock) -> None:
    core = sqlite_core(tmp_path, clock, api_org_rate="3/minute")
    vt = enrol(core, "vt-a", "veilig_thuis")
    with serve(create_app(core=core)) as url:
        answers = [call(url, vt, "GET", "/v1/involvements/x") for _ in range(4)]
    assert [a.status_code for a in answers] == [404, 404, 404, 429]
    assert answers[0].headers["RateLimit-Limit"] == "3"
    assert answers[2].headers["RateLimit-Remaining"] == "0"
    assert answers[3].json()["type"] == "urn:broker:problem:rate-limited"
    assert count(core, AuditEvent, event_type="auth:rate_limited") == 1
    core.dispose()


def test_evaluation_quota_counts_elements(tmp_path: Path, clock: FakeClock) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(OPEN_POLICY.read_text() + "quotas:\n  pseudonym_evaluations_per_day: 5\n")
    core = sqlite_core(tmp_path, clock, policy=policy)
    vt = enrol(core, "vt-a", "veilig_thuis")
    element = matching_key(core)["element"]
    with serve(create_app(core=core)) as url:
        ok = call(url, vt, "POST", "/v1/pseudonyms/evaluate", {"blinded_elements": [element] * 3})
        over = call(url, vt, "POST", "/v1/pseudonyms/evaluate",
                    {"blinded_elements": [element] * 3})
    assert ok.status_code == 200 and over.status_code == 429
    assert "evaluations" in over.json()["detail"]
    assert count(core, AuditEvent, event_type="pseudonym:evaluated") == 1
    assert count(core, AuditEvent, event_type="pseudonym:quota_refused") == 1
    core.dispose()


def test_unreachable_limit_store_fails_closed(tmp_path: Path, clock: FakeClock) -> None:
    core = sqlite_core(tmp_path, clock, redis_url="redis://127.0.0.1:1/0")
    vt = enrol(core, "vt-a", "veilig_thuis")
    with serve(create_app(core=core)) as url:
        answer = call(url, vt, "GET", "/v1/involvements/x")
    assert answer.status_code == 503
    assert answer.json()["type"] == "urn:broker:problem:service-unavailable"
    core.dispose()


@pytest.mark.redis
def test_replay_cache_and_limits_in_redis(tmp_path: Path, clock: FakeClock) -> None:
    core = sqlite_core(tmp_path, clock, redis_url=redis_url())
    vt = enrol(core, "vt-a", "veilig_thuis")
    with serve(create_app(core=core)) as url:
        request = signed(url, vt, "GET", "/v1/involvements/x")
        first, again = send("GET", *request), send("GET", *request)
    assert first.status_code == 404 and "RateLimit-Limit" in first.headers
    assert again.json()["type"] == "urn:broker:problem:signature-replayed"
    core.dispose()
