"""Hostile bodies, paths and fields get a small 4xx problem, on SQLite and on PostgreSQL.

Each case is one the security tester saw answered with a 500 (or a 10 MB error): a lone
surrogate, NUL, a value longer than its column, JSON nested 1,000 deep, and 50,000 empty objects.
Nothing is written when a request is refused.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from broker_primitives.identifiers import parse_bsn
from flask import Flask
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from broker.api.schemas import b64url
from broker.app import create_app
from broker.audit.services import Actor
from broker.core import Core
from broker.registry.models import Involvement
from tests.api.door import Door
from tests.api.live import Organisation, enrol
from tests.factories import CHILD_BSN

LOOKUPS = "/v1/lookups"
REGISTER = "/v1/involvements"


@pytest.fixture
def app(core: Core) -> Flask:
    """The broker on the test core."""
    return create_app(core=core)


@pytest.fixture
def org(core: Core) -> Organisation:
    """Veilig Thuis, with an API key."""
    return enrol(core, "vt-a", "veilig_thuis")


@pytest.fixture
def door(app: Flask, org: Organisation) -> Door:
    """Signed requests as Veilig Thuis."""
    return Door(app, org)


def matching_key(core: Core) -> dict[str, Any]:
    """A valid matching key, as a client sends it."""
    [pseudonym] = core.pseudonymise(Actor.operator("test"), [parse_bsn(CHILD_BSN)])
    return {"category": pseudonym.category, "element": b64url(pseudonym.element),
            "key_epoch": pseudonym.oprf_epoch}


def lookup(core: Core, **fields: Any) -> dict[str, Any]:
    """A valid look-up body, with ``fields`` changed."""
    return {"matching_keys": [matching_key(core)], "purpose": "protection",
            "basis": "legal_task", "statute": "jeugdwet_7_1_1", **fields}


def involvement(core: Core, org: Organisation, **fields: Any) -> dict[str, Any]:
    """One valid registration item, with ``fields`` changed."""
    return {"professional": org.professional, "purpose": "protection",
            "matching_keys": [matching_key(core)], **fields}


def problem(response: TestResponse, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is a problem with ``status`` (and ``code``); returns its body."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = json.loads(response.get_data())
    if code is not None:
        assert body["type"] == f"urn:broker:problem:{code}"
    return body


def involvements(core: Core) -> int:
    """How many involvements are stored."""
    with core.session() as session:
        return session.scalar(select(func.count()).select_from(Involvement)) or 0


# -- strings the databases cannot take -------------------------------------------------------


@pytest.mark.parametrize("text", ["\ud800", "a\udfffb", "\x00", "ok\x00"])
def test_a_lone_surrogate_or_nul_in_a_value_is_refused(core: Core, door: Door,
                                                       text: str) -> None:
    raw = json.dumps(lookup(core, basis="vital_interest", justification="Acute danger: " + text))
    body = problem(door.send("POST", LOOKUPS, raw=raw.encode()), 400, "malformed-request")
    escape = raw.index("\\u", raw.index("Acute danger: "))  # where the character is written
    assert f"at character {escape + 1} of the body" in body["detail"]


@pytest.mark.parametrize("text", ["\ud800", "\x00"])
def test_a_lone_surrogate_or_nul_in_a_key_is_refused(core: Core, door: Door, text: str) -> None:
    raw = json.dumps({**lookup(core), "x" + text: 1})
    problem(door.send("POST", LOOKUPS, raw=raw.encode()), 400, "malformed-request")


def test_nul_in_a_decision_message_is_refused(door: Door) -> None:
    raw = json.dumps({"professional": "vt-a-p", "decision": "deny", "message": "no\x00"})
    path = "/v1/contact-requests/00000000-0000-0000-0000-000000000000/decision"
    problem(door.send("POST", path, raw=raw.encode()), 400, "malformed-request")


def test_nul_in_a_path_or_query_is_refused(door: Door) -> None:
    problem(door.send("GET", "/v1/involvements/ab%00cd"), 400, "malformed-request")
    problem(door.send("GET", "/v1/inbox?professional=vt-a-p%00"), 400, "malformed-request")
    problem(door.send("DELETE", "/v1/contact-links/%00" + "a" * 30), 400, "malformed-request")


@pytest.mark.parametrize(("field", "length"), [
    ("basis", 33), ("purpose", 65), ("statute", 301), ("consent_reference", 201),
    ("professional", 65)])
def test_a_value_longer_than_its_column_is_refused(core: Core, door: Door, field: str,
                                                   length: int) -> None:
    body = problem(door.send("POST", LOOKUPS, lookup(core, **{field: "a" * length})), 422,
                   "validation")
    assert field in body["errors"]


def test_an_end_reason_longer_than_its_column_is_refused(door: Door) -> None:
    path = "/v1/involvements/00000000-0000-0000-0000-000000000000"
    body = problem(door.send("PATCH", path, {"state": "ended", "end_reason": "a" * 65}), 422)
    assert "end_reason" in body["errors"]


# -- shapes that cost the server ------------------------------------------------------------


@pytest.mark.parametrize("depth", [40, 1_000, 100_000])
def test_deeply_nested_json_is_refused(door: Door, depth: int) -> None:
    raw = b'{"involvements": ' + b"[" * depth + b"]" * depth + b"}"
    body = problem(door.send("POST", REGISTER, raw=raw), 400, "malformed-request")
    assert "nested" in body["detail"]


def test_fifty_thousand_empty_objects_are_refused_before_any_is_validated(
        core: Core, door: Door) -> None:
    raw = b'{"involvements": [' + b",".join([b"{}"] * 50_000) + b"]}"
    response = door.send("POST", REGISTER, raw=raw)
    body = problem(response, 422, "validation")
    # Only the length is reported: no item was looked at.
    assert list(body["errors"]) == ["involvements"]
    assert len(response.get_data()) < 2_000
    assert involvements(core) == 0


def test_many_bad_items_give_a_bounded_error(core: Core, org: Organisation, door: Door) -> None:
    items = [involvement(core, org, purpose="NOT A CODE", professional="?")] * 1_000
    response = door.send("POST", REGISTER, {"involvements": items})
    body = problem(response, 422, "validation")
    assert len(body["errors"]) <= 20
    assert body["errors_omitted"] == 2 * 1_000 - len(body["errors"])
    assert len(response.get_data()) < 8_000
    assert involvements(core) == 0


def test_long_unknown_field_names_give_a_bounded_error(core: Core, door: Door) -> None:
    body = {**lookup(core), **{f"{i:04d}" + "x" * 20_000: 1 for i in range(50)}}
    response = door.send("POST", LOOKUPS, body)
    problem(response, 422, "validation")
    assert len(response.get_data()) < 8_000


def test_a_body_that_is_not_an_object_is_refused(door: Door) -> None:
    for raw in (b"[]", b"1", b'"text"', b"true"):
        problem(door.send("POST", LOOKUPS, raw=raw), 422, "validation")


def test_invalid_utf8_is_refused(door: Door) -> None:
    problem(door.send("POST", LOOKUPS, raw=b'{"purpose": "\xff\xfe"}'), 400, "malformed-request")


def test_a_member_named_twice_is_refused(core: Core, door: Door) -> None:
    raw = json.dumps(lookup(core))[:-1] + ', "purpose": "care_coordination"}'
    body = problem(door.send("POST", LOOKUPS, raw=raw.encode()), 400, "malformed-request")
    assert "twice" in body["detail"]


def test_control_characters_in_x_request_id_are_refused(door: Door) -> None:
    response = door.send("GET", "/v1/inbox?professional=vt-a-p",
                         headers={"X-Request-Id": "abc\x01def"})
    problem(response, 400, "malformed-request")
