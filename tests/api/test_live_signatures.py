"""Signature checks through the real HTTP stack: a live server on 127.0.0.1.

Every refusal has the right problem type and leaves an ``auth:signature_rejected`` audit event.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from broker.api.keys import OrganisationKeys
from broker.api.schemas import b64url
from broker.api.signature_policy import REQUEST_COMPONENTS
from broker.api.signatures import RequestMessage, verify_response
from broker.app import create_app
from broker.audit.models import AuditEvent
from broker.audit.services import Actor
from broker.core import Core
from broker.pseudonyms import oprf
from tests.api.live import Organisation, broker_public_key, call, enrol, send, serve, signed

EVALUATE = "/v1/pseudonyms/evaluate"
POINT = b64url(oprf.blind(b"bsn|123456782")[1])  # a blinded element, as a client sends it


@dataclass
class Live:
    """A running broker and an enrolled organisation."""

    base: str
    core: Core
    org: Organisation


@pytest.fixture
def live(core: Core) -> Iterator[Live]:
    """A live broker on 127.0.0.1."""
    org = enrol(core, "vt-a", "veilig_thuis")
    with serve(create_app(core=core)) as base:
        yield Live(base, core, org)


def body() -> dict[str, list[str]]:
    """A valid evaluate request body."""
    return {"blinded_elements": [POINT]}


def rejections(core: Core) -> list[str | None]:
    """The reasons of the signature refusals recorded so far."""
    with core.unit_of_work() as session:
        return list(session.scalars(select(AuditEvent.reason)
                                    .filter_by(event_type="auth:signature_rejected")
                                    .order_by(AuditEvent.id)))


def refused(live: Live, response: object, code: str, status: int = 401) -> None:
    """The response is the problem ``code`` and the refusal was audited with that reason."""
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    problem = response.json()  # type: ignore[attr-defined]
    assert problem["type"] == f"urn:broker:problem:{code}"
    assert problem["status"] == status
    assert rejections(live.core)[-1] == code


def test_valid_request_and_signed_response(live: Live) -> None:
    url, headers, raw = signed(live.base, live.org, "POST", EVALUATE, body())
    response = send("POST", url, headers, raw)
    assert response.status_code == 200, response.text
    assert len(response.json()["evaluated_elements"]) == 1
    assert response.headers["RateLimit-Limit"]
    public = broker_public_key(live.core)
    verified = verify_response(
        status=response.status_code, headers=response.headers, body=response.content,
        resolve_key=lambda key_id: public if key_id == "broker-api-1" else None,
        request=RequestMessage("POST", url, headers), request_label="sig1")
    assert verified.key_id == "broker-api-1"
    assert rejections(live.core) == []


@pytest.mark.parametrize("missing", REQUEST_COMPONENTS)
def test_each_required_component_missing(live: Live, missing: str) -> None:
    components = [c for c in REQUEST_COMPONENTS if c != missing]
    response = send("POST", *signed(live.base, live.org, "POST", EVALUATE, body(),
                                    components=components))
    refused(live, response, "signature-component-missing")


def test_changed_body(live: Live) -> None:
    url, headers, _ = signed(live.base, live.org, "POST", EVALUATE, body())
    refused(live, send("POST", url, headers, b'{"blinded_elements": []}'),
            "content-digest-mismatch", 400)


def test_changed_path_method_and_authority(live: Live) -> None:
    url, headers, raw = signed(live.base, live.org, "POST", EVALUATE, body())
    refused(live, send("POST", url.replace("evaluate", "evaluate?x=1"), headers, raw),
            "signature-invalid")
    with live.core.unit_of_work() as session:
        event = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    # A key id travels in clear: a failed signature is not charged to its organisation.
    assert event is not None and event.organisation_id is None
    assert event.details["claimed_key_id"] == live.org.key_id
    url, headers, raw = signed(live.base, live.org, "GET", "/v1/involvements/x")
    refused(live, send("DELETE", url, headers, raw), "signature-invalid")
    url, headers, raw = signed(live.base, live.org, "POST", EVALUATE, body())
    not_routed = send("PUT", url, headers, raw)
    assert not_routed.status_code == 405
    assert not_routed.json()["type"] == "urn:broker:problem:method-not-allowed"
    url, headers, raw = signed(live.base, live.org, "POST", EVALUATE, body())
    refused(live, send("POST", url, {**headers, "Host": "broker.example"}, raw),
            "signature-invalid")


def test_expired_future_and_replayed(live: Live) -> None:
    now = int(time.time())
    refused(live, send("POST", *signed(live.base, live.org, "POST", EVALUATE, body(),
                                       created=now - 400)), "signature-expired")
    refused(live, send("POST", *signed(live.base, live.org, "POST", EVALUATE, body(),
                                       created=now + 120)), "signature-not-yet-valid")
    request = signed(live.base, live.org, "POST", EVALUATE, body())
    assert send("POST", *request).status_code == 200
    refused(live, send("POST", *request), "signature-replayed")


def test_unknown_and_revoked_keys_get_the_same_answer(live: Live) -> None:
    unknown = send("POST", *signed(live.base, live.org, "POST", EVALUATE, body(),
                                   key_id="no-such-key"))
    refused(live, unknown, "signature-key-unknown")
    OrganisationKeys(live.core).revoke(Actor.operator("test"), live.org.key_id)
    revoked = send("POST", *signed(live.base, live.org, "POST", EVALUATE, body()))
    refused(live, revoked, "signature-key-unknown")
    assert revoked.json()["detail"] == unknown.json()["detail"]
    assert "no-such-key" not in unknown.text and live.org.key_id not in revoked.text


def test_wrong_tag_and_no_signature(live: Live) -> None:
    refused(live, send("POST", *signed(live.base, live.org, "POST", EVALUATE, body(),
                                       tag="other-app")), "signature-tag")
    url, headers, raw = signed(live.base, live.org, "POST", EVALUATE, body())
    del headers["Signature"]
    assert send("POST", url, headers, raw).status_code in (400, 401)


def test_docs_and_openapi_are_public(live: Live) -> None:
    import httpx  # noqa: PLC0415

    document = httpx.get(live.base + "/v1/openapi.json").json()
    assert document["openapi"] == "3.1.0"
    assert "/v1/lookups" in document["paths"]
    page = httpx.get(live.base + "/v1/docs").text
    assert "POST /v1/lookups" in page and "<script src" not in page
    assert call(live.base, live.org, "GET", "/v1/involvements/nope").status_code == 404
