"""The OpenAPI document is valid, and the live server keeps to it: schemathesis generates
requests from the document (every operation), signs them, and checks every answer — no 5xx, a
documented status, the documented content type and a body that fits the documented schema."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
import schemathesis
from broker_primitives.httpsig.signatures import sign_request
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from broker.api.views import openapi_document
from broker.app import create_app
from broker.audit.services import Actor
from broker.config import Settings
from broker.core import Core
from broker.notifications.notices import InboxNotices
from broker.setup import initialise
from tests.api.live import Organisation, enrol, serve
from tests.conftest import OPEN_POLICY

SCHEMA = schemathesis.openapi.from_dict(openapi_document())
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


def test_the_document_is_valid_openapi_3_1() -> None:
    document = openapi_document()
    validate(document)
    assert document["openapi"] == "3.1.0"
    assert set(document["paths"]) == {
        "/v1/pseudonyms/evaluate", "/v1/involvements", "/v1/involvements/{involvement_id}",
        "/v1/lookups", "/v1/contact-requests", "/v1/contact-requests/{request_id}",
        "/v1/contact-requests/{request_id}/decision",
        "/v1/contact-requests/{request_id}/withdrawal", "/v1/contact-links/{token}",
        "/v1/consents", "/v1/consents/{consent_id}", "/v1/inbox"}


class Signed(requests.auth.AuthBase):
    """Signs the request exactly as it will be sent (RFC 9421)."""

    def __init__(self, org: Organisation) -> None:
        self.org = org

    def __call__(self, prepared: requests.PreparedRequest) -> requests.PreparedRequest:
        body = prepared.body or b""
        if isinstance(body, str):
            body = body.encode()
            prepared.body = body
        prepared.headers["Content-Type"] = "application/json"
        prepared.headers.update(sign_request(
            method=prepared.method or "GET", target_uri=prepared.url or "",
            headers=dict(prepared.headers), key_id=self.org.key_id,
            private_key=self.org.key, body=body))
        return prepared


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[str, Organisation]]:
    """One live broker for the whole module (hypothesis runs many examples against it)."""
    with tempfile.TemporaryDirectory() as home:
        policy = Path(home) / "policy.yaml"
        policy.write_text(OPEN_POLICY.read_text()
                          + "quotas:\n  pseudonym_evaluations_per_day: 10000000\n")
        core = Core(Settings.from_env({
            "BROKER_HOME": home, "BROKER_POLICY_DIR": str(policy),
            "BROKER_API_ORG_RATE": "1000000/minute", "BROKER_API_IP_RATE": "1000000/minute"}),
            clock=lambda: datetime.now(UTC), notices=InboxNotices())
        initialise(core, Actor.operator("test"))
        org = enrol(core, "vt-a", "veilig_thuis")
        with serve(create_app(core=core)) as base:
            yield base, org
        core.dispose()


@SCHEMA.parametrize()
@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much, HealthCheck.data_too_large])
def test_live_server_keeps_to_its_document(case: schemathesis.Case,
                                           live: tuple[str, Organisation]) -> None:
    base, org = live
    response = case.call(base_url=base, auth=Signed(org), timeout=30)
    case.validate_response(response, checks=CHECKS)


def test_every_body_field_is_described() -> None:
    schemas = openapi_document()["components"]["schemas"]
    undescribed = [f"{name}.{field}" for name, schema in schemas.items()
                   for field, spec in schema.get("properties", {}).items()
                   if not spec.get("description")]
    assert undescribed == []


def test_elements_are_documented_as_unpadded_base64url() -> None:
    schemas = openapi_document()["components"]["schemas"]
    element = schemas["MatchingKeyIn"]["properties"]["element"]
    assert element["type"] == "string"
    assert element["pattern"] == "^[A-Za-z0-9_-]{43}$"
    assert "base64url without padding" in element["description"]
    blinded = schemas["EvaluateRequest"]["properties"]["blinded_elements"]["items"]
    assert blinded["pattern"] == element["pattern"]
    assert schemas["EvaluateResponse"]["properties"]["evaluated_elements"]["items"]["type"] \
        == "string"


def test_the_document_says_how_requests_and_answers_are_signed() -> None:
    document = openapi_document()
    description = document["info"]["description"]
    for words in ('"@target-uri"', "as sent", '"@status"', '"signature";req', "broker-v1-response",
                  "WWW-Authenticate", "Retry-After", "base64url without padding"):
        assert words in description, words
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":  # the path's own parameters, not an operation
                continue
            for status, answer in operation["responses"].items():
                headers = answer.get("headers", {})
                assert {"Signature-Input", "Signature", "Content-Digest"} <= set(headers), \
                    (method, path, status)
            assert "WWW-Authenticate" in operation["responses"]["401"]["headers"]
            assert "Retry-After" in operation["responses"]["503"]["headers"]
