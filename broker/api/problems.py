"""RFC 9457 problem details: the one error shape of the API.

Every refusal is ``application/problem+json`` with a stable ``type`` (``urn:broker:problem:<code>``
— the code never changes once published), a short ``title``, the ``status`` and a ``detail`` that
says what to do, in Dutch when the client prefers it and English otherwise. Validation problems add
``errors``: field → messages. Nothing else leaves: no stack trace, no raw identifier (identifier
errors never contain the input), and an unknown and a revoked key id get the same answer.

An error body stays small whatever the request was: ``errors`` holds at most
:data:`MAX_FIELD_ERRORS` fields (then ``errors_omitted`` says how many more there were), each
field name at most :data:`MAX_FIELD_CHARS` characters and each field at most
:data:`MAX_MESSAGES` messages of at most :data:`MAX_MESSAGE_CHARS` characters.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from broker_primitives.errors import BilingualError
from broker_primitives.httpsig.components import parse_component
from broker_primitives.httpsig.signature_policy import ALGORITHM, REQUEST_POLICY, SignatureError
from broker_primitives.httpsig.structured_fields import InnerList, serialize_dictionary
from broker_primitives.identifiers import IdentifierError
from flask import Blueprint, Flask, Response, request
from flask.typing import ResponseReturnValue
from marshmallow import ValidationError as SchemaError
from werkzeug.exceptions import HTTPException

from broker.api.bodies import MalformedRequest
from broker.callers.replay import ReplayCacheUnavailable
from broker.catalogue import gettext
from broker.contact.links import redact_tokens
from broker.door import is_api_request
from broker.outages import OUTAGE_ERRORS, RETRY_AFTER_SECONDS, is_outage

PROBLEM_TYPE = "urn:broker:problem:"
PROBLEM_JSON = "application/problem+json"
MAX_FIELD_ERRORS = 20
MAX_FIELD_CHARS = 200
MAX_MESSAGES = 5
MAX_MESSAGE_CHARS = 300

log = logging.getLogger("broker.api")

TITLES = {
    "validation": "The request is not valid",
    "malformed-request": "The request is not well-formed",
    "identifier": "An identifier is not valid",
    "not-found": "Not found",
    "forbidden": "Not allowed",
    "conflict": "Conflict with the current state",
    "basis": "The legal basis is not carried",
    "invalid-pseudonym": "A matching key is not valid",
    "idempotency-key-reused": "The Idempotency-Key was used for another request",
    "rate-limited": "Too many requests",
    "service-unavailable": "Temporarily unavailable",
    "internal": "Internal error",
}


def language() -> str:
    """The client's preferred language of ``nl`` and ``en`` (English by default)."""
    return request.accept_languages.best_match(["en", "nl"], default="en") or "en"


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    title: str | None = None,
    errors: Mapping[str, Sequence[str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A problem-details response."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + code,
        "title": title or TITLES.get(code, code.replace("-", " ").capitalize()),
        "status": status,
        "detail": detail,
    }
    if errors:
        fields = list(errors.items())
        body["errors"] = {
            _clip(field, MAX_FIELD_CHARS): [_clip(message, MAX_MESSAGE_CHARS)
                                            for message in list(messages)[:MAX_MESSAGES]]
            for field, messages in fields[:MAX_FIELD_ERRORS]}
        if len(fields) > MAX_FIELD_ERRORS:
            body["errors_omitted"] = len(fields) - MAX_FIELD_ERRORS
    response = Response(json.dumps(body, ensure_ascii=False), status=status,
                        mimetype=PROBLEM_JSON)
    if status == 503:  # RFC 9110 §10.2.3: say when to come back
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def outage_problem(exc: BaseException) -> Response:
    """The 503 for a database or Redis out of reach (broker.outages); logged by type only."""
    log.warning("store unavailable: %s in %s %s", type(exc).__name__, request.method,
                redact_tokens(request.path))
    return problem(503, "service-unavailable", gettext(
        language(),
        "The broker cannot reach its database or one of its stores just now; the request may "
        "not have been carried out. Retry after the seconds in Retry-After; send a POST that "
        "changes state again with the same Idempotency-Key, which never acts twice."))


def challenge(code: str) -> dict[str, str]:
    """``WWW-Authenticate`` and ``Accept-Signature`` for a 401 (RFC 9110 §11.6.1, RFC 9421 §5.1).

    The scheme is ``Signature`` (HTTP Message Signatures, RFC 9421) with ``realm``, the ``tag``
    and ``alg`` the broker requires and ``error``, the refusal's problem code (as RFC 6750 §3
    does for bearer tokens). ``Accept-Signature`` names the components and parameters to sign;
    ``nonce`` and ``keyid`` are the signer's own, so they are described, not requested, there.
    """
    policy = REQUEST_POLICY
    wanted = InnerList(tuple(parse_component(name) for name in policy.required_components),
                       (("created", True), ("expires", True), ("alg", ALGORITHM),
                        ("tag", policy.required_tag)))
    return {
        "WWW-Authenticate": f'Signature realm="broker", tag="{policy.required_tag}", '
                            f'alg="{ALGORITHM}", error="{code}"',
        "Accept-Signature": serialize_dictionary({"sig1": wanted}),
    }


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _schema_errors(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages flattened to ``field.sub.0`` → list of messages."""
    flat: dict[str, list[str]] = {}
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            flat.update(_schema_errors(value, f"{prefix}{key}."))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        flat[prefix.rstrip(".") or "_body"] = list(messages)
    else:
        flat[prefix.rstrip(".") or "_body"] = [str(messages)]
    return flat


def register_unrouted_handlers(
        app: Flask, otherwise: Callable[[HTTPException], ResponseReturnValue] | None = None,
) -> None:
    """404 and 405 under ``/v1`` never reach the blueprint; answer them as problems too.
    ``otherwise`` answers them elsewhere (the web's own pages)."""

    def unrouted(exc: HTTPException) -> ResponseReturnValue:
        if not is_api_request():
            return exc if otherwise is None else otherwise(exc)
        status = exc.code or 404
        code = (exc.name or "error").lower().replace(" ", "-")
        return problem(status, code, exc.description or "", title=exc.name)

    app.register_error_handler(404, unrouted)
    app.register_error_handler(405, unrouted)


def register_error_handlers(bp: Blueprint) -> None:
    """Attach the problem handlers to the API blueprint."""

    @bp.errorhandler(SignatureError)
    def _signature(exc: SignatureError) -> Response:
        headers = challenge(exc.code) if exc.status == 401 else {}
        return problem(exc.status, exc.code, exc.message(language()),
                       title="The request signature was refused", headers=headers)

    @bp.errorhandler(ReplayCacheUnavailable)
    def _replay_down(exc: ReplayCacheUnavailable) -> Response:
        return problem(503, "service-unavailable", exc.message(language()))

    def _store_down(exc: Exception) -> Response:
        # A store is unreachable: refuse (fail closed), never let through, never a 500.
        return outage_problem(exc) if is_outage(exc) else _unexpected(exc)

    for error in OUTAGE_ERRORS:
        bp.register_error_handler(error, _store_down)

    @bp.errorhandler(MalformedRequest)
    def _malformed(exc: MalformedRequest) -> Response:
        return problem(exc.status, exc.code, exc.message(language()),
                       errors={exc.where: [exc.message(language())]})

    @bp.errorhandler(IdentifierError)
    def _identifier(exc: IdentifierError) -> Response:
        return problem(422, "identifier", exc.message(language()))

    @bp.errorhandler(BilingualError)
    def _domain(exc: BilingualError) -> Response:
        return problem(exc.status, exc.code, exc.message(language()))

    @bp.errorhandler(SchemaError)
    def _schema(exc: SchemaError) -> Response:
        return problem(422, "validation", "Some fields are not valid; see errors.",
                       errors=_schema_errors(exc.messages))

    @bp.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        status = exc.code or 500
        code = (exc.name or "error").lower().replace(" ", "-")
        return problem(status, code, exc.description or exc.name or "", title=exc.name)

    @bp.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        # Logged with its type only: a database error's message carries the statement's
        # parameters (matching keys); the client learns nothing about the inside either.
        log.error("unexpected %s in %s %s", type(exc).__name__, request.method,
                  redact_tokens(request.path))
        return problem(500, "internal", "Something went wrong on the broker's side; the "
                       "request was not carried out. Try again later.")
