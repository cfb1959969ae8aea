"""The pseudonym service's signed door (issue 15, item 1), through Flask's test client: only
known keys under the service's own tag, each nonce once; an organisation's key evaluates for
that organisation whatever the body says, the broker's key must name one; a bad batch charges
nothing; every answer, refusals included, is signed by the service and bound to the request;
the proof verifies against k's public half."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from broker_primitives import dleq, oprf
from broker_primitives.httpsig.signatures import RequestMessage, sign_request, verify_response
from flask.testing import FlaskClient
from nacl.signing import SigningKey, VerifyKey
from sqlalchemy import select
from werkzeug.test import TestResponse

from broker.clock import local_date, utcnow
from broker.pseudonym_service import home, store
from broker.pseudonym_service.app import create_service_app
from broker.pseudonym_service.service import EvaluationService
from broker.pseudonym_service.store import day_totals
from broker.pseudonyms.interfaces import (
    REQUEST_TAG,
    RESPONSE_POLICY,
    SERVICE_KEY_ID,
    decode_element,
    encode_element,
)

BASE = "http://pseudonyms.test"
BROKER, SCHOOL = SigningKey.generate(), SigningKey.generate()


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    """A service that knows the broker's key and a school's key (quota 2)."""
    path = tmp_path / "service"
    home.initialise(path, per_type={"school": 2})
    home.add_client(path, "broker-1", bytes(BROKER.verify_key).hex(), organisation=None,
                    organisation_type=None)
    home.add_client(path, "school-1", bytes(SCHOOL.verify_key).hex(), organisation="school-a",
                    organisation_type="school")
    return path


@pytest.fixture
def service(directory: Path) -> EvaluationService:
    """The service on its directory."""
    return home.open_service(directory)


@pytest.fixture
def client(service: EvaluationService, directory: Path) -> FlaskClient:
    """A test client of the service's door."""
    return create_service_app(service, home.signing_key(directory)).test_client()


def post(client: FlaskClient, key_id: str, key: SigningKey, body: Any, *,
         tag: str = REQUEST_TAG, nonce: str | None = None, path: str = "/v1/evaluate"
         ) -> tuple[TestResponse, dict[str, str]]:
    """A signed POST (to /v1/evaluate unless ``path``); the answer and the request's headers."""
    raw = json.dumps(body).encode()
    url = BASE + path
    headers = {"Content-Type": "application/json", "Host": "pseudonyms.test"}
    headers |= sign_request(method="POST", target_uri=url, headers=headers, key_id=key_id,
                            private_key=key, body=raw, tag=tag, nonce=nonce)
    return client.post(path, data=raw, headers=headers, base_url=BASE), headers


def answer_verifies(response: TestResponse, headers: dict[str, str], service_key: VerifyKey,
                    path: str = "/v1/evaluate") -> bool:
    """The answer is signed by the service and bound to the request's signature."""
    verify_response(status=response.status_code, headers=response.headers,
                    body=response.get_data(),
                    resolve_key=lambda k: service_key if k == SERVICE_KEY_ID else None,
                    request=RequestMessage("POST", BASE + path, headers),
                    request_label="sig1", policy=RESPONSE_POLICY)
    return True


def blinded(count: int) -> list[str]:
    """``count`` blinded elements, encoded."""
    return [encode_element(oprf.blind(f"bsn|{n}".encode())[1]) for n in range(count)]


def test_an_evaluation_is_signed_proved_and_counted(client: FlaskClient, directory: Path,
                                                    service: EvaluationService) -> None:
    elements = blinded(3)
    response, headers = post(client, "broker-1", BROKER, {
        "blinded_elements": elements, "organisation": "wijkteam-a",
        "organisation_type": "wijkteam"})
    assert response.status_code == 200
    assert answer_verifies(response, headers, home.signing_key(directory).verify_key)
    data = response.get_json()
    evaluated = [decode_element(e) for e in data["evaluated_elements"]]
    proof = base64.urlsafe_b64decode(data["proof"] + "==")
    public = home.public_keys(directory)[data["key_epoch"]]
    assert dleq.verify_proof(public, [decode_element(e) for e in elements], evaluated, proof)
    assert data["quota"]["used"] == 3
    with service.engine.connect() as connection:
        assert day_totals(connection, local_date(utcnow())) == {"wijkteam-a": (3, 0)}


def test_only_known_keys_under_the_services_tag_each_nonce_once(
        client: FlaskClient, directory: Path) -> None:
    body = {"blinded_elements": blinded(1), "organisation": "a", "organisation_type": "b"}
    service_key = home.signing_key(directory).verify_key
    unknown, headers = post(client, "stranger", SigningKey.generate(), body)
    assert unknown.status_code == 401 and answer_verifies(unknown, headers, service_key)
    assert unknown.get_json()["type"].endswith(":signature-key-unknown")
    other_tag, _ = post(client, "broker-1", BROKER, body, tag="broker-v1")
    assert other_tag.status_code == 401
    nonce = "n" * 43
    first, _ = post(client, "broker-1", BROKER, body, nonce=nonce)
    again, _ = post(client, "broker-1", BROKER, body, nonce=nonce)
    assert (first.status_code, again.status_code) == (200, 401)
    assert again.get_json()["type"].endswith(":signature-replayed")


