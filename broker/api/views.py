"""API v1: thin views over the same services the web form uses.

Each view declares its route, the schema that loads its body (unknown fields refused), the
schema that dumps its answer and its operation; the OpenAPI document is made from these
declarations (broker.api.routing, broker.api.openapi). A view calls one service as the verified
caller; its docstring's first paragraph is the operation's summary, what follows ``---`` is for
the reader only. One success status per view; every other outcome is an exception turned into
problem details (broker.api.problems).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache, wraps
from typing import Any

from broker_primitives.blinding import Pseudonym
from flask import Response, g

from broker.api import schemas
from broker.api.auth import authenticate, sign
from broker.api.bodies import check_target
from broker.api.idempotency import idempotent, idempotently
from broker.api.openapi import INVOLVEMENT_ID, build_document, docs_page
from broker.api.problems import register_error_handlers
from broker.api.routing import ApiBlueprint
from broker.door import uow
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

bp = ApiBlueprint("api", __name__, url_prefix="/v1",
                  description="The API for organisations' case systems (all of /v1)")
bp.before_request(check_target)  # before anything reads (or audits) the path
bp.before_request(authenticate)
bp.after_app_request(sign)  # every /v1 answer, unrouted ones (404, 405) too
register_error_handlers(bp)


def _pseudonyms(keys: list[dict[str, Any]]) -> list[Pseudonym]:
    return [Pseudonym(k["category"], k["element"], k["key_epoch"]) for k in keys]


def quota_headers(use: QuotaUse) -> dict[str, str]:
    """RateLimit-* of the organisation's daily evaluation quota (``Retry-After`` when used up)."""
    reset = str(max(0, int((use.resets_at - uow().now()).total_seconds())))
    headers = {"RateLimit-Limit": str(use.limit), "RateLimit-Remaining": str(use.remaining),
               "RateLimit-Reset": reset}
    return headers if use.granted else {**headers, "Retry-After": reset}


def idempotent_when(changes_state: Callable[[dict[str, Any]], bool]
                    ) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """A view that is :func:`idempotently` answered when its loaded body ``changes_state``."""

    def decorator(view: Callable[..., Response]) -> Callable[..., Response]:
        @wraps(view)
        def wrapped(body: dict[str, Any], *args: Any, **kwargs: Any) -> Response:
            if changes_state(body):
                return idempotently(lambda: view(body, *args, **kwargs))
            return view(body, *args, **kwargs)

        return wrapped

    return decorator


@bp.route("/pseudonyms/evaluate", methods=["POST"])
@bp.operation("evaluate")
@bp.response(200, _EVALUATE_RESPONSE)
@bp.arguments(_EVALUATE_REQUEST)
def evaluate(body: dict[str, Any]) -> dict[str, Any]:
    """Evaluate blinded elements (pseudonym service); counts against the daily quota
    ---
    Each element counts against the quota; the quota's RateLimit-* go with the answer.
    """
    try:
        charged = uow().evaluate(g.actor, body["blinded_elements"])
    except QuotaExceeded as exc:
        g.limit_headers = quota_headers(exc.use)
        raise
    if charged.quota is not None:  # always: an API caller acts for its organisation
        g.limit_headers = quota_headers(charged.quota)
    result = charged.evaluation
    return {"evaluated_elements": result.elements, "key_epoch": result.key_epoch}


@bp.route("/involvements", methods=["POST"])
@bp.operation("registerInvolvements", idempotency_key=True)
@idempotent
@bp.response(201, _INVOLVEMENT_LIST)
@bp.arguments(_REGISTER_REQUEST)
def register(body: dict[str, Any]) -> dict[str, Any]:
    """Register one involvement or a batch of up to 1000 (all or none)"""
    registered = RegistryService(uow()).register_involvements(
        g.actor, organisation=g.caller.organisation,
        items=[NewInvolvement(i["professional"], _pseudonyms(i["matching_keys"]), i["purpose"],
                              i["ends_on"]) for i in body["involvements"]],
    )
    return {"involvements": registered}


@bp.route("/involvements/<involvement_id>", methods=["GET"], parameters=[INVOLVEMENT_ID])
@bp.operation("getInvolvement")
@bp.response(200, _INVOLVEMENT_OUT)
def get_involvement(involvement_id: str) -> Any:
    """One of your organisation's involvements"""
    return RegistryService(uow()).get_involvement(g.actor, involvement_id)


@bp.route("/involvements/<involvement_id>", methods=["PATCH"], parameters=[INVOLVEMENT_ID])
@bp.operation("changeInvolvement")
@bp.response(200, _INVOLVEMENT_OUT)
@bp.arguments(_INVOLVEMENT_PATCH)
def change_involvement(change: dict[str, Any], involvement_id: str) -> Any:
    """Renew, change the contact professional, or end"""
    registry = RegistryService(uow())
    if "professional" in change:
        return registry.change_contact(g.actor, involvement_id, change["professional"])
    if "ends_on" in change:
        return registry.renew_involvement(g.actor, involvement_id, change["ends_on"])
    return registry.end_involvement(g.actor, involvement_id,
                                    change.get("end_reason", "concern_resolved"))


@bp.route("/involvements/<involvement_id>", methods=["DELETE"], parameters=[INVOLVEMENT_ID])
@bp.operation("endInvolvement")
@bp.response(200, _INVOLVEMENT_OUT)
def end_involvement(involvement_id: str) -> Any:
    """End an involvement now"""
    return RegistryService(uow()).end_involvement(g.actor, involvement_id)


@bp.route("/lookups", methods=["POST"])
@bp.operation("lookup", idempotency_key=True)
@bp.arguments(_LOOKUP_REQUEST)
@idempotent_when(lambda question: bool(question.get("register")))
@bp.response(200, _LOOKUP_RESPONSE)
def lookup(question: dict[str, Any]) -> Any:
    """Who else is involved with this household, as far as the policy allows
    ---
    A look-up that registers the asker too changes state: its answer is kept for a retry
    (Idempotency-Key); one without is simply answered, and audited, again.
    """
    register = question.get("register")
    pseudonyms = _pseudonyms(question["matching_keys"])
    return LookupService(uow()).lookup(
        g.actor, pseudonyms=pseudonyms, purpose=question["purpose"], basis=question["basis"],
        evidence=Evidence(question.get("consent_reference"), question.get("statute"),
                          question.get("justification")),
        on_behalf_of=question.get("professional"),
        register=NewInvolvement(register["professional"], pseudonyms, question["purpose"],
                                register["ends_on"]) if register else None,
    )


@cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of this blueprint's views (computed once)."""
    return build_document(bp)


@bp.public_route("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 document, made from the views' declarations."""
    return Response(json.dumps(openapi_document()), mimetype="application/json")


@bp.public_route("/docs")
def docs() -> Response:
    """Readable API documentation, served by the broker itself (no CDN)."""
    return Response(docs_page(openapi_document()), mimetype="text/html")


# The contact hand-over's routes live in their own module on this blueprint.
from broker.api import contact_views  # noqa: E402, F401
