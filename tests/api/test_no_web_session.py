"""The API never opens the web pages' cookie session (issue 13): a signed request identifies its
caller by its signature, so reading and verifying a session cookie on every ``/v1`` request is
work for nothing — and a cookie sent along with an API request must count for nothing."""

from __future__ import annotations

from flask import Flask, session


def test_an_api_request_gets_no_session_and_a_page_gets_one(app: Flask) -> None:
    interface = app.session_interface
    with app.test_request_context("/v1/lookups", method="POST"):
        assert interface.is_null_session(session._get_current_object())  # type: ignore[attr-defined]
    with app.test_request_context("/v1"):
        assert interface.is_null_session(session._get_current_object())  # type: ignore[attr-defined]
    with app.test_request_context("/"):
        assert not interface.is_null_session(session._get_current_object())  # type: ignore[attr-defined]
    with app.test_request_context("/v1x"):  # not the API's prefix: a page's path
        assert not interface.is_null_session(session._get_current_object())  # type: ignore[attr-defined]
