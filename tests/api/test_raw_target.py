"""RFC 9421 to the letter, through real servers (Werkzeug's and gunicorn):

- ``@target-uri`` is the request target *as received* (§2.2.2): percent-encodings, an encoded
  unreserved character and an empty query ("?") are signed and verified byte for byte, also
  when an independent implementation (``http-message-signatures``) signs;
- every ``/v1`` answer is signed by the broker — 404, 405 and refusals included — and bound to
  the request's signature (§2.4) whenever the request carries one;
- a 401 carries ``WWW-Authenticate`` (and ``Accept-Signature``, §5.1) naming what to send.
"""

from __future__ import annotations

import datetime
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from broker_client.transport import SignedTransport
from broker_primitives.httpsig.signatures import (
    REQUEST_COMPONENTS,
    RequestMessage,
    SignatureError,
    verify_response,
)
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from http_message_signatures import HTTPMessageSigner, MappingKeyResolver, algorithms

from broker.app import create_app
from broker.audit.services import Actor
from broker.config import Settings
from broker.core import Core
from broker.notifications.notices import InboxNotices
from broker.setup import initialise
from tests.api.live import Organisation, broker_public_key, enrol, send, serve, signed
from tests.api.processes import gunicorn
from tests.conftest import OPEN_POLICY

#: Targets a correct client may send; each must pass as signed (the last ones: answers after
#: the signature was accepted, so 404 from the service, not 401).
ACCEPTED = [
    "/v1/%69nbox?professional=vt-a-p",  # %69 = "i", in the path
    "/v1/inbox?professional=%76t-a-p",  # %76 = "v", in the query
    "/v1/inbox?professional=vt-a-p&%41=1",  # %41 = "A"
    "/v1/inbox?professional=vt-a-p&tilde=%7E",  # an unreserved character, still encoded
    "/v1/inbox?professional=vt-a-p&slash=%2F",
    "/v1/inbox?professional=vt-a-p&note=%C3%A9",  # é in UTF-8
    "/v1/inbox?professional=vt-a-p&note=caf%c3%a9",  # lower-case hex digits
]
NOT_FOUND = [
    "/v1/involvements/00000000-0000-4000-8000-000000000000?",  # an empty query
    "/v1/involvements/%30%30000000-0000-4000-8000-000000000000",
]


@dataclass
class Live:
    """A running broker and an enrolled organisation."""

    base: str
    core: Core
    org: Organisation


@pytest.fixture(scope="module", params=["werkzeug", "gunicorn"])
def live(request: pytest.FixtureRequest) -> Iterator[Live]:
    """The broker behind Werkzeug's development server or behind gunicorn (one per module)."""
    with tempfile.TemporaryDirectory() as home:
        core = Core(Settings.from_env({"BROKER_HOME": home,
                                       "BROKER_POLICY_DIR": str(OPEN_POLICY)}),
                    notices=InboxNotices())
        initialise(core, Actor.operator("test"))
        org = enrol(core, "vt-a", "veilig_thuis")
        if request.param == "werkzeug":
            with serve(create_app(core=core)) as base:
                yield Live(base, core, org)
        else:
            with gunicorn(core.settings) as server:
                yield Live(server.base, core, org)
        core.dispose()


def verify_bound(live: Live, response: httpx.Response, method: str, url: str,
                 headers: dict[str, str]) -> None:
    """The broker signed ``response`` and bound it to this request and its signature."""
    public = broker_public_key(live.core)
    verify_response(status=response.status_code, headers=response.headers,
                    body=response.content,
                    resolve_key=lambda key_id: public if key_id == "broker-api-1" else None,
                    request=RequestMessage(method, url, headers), request_label="sig1")


@pytest.mark.parametrize("path", ACCEPTED)
def test_a_percent_encoded_target_is_verified_as_received(live: Live, path: str) -> None:
    url, headers, raw = signed(live.base, live.org, "GET", path)
    response = send("GET", url, headers, raw)
    assert response.status_code == 200, response.text
    assert response.json() == {"messages": []}
    verify_bound(live, response, "GET", url, headers)


@pytest.mark.parametrize("path", NOT_FOUND)
def test_an_empty_query_and_an_encoded_digit_reach_the_service(live: Live, path: str) -> None:
    url, headers, raw = signed(live.base, live.org, "GET", path)
    response = send("GET", url, headers, raw)
    assert response.status_code == 404, response.text
    assert response.json()["type"] == "urn:broker:problem:not-found"
    verify_bound(live, response, "GET", url, headers)


