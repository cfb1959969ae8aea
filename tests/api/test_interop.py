"""Interoperability with an independent RFC 9421 implementation, both ways.

The other side is the ``http-message-signatures`` package (PyPI; its own parser, ``http-sf``, and
``cryptography`` for Ed25519). It signs and verifies any object with ``method``, ``url`` and
``headers`` (a request) or ``status_code``, ``headers`` and ``request`` (a response), so no HTTP
client library is needed.
"""

from __future__ import annotations

import datetime
import secrets
import time
from dataclasses import dataclass, field

import pytest
from broker_primitives.httpsig.signatures import (
    REQUEST_COMPONENTS,
    RequestMessage,
    SignatureError,
    sign_request,
    sign_response,
    verify_request,
    verify_response,
)
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    InvalidSignature,
    MappingKeyResolver,
    algorithms,
)
from nacl.signing import SigningKey, VerifyKey

from tests.replay_cache import InMemoryReplayCache

TARGET = "https://broker.example:8443/v1/lookups?batch=1"
BODY = b'{"matching_keys": ["AAAA"], "purpose": "safety"}'
RESPONSE_BODY = b'{"matches": []}'
REQUEST_BINDING = ('"@method";req', '"@target-uri";req', '"signature";req;key="sig1"')


@dataclass
class _Request:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Response:
    status_code: int
    request: _Request
    headers: dict[str, str] = field(default_factory=dict)


def _their_keys(key_id: str, key: SigningKey) -> MappingKeyResolver:
    return MappingKeyResolver(
        public_keys={key_id: Ed25519PublicKey.from_public_bytes(key.verify_key.encode())},
        private_keys={key_id: Ed25519PrivateKey.from_private_bytes(key.encode())},
    )


def _our_keys(key_id: str, key: SigningKey) -> dict[str, VerifyKey]:
    return {key_id: key.verify_key}


def _their_signed_request(key: SigningKey, body: bytes = BODY) -> _Request:
    request = _Request("POST", TARGET, {"Content-Type": "application/json"})
    created = datetime.datetime.now(datetime.UTC)
    HTTPMessageSigner(
        signature_algorithm=algorithms.ED25519, key_resolver=_their_keys("org-a", key)
    ).sign(
        request,
        key_id="org-a",
        created=created,
        expires=created + datetime.timedelta(seconds=300),
        nonce=secrets.token_urlsafe(16),
        label="sig1",
        tag="broker-v1",
        covered_component_ids=REQUEST_COMPONENTS,
        body=body,
    )
    return request


def test_their_signed_request_passes_our_verifier() -> None:
    key = SigningKey.generate()
    request = _their_signed_request(key)
    assert "Content-Digest" in request.headers
    verified = verify_request(
        method=request.method,
        target_uri=request.url,
        headers=request.headers,
        body=BODY,
        resolve_key=_our_keys("org-a", key).get,
        replay=InMemoryReplayCache(),
    )
    assert verified.key_id == "org-a"
    assert verified.covered_components == REQUEST_COMPONENTS


def test_their_signed_request_with_another_body_fails_our_verifier() -> None:
    key = SigningKey.generate()
    request = _their_signed_request(key)
    with pytest.raises(SignatureError) as caught:
        verify_request(
            method=request.method,
            target_uri=request.url,
            headers=request.headers,
            body=BODY + b" ",
            resolve_key=_our_keys("org-a", key).get,
            replay=InMemoryReplayCache(),
        )
    assert caught.value.code == "content-digest-mismatch"


def _our_signed_request(key: SigningKey) -> _Request:
    request = _Request("POST", TARGET, {"Content-Type": "application/json"})
    request.headers |= sign_request(
        method=request.method,
        target_uri=request.url,
        headers=request.headers,
        key_id="org-a",
        private_key=key,
        body=BODY,
    )
    return request


def _their_verifier(key_id: str, key: SigningKey) -> HTTPMessageVerifier:
    return HTTPMessageVerifier(
        signature_algorithm=algorithms.ED25519, key_resolver=_their_keys(key_id, key)
    )


def test_our_signed_request_passes_their_verifier() -> None:
    key = SigningKey.generate()
    request = _our_signed_request(key)
    (result,) = _their_verifier("org-a", key).verify(
        request, expect_tag="broker-v1", require_components=REQUEST_COMPONENTS, body=BODY
    )
    assert result.parameters["keyid"] == "org-a"
    assert result.parameters["alg"] == "ed25519"
    assert result.body == BODY  # they checked our Content-Digest against the body too


def test_their_verifier_refuses_our_signature_over_a_changed_request() -> None:
    key = SigningKey.generate()
    request = _our_signed_request(key)
    request.url = TARGET.replace("lookups", "involvements")
    with pytest.raises(InvalidSignature):
        _their_verifier("org-a", key).verify(request, expect_tag="broker-v1", body=BODY)


def test_our_signed_response_passes_their_verifier() -> None:
    org, broker = SigningKey.generate(), SigningKey.generate()
    request = _our_signed_request(org)
    response = _Response(200, request, {"Content-Type": "application/json"})
    response.headers |= sign_response(
        status=200,
        headers=response.headers,
        key_id="broker-1",
        private_key=broker,
        body=RESPONSE_BODY,
        request=RequestMessage(request.method, request.url, request.headers),
        request_label="sig1",
    )
    (result,) = _their_verifier("broker-1", broker).verify(
        response,
        expect_tag="broker-v1-response",
        require_components=("@status", "content-digest", "content-type", *REQUEST_BINDING),
        body=RESPONSE_BODY,
    )
    assert result.parameters["keyid"] == "broker-1"


def test_their_signed_response_passes_our_verifier() -> None:
    org, broker = SigningKey.generate(), SigningKey.generate()
    request = _their_signed_request(org)
    response = _Response(201, request, {"Content-Type": "application/json"})
    created = datetime.datetime.now(datetime.UTC)
    HTTPMessageSigner(
        signature_algorithm=algorithms.ED25519, key_resolver=_their_keys("broker-1", broker)
    ).sign(
        response,
        key_id="broker-1",
        created=created,
        expires=created + datetime.timedelta(seconds=300),
        label="sig1",
        tag="broker-v1-response",
        covered_component_ids=("@status", "content-digest", "content-type", *REQUEST_BINDING),
        body=RESPONSE_BODY,
    )
    verified = verify_response(
        status=201,
        headers=response.headers,
        body=RESPONSE_BODY,
        resolve_key=_our_keys("broker-1", broker).get,
        request=RequestMessage(request.method, request.url, request.headers),
        request_label="sig1",
        now=int(time.time()),
    )
    assert verified.key_id == "broker-1"
