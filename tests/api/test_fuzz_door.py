"""Fuzzing the API door (hypothesis): whatever the body, target or signature fields, the answer is
a small, signed problem with a 4xx status — never a 500 and never an uncaught exception.

Bodies are arbitrary JSON (lone surrogates, NUL, huge numbers and deep nesting included), valid
bodies with one field replaced by anything, and arbitrary bytes; targets carry arbitrary
percent-encoded text; the signature fields arbitrary Latin-1 text. Every request except the last
kind is correctly signed, so the body really reaches the schemas and the services. On SQLite, and
on PostgreSQL when a server is given (it refuses NUL and over-long values where SQLite does not).
Example counts are bounded to keep the suite within minutes.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from broker_primitives import oprf
from broker_primitives.httpsig.signatures import (
    RequestMessage,
    request_signature_label,
    verify_response,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import TestResponse

from broker.api.schemas import b64url
from broker.app import create_app
from broker.audit.services import Actor
from broker.config import Settings
from broker.core import Core
from broker.notifications.notices import InboxNotices
from broker.setup import initialise
from tests.api.door import ORIGIN, Door
from tests.api.live import broker_public_key, enrol
from tests.conftest import OPEN_POLICY
from tests.pg_schemas import MigratedSchemas

FUZZ = settings(max_examples=120, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
ID = "00000000-0000-4000-8000-000000000000"
POINT = b64url(oprf.blind(b"bsn|123456782")[1])
KEY = {"category": "person", "element": POINT, "key_epoch": 1}

#: (method, path, a valid body) for every operation that takes a body.
OPERATIONS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/v1/pseudonyms/evaluate", {"blinded_elements": [POINT]}),
    ("POST", "/v1/involvements", {"involvements": [
        {"professional": "vt-a-p", "purpose": "protection", "matching_keys": [KEY]}]}),
    ("PATCH", f"/v1/involvements/{ID}", {"ends_on": "2026-12-31"}),
    ("POST", "/v1/lookups", {"matching_keys": [KEY], "purpose": "protection",
                             "basis": "vital_interest", "justification": "x" * 30,
                             "register": {"professional": "vt-a-p"}}),
    ("POST", "/v1/contact-requests", {
        "lookup_id": ID, "match_id": "a" * 20, "professional": "vt-a-p",
        "purpose": "protection", "basis": "legal_task", "statute": "jeugdwet_7_1_1"}),
    ("POST", f"/v1/contact-requests/{ID}/decision",
     {"professional": "vt-a-p", "decision": "deny", "message": "nee"}),
    ("POST", f"/v1/contact-requests/{ID}/withdrawal", {"professional": "vt-a-p"}),
    ("POST", "/v1/consents", {"professional": "vt-a-p", "given_by": "person",
                              "given_on": "2026-01-01", "valid_until": "2026-12-31",
                              "purposes": ["protection"], "holder_types": ["school"]}),
]

_characters = st.characters() | st.sampled_from(
    ["\x00", "\ud800", "\udfff", "\ud83d", "\ude00", "\u2028", "é", "\x7f", "\ufeff"])
_text = st.text(_characters, max_size=40) | st.sampled_from(["", "a" * 5000, "vt-a-p"])
_scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=2**31)
            | st.floats(allow_nan=False) | _text)
_json = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=6)
                     | st.dictionaries(_text, inner, max_size=6), max_leaves=30)


@dataclass
class Fuzzed:
    """The broker under fuzz, and a door signing as Veilig Thuis."""

    core: Core
    door: Door


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres",
                                                                marks=pytest.mark.postgres)])
def fuzzed(request: pytest.FixtureRequest) -> Iterator[Fuzzed]:
    """One broker per database for the whole module (hypothesis sends many requests)."""
    with tempfile.TemporaryDirectory() as home, _database(request, Path(home)) as url:
        core = Core(Settings.from_env({
            "BROKER_HOME": home, "BROKER_DATABASE_URL": url,
            "BROKER_POLICY_DIR": str(OPEN_POLICY),
            "BROKER_API_ORG_RATE": "1000000/minute", "BROKER_API_IP_RATE": "1000000/minute"}),
            clock=lambda: datetime.now(UTC), notices=InboxNotices())
        initialise(core, Actor.operator("test"))
        org = enrol(core, "vt-a", "veilig_thuis")
        yield Fuzzed(core, Door(create_app(core=core), org))
        core.dispose()


@contextmanager
def _database(request: pytest.FixtureRequest, home: Path) -> Iterator[str]:
    """A SQLite file, or a migrated schema of its own on the PostgreSQL test server."""
    if request.param == "sqlite":
        yield f"sqlite:///{home / 'broker.db'}"
        return
    schemas: MigratedSchemas = request.getfixturevalue("postgres_schemas")
    with schemas.schema() as url:
        yield url


def answered_well(fuzzed: Fuzzed, response: TestResponse, method: str, path: str,
                  headers: dict[str, str], *, signed_request: bool = True) -> None:
    """Not a 5xx; a refusal is a small problem; every answer is the broker's, bound to the
    request (and to its signature when it was signed correctly)."""
    body = response.get_data()
    assert response.status_code < 500, body[:300]
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json", body[:300]
        problem = json.loads(body)
        assert problem["status"] == response.status_code
        assert problem["type"].startswith("urn:broker:problem:")
        assert len(body) < 16_000
    public = broker_public_key(fuzzed.core)
    verify_response(status=response.status_code, headers=response.headers, body=body,
                    resolve_key=lambda key_id: public if key_id == "broker-api-1" else None,
                    request=RequestMessage(method, ORIGIN + path, headers),
                    request_label="sig1" if signed_request else None)


def _replace(body: Any, where: list[str | int], value: Any) -> Any:
    """``body`` with the member at ``where`` (a path into it) set to ``value``."""
    if not where:
        return value
    head, rest = where[0], where[1:]
    if isinstance(body, dict) and isinstance(head, str):
        return {**body, head: _replace(body.get(head), rest, value)}
    if isinstance(body, list) and isinstance(head, int) and body:
        index = head % len(body)
        return [*body[:index], _replace(body[index], rest, value), *body[index + 1:]]
    return value


def _paths(body: Any, prefix: list[str | int]) -> list[list[str | int]]:
    """Every path into ``body`` (members and items)."""
    found = [prefix]
    if isinstance(body, dict):
        for key, member in body.items():
            found += _paths(member, [*prefix, key])
    elif isinstance(body, list):
        for index, item in enumerate(body):
            found += _paths(item, [*prefix, index])
    return found


@FUZZ
@given(operation=st.sampled_from(OPERATIONS), value=_json)
def test_any_json_body_gets_an_answer_not_a_500(fuzzed: Fuzzed,
                                                operation: tuple[str, str, Any],
                                                value: Any) -> None:
    method, path, _ = operation
    raw = json.dumps(value).encode()
    response = fuzzed.door.send(method, path, raw=raw)
    answered_well(fuzzed, response, method, path, fuzzed.door.last_headers)


@FUZZ
@given(operation=st.sampled_from(OPERATIONS), data=st.data())
def test_a_valid_body_with_one_member_replaced_gets_an_answer_not_a_500(
        fuzzed: Fuzzed, operation: tuple[str, str, Any], data: st.DataObject) -> None:
    method, path, valid = operation
    where = data.draw(st.sampled_from(_paths(valid, [])))
    if data.draw(st.booleans()) and where:
        where = [*where[:-1], data.draw(_text)]  # a new, unknown member beside it
    body = _replace(valid, where, data.draw(_json))
    response = fuzzed.door.send(method, path, raw=json.dumps(body).encode())
    answered_well(fuzzed, response, method, path, fuzzed.door.last_headers)


@FUZZ
@given(operation=st.sampled_from(OPERATIONS),
       raw=st.binary(max_size=300) | st.integers(1, 5_000).map(
           lambda depth: b'{"a": ' + b"[" * depth + b"]" * depth + b"}"))
def test_arbitrary_bytes_get_an_answer_not_a_500(fuzzed: Fuzzed,
                                                 operation: tuple[str, str, Any],
                                                 raw: bytes) -> None:
    method, path, _ = operation
    response = fuzzed.door.send(method, path, raw=raw)
    answered_well(fuzzed, response, method, path, fuzzed.door.last_headers)


_TARGETS = ["/v1/involvements/{}", "/v1/contact-requests/{}", "/v1/contact-links/{}",
            "/v1/inbox?professional={}", "/v1/inbox?professional=vt-a-p&{}=1",
            "/v1/consents/{}?professional=vt-a-p", "/v1/{}"]


@FUZZ
@given(template=st.sampled_from(_TARGETS), value=_text,
       method=st.sampled_from(["GET", "DELETE", "POST", "PUT"]))
def test_any_target_gets_an_answer_not_a_500(fuzzed: Fuzzed, template: str, value: str,
                                             method: str) -> None:
    path = template.format(quote(value.encode("utf-8", "surrogatepass"), safe=""))
    response = fuzzed.door.send(method, path)
    answered_well(fuzzed, response, method, path, fuzzed.door.last_headers)


_latin1 = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF) | st.sampled_from(
    ["\t", '"', ":", ";", "=", "(", ")", ","]), max_size=120)


@FUZZ
@given(field=st.sampled_from(["Signature-Input", "Signature", "Content-Digest", "Content-Type",
                              "Idempotency-Key", "X-Request-Id"]), value=_latin1)
def test_any_signature_field_gets_an_answer_not_a_500(fuzzed: Fuzzed, field: str,
                                                      value: str) -> None:
    method, path, body = OPERATIONS[3]
    door = fuzzed.door
    door.send(method, path, body, sign=True)  # builds a correctly signed request …
    headers = {**door.last_headers, field: value}  # … then one field is replaced
    raw = json.dumps(body).encode()
    response = door.client.open(path, method=method, headers=headers, data=raw)
    assert response.status_code < 500, response.get_data()[:300]
    if response.status_code == 401:
        assert response.headers["WWW-Authenticate"].startswith("Signature ")
    # Bound to the request's signature only if that field still names one.
    answered_well(fuzzed, response, method, path, headers,
                  signed_request=request_signature_label(headers) == "sig1")
