"""``@target-uri`` from the WSGI environ: the target as received, rebuilt only as a last resort."""

from __future__ import annotations

import contextlib

import pytest
from broker_primitives.httpsig.components import ComponentError, Message
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from broker.api.target import received_target, target_uri


@pytest.mark.parametrize(("environ", "expected"), [
    ({"RAW_URI": "/v1/%69nbox?x=%7E", "PATH_INFO": "/v1/inbox"}, "/v1/%69nbox?x=%7E"),
    ({"REQUEST_URI": "/v1/a%2Fb?", "PATH_INFO": "/v1/a/b"}, "/v1/a%2Fb?"),
    ({"RAW_URI": "", "REQUEST_URI": "/v1/x?"}, "/v1/x?"),
    ({"RAW_URI": "http://broker.example:8080/v1/x?q=%41"}, "/v1/x?q=%41"),
    ({"RAW_URI": "http://broker.example"}, "/"),
    # No raw target from the server: rebuilt from the decoded parts (PEP 3333 latin-1 strings).
    ({"SCRIPT_NAME": "/broker", "PATH_INFO": "/v1/caf\xc3\xa9 x", "QUERY_STRING": "a=%41"},
     "/broker/v1/caf%C3%A9%20x?a=%41"),
    ({"PATH_INFO": "/v1/~a:b@c", "QUERY_STRING": ""}, "/v1/~a:b@c"),
    ({}, "/"),
])
def test_the_target_as_received(environ: dict[str, object], expected: str) -> None:
    assert received_target(environ) == expected


def test_scheme_and_host_are_the_requests_as_sent() -> None:
    environ = EnvironBuilder(path="/v1/%69nbox?", base_url="https://broker.example:8443",
                             headers={"Host": "Broker.Example:8443"}).get_environ()
    assert target_uri(Request(environ)) == "https://Broker.Example:8443/v1/%69nbox?"


@settings(max_examples=300, deadline=None)
@given(raw=st.text(max_size=60), path=st.text(max_size=30), query=st.text(max_size=30))
def test_any_environ_gives_a_string_or_a_component_error_later(raw: str, path: str,
                                                                query: str) -> None:
    target = received_target({"RAW_URI": raw, "PATH_INFO": path.encode().decode("latin-1"),
                              "QUERY_STRING": query})
    assert isinstance(target, str)
    with contextlib.suppress(ComponentError):  # refused as a malformed signature, a 400
        Message(headers={}, method="GET", target_uri="https://broker.example" + target)
