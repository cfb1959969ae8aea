"""The transport's short path (each attempt straight to the httpx transport, signed by the
RequestSigner auth flow) sends what ``httpx.Client.send`` sends, header for header."""

from __future__ import annotations

import re

import httpx
import pytest
from broker_client.transport import RequestSigner, SignedTransport, _FieldLines
from broker_primitives.httpsig.components import combine_fields
from broker_primitives.httpsig.signatures import verify_request
from nacl.signing import SigningKey

from tests.replay_cache import InMemoryReplayCache

BASE_URL = "https://broker.example/prefix"
_VARYING = re.compile(r'created=\d+;expires=\d+;nonce="[^"]*"')


def _sent(short_path: bool, method: str, path: str, payload: object | None
          ) -> tuple[httpx.Request, SigningKey]:
    """The request one transport sends, through its short path or through httpx.Client."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        return httpx.Response(200, json={})

    key = SigningKey.generate()
    http = SignedTransport(BASE_URL, "org-a-1", key, broker_key=None,
                           transport=httpx.MockTransport(answer))
    if not short_path:
        http._transport = None  # as with a proxy from the environment
    try:
        http.request(method, path, payload, idempotency_key="key-1")
    finally:
        http.close()
    (request,) = seen
    return request, key


@pytest.mark.parametrize(("method", "path", "payload"), [
    ("POST", "/v1/lookups", {"purpose": "p", "é": [1, 2]}),
    ("GET", "/v1/involvements/0f8fad5b-d9cb-469f-a165-70867728950e?x=%20y", None),
    ("DELETE", "/v1/consents/abc?professional=a%2Fb", None),
    ("PATCH", "/v1/involvements/abc", {"state": "ended"}),
])
def test_the_short_path_sends_what_httpx_client_sends(method: str, path: str,
                                                      payload: object | None) -> None:
    short, short_key = _sent(True, method, path, payload)
    full, full_key = _sent(False, method, path, payload)
    assert (short.method, str(short.url), short.content) == (full.method, str(full.url),
                                                            full.content)
    # The same fields in the same order; only the signature's time, nonce and value differ.
    assert [name for name, _ in short.headers.raw] == [name for name, _ in full.headers.raw]
    for (name, value), (_, other) in zip(short.headers.raw, full.headers.raw, strict=True):
        if name == b"Signature":
            continue
        assert _VARYING.sub("", value.decode()) == _VARYING.sub("", other.decode()), name
    # And each verifies as the broker verifies it.
    for request, key in ((short, short_key), (full, full_key)):
        target = f"{request.url.scheme}://{request.headers['host']}{request.url.raw_path.decode()}"
        verify_request(method=request.method, target_uri=target, headers=request.headers,
                       body=request.content, resolve_key=lambda _id, k=key: k.verify_key,
                       replay=InMemoryReplayCache())


def test_a_proxy_from_the_environment_keeps_httpx_client_in_charge(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    http = SignedTransport(BASE_URL, "org-a-1", SigningKey.generate(), broker_key=None)
    try:
        assert http._transport is None  # each attempt goes through httpx.Client.send
    finally:
        http.close()


def test_the_signer_is_an_httpx_auth_that_signs_each_attempt_anew() -> None:
    key = SigningKey.generate()
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    with httpx.Client(transport=httpx.MockTransport(answer),
                      auth=RequestSigner("org-a-1", key)) as client:
        client.post("https://broker.example/v1/x", content=b"{}",
                    headers={"Content-Type": "application/json"})
        client.post("https://broker.example/v1/x", content=b"{}",
                    headers={"Content-Type": "application/json"})
    first, second = (request.headers["signature-input"] for request in seen)
    assert first != second  # a fresh nonce each time
    assert all(request.headers["content-digest"].startswith("sha-256=:") for request in seen)


def test_field_lines_read_as_httpx_headers_read() -> None:
    headers = httpx.Headers([("Signature", "sig1=:AA==:"), ("X-A", "1"), ("x-a", "2"),
                             ("Content-Type", "application/json"), ("X-B", "é".encode())])
    assert combine_fields(_FieldLines(headers)) == combine_fields(headers)


@pytest.mark.parametrize("short_path", [True, False])
def test_a_closed_transport_refuses_to_send_on_either_path(short_path: bool) -> None:
    sent: list[httpx.Request] = []
    http = SignedTransport(BASE_URL, "org-a-1", SigningKey.generate(), broker_key=None,
                           transport=httpx.MockTransport(
                               lambda request: sent.append(request) or httpx.Response(200)))
    if not short_path:
        http._transport = None  # as with a proxy from the environment
    http.close()
    with pytest.raises(RuntimeError, match="closed"):
        http.request("GET", "/v1/inbox")
    assert sent == []