def test_an_organisations_key_evaluates_for_it_alone_and_its_quota_holds(
        client: FlaskClient, service: EvaluationService) -> None:
    elsewhere = {"organisation": "someone-else", "organisation_type": "politie"}
    granted, _ = post(client, "school-1", SCHOOL, {"blinded_elements": blinded(2), **elsewhere})
    assert granted.status_code == 200 and granted.get_json()["quota"]["limit"] == 2
    refused, _ = post(client, "school-1", SCHOOL, {"blinded_elements": blinded(1)})
    assert refused.status_code == 429
    assert refused.get_json()["type"].endswith(":quota-exceeded")
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.headers["RateLimit-Remaining"] == "0"
    with service.engine.connect() as connection:
        assert day_totals(connection, local_date(utcnow())) == {"school-a": (2, 1)}


def test_a_bad_batch_or_an_unnamed_organisation_charges_nothing(
        client: FlaskClient, service: EvaluationService) -> None:
    identity, _ = post(client, "school-1", SCHOOL,
                       {"blinded_elements": [encode_element(bytes(32))]})
    assert identity.status_code == 422
    assert identity.get_json()["type"].endswith(":invalid-element")
    unnamed, _ = post(client, "broker-1", BROKER, {"blinded_elements": blinded(1)})
    assert unnamed.status_code == 422
    assert unnamed.get_json()["type"].endswith(":organisation-missing")
    too_many, _ = post(client, "school-1", SCHOOL, {"blinded_elements": blinded(1) * 1001})
    assert too_many.status_code == 422
    with service.engine.connect() as connection:
        assert day_totals(connection, local_date(utcnow())) == {}


def test_nonces_that_can_no_longer_be_accepted_are_forgotten(
        client: FlaskClient, service: EvaluationService) -> None:
    with service.engine.begin() as connection:  # a nonce of a signature long expired
        connection.execute(store.nonces.insert().values(
            client_key="broker-1", nonce="old" * 11, expires_at=1))
    body = {"blinded_elements": blinded(1), "organisation": "a", "organisation_type": "b"}
    assert post(client, "broker-1", BROKER, body)[0].status_code == 200
    with service.engine.connect() as connection:
        kept = [row.nonce for row in connection.execute(store.nonces.select())]
    assert "old" * 11 not in kept and len(kept) == 1  # only the request's own


def test_only_the_brokers_key_rotates_k_in_two_steps_and_k_never_leaves(
        client: FlaskClient, directory: Path, service: EvaluationService) -> None:
    service_key = home.signing_key(directory).verify_key
    refused, _ = post(client, "school-1", SCHOOL, {"from_epoch": 1}, path="/v1/keys/next")
    assert refused.status_code == 403 and refused.get_json()["type"].endswith(":forbidden")
    step, headers = post(client, "broker-1", BROKER, {"from_epoch": 1}, path="/v1/keys/next")
    assert step.status_code == 200
    assert answer_verifies(step, headers, service_key, "/v1/keys/next")
    data = step.get_json()
    assert set(data) == {"from_epoch", "to_epoch", "public_key", "factor"}  # never k
    public, factor = decode_element(data["public_key"]), decode_element(data["factor"])
    assert oprf.scalar_mult(factor, home.public_keys(directory)[1]) == public
    # Prepared, not used: evaluations stay under epoch 1 until the broker has pinned epoch 2.
    evaluated = {"blinded_elements": blinded(1), "organisation": "a", "organisation_type": "b"}
    assert post(client, "broker-1", BROKER, evaluated)[0].get_json()["key_epoch"] == 1
    again, _ = post(client, "broker-1", BROKER, {"from_epoch": 1}, path="/v1/keys/next")
    assert again.get_json() == data  # a repeated step gives the same key
    assert post(client, "school-1", SCHOOL, {"epoch": 2},
                path="/v1/keys/activate")[0].status_code == 403
    done, _ = post(client, "broker-1", BROKER, {"epoch": 2}, path="/v1/keys/activate")
    assert done.status_code == 200 and done.get_json() == {"key_epoch": 2}
    answer = post(client, "broker-1", BROKER, evaluated)[0].get_json()
    assert answer["key_epoch"] == 2 and home.public_keys(directory)[2] == public
    after, _ = post(client, "broker-1", BROKER, {"from_epoch": 1}, path="/v1/keys/next")
    assert after.get_json() == data
    stale, _ = post(client, "broker-1", BROKER, {"from_epoch": 5}, path="/v1/keys/next")
    assert stale.status_code == 409 and "at epoch 2" in stale.get_json()["detail"]
    with service.engine.connect() as connection:
        steps = connection.execute(select(store.key_events.c.action, store.key_events.c.client_key)
                                   .order_by(store.key_events.c.id)).all()
    assert [tuple(row) for row in steps] == [  # an organisation's attempts are kept too
        ("refused", "school-1"), ("prepared", "broker-1"), ("refused", "school-1"),
        ("activated", "broker-1")]
