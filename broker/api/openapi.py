"""The OpenAPI 3.1 document, written by flask-smorest from the views' own declarations (their
routes, the marshmallow schemas they load and dump, and their operations: broker.api.routing),
with what no view says — how requests and answers are signed, the problem answers — and a
documentation page that renders it without any external script or style sheet."""

from __future__ import annotations

import html
import json
from typing import Any

import flask_smorest
from flask import Flask

from broker.api import schemas

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

SIGNED = {
    "Signature-Input": {"description": "RFC 9421: the broker's signature parameters "
                        '(tag="broker-v1-response")', "schema": {"type": "string"}},
    "Signature": {"description": "RFC 9421: the broker's Ed25519 signature",
                  "schema": {"type": "string"}},
    "Content-Digest": {"description": "RFC 9530: sha-256 of the body",
                       "schema": {"type": "string"}},
}
EXTRA_HEADERS: dict[str, dict[str, Any]] = {
    "401": {"WWW-Authenticate": {"description": 'Signature realm="broker", tag="broker-v1", '
                                 'alg="ed25519", error="<problem code>"',
                                 "schema": {"type": "string"}},
            "Accept-Signature": {"description": "RFC 9421 §5.1: the signature to send",
                                 "schema": {"type": "string"}}},
    "429": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
    "503": {"Retry-After": {"description": "Seconds to wait before retrying",
                            "schema": {"type": "integer"}}},
}

#: Every operation's problem answers (application/problem+json, schema Problem).
ERRORS = {
    "400": "Malformed request, body or signature",
    "401": "Signature refused (missing, invalid, expired, replayed, unknown key)",
    "404": "Not found (or not yours)",
    "409": "Conflicts with the current state",
    "422": "Invalid fields, identifiers, legal basis or Idempotency-Key reuse",
    "429": "Rate limit or evaluation quota used up",
    "503": "A backing store is unavailable; nothing was done",
}

# The parameters the views declare (path parameters on their routes, the others with their
# operation).
UUID_PATH = {"type": "string", "format": "uuid"}
INVOLVEMENT_ID = {"name": "involvement_id", "in": "path", "required": True, "schema": UUID_PATH}
REQUEST_ID = {"name": "request_id", "in": "path", "required": True, "schema": UUID_PATH}
CONSENT_ID = {"name": "consent_id", "in": "path", "required": True, "schema": UUID_PATH}
TOKEN = {"name": "token", "in": "path", "required": True,
         "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{20,100}$"}}
PROFESSIONAL_PATTERN = "^[a-z0-9][a-z0-9_-]{1,63}$"
PROFESSIONAL_QUERY = {"name": "professional", "in": "query", "required": True,
                      "schema": {"type": "string", "pattern": PROFESSIONAL_PATTERN}}
IDEMPOTENCY_KEY = {"name": "Idempotency-Key", "in": "header", "required": False,
                   "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,200}$"}}


class _DocumentOnly(flask_smorest.Api):  # type: ignore[misc]  # flask-smorest is untyped
    """flask-smorest's Api, used only to write the document: no default error answer (every
    operation lists its own problems), problem details as the error schema, and no pagination
    header (the API pages nothing; flask-smorest would add its schema to every document)."""

    DEFAULT_ERROR_RESPONSE_NAME = None
    ERROR_SCHEMA = schemas.Problem

    def _register_pagination_header(self) -> None:
        pass


def build_document(blueprint: flask_smorest.Blueprint) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``blueprint``'s views (their routes, schemas and
    operations), written on an app of its own, which serves nothing and exposes no route of
    flask-smorest's (no ``OPENAPI_URL_PREFIX``)."""
    app = Flask(__name__)
    app.config.update(API_TITLE="Household involvement broker API", API_VERSION="1.0.0",
                      OPENAPI_VERSION="3.1.0")
    api = _DocumentOnly(app, spec_kwargs={"info": {"description": SIGNATURE_NOTE}})
    api.register_blueprint(blueprint)
    document: dict[str, Any] = api.spec.to_dict()
    for item in document["paths"].values():
        for _, operation in _operations(item):  # answers in the order of their status
            operation["responses"] = dict(sorted(operation["responses"].items()))
    return document


def _operations(path_item: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """A path item's operations (method, operation), without its path parameters."""
    return [(method, operation) for method, operation in path_item.items()
            if method != "parameters"]


# The docs page's one inline style element; the Content-Security-Policy allows it by its hash.
DOCS_STYLE = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:auto;padding:1rem}"
              "code,pre{background:#f4f4f4;padding:.1rem .3rem}"
              "h2{border-top:1px solid #ccc;padding-top:1rem}")


def docs_page(document: dict[str, Any]) -> str:
    """A self-contained HTML page listing every operation of ``document``, its fields and its
    answers."""
    parts = ["<!doctype html><html lang='en'><head><meta charset='utf-8'>",
             f"<title>Broker API v1</title><style>{DOCS_STYLE}</style>",
             "</head><body><h1>Household involvement broker — API v1</h1>",
             f"<p>{html.escape(SIGNATURE_NOTE)}</p>",
             "<p>Machine-readable: <a href='/v1/openapi.json'>/v1/openapi.json</a>. Errors are "
             "RFC 9457 problem details with a stable <code>type</code>.</p>"]
    for path, item in document["paths"].items():
        for method, operation in _operations(item):
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
