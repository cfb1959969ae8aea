"""An in-memory broker behind httpx.MockTransport that keeps the API contract honestly.

It verifies every request signature with the server's own ``verify_request`` (replay cache
included), evaluates blinded elements with the real OPRF under a random key, signs every
response with ``sign_response`` bound to its request, honours ``Idempotency-Key`` on POSTs, and
records every request exactly as received, so tests can assert on what the broker saw.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx
from broker_client.codec import b64url_decode, b64url_encode
from broker_primitives import oprf
from broker_primitives.httpsig.signatures import (
    RequestMessage,
    SignatureError,
    request_signature_label,
    sign_response,
    verify_request,
)
from nacl.signing import SigningKey, VerifyKey

from tests.replay_cache import InMemoryReplayCache

BROKER_KEY_ID = "broker-api-1"
_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,200}")
_INVOLVEMENT_PATH = re.compile(r"/v1/involvements/([0-9a-f-]{36})")


class SimulatedCrash(Exception):
    """Raised by the transport to simulate the client process dying mid-request."""


class Problem(Exception):
    """A problem response."""

    def __init__(self, status: int, code: str, detail: str,
                 errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.errors = status, code, detail, errors


@dataclass
class Received:
    """One request as the broker received it."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes

    def text(self) -> str:
        """Everything the broker saw, as one string (for "no raw identifier" checks)."""
        return "\n".join([self.method, self.url, json.dumps(self.headers),
                          self.body.decode("utf-8", "replace")])


@dataclass
class StoredInvolvement:
    """An involvement and its matching keys (N values; a real broker stores b·N)."""

    organisation: str
    data: dict[str, Any]
    keys: set[tuple[str, bytes]]


