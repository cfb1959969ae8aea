"""The OpenAPI 3.1 document, generated from the same marshmallow schemas the views use, and a
documentation page that renders it without any external script or style sheet."""

from __future__ import annotations

import html
import json
from functools import cache
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema

from broker.api import contact_schemas, schemas

SIGNATURE_NOTE = (
    "Requests. Every request to /v1 (except this document and /v1/docs) is signed per RFC 9421 "
    'with the organisation\'s Ed25519 key (alg "ed25519", §3.3.6). Covered components: '
    '"@method", "@target-uri" (the target URI as sent: scheme, the Host sent, and the path and '
    "query byte for byte, percent-encodings and an empty query included, §2.2.2), "
    '"@authority", "content-digest" (RFC 9530, sha-256 of the body as sent; of the empty body '
    'when there is none) and "content-type" (application/json, on every request). Parameters: '
    "created, expires (at most 300 s after created; 60 s of clock skew is allowed), nonce (at "
    "least 22 base64url characters, 128 bits; accepted once per key), keyid, and "
    'tag="broker-v1". A refused signature is a 401 (400 when unreadable) with '
    'WWW-Authenticate: Signature realm="broker", tag="broker-v1", alg="ed25519", '
    'error="<problem code>" and an Accept-Signature field (RFC 9421 §5.1) naming the '
    "components. "
    "Answers. Every answer under /v1 (errors, 404, 405 and 503 included) is signed with the "
    'broker\'s Ed25519 key (keyid "broker-api-1", tag="broker-v1-response", created, expires) '
    'over "@status", "content-digest" and "content-type", and bound to the request (§2.4): '
    '"@method";req and "@target-uri";req always, and "signature";req;key="<label>" (the label '
    "of the request's broker-v1 signature) whenever the request carried one. Verify it before "
    "using an answer. "
    "Encodings. Group elements (blinded and evaluated elements, matching keys) are 32-byte "
    "ristretto255 elements as base64url without padding: 43 characters. Dates are ISO 8601. "
    "Errors are RFC 9457 problem details (application/problem+json) with a stable type "
    "urn:broker:problem:<code>. A 503 means a database or store is out of reach: retry after "
    "Retry-After seconds. A POST that changes state (registering involvements, a look-up with "
    "register, a contact request, its decision or withdrawal, a consent) takes an "
    "Idempotency-Key (1 to 200 of A-Z a-z 0-9 _ . : -): a retry with the same key and body gets "
    "the first answer and never acts twice. An evaluation or a look-up without register changes "
    "no registration: a retry is a new request (an evaluation is charged again)."
)

_SIGNED = {
    "Signature-Input": {"description": "RFC 9421: the broker's signature parameters "
                        '(tag="broker-v1-response")', "schema": {"type": "string"}},
    "Signature": {"description": "RFC 9421: the broker's Ed25519 signature",
                  "schema": {"type": "string"}},
    "Content-Digest": {"description": "RFC 9530: sha-256 of the body",
                       "schema": {"type": "string"}},
}
_EXTRA_HEADERS: dict[str, dict[str, Any]] = {
    "401": {"WWW-Authenticate": {"description": 'Signature realm="broker", tag="broker-v1", '
                                 'alg="ed25519", error="<problem code>"',
                                 "schema": {"type": "string"}},
            "Accept-Signature": {"description": "RFC 9421 §5.1: the signature to send",
                                 "schema": {"type": "string"}}},
    "429": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
    "503": {"Retry-After": {"description": "Seconds to wait before retrying",
                            "schema": {"type": "integer"}}},
}


# (path, method, operation id, summary, request schema, success status, response schema)
OPERATIONS: list[tuple[str, str, str, str, type[Schema] | None, int,
                       type[Schema]]] = [
    ("/v1/pseudonyms/evaluate", "post", "evaluate",
     "Evaluate blinded elements (pseudonym service); counts against the daily quota",
     schemas.EvaluateRequest, 200, schemas.EvaluateResponse),
    ("/v1/involvements", "post", "registerInvolvements",
     "Register one involvement or a batch of up to 1000 (all or none)",
     schemas.RegisterRequest, 201, schemas.InvolvementList),
    ("/v1/involvements/{involvement_id}", "get", "getInvolvement",
     "One of your organisation's involvements", None, 200, schemas.InvolvementOut),
    ("/v1/involvements/{involvement_id}", "patch", "changeInvolvement",
     "Renew, change the contact professional, or end", schemas.InvolvementPatch, 200,
     schemas.InvolvementOut),
    ("/v1/involvements/{involvement_id}", "delete", "endInvolvement",
     "End an involvement now", None, 200, schemas.InvolvementOut),
    ("/v1/lookups", "post", "lookup",
     "Who else is involved with this household, as far as the policy allows",
     schemas.LookupRequest, 200, schemas.LookupResponse),
    ("/v1/contact-requests", "post", "requestContact",
     "Ask for contact with the holder of a match of one of your look-ups",
     contact_schemas.ContactRequestIn, 201, contact_schemas.ContactRequestOut),
    ("/v1/contact-requests/{request_id}", "get", "getContactRequest",
     "A contact request of, or to, your organisation", None, 200,
     contact_schemas.ContactRequestOut),
    ("/v1/contact-requests/{request_id}/decision", "post", "decideContactRequest",
     "Approve or deny a contact request made to your organisation",
     contact_schemas.DecisionIn, 200, contact_schemas.ContactRequestOut),
    ("/v1/contact-requests/{request_id}/withdrawal", "post", "withdrawContactRequest",
     "Take back a pending contact request", contact_schemas.WithdrawalIn, 200,
     contact_schemas.ContactRequestOut),
    ("/v1/contact-links/{token}", "get", "openContactLink",
     "The contact details a link issued to your organisation shows", None, 200,
     contact_schemas.ContactCardOut),
    ("/v1/contact-links/{token}", "delete", "revokeContactLink",
     "Revoke a contact link (either side)", None, 200, contact_schemas.LinkRevokedOut),
    ("/v1/consents", "post", "recordConsent",
     "Record consent given to your organisation about one household (its matching keys)",
     contact_schemas.ConsentIn, 201, contact_schemas.ConsentOut),
    ("/v1/consents/{consent_id}", "delete", "withdrawConsent",
     "Withdraw consent (query parameter professional): its links are revoked", None, 200,
     contact_schemas.ConsentWithdrawnOut),
    ("/v1/inbox", "get", "readInbox",
     "A professional's inbox, newest first (query parameters professional, unread)", None,
     200, contact_schemas.InboxOut),
]

