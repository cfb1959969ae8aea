"""Signature checks through the real HTTP stack: a live server on 127.0.0.1.

Every refusal has the right problem type and is counted, with its reason, for the audit log's
per-network-and-minute event (broker.oversight.refusals); no refusal writes an event of its own.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from broker_primitives import oprf
from broker_primitives.httpsig.signature_policy import REQUEST_COMPONENTS
from broker_primitives.httpsig.signatures import RequestMessage, verify_response
from sqlalchemy import select

from broker.api.schemas import b64url
from broker.app import create_app
from broker.audit.models import AuditEvent
from broker.audit.services import Actor
from broker.callers.keys import OrganisationKeys
from broker.core import Core
from broker.oversight.refusals import RefusalTally
from tests.api.live import Organisation, broker_public_key, call, enrol, send, serve, signed
from tests.uow import committed

EVALUATE = "/v1/pseudonyms/evaluate"
POINT = b64url(oprf.blind(b"bsn|123456782")[1])  # a blinded element, as a client sends it


@dataclass
class Live:
    """A running broker and an enrolled organisation."""

    base: str
    core: Core
    org: Organisation
    counted: Counter[str] = field(default_factory=Counter)


@pytest.fixture
def live(core: Core) -> Iterator[Live]:
    """A live broker on 127.0.0.1."""
    org = enrol(core, "vt-a", "veilig_thuis")
    with serve(create_app(core=core)) as base:
        yield Live(base, core, org)


def body() -> dict[str, list[str]]:
    """A valid evaluate request body."""
    return {"blinded_elements": [POINT]}


def rejections(core: Core) -> Counter[str]:
    """How many refusals were counted so far, per reason; and no event was written for one."""
    with core.session() as session:
        rows = session.execute(select(RefusalTally.reason, RefusalTally.count)
                               .filter_by(door="api")).all()
        assert session.scalars(select(AuditEvent).filter_by(outcome="refused")).all() == []
    return Counter({reason: count for reason, count in rows})


def named_keys(core: Core) -> set[str]:
    """The key ids named by counted refusals (only keys whose signature verified)."""
    with core.session() as session:
        return {k for k in session.scalars(select(RefusalTally.key_id)) if k}


def refused(live: Live, response: object, code: str, status: int = 401) -> None:
    """The response is the problem ``code`` and exactly that refusal was counted since."""
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    problem = response.json()  # type: ignore[attr-defined]
    assert problem["type"] == f"urn:broker:problem:{code}"
    assert problem["status"] == status
    live.counted[code] += 1
    assert rejections(live.core) == live.counted


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
    assert rejections(live.core) == Counter()


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
    # A key id travels in clear: a failed signature does not name it.
    assert named_keys(live.core) == set()
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
    assert named_keys(live.core) == set()
    refused(live, send("POST", *request), "signature-replayed")
    assert named_keys(live.core) == {live.org.key_id}  # it passed the Ed25519 check


def test_unknown_and_revoked_keys_get_the_same_answer(live: Live) -> None:
    unknown = send("POST", *signed(live.base, live.org, "POST", EVALUATE, body(),
                                   key_id="no-such-key"))
    refused(live, unknown, "signature-key-unknown")
    committed(live.core, OrganisationKeys).revoke(Actor.operator("test"), live.org.key_id)
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
