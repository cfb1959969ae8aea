"""One route table: the /v1 views declare their routes, body and answer schemas and operations,
and the OpenAPI document is written from them (broker.api.routing). flask-smorest adds no route
of its own; bodies still pass the broker's JSON door, and answers keep their bytes."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from broker.api.schemas import LookupResponse
from broker.api.views import openapi_document
from broker.app import create_app
from broker.core import Core
from tests.api.door import Door
from tests.api.live import enrol
from tests.api.test_hostile_input import lookup

LOOKUPS = "/v1/lookups"


@pytest.fixture
def app(core: Core) -> Flask:
    """The broker on the test core."""
    return create_app(core=core)


@pytest.fixture
def door(app: Flask, core: Core) -> Door:
    """Signed requests as Veilig Thuis."""
    return Door(app, enrol(core, "vt-a", "veilig_thuis"))


def problem(response: TestResponse, status: int, code: str) -> dict[str, Any]:
    """The response is a ``code`` problem with ``status``; returns its body."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = json.loads(response.get_data())
    assert body["type"] == f"urn:broker:problem:{code}"
    return body


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    """(path, method, operation) of every operation in the document."""
    return [(path, method, operation)
            for path, item in openapi_document()["paths"].items()
            for method, operation in item.items() if method != "parameters"]


def test_the_document_describes_every_v1_route_and_only_those(app: Flask) -> None:
    routes = {(re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule), method.lower())
              for rule in app.url_map.iter_rules() if rule.rule.startswith("/v1/")
              for method in rule.methods or () if method not in {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, method, _ in operations()}
    assert routes - documented == {("/v1/openapi.json", "get"), ("/v1/docs", "get")}
    assert documented <= routes


def test_flask_smorest_serves_nothing_of_its_own(app: Flask) -> None:
    # Its own document and UI blueprint ("api-docs") is not registered, and the API's two
    # public answers are the broker's.
    assert not [rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("api-docs")]
    client = app.test_client()
    assert client.get("/v1/openapi.json").get_json() == openapi_document()
    assert client.get("/v1/docs").mimetype == "text/html"


def test_every_operation_is_named_summarised_and_answers_with_problems() -> None:
    for path, method, operation in operations():
        assert re.fullmatch(r"[a-z][A-Za-z]+", operation["operationId"]), (path, method)
        assert operation["summary"] and "\n" not in operation["summary"], (path, method)
        assert "description" not in operation, (path, method)  # the docstring after "---"
        for status in ("400", "401", "404", "409", "422", "429", "503"):
            answer = operation["responses"][status]
            assert list(answer["content"]) == ["application/problem+json"]
            assert answer["content"]["application/problem+json"]["schema"] == {
                "$ref": "#/components/schemas/Problem"}
        assert list(operation["responses"]) == sorted(operation["responses"])


def test_idempotency_key_is_documented_on_the_posts_that_honour_it() -> None:
    documented = {operation["operationId"] for _, _, operation in operations()
                  if any(parameter["name"] == "Idempotency-Key"
                         for parameter in operation.get("parameters", []))}
    assert documented == {"registerInvolvements", "lookup", "requestContact",
                          "decideContactRequest", "withdrawContactRequest", "recordConsent"}


def test_a_body_of_another_json_media_type_is_refused(core: Core, door: Door) -> None:
    # webargs alone would read any "+json" body; the broker takes application/json only.
    response = door.send("POST", LOOKUPS, lookup(core),
                         headers={"Content-Type": "application/merge-patch+json"})
    body = problem(response, 422, "unsupported-media")
    assert body["detail"] == "Send the body as application/json."


def test_an_unknown_field_is_named_as_sent(core: Core, door: Door) -> None:
    # Not filed under webargs' location ("json.purpose_"): the field as the client sent it.
    body = problem(door.send("POST", LOOKUPS, {**lookup(core), "purpose_": "x"}), 422,
                   "validation")
    assert body["errors"] == {"purpose_": ["Unknown field."]}


@pytest.mark.parametrize("raw", [b"", b"null"])
def test_an_empty_body_is_an_empty_object(door: Door, raw: bytes) -> None:
    body = problem(door.send("POST", LOOKUPS, raw=raw), 422, "validation")
    assert set(body["errors"]) == {"matching_keys", "purpose", "basis"}


def test_a_body_the_json_door_refuses_never_reaches_the_schema(door: Door) -> None:
    body = problem(door.send("POST", LOOKUPS, raw=b'{"purpose": 1, "purpose": 2}'), 400,
                   "malformed-request")
    assert body["errors"] == {"_body": [body["detail"]]}


def test_an_answer_is_utf8_json_in_the_schema_order(core: Core, door: Door) -> None:
    response = door.send("POST", LOOKUPS, lookup(core))
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    text = response.get_data(as_text=True)
    # json.dumps' own layout (not Flask's jsonify: sorted keys, compact, a final newline).
    assert text == json.dumps(json.loads(text), ensure_ascii=False)
    assert list(json.loads(text)) == list(LookupResponse().fields)
