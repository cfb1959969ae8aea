"""The API's refusals in the audit log (issue 11, item 7, first half).

Strangers cannot flood the log: refusals before a caller is authenticated are counted, one event
per source network and minute. The broker keeps its own request id; the caller's is a detail.
Every refused access by an authenticated caller is an event of its own, and the answer does not
say whether the thing exists.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from broker.app import create_app
from broker.audit.models import AuditEvent
from broker.core import Core
from broker.oversight.refusals import flush_tallies
from broker.registry.models import Professional
from tests.api.live import Organisation, call, send, serve, signed, sqlite_core
from tests.api.test_live_api import matching_key, new_involvement
from tests.conftest import FakeClock


def events(core: Core, event_type: str | None = None) -> list[AuditEvent]:
    """The audit events so far (of one type), oldest first."""
    query = select(AuditEvent).order_by(AuditEvent.seq)
    if event_type is not None:
        query = query.filter_by(event_type=event_type)
    with core.session() as session:
        return list(session.scalars(query))


def total(core: Core) -> int:
    """How many audit events there are."""
    with core.session() as session:
        return session.scalar(select(func.count()).select_from(AuditEvent)) or 0


def professional_id(core: Core, username: str) -> int:
    """The database id of a professional."""
    with core.session() as session:
        found = session.scalar(select(Professional.id).filter_by(username=username))
    assert found is not None
    return found


def _strangers(base: str, org: Organisation) -> list[httpx.Response]:
    """Refusals before authentication: no signature, a broken one, an unknown key, a replay."""
    answers = [httpx.get(f"{base}/v1/involvements/x{n}", headers={"X-Request-Id": "A" * 64})
               for n in range(20)]
    url, headers, body = signed(base, org, "GET", "/v1/involvements/x")
    answers.append(send("GET", url + "?tampered=1", headers, body))
    answers.append(send("GET", *signed(base, org, "GET", "/v1/involvements/x",
                                       key_id="no-such-key")))
    answers.append(send("GET", url, headers, body))
    answers.append(send("GET", url, headers, body))  # the replay
    return answers


def test_strangers_do_not_append_an_event_per_request(core: Core, base: str,
                                                      orgs: tuple[Organisation, Organisation]
                                                      ) -> None:
    vt, _ = orgs
    before = total(core)
    answers = _strangers(base, vt)
    assert [a.status_code for a in answers] == [401] * 22 + [404, 401]
    # The one accepted request (the original of the replay) was refused access to an unknown
    # involvement: that is its one event; the 23 refusals before authentication add none.
    assert total(core) == before + 1


def test_one_counted_event_per_network_and_minute(core: Core, clock: FakeClock, base: str,
                                                  orgs: tuple[Organisation, Organisation]
                                                  ) -> None:
    vt, _ = orgs
    _strangers(base, vt)
    assert flush_tallies(core) == 0  # the minute is not over yet
    clock.now += timedelta(seconds=30)
    httpx.get(f"{base}/v1/involvements/y")  # the same minute, counted with the others
    clock.now += timedelta(minutes=1)
    httpx.get(f"{base}/v1/involvements/z")  # the next minute
    assert flush_tallies(core) == 1
    assert flush_tallies(core) == 0  # written once
    [event] = events(core, "auth:unauthenticated_refused")
    assert event.outcome == "refused" and event.organisation_id is None
    assert event.source_address == "127.0.0.0/24"
    assert event.details["count"] == 24
    assert event.details["minute"] == "2026-03-02T12:00Z"
    assert event.details["reasons"] == {
        "api signature-missing": 21, "api signature-invalid": 1,
        "api signature-key-unknown": 1, "api signature-replayed": 1}
    # A replay passed the Ed25519 check, so its key is named; a key id in clear text is not.
    assert event.details["verified_keys"] == {vt.key_id: 1}
    assert "A" * 64 not in str(event.details) and event.request_id is None
    clock.now += timedelta(minutes=1)
    assert flush_tallies(core) == 1
    assert [e.details["count"] for e in events(core, "auth:unauthenticated_refused")] == [24, 1]


def test_the_broker_keeps_its_own_request_id(core: Core, base: str,
                                             orgs: tuple[Organisation, Organisation]) -> None:
    vt, _ = orgs
    body = {"involvements": [new_involvement(core, vt)]}
    answer = call(base, vt, "POST", "/v1/involvements", body,
                  extra_headers={"X-Request-Id": "case-system:42"})
    assert answer.status_code == 201
    own = answer.headers["X-Request-Id"]
    assert own != "case-system:42" and uuid.UUID(own)
    assert answer.headers["X-Client-Request-Id"] == "case-system:42"
    [event] = events(core, "involvement:registered")
    assert event.request_id == own
    assert event.details["client_request_id"] == "case-system:42"


@pytest.mark.parametrize("hostile", ["123456782", "1011 AB", "x" * 65, "<script>", "a b",
                                     "03-02-2015"])
def test_a_hostile_client_request_id_is_neither_kept_nor_echoed(
        core: Core, base: str, orgs: tuple[Organisation, Organisation], hostile: str) -> None:
    vt, _ = orgs
    answer = call(base, vt, "POST", "/v1/involvements",
                  {"involvements": [new_involvement(core, vt)]},
                  extra_headers={"X-Request-Id": hostile})
    assert answer.status_code == 201
    assert "X-Client-Request-Id" not in answer.headers
    assert answer.headers["X-Request-Id"] != hostile
    [event] = events(core, "involvement:registered")
    assert "client_request_id" not in event.details


def _problem(answer: httpx.Response) -> tuple[int, Any]:
    return answer.status_code, answer.json()


def test_another_organisations_involvement_is_refused_and_audited(
        core: Core, base: str, orgs: tuple[Organisation, Organisation]) -> None:
    vt, school = orgs
    created = call(base, vt, "POST", "/v1/involvements",
                   {"involvements": [new_involvement(core, vt)]}).json()["involvements"][0]
    theirs, unknown = f"/v1/involvements/{created['id']}", "/v1/involvements/no-such-id"
    for method, body in (("GET", None), ("PATCH", {"ends_on": "2027-01-31"}),
                         ("DELETE", None)):
        refused = call(base, school, method, theirs, body)
        absent = call(base, school, method, unknown, body)
        assert _problem(refused) == _problem(absent)  # existence is not revealed
        assert refused.status_code == 404
    refusals = events(core, "involvement:access_refused")
    assert [(e.reason, e.details["operation"]) for e in refusals] == [
        ("another_organisation", "read"), ("unknown", "read"),
        ("another_organisation", "renew"), ("unknown", "renew"),
        ("another_organisation", "end"), ("unknown", "end")]
    school_id = refusals[0].organisation_id
    assert school_id is not None and all(e.organisation_id == school_id for e in refusals)
    assert all(e.outcome == "refused" and e.actor == f"key:{school.key_id}" for e in refusals)
    assert refusals[0].details["involvement_id"] == created["id"]
    assert "involvement_id" not in refusals[1].details  # a made-up id is not written down
    assert call(base, vt, "GET", theirs).json()["state"] == "active"  # nothing changed


def test_acting_for_another_organisations_professional_is_refused_and_audited(
        core: Core, base: str, orgs: tuple[Organisation, Organisation]) -> None:
    vt, school = orgs
    key = [matching_key(core)]
    lookup = {"matching_keys": key, "purpose": "care_coordination", "basis": "legal_task",
              "statute": "jeugdwet_7_1_1"}
    answers = [
        call(base, school, "POST", "/v1/lookups", {**lookup, "professional": vt.professional}),
        call(base, school, "POST", "/v1/lookups", {**lookup, "professional": "nobody-p"}),
        call(base, school, "POST", "/v1/involvements", {"involvements": [
            {"professional": vt.professional, "purpose": "protection", "matching_keys": key}]}),
        call(base, school, "POST", "/v1/lookups",
             {**lookup, "register": {"professional": vt.professional}}),
    ]
    own = call(base, school, "POST", "/v1/involvements", {"involvements": [
        {"professional": school.professional, "purpose": "protection", "matching_keys": key}]})
    answers.append(call(base, school, "PATCH",
                        f"/v1/involvements/{own.json()['involvements'][0]['id']}",
                        {"professional": vt.professional}))
    assert [a.status_code for a in answers] == [422] * 5
    assert answers[0].json() == answers[1].json()  # whether the name exists is not revealed
    refusals = events(core, "professional:acting_refused")
    assert [e.reason for e in refusals] == ["another_organisation", "unknown_or_inactive",
                                            "another_organisation", "another_organisation",
                                            "another_organisation"]
    assert all(e.actor == f"key:{school.key_id}" and e.outcome == "refused" for e in refusals)
    assert refusals[0].details["professional_id"] == professional_id(core, vt.professional)
    assert "professional_id" not in refusals[1].details  # a made-up name is not written down
    assert events(core, "lookup:performed") == []
    assert len(events(core, "involvement:registered")) == 1  # the school's own, not vt's
    assert events(core, "involvement:contact_changed") == []


def test_another_organisations_inbox_is_refused_and_audited(
        core: Core, base: str, orgs: tuple[Organisation, Organisation]) -> None:
    vt, school = orgs
    theirs = call(base, school, "GET", f"/v1/inbox?professional={vt.professional}")
    nobody = call(base, school, "GET", "/v1/inbox?professional=nobody-p")
    assert theirs.status_code == 422 and theirs.json() == nobody.json()
    assert call(base, school, "GET", f"/v1/inbox?professional={school.professional}"
                ).status_code == 200
    refusals = events(core, "inbox:access_refused")
    assert [e.reason for e in refusals] == ["another_organisation", "unknown_or_inactive"]
    assert refusals[0].details["professional_id"] == professional_id(core, vt.professional)
    assert "professional_id" not in refusals[1].details  # a made-up name is not written down
    assert refusals[0].actor == f"key:{school.key_id}"


def test_the_per_address_limit_is_counted_too(tmp_path: Path, clock: FakeClock) -> None:
    core = sqlite_core(tmp_path, clock, api_ip_rate="2/minute")
    with serve(create_app(core=core)) as base:
        answers = [httpx.get(f"{base}/v1/involvements/x") for _ in range(4)]
    assert [a.status_code for a in answers] == [401, 401, 429, 429]
    assert answers[2].json()["type"] == "urn:broker:problem:rate-limited"
    assert uuid.UUID(answers[2].headers["X-Request-Id"])
    clock.now += timedelta(minutes=1)
    assert flush_tallies(core) == 1
    [event] = events(core, "auth:unauthenticated_refused")
    assert event.details["reasons"] == {"api rate-limited": 2, "api signature-missing": 2}
    core.dispose()
