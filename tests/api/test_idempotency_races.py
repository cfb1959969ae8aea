"""Idempotency in one transaction (issue 11): the key, the work and the stored answer commit
together; of requests sent at the same moment with one ``Idempotency-Key``, exactly one acts.

Attack first reproduced: two concurrent requests with one key and different bodies both got 201
with the first body's result, and the second registration silently never happened. Now the
one with the other body is refused (422 ``idempotency-key-reused``) and the ones with the same
body get the stored answer back; the database holds exactly one registration. Live server,
threads released together, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading

import httpx

from broker.audit.models import AuditEvent
from broker.core import Core
from broker.registry.models import Involvement
from tests.api.live import Organisation, send, signed
from tests.api.test_live_api import count, new_involvement

RACERS = 6


def _race(base: str, org: Organisation, bodies: list[dict[str, object]]) -> list[httpx.Response]:
    prepared = [signed(base, org, "POST", "/v1/involvements", body,
                       extra_headers={"Idempotency-Key": "race-1"}) for body in bodies]
    start = threading.Barrier(len(prepared))
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def one(request: tuple[str, dict[str, str], bytes]) -> None:
        start.wait()
        answer = send("POST", *request)
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=one, args=(request,)) for request in prepared]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_one_key_different_bodies_at_once_exactly_one_acts(
        core: Core, base: str, orgs: tuple[Organisation, Organisation]) -> None:
    vt, _ = orgs
    a = {"involvements": [new_involvement(core, vt, "123456782")]}
    b = {"involvements": [new_involvement(core, vt, "111222333")]}
    answers = _race(base, vt, [a, b] * (RACERS // 2))
    statuses = sorted(a.status_code for a in answers)
    assert count(core, Involvement) == 1  # exactly one request acted
    assert statuses == [201] * (RACERS // 2) + [422] * (RACERS // 2)
    refused = [a for a in answers if a.status_code == 422]
    assert {a.json()["type"] for a in refused} == {"urn:broker:problem:idempotency-key-reused"}
    created = [a for a in answers if a.status_code == 201]
    assert len({a.json()["involvements"][0]["id"] for a in created}) == 1  # one and the same
    assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in created) == len(created) - 1
    assert count(core, AuditEvent, event_type="involvement:registered") == 1


def test_one_key_same_body_at_once_registers_once(
        core: Core, base: str, orgs: tuple[Organisation, Organisation]) -> None:
    vt, _ = orgs
    body = {"involvements": [new_involvement(core, vt, "123456782")]}
    answers = _race(base, vt, [body] * RACERS)
    assert [a.status_code for a in answers] == [201] * RACERS
    assert count(core, Involvement) == 1
    assert count(core, AuditEvent, event_type="api:answer_replayed") == RACERS - 1
