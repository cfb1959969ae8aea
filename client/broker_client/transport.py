"""Signed requests and verified responses over httpx, with safe retries (issue 4 §2).

Rules this module guarantees:

- Every request is signed (RFC 9421, Ed25519) by :class:`RequestSigner`, an
  :class:`httpx.Auth`, over ``@method``, ``@target-uri``, ``@authority``,
  ``content-digest`` and ``content-type`` with ``created``, ``expires`` (``created`` + 300 s),
  a fresh 256-bit ``nonce``, ``keyid`` and ``tag="broker-v1"``. Every request, GET and DELETE
  included, carries ``Content-Type: application/json`` and the ``Content-Digest`` of its body
  (RFC 9530; ``b""`` when there is none). The ``@target-uri`` signed is the target httpx sends,
  byte for byte (scheme, the ``Host`` it sends, and the raw path and query: RFC 9421 §2.2.2), so
  a percent-encoded path or query verifies as sent.
- Each attempt is signed anew, so a retry never reuses a nonce (the broker refuses replays).
- A POST always carries an ``Idempotency-Key``: the caller's, or a random UUID; the same key is sent
  on every retry of that call, so a retry after a lost response returns the first result instead
  of acting twice.
- Retries happen only on network errors (:class:`httpx.TransportError`, timeouts included) and on
  502, 503 and 504 (waiting ``Retry-After`` seconds when the broker names them, at most 30), and
  on 429 when ``Retry-After`` asks for a short wait; otherwise with exponential back-off and
  jitter. Anything else is answered at once. A retried POST carries the same
  ``Idempotency-Key`` and the same body, so the broker acts at most once.
- When the broker's public key is known, no response content is used before its signature is
  verified (tag ``broker-v1-response``, ``@status``, ``content-digest``, ``content-type`` and the
  request binding ``"@method";req``, ``"@target-uri";req``, ``"signature";req;key="sig1"``):
  an unsigned, badly signed or unbound response raises :class:`ResponseVerificationError`,
  whatever its status — the broker binds every answer, refusals included, to the request's
  signature, so a refusal recorded for one request cannot be passed off as the answer to
  another. ``Accept-Encoding: identity`` keeps the digest over the bytes as sent.
- A non-2xx response becomes a :class:`BrokerAPIError` built from its RFC 9457 problem details.
- Each attempt goes straight to the httpx transport (the one given, or the client's own
  ``httpx.HTTPTransport`` when the environment names no proxy), driving the signer's auth flow as
  ``httpx.Client.send`` does but without the layers a signed JSON call never uses (cookies,
  redirects, event hooks): the same request, header for header, for about half the CPU. With a
  proxy from the environment, requests go through ``httpx.Client.send`` as before.
- Nothing here logs; exception messages carry method, path, status and the broker's problem
  texts, never a request body.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any
from urllib.request import getproxies

import httpx
from broker_primitives.httpsig.signature_policy import (
    REQUEST_COMPONENTS,
    REQUEST_TAG,
    RESPONSE_POLICY,
    SignaturePolicy,
)
from broker_primitives.httpsig.signatures import (
    RequestMessage,
    SignatureError,
    sign_request,
    verify_response,
)
from nacl.signing import SigningKey, VerifyKey

from broker_client.errors import (
    BrokerAPIError,
    BrokerUnavailableError,
    ResponseVerificationError,
    UnexpectedResponseError,
)

JSON = "application/json"
PROBLEM_JSON = "application/problem+json"
DEFAULT_BROKER_KEY_ID = "broker-api-1"
SIGNATURE_LABEL = "sig1"
RETRY_STATUSES = frozenset({502, 503, 504})
MAX_BACKOFF = 30.0
MAX_CACHED_URLS = 32  # parsed URLs kept per transport (the hot paths are few)

#: The header fields a request signature reads: those of REQUEST_COMPONENTS, and Content-Digest.
SIGNED_FIELDS = tuple(dict.fromkeys(
    [*(name for name in REQUEST_COMPONENTS if not name.startswith("@")), "content-digest"]))

#: The header fields of every request (the client adds Idempotency-Key to a POST).
REQUEST_HEADERS = {
    "Content-Type": JSON,
    "Accept": f"{JSON}, {PROBLEM_JSON}",
    "Accept-Encoding": "identity",
    "User-Agent": "broker-client/1",
}

#: An idempotency key, or a function that derives one from the exact request body.
IdempotencyKey = str | Callable[[bytes], str]


@dataclass(frozen=True)
class Reply:
    """A verified 2xx response: its status, its JSON content and how many attempts it took."""

    status: int
    data: Any
    attempts: int


def encode_json(payload: object) -> bytes:
    """The request body for ``payload``: compact UTF-8 JSON, the same bytes for the same value."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class RequestSigner(httpx.Auth):
    """Signs each request with the organisation's key (RFC 9421; see the module's rules), as an
    :class:`httpx.Auth`: every attempt of a request passes through it and is signed anew."""

    requires_request_body = True

    def __init__(self, key_id: str, private_key: SigningKey, tag: str = REQUEST_TAG) -> None:
        """Sign as ``key_id`` with ``private_key`` under signature tag ``tag``."""
        self.key_id = key_id
        self._private_key = private_key
        self._tag = tag

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add ``Content-Digest``, ``Signature-Input`` and ``Signature`` to ``request``."""
        request.headers.update(
            sign_request(
                method=request.method,
                target_uri=sent_target(request),
                headers=_covered_fields(request.headers),
                key_id=self.key_id,
                private_key=self._private_key,
                body=request.content,
                label=SIGNATURE_LABEL,
                tag=self._tag,
            )
        )
        yield request


class SignedTransport:
    """Sends signed requests to one broker and returns verified, decoded responses."""

    def __init__(
        self,
        base_url: str,
        key_id: str,
        private_key: SigningKey,
        *,
        broker_key: VerifyKey | None,
        broker_key_id: str = DEFAULT_BROKER_KEY_ID,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.5,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        request_tag: str = REQUEST_TAG,
        response_policy: SignaturePolicy = RESPONSE_POLICY,
    ) -> None:
        """Prepare an httpx client for ``base_url`` (scheme, host, port and optional path).

        ``request_tag`` and ``response_policy`` are the broker's (``broker-v1``,
        ``broker-v1-response``) unless another server is called (the pseudonym service signs
        under tags of its own: :mod:`broker_client.evaluation`)."""
        if retries < 0:
            raise ValueError("retries must be 0 or more")
        self.base_url = base_url.rstrip("/")
        self.key_id = key_id
        self._signer = RequestSigner(key_id, private_key, request_tag)
        self._broker_key = broker_key
        self._broker_key_id = broker_key_id
        self.retries = retries
        self.backoff = backoff
        self._sleep = sleep
        self._response_policy = response_policy
        if transport is None and not getproxies():
            transport = httpx.HTTPTransport()  # what httpx.Client would make: no proxy to mount
        # None: a proxy from the environment; requests then go through httpx.Client.send.
        self._transport = transport
        self._http = httpx.Client(timeout=timeout, transport=transport, follow_redirects=False,
                                  auth=self._signer)
        self._extensions = {"timeout": httpx.Timeout(timeout).as_dict()}
        self._fields: dict[str, list[tuple[bytes, bytes]]] = {}
        self._urls: dict[str, httpx.URL] = {}

    def close(self) -> None:
        """Close the underlying connections."""
        self._http.close()

    def request(
        self,
        method: str,
        path: str,
        payload: object | None = None,
        *,
        idempotency_key: IdempotencyKey | None = None,
    ) -> Reply:
        """Send ``payload`` as JSON (none: an empty body) and return the verified 2xx reply.

        Raises:
            BrokerAPIError: the broker answered with a problem (non-2xx).
            ResponseVerificationError: the response was not signed by the broker's key.
            UnexpectedResponseError: a verified 2xx response whose content is not JSON.
            BrokerUnavailableError: every attempt failed on the network or with 502/503/504.
        """
        body = b"" if payload is None else encode_json(payload)
        headers = dict(REQUEST_HEADERS)
        if method == "POST":
            key = idempotency_key or str(uuid.uuid4())
            headers["Idempotency-Key"] = key if isinstance(key, str) else key(body)
        url = f"{self.base_url}{path}"
        attempts = 0
        failure = "no attempt was made"
        while True:
            attempts += 1
            try:
                request, response = self._send(method, url, headers, body)
            except httpx.TransportError as exc:
                failure = f"{type(exc).__name__}: {exc}"
                if attempts > self.retries:
                    break
                self._sleep(self._delay(attempts))
                continue
            wait = self._retry_wait(response, attempts)
            if wait is None:
                return self._reply(method, path, request, response, attempts)
            failure = f"the broker answered {response.status_code}"
            if attempts > self.retries:
                # Out of retries: report what the broker said, if it really said it.
                return self._reply(method, path, request, response, attempts)
            self._sleep(wait)
        raise BrokerUnavailableError(
            f"{method} {path} failed after {attempts} attempt(s): {failure}"
        )

    # -- signing and verification ------------------------------------------------------------

    def _send(self, method: str, url: str, headers: dict[str, str], body: bytes
              ) -> tuple[httpx.Request, httpx.Response]:
        """One attempt: a new request, signed anew (new ``created`` and ``nonce``), sent, and
        its response read."""
        if self._transport is None:
            request = self._http.build_request(method, url, content=body, headers=headers)
            response = self._http.send(request)  # the client signs it (auth=self._signer)
            return request, response
        if self._http.is_closed:  # as httpx.Client.send refuses (its transport would reopen)
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        url_object, fields = self._template(method, url, headers)
        request = httpx.Request(method, url_object, headers=fields, content=body,
                                extensions=dict(self._extensions))
        # As httpx.Client.send drives an auth flow (the signer's yields the request once).
        flow = self._signer.sync_auth_flow(request)
        request = next(flow)
        response = self._transport.handle_request(request)
        try:
            response.read()
            flow.send(response)
        except StopIteration:
            pass
        except BaseException:
            response.close()
            raise
        return request, response

    def _template(self, method: str, url: str, headers: dict[str, str]
                  ) -> tuple[httpx.URL, list[tuple[bytes, bytes]]]:
        """The URL and header fields ``httpx.Client.build_request`` gives this request: the
        client's defaults merged with ``headers``, in its order. Worked out once per method
        (and the URL once per path, for the first paths called)."""
        fields = self._fields.get(method)
        if fields is None:
            built = self._http.build_request(method, url, content=b"",
                                             headers={**REQUEST_HEADERS, "Idempotency-Key": "-"})
            # Host and Content-Length are added by httpx.Request itself, as before.
            fields = self._fields[method] = [
                (name, value) for name, value in built.headers.raw
                if name.lower() not in (b"host", b"content-length", b"idempotency-key")]
        url_object = self._urls.get(url)
        if url_object is None:
            url_object = self._http.build_request(method, url).url
            if len(self._urls) < MAX_CACHED_URLS:
                self._urls[url] = url_object
        if "Idempotency-Key" in headers:
            fields = [*fields, (b"Idempotency-Key", headers["Idempotency-Key"].encode("ascii"))]
        return url_object, fields

    def _verify(self, method: str, path: str, request: httpx.Request,
                response: httpx.Response) -> None:
        if self._broker_key is None:
            return
        broker_key, broker_key_id = self._broker_key, self._broker_key_id

        def resolve(key_id: str) -> VerifyKey | None:
            return broker_key if key_id == broker_key_id else None

        bound = RequestMessage(request.method, sent_target(request), _FieldLines(request.headers))
        try:
            verify_response(status=response.status_code, headers=_FieldLines(response.headers),
                            body=response.content, resolve_key=resolve, request=bound,
                            request_label=SIGNATURE_LABEL, policy=self._response_policy)
        except SignatureError as error:
            raise ResponseVerificationError(
                f"the response ({response.status_code}) to {method} {path} is not signed by "
                f"the broker's key for this request: {error.code}: {error.detail}"
            ) from None

    def _reply(self, method: str, path: str, request: httpx.Request, response: httpx.Response,
               attempts: int) -> Reply:
        self._verify(method, path, request, response)
        if not 200 <= response.status_code < 300:
            raise problem_error(response, attempts)
        try:
            data = json.loads(response.content)
        except ValueError:
            raise UnexpectedResponseError(
                f"the response ({response.status_code}) to {method} {path} is not JSON"
            ) from None
        return Reply(response.status_code, data, attempts)

    # -- retries -----------------------------------------------------------------------------

    def _delay(self, attempts: int) -> float:
        """Exponential back-off with jitter: about backoff·2^(n-1), at most MAX_BACKOFF."""
        base = min(MAX_BACKOFF, self.backoff * 2.0 ** (attempts - 1))
        return base * (0.5 + random.random() / 2)  # noqa: S311 - jitter needs no secrecy

    def _retry_wait(self, response: httpx.Response, attempts: int) -> float | None:
        """How long to wait before retrying this response, or None when it is final."""
        status = response.status_code
        retry_after = _retry_after(response)
        if status in RETRY_STATUSES:
            return self._delay(attempts) if retry_after is None else min(retry_after, MAX_BACKOFF)
        if status == 429 and retry_after is not None and retry_after <= MAX_BACKOFF:
            return retry_after
        return None


class _FieldLines:
    """httpx header fields as the signature layer reads them: each field line as (name, value),
    decoded with the headers' encoding as ``httpx.Headers.items()`` decodes them, but once and
    without joining repeated lines first (the signature layer trims and joins them itself, as
    RFC 9421 §2.1 says)."""

    __slots__ = ("_lines",)

    def __init__(self, headers: httpx.Headers) -> None:
        encoding = headers.encoding
        self._lines = [(name.decode(encoding), value.decode(encoding))
                       for name, value in headers.raw]

    def items(self) -> list[tuple[str, str]]:
        """Each field line as (name, value)."""
        return self._lines


def _covered_fields(headers: httpx.Headers) -> httpx.Headers | dict[str, str]:
    """The request's header fields a signature of :data:`REQUEST_COMPONENTS` can read (the
    fields it covers, and Content-Digest, which it adds or checks); all of them when one of
    those comes in several lines, for the signature layer to join as RFC 9421 §2.1 says."""
    fields = {}
    for name in SIGNED_FIELDS:
        lines = headers.get_list(name)
        if len(lines) > 1:
            return headers
        if lines:
            fields[name] = lines[0]
    return fields


def sent_target(request: httpx.Request) -> str:
    """The request's ``@target-uri``: scheme, the ``Host`` sent and the raw path and query."""
    url = request.url
    return f"{url.scheme}://{request.headers['Host']}{url.raw_path.decode('ascii')}"


def _retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (RFC 9110 §10.2.3), when given as a number."""
    value = response.headers.get("retry-after", "").strip()
    return float(value) if value.isdigit() else None


def problem_error(response: httpx.Response, attempts: int = 1) -> BrokerAPIError:
    """A :class:`BrokerAPIError` from an RFC 9457 problem response (or a plain error status)."""
    status = response.status_code
    try:
        problem = json.loads(response.content)
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        problem = {}
    errors = problem.get("errors")
    return BrokerAPIError(
        status,
        str(problem.get("type") or "about:blank"),
        str(problem.get("title") or response.reason_phrase or "error"),
        str(problem["detail"]) if problem.get("detail") is not None else None,
        {
            str(field): messages if isinstance(messages, list) else [messages]
            for field, messages in errors.items()
        }
        if isinstance(errors, dict)
        else None,
        attempts=attempts,
    )
