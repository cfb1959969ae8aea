"""The pseudonym service's HTTP door: ``POST /v1/evaluate`` and, for the broker's key, the two
steps of rotating ``k`` (``POST /v1/keys/next``, ``POST /v1/keys/activate``:
:mod:`broker.pseudonym_service.rotation`), RFC 9421-signed both ways.

Thin: verify the request's signature (the client's key from the service's configuration, tag
``pseudonym-service-v1``, each nonce once), read the body, ask the service, answer. Every answer
— refusals included — is signed with the service's key and bound to the request (§2.4), so the
broker and organisations' clients can tell the service's answer to their very request from
anything else. Errors are RFC 9457 problem details (``urn:broker:pseudonym-service:<code>``); a
database that cannot answer is a 503 with ``Retry-After`` (fail closed); nothing is logged but
counts and types (never an element).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from broker_primitives.httpsig.signatures import (
    RequestMessage,
    SignatureError,
    request_signature_label,
    sign_response,
    verify_request,
)
from flask import Flask, Response, g, request
from nacl.signing import SigningKey
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from broker.api.target import target_uri
from broker.errors import BrokerError, ValidationError
from broker.outages import RETRY_AFTER_SECONDS
from broker.pseudonym_service import rotation, store
from broker.pseudonym_service.service import Client, EvaluationService, QuotaRefused
from broker.pseudonyms.interfaces import (
    ACTIVATE_PATH,
    EVALUATE_PATH,
    NEXT_EPOCH_PATH,
    PROBLEM_PREFIX,
    REQUEST_POLICY,
    RESPONSE_TAG,
    SERVICE_KEY_ID,
    Requester,
    decode_element,
    encode_element,
)
from broker.pseudonyms.quota import QuotaUse

log = logging.getLogger("broker.pseudonym_service")
MAX_BODY = 128 * 1024


class _Nonces:
    """Used nonces in the service's database, each in a transaction of its own; those whose
    signatures can no longer be accepted are deleted once a minute (the service has no worker)."""

    PURGE_EVERY = 60

    def __init__(self, service: EvaluationService) -> None:
        self.engine = service.engine
        self.purged_at = 0

    def seen_before(self, key_id: str, nonce: str, expires_at: int, now: int) -> bool:
        with self.engine.begin() as connection:
            if now - self.purged_at >= self.PURGE_EVERY:
                store.purge_nonces(connection, now)
                self.purged_at = now
            return store.seen_before(connection, key_id, nonce, expires_at, now)


def create_service_app(service: EvaluationService, signing_key: SigningKey) -> Flask:
    """The service's WSGI application."""
    app = Flask("broker.pseudonym_service")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    nonces = _Nonces(service)

    def verified() -> tuple[Client, bytes]:
        body = request.get_data(cache=True)
        signed = verify_request(method=request.method, target_uri=target_uri(request),
                                headers=request.headers, body=body,
                                resolve_key=service.resolve_key, replay=nonces,
                                policy=REQUEST_POLICY)
        g.signature_label = request_signature_label(request.headers, REQUEST_POLICY.required_tag)
        return service.clients[signed.key_id], body

    @app.post(EVALUATE_PATH)
    def evaluate() -> Response:
        client, body = verified()
        blinded, named = _read(body)
        requester = service.requester(client, named)
        granted = service.evaluate(client, requester, blinded)
        log.info("evaluated %d for %s (epoch %d)", len(blinded), requester.organisation,
                 granted.key_epoch)
        return _json(200, {
            "evaluated_elements": [encode_element(e) for e in granted.elements],
            "key_epoch": granted.key_epoch, "proof": encode_element(granted.proof),
            "quota": _quota(granted.quota)}, _limit_headers(granted.quota))

    @app.post(NEXT_EPOCH_PATH)
    def next_epoch() -> Response:
        client, body = verified()
        step = rotation.next_epoch(service, client, _epoch(body, "from_epoch"))
        log.info("key epoch %d prepared", step.to_epoch)
        return _json(200, {"from_epoch": step.from_epoch, "to_epoch": step.to_epoch,
                           "public_key": encode_element(step.public_key),
                           "factor": encode_element(step.factor)})

    @app.post(ACTIVATE_PATH)
    def activate() -> Response:
        client, body = verified()
        epoch = rotation.activate(service, client, _epoch(body, "epoch"))
        log.info("key epoch %d current", epoch)
        return _json(200, {"key_epoch": epoch})

    @app.get("/healthz")
    def healthz() -> Response:
        return _json(200, {"status": "ok"})

    @app.errorhandler(SignatureError)
    def _signature(exc: SignatureError) -> Response:
        return _problem(exc.status, exc.code, exc.message("en"))

    @app.errorhandler(BrokerError)
    def _invalid(exc: BrokerError) -> Response:
        return _problem(exc.status, exc.code, exc.message("en"))

    @app.errorhandler(QuotaRefused)
    def _quota_refused(exc: QuotaRefused) -> Response:
        headers = _limit_headers(exc.use)
        headers["Retry-After"] = headers["RateLimit-Reset"]
        return _problem(429, "quota-exceeded", "The organisation's daily quota of pseudonym "
                        "evaluations cannot take this batch.", headers,
                        {"quota": _quota(exc.use)})

    @app.errorhandler(SQLAlchemyError)
    def _database(exc: SQLAlchemyError) -> Response:
        log.warning("database unavailable: %s", type(exc).__name__)
        return _problem(503, "service-unavailable", "The pseudonym service cannot reach its "
                        "database just now; nothing was evaluated.",
                        {"Retry-After": str(RETRY_AFTER_SECONDS)})

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        status = exc.code or 500
        return _problem(status, (exc.name or "error").lower().replace(" ", "-"),
                        exc.description or "")

    @app.after_request
    def _sign(response: Response) -> Response:
        if request.path == "/healthz":
            return response
        bound = RequestMessage(request.method, target_uri(request), request.headers)
        label = getattr(g, "signature_label", None) or request_signature_label(
            request.headers, REQUEST_POLICY.required_tag)
        try:
            added = _signed(response, signing_key, bound, label)
        except ValueError:
            added = _signed(response, signing_key, None, None)
        for name, value in added.items():
            response.headers[name] = value
        return response

    return app