_PATH_PARAMETERS = {
    "involvement_id": {"type": "string", "format": "uuid"},
    "request_id": {"type": "string", "format": "uuid"},
    "consent_id": {"type": "string", "format": "uuid"},
    "token": {"type": "string", "pattern": "^[A-Za-z0-9_-]{20,100}$"},
}

ERRORS = {
    "400": "Malformed request, body or signature",
    "401": "Signature refused (missing, invalid, expired, replayed, unknown key)",
    "404": "Not found (or not yours)",
    "409": "Conflicts with the current state",
    "422": "Invalid fields, identifiers, legal basis or Idempotency-Key reuse",
    "429": "Rate limit or evaluation quota used up",
    "503": "A backing store is unavailable; nothing was done",
}


# The operations whose views keep an Idempotency-Key's answer (broker.api.idempotency).
IDEMPOTENT = frozenset({"registerInvolvements", "lookup", "requestContact",
                        "decideContactRequest", "withdrawContactRequest", "recordConsent"})


@cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (computed once)."""
    spec = APISpec(
        title="Household involvement broker API", version="1.0.0", openapi_version="3.1.0",
        plugins=[MarshmallowPlugin()],
        info={"description": SIGNATURE_NOTE},
    )
    spec.components.schema("Problem", schema=schemas.Problem)
    for path, method, operation_id, summary, request_schema, status, response_schema in OPERATIONS:
        operation: dict[str, Any] = {
            "operationId": operation_id,
            "summary": summary,
            "responses": {
                str(status): {"description": "Success", "headers": _SIGNED, "content": {
                    "application/json": {"schema": response_schema}}},
                **{code: {"description": text,
                          "headers": {**_SIGNED, **_EXTRA_HEADERS.get(code, {})},
                          "content": {"application/problem+json": {"schema": "Problem"}}}
                   for code, text in ERRORS.items()},
            },
        }
        operation["parameters"] = [
            {"name": name, "in": "path", "required": True, "schema": schema}
            for name, schema in _PATH_PARAMETERS.items() if f"{{{name}}}" in path]
        if (path.startswith("/v1/consents/") and method == "delete") or path == "/v1/inbox":
            operation["parameters"].append(
                {"name": "professional", "in": "query", "required": True,
                 "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{1,63}$"}})
        if not operation["parameters"]:
            del operation["parameters"]
        if request_schema is not None:
            operation["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": request_schema}}}
        if method == "post" and operation_id in IDEMPOTENT:
            operation.setdefault("parameters", []).append(
                {"name": "Idempotency-Key", "in": "header", "required": False,
                 "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,200}$"}})
        spec.path(path=path, operations={method: operation})
    return spec.to_dict()


# The docs page's one inline style element; the Content-Security-Policy allows it by its hash.
DOCS_STYLE = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:auto;padding:1rem}"
              "code,pre{background:#f4f4f4;padding:.1rem .3rem}"
              "h2{border-top:1px solid #ccc;padding-top:1rem}")


def docs_page() -> str:
    """A self-contained HTML page listing every operation, its fields and its answers."""
    document = openapi_document()
    parts = ["<!doctype html><html lang='en'><head><meta charset='utf-8'>",
             f"<title>Broker API v1</title><style>{DOCS_STYLE}</style>",
             "</head><body><h1>Household involvement broker — API v1</h1>",
             f"<p>{html.escape(SIGNATURE_NOTE)}</p>",
             "<p>Machine-readable: <a href='/v1/openapi.json'>/v1/openapi.json</a>. Errors are "
             "RFC 9457 problem details with a stable <code>type</code>.</p>"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            parts.append(f"<h2><code>{method.upper()} {html.escape(path)}</code></h2>")
            parts.append(f"<p>{html.escape(operation['summary'])}</p>")
            body = operation.get("requestBody")
            if body:
                ref = body["content"]["application/json"]["schema"]
                parts.append(f"<p>Request: {_schema_html(document, ref)}</p>")
            for status, answer in operation["responses"].items():
                parts.append(f"<p><b>{status}</b> {html.escape(answer['description'])}</p>")
    parts.append("<h2>Schemas</h2>")
    for name, schema in document["components"]["schemas"].items():
        parts.append(f"<h3 id='{name}'>{name}</h3><pre>{html.escape(json.dumps(schema, indent=2))}"
                     "</pre>")
    parts.append("</body></html>")
    return "".join(parts)


def _schema_html(document: dict[str, Any], schema: dict[str, Any]) -> str:
    ref = schema.get("$ref", "")
    name = ref.rsplit("/", 1)[-1]
    return f"<a href='#{html.escape(name)}'>{html.escape(name)}</a>" if name else "JSON"