def test_a_target_changed_in_transit_is_refused(live: Live) -> None:
    url, headers, raw = signed(live.base, live.org, "GET", "/v1/inbox?professional=vt-a-p")
    changed = url.replace("vt-a-p", "%76t-a-p")  # the same resource, another target
    response = send("GET", changed, headers, raw)
    assert response.status_code == 401
    assert response.json()["type"] == "urn:broker:problem:signature-invalid"
    verify_bound(live, response, "GET", changed, headers)


def test_404_and_405_are_signed_and_bound(live: Live) -> None:
    url, headers, raw = signed(live.base, live.org, "GET", "/v1/no-such-thing?x=%41")
    missing = send("GET", url, headers, raw)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    verify_bound(live, missing, "GET", url, headers)
    url, headers, raw = signed(live.base, live.org, "PUT", "/v1/lookups")
    wrong_method = send("PUT", url, headers, raw)
    assert wrong_method.status_code == 405
    verify_bound(live, wrong_method, "PUT", url, headers)


def test_an_unsigned_request_gets_a_signed_401_with_a_challenge(live: Live) -> None:
    response = httpx.get(live.base + "/v1/inbox?professional=vt-a-p")
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Signature ")
    assert 'tag="broker-v1"' in challenge and 'alg="ed25519"' in challenge
    assert 'error="signature-missing"' in challenge
    assert response.headers["accept-signature"] == (
        'sig1=("@method" "@target-uri" "@authority" "content-digest" "content-type")'
        ';created;expires;alg="ed25519";tag="broker-v1"')
    public = broker_public_key(live.core)
    # No request signature to bind to; the request's method and target are bound all the same.
    verify_response(status=401, headers=response.headers, body=response.content,
                    resolve_key=lambda key_id: public if key_id == "broker-api-1" else None,
                    request=RequestMessage("GET", str(response.request.url),
                                           response.request.headers))


def test_each_refusal_is_bound_to_the_refused_signature(live: Live) -> None:
    url, headers, raw = signed(live.base, live.org, "GET", "/v1/inbox?professional=vt-a-p",
                               key_id="no-such-key")
    unknown = send("GET", url, headers, raw)
    assert unknown.status_code == 401
    assert 'error="signature-key-unknown"' in unknown.headers["www-authenticate"]
    verify_bound(live, unknown, "GET", url, headers)
    # A refusal signed for one request does not verify as the answer to another.
    other_url, other_headers, _ = signed(live.base, live.org, "GET",
                                         "/v1/inbox?professional=vt-a-p", key_id="no-such-key")
    with pytest.raises(SignatureError):
        verify_bound(live, unknown, "GET", other_url, other_headers)


@dataclass
class _Request:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)


@pytest.mark.parametrize("path", [*ACCEPTED, "/v1/inbox?professional=vt-a-p&empty="])
def test_targets_signed_by_an_independent_implementation_are_accepted(live: Live,
                                                                      path: str) -> None:
    key = live.org.key
    request = _Request("GET", live.base + path, {"Content-Type": "application/json"})
    created = datetime.datetime.now(datetime.UTC)
    HTTPMessageSigner(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(
            public_keys={live.org.key_id: Ed25519PublicKey.from_public_bytes(
                key.verify_key.encode())},
            private_keys={live.org.key_id: Ed25519PrivateKey.from_private_bytes(key.encode())}),
    ).sign(request, key_id=live.org.key_id, created=created,
           expires=created + datetime.timedelta(seconds=300), nonce=secrets.token_urlsafe(16),
           label="sig1", tag="broker-v1", covered_component_ids=REQUEST_COMPONENTS, body=b"")
    response = send("GET", request.url, request.headers, b"")
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", [*ACCEPTED, NOT_FOUND[0]])
def test_the_python_client_signs_the_target_it_sends(live: Live, path: str) -> None:
    transport = SignedTransport(live.base, live.org.key_id, live.org.key,
                                broker_key=broker_public_key(live.core), retries=0)
    try:
        if path in ACCEPTED:
            assert transport.request("GET", path).data == {"messages": []}
        else:
            with pytest.raises(Exception, match="404") as caught:
                transport.request("GET", path)
            assert type(caught.value).__name__ == "BrokerAPIError"
    finally:
        transport.close()