def _signed(response: Response, key: SigningKey, bound: RequestMessage | None,
            label: str | None) -> dict[str, str]:
    return sign_response(status=response.status_code, headers=response.headers,
                         key_id=SERVICE_KEY_ID, private_key=key, body=response.get_data(),
                         request=bound, request_label=label, tag=RESPONSE_TAG)


def _read(body: bytes) -> tuple[list[bytes], Requester | None]:
    """The blinded elements and, from the broker, whom they are for."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ValidationError("The body is not JSON.", code="malformed-request") from exc
    if not isinstance(data, dict) or not isinstance(data.get("blinded_elements"), list):
        raise ValidationError("Send an object with blinded_elements.", code="malformed-request")
    try:
        blinded = [decode_element(item) for item in data["blinded_elements"][:1001]]
    except ValueError as exc:
        raise ValidationError(
            "A blinded element is not valid: %(exc)s",
            code="invalid-element", exc=exc) from exc
    if len(data["blinded_elements"]) > 1000:
        blinded.append(b"")  # the batch-size check names it
    organisation, kind = data.get("organisation"), data.get("organisation_type")
    named = None
    if isinstance(organisation, str) and isinstance(kind, str) and 0 < len(organisation) <= 64 \
            and 0 < len(kind) <= 64:
        named = Requester(organisation, kind)
    return blinded, named


def _epoch(body: bytes, name: str) -> int:
    """The positive whole number ``name`` of a JSON object body."""
    try:
        value = json.loads(body).get(name)
    except (ValueError, AttributeError):
        value = None
    if type(value) is not int or value < 1:
        raise ValidationError(
            "Send an object with %(name)s, a key epoch (1 or more).",
            code="malformed-request", name=name)
    return value


def _quota(use: QuotaUse) -> dict[str, Any]:
    return {"limit": use.limit, "used": use.used, "resets_at": use.resets_at.isoformat()}


def _limit_headers(use: QuotaUse) -> dict[str, str]:
    reset = str(max(0, int(use.resets_at.timestamp() - time.time())))
    return {"RateLimit-Limit": str(use.limit), "RateLimit-Remaining": str(use.remaining),
            "RateLimit-Reset": reset}


def _json(status: int, data: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    response = Response(json.dumps(data), status=status, mimetype="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _problem(status: int, code: str, detail: str, headers: dict[str, str] | None = None,
             extra: dict[str, Any] | None = None) -> Response:
    body = {"type": PROBLEM_PREFIX + code, "title": code.replace("-", " ").capitalize(),
            "status": status, "detail": detail, **(extra or {})}
    response = _json(status, body, headers)
    response.mimetype = "application/problem+json"
    return response
