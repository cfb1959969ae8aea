"""API v1: thin views over the same services the web form uses.

Each view parses its body with a schema (unknown fields refused), calls one service as the
verified caller, and dumps the answer with a schema. One success status per view; every other
outcome is an exception turned into problem details (broker.api.problems).
"""

from __future__ import annotations

import json
from typing import Any

from broker_primitives.blinding import Pseudonym
from flask import Blueprint, Response, g, request
from marshmallow import Schema

from broker.api import schemas
from broker.api.auth import authenticate, sign
from broker.api.bodies import check_target, parse_json
from broker.api.idempotency import idempotent, idempotently
from broker.api.openapi import docs_page, openapi_document
from broker.api.problems import register_error_handlers
from broker.door import uow
from broker.errors import ValidationError
from broker.pseudonyms.quota import QuotaExceeded, QuotaUse
from broker.registry.lookups import Evidence, LookupService
from broker.registry.services import NewInvolvement, RegistryService

# Schemas are built once: constructing one costs about as much as loading a body with it.
_EVALUATE_REQUEST = schemas.EvaluateRequest()
_EVALUATE_RESPONSE = schemas.EvaluateResponse()
_REGISTER_REQUEST = schemas.RegisterRequest()
_INVOLVEMENT_LIST = schemas.InvolvementList()
_INVOLVEMENT_OUT = schemas.InvolvementOut()
_INVOLVEMENT_PATCH = schemas.InvolvementPatch()
_LOOKUP_REQUEST = schemas.LookupRequest()
_LOOKUP_RESPONSE = schemas.LookupResponse()

bp = Blueprint("api", __name__, url_prefix="/v1")
bp.before_request(check_target)  # before anything reads (or audits) the path
bp.before_request(authenticate)
bp.after_app_request(sign)  # every /v1 answer, unrouted ones (404, 405) too
register_error_handlers(bp)


def read_body(schema: Schema) -> Any:
    """The JSON body (checked by :func:`broker.api.bodies.parse_json`) loaded with ``schema``."""
    if request.mimetype != "application/json":
        raise ValidationError("Send the body as application/json.", code="unsupported-media")
    body = request.get_data(cache=True)
    data = parse_json(body) if body else None
    return schema.load(data if data is not None else {})


def json_response(schema: Schema, value: Any, status: int = 200) -> Response:
    """``value`` dumped with ``schema`` as a JSON answer."""
    return Response(json.dumps(schema.dump(value), ensure_ascii=False), status=status,
                    mimetype="application/json")


def _pseudonyms(keys: list[dict[str, Any]]) -> list[Pseudonym]:
    return [Pseudonym(k["category"], k["element"], k["key_epoch"]) for k in keys]


def quota_headers(use: QuotaUse) -> dict[str, str]:
    """RateLimit-* of the organisation's daily evaluation quota (``Retry-After`` when used up)."""
    reset = str(max(0, int((use.resets_at - uow().now()).total_seconds())))
    headers = {"RateLimit-Limit": str(use.limit), "RateLimit-Remaining": str(use.remaining),
               "RateLimit-Reset": reset}
    return headers if use.granted else {**headers, "Retry-After": reset}


@bp.post("/pseudonyms/evaluate")
def evaluate() -> Response:
    """The pseudonym service: evaluate blinded elements (each one counts against the quota)."""
    blinded = read_body(_EVALUATE_REQUEST)["blinded_elements"]
    try:
        charged = uow().evaluate(g.actor, blinded)
    except QuotaExceeded as exc:
        g.limit_headers = quota_headers(exc.use)
        raise
    if charged.quota is not None:  # always: an API caller acts for its organisation
        g.limit_headers = quota_headers(charged.quota)
    result = charged.evaluation
    return json_response(_EVALUATE_RESPONSE,
                 {"evaluated_elements": result.elements, "key_epoch": result.key_epoch})


@bp.post("/involvements")
@idempotent
def register() -> Response:
    """Register one involvement or a batch of up to 1000, all or none."""
    items = read_body(_REGISTER_REQUEST)["involvements"]
    registered = RegistryService(uow()).register_involvements(
        g.actor, organisation=g.caller.organisation,
        items=[NewInvolvement(i["professional"], _pseudonyms(i["matching_keys"]), i["purpose"],
                              i["ends_on"]) for i in items],
    )
    return json_response(_INVOLVEMENT_LIST, {"involvements": registered}, 201)


@bp.get("/involvements/<involvement_id>")
def get_involvement(involvement_id: str) -> Response:
    """One of the caller's organisation's involvements."""
    return json_response(_INVOLVEMENT_OUT,
                 RegistryService(uow()).get_involvement(g.actor, involvement_id))


@bp.patch("/involvements/<involvement_id>")
def change_involvement(involvement_id: str) -> Response:
    """Renew, change the contact professional, or end."""
    change = read_body(_INVOLVEMENT_PATCH)
    registry = RegistryService(uow())
    if "professional" in change:
        info = registry.change_contact(g.actor, involvement_id, change["professional"])
    elif "ends_on" in change:
        info = registry.renew_involvement(g.actor, involvement_id, change["ends_on"])
    else:
        info = registry.end_involvement(g.actor, involvement_id,
                                        change.get("end_reason", "concern_resolved"))
    return json_response(_INVOLVEMENT_OUT, info)


@bp.delete("/involvements/<involvement_id>")
def end_involvement(involvement_id: str) -> Response:
    """End an involvement now."""
    return json_response(_INVOLVEMENT_OUT,
                 RegistryService(uow()).end_involvement(g.actor, involvement_id))


@bp.post("/lookups")
def lookup() -> Response:
    """Who else is involved with this household, as far as the policy allows? (A look-up that
    registers the asker too changes state: its answer is kept for a retry.)"""
    question = read_body(_LOOKUP_REQUEST)
    register = question.get("register")

    def answer() -> Response:
        pseudonyms = _pseudonyms(question["matching_keys"])
        result = LookupService(uow()).lookup(
            g.actor, pseudonyms=pseudonyms, purpose=question["purpose"],
            basis=question["basis"],
            evidence=Evidence(question.get("consent_reference"), question.get("statute"),
                              question.get("justification")),
            on_behalf_of=question.get("professional"),
            register=NewInvolvement(register["professional"], pseudonyms, question["purpose"],
                                    register["ends_on"]) if register else None,
        )
        return json_response(_LOOKUP_RESPONSE, result)

    return idempotently(answer) if register else answer()


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 document, generated from the schemas above."""
    return Response(json.dumps(openapi_document()), mimetype="application/json")


@bp.get("/docs")
def docs() -> Response:
    """Readable API documentation, served by the broker itself (no CDN)."""
    return Response(docs_page(), mimetype="text/html")


# The contact hand-over's routes live in their own module on this blueprint.
from broker.api import contact_views  # noqa: E402, F401