@dataclass
class FakeBroker:
    """The fake. ``today`` is fixed so dates are predictable."""

    today: date = date(2026, 3, 2)
    broker_key: SigningKey = field(default_factory=SigningKey.generate)
    oprf_key: bytes = field(default_factory=oprf.generate_key)
    key_epoch: int = 1
    professionals: set[str] | None = None
    received: list[Received] = field(default_factory=list)
    involvements: dict[str, StoredInvolvement] = field(default_factory=dict)
    #: After handling this many requests in total, raise SimulatedCrash (the response is lost).
    crash_after: int | None = None
    #: Lose the response of the next N requests (after handling them) with a network error.
    lose_responses: int = 0
    #: ... only of requests whose path starts with this.
    lose_path: str = "/"
    #: Answer the next N requests with this status, without handling them.
    unavailable: int = 0
    unavailable_status: int = 503
    unavailable_headers: dict[str, str] = field(default_factory=dict)
    #: Changes a signed response before the client sees it.
    tamper: Callable[[httpx.Response], httpx.Response] | None = None
    sign_responses: bool = True
    handled: int = 0
    _keys: dict[str, tuple[VerifyKey, str]] = field(default_factory=dict)
    _replay: InMemoryReplayCache = field(default_factory=InMemoryReplayCache)
    _idempotent: dict[tuple[str, str], tuple[str, int, Any]] = field(default_factory=dict)

    # -- set-up ------------------------------------------------------------------------------

    def add_key(self, key_id: str, organisation: str) -> SigningKey:
        """Register a new organisation key; returns its private key."""
        key = SigningKey.generate()
        self._keys[key_id] = (key.verify_key, organisation)
        return key

    @property
    def public_key_hex(self) -> str:
        """The broker's response key as a client is given it."""
        return self.broker_key.verify_key.encode().hex()

    def transport(self) -> httpx.MockTransport:
        """The transport to give the client."""
        return httpx.MockTransport(self.handle)

    def requests_to(self, method: str, path: str) -> list[Received]:
        """Received requests with this method whose URL path starts with ``path``."""
        return [r for r in self.received
                if r.method == method and httpx.URL(r.url).path.startswith(path)]

    def active(self, organisation: str | None = None) -> list[dict[str, Any]]:
        """Active involvements (of one organisation)."""
        return [i.data for i in self.involvements.values() if i.data["state"] == "active"
                and (organisation is None or i.organisation == organisation)]

    # -- the transport -----------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Receive, verify, route, sign; then maybe crash or lose the response."""
        body = request.read()
        self.received.append(Received(request.method, str(request.url),
                                      dict(request.headers.items()), body))
        if self.unavailable:
            self.unavailable -= 1
            return httpx.Response(self.unavailable_status, text="unavailable",
                                  headers=self.unavailable_headers)
        organisation = None
        try:
            organisation = self._authenticate(request, body)
            status, payload = self._idempotent_route(request, organisation, body)
        except Problem as problem:
            status, payload = problem.status, {
                "type": f"urn:broker:problem:{problem.code}", "title": problem.code,
                "status": problem.status, "detail": problem.detail,
            } | ({"errors": problem.errors} if problem.errors else {})
        self.handled += 1
        # Like the broker: every answer, refusals included, is bound to the request's signature.
        response = self._response(request, status, payload)
        if self.crash_after is not None and self.handled >= self.crash_after:
            raise SimulatedCrash(f"crashed after request {self.handled}")
        if self.lose_responses and request.url.path.startswith(self.lose_path):
            self.lose_responses -= 1
            raise httpx.ReadTimeout("response lost", request=request)
        return self.tamper(response) if self.tamper else response

    def _response(self, request: httpx.Request, status: int, payload: Any) -> httpx.Response:
        content = json.dumps(payload).encode()
        kind = "application/json" if status < 400 else "application/problem+json"
        headers = {"Content-Type": kind}
        if self.sign_responses:
            headers |= sign_response(
                status=status, headers=headers, key_id=BROKER_KEY_ID,
                private_key=self.broker_key, body=content,
                request=RequestMessage(request.method, str(request.url), request.headers),
                request_label=request_signature_label(request.headers),
            )
        return httpx.Response(status, content=content, headers=headers)

    def _authenticate(self, request: httpx.Request, body: bytes) -> str:
        def resolve(key_id: str) -> VerifyKey | None:
            found = self._keys.get(key_id)
            return None if found is None else found[0]

        try:
            verified = verify_request(method=request.method, target_uri=str(request.url),
                                      headers=request.headers, body=body, resolve_key=resolve,
                                      replay=self._replay)
        except SignatureError as exc:
            raise Problem(exc.status, exc.code, exc.detail) from None
        if request.headers.get("content-type") != "application/json":
            raise Problem(415, "unsupported-media-type", "send application/json")
        return self._keys[verified.key_id][1]

    def _idempotent_route(self, request: httpx.Request, organisation: str, body: bytes
                          ) -> tuple[int, Any]:
        key = request.headers.get("idempotency-key")
        if request.method != "POST" or key is None:
            return self._route(request, organisation, body)
        if _IDEMPOTENCY_KEY.fullmatch(key) is None:
            raise Problem(400, "idempotency-key-invalid", "bad Idempotency-Key")
        digest = hashlib.sha256(body).hexdigest()
        stored = self._idempotent.get((organisation, key))
        if stored is not None:
            if stored[0] != digest:
                raise Problem(422, "idempotency-key-reused", "another body used this key")
            return stored[1], stored[2]
        status, payload = self._route(request, organisation, body)
        if status < 500:
            self._idempotent[(organisation, key)] = (digest, status, payload)
        return status, payload

    # -- the API -----------------------------------------------------------------------------

    def _route(self, request: httpx.Request, organisation: str, body: bytes) -> tuple[int, Any]:
        path = request.url.path
        data: Any = json.loads(body) if body else None
        if request.method == "POST" and path == "/v1/pseudonyms/evaluate":
            return 200, self._evaluate(data)
        if request.method == "POST" and path == "/v1/involvements":
            items = data["involvements"]
            if not 1 <= len(items) <= 1000:
                raise Problem(422, "validation", "1 to 1000 involvements")
            for index, item in enumerate(items):
                self._check_item(item, f"involvements.{index}")
            return 201, {"involvements": [self._create(organisation, item) for item in items]}
        if request.method == "POST" and path == "/v1/lookups":
            return 200, self._lookup(organisation, data)
        match = _INVOLVEMENT_PATH.fullmatch(path)
        if match is None:
            raise Problem(404, "not-found", "no such resource")
        stored = self.involvements.get(match.group(1))
        if stored is None or stored.organisation != organisation:
            raise Problem(404, "not-found", "no such involvement")
        if request.method == "GET":
            return 200, stored.data
        if request.method == "DELETE":
            return 200, self._end(stored, "concern_resolved")
        if request.method == "PATCH":
            return 200, self._patch(stored, data)
        raise Problem(405, "method-not-allowed", "method not allowed")

    def _evaluate(self, data: Any) -> dict[str, Any]:
        elements = [b64url_decode(e) for e in data["blinded_elements"]]
        if not 1 <= len(elements) <= 1000:
            raise Problem(422, "batch-size", "1 to 1000 elements")
        evaluated = oprf.blind_evaluate_batch(self.oprf_key, elements)
        return {"evaluated_elements": [b64url_encode(e) for e in evaluated],
                "key_epoch": self.key_epoch}

    def _keys_of(self, data: Any, where: str) -> set[tuple[str, bytes]]:
        keys = set()
        for key in data["matching_keys"]:
            element = b64url_decode(key["element"])
            oprf.validate_element(element)
            if key["category"] not in ("person", "address") or key["key_epoch"] != self.key_epoch:
                raise Problem(422, "invalid-pseudonym", "bad matching key",
                              {f"{where}.matching_keys": ["bad matching key"]})
            keys.add((key["category"], element))
        return keys

    def _check_item(self, item: Any, where: str) -> None:
        if self.professionals is not None and item["professional"] not in self.professionals:
            raise Problem(422, "validation", "One or more fields are invalid.",
                          {f"{where}.professional": ["Unknown professional."]})
        if not item["matching_keys"]:
            raise Problem(422, "validation", "no matching keys",
                          {f"{where}.matching_keys": ["Give at least one."]})
        self._keys_of(item, where)

    def _create(self, organisation: str, item: Any) -> dict[str, Any]:
        ends_on = item.get("ends_on") or (self.today + timedelta(days=365)).isoformat()
        keys = self._keys_of(item, "involvement")
        data = {"id": str(uuid.uuid4()), "organisation": organisation,
                "professional": item["professional"], "purpose": item["purpose"],
                "starts_on": self.today.isoformat(), "ends_on": ends_on, "state": "active",
                "end_reason": None, "key_count": len(keys)}
        self.involvements[data["id"]] = StoredInvolvement(organisation, data, keys)
        return data

    @staticmethod
    def _require_active(stored: StoredInvolvement) -> None:
        if stored.data["state"] != "active":
            raise Problem(409, "conflict", "This involvement has already ended.")

    def _end(self, stored: StoredInvolvement, reason: str) -> dict[str, Any]:
        self._require_active(stored)
        stored.data |= {"state": "ended", "end_reason": reason,
                        "ends_on": min(stored.data["ends_on"], self.today.isoformat())}
        return stored.data

    def _patch(self, stored: StoredInvolvement, data: Any) -> dict[str, Any]:
        if data.get("state") == "ended":
            return self._end(stored, data.get("end_reason") or "concern_resolved")
        self._require_active(stored)
        if "ends_on" in data:
            stored.data["ends_on"] = data["ends_on"]
        if "professional" in data:
            stored.data["professional"] = data["professional"]
        return stored.data

    def _lookup(self, organisation: str, data: Any) -> dict[str, Any]:
        basis = data["basis"]
        needs = {"consent": "consent_reference", "legal_task": "statute",
                 "vital_interest": "justification"}
        if basis not in needs or not data.get(needs[basis]):
            raise Problem(422, "validation", "basis incomplete",
                          {needs.get(basis, "basis"): ["Required for this basis."]})
        keys = self._keys_of(data, "lookup")
        matches = []
        for involvement_id, stored in self.involvements.items():
            shared = {category for category, element in keys & stored.keys}
            if stored.organisation != organisation and stored.data["state"] == "active" and shared:
                matches.append({"match_id": involvement_id,
                                "matched_on": sorted(shared), "reveal": "organisation",
                                "org_type": "test", "organisation": stored.organisation,
                                "contact": "approval", "rule_id": "test-rule"})
        if data.get("register"):
            self._create(organisation, {"professional": data["register"]["professional"],
                                        "purpose": data["purpose"],
                                        "ends_on": data["register"].get("ends_on"),
                                        "matching_keys": data["matching_keys"]})
        return {"lookup_id": str(uuid.uuid4()), "matches": matches,
                "registration_required": False, "policy_version": "test",
                "flagged_for_review": basis == "vital_interest"}
