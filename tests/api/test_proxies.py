"""X-Forwarded-* is believed only from the proxies named in BROKER_TRUSTED_PROXIES."""

from __future__ import annotations

from typing import Any

from broker.api.proxies import TrustedProxies, parse_trusted


def seen(remote: str, headers: dict[str, str], trusted: str) -> dict[str, Any]:
    """The environ the application receives behind the middleware."""
    captured: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        captured.update(environ)
        return []

    environ = {"REMOTE_ADDR": remote, "wsgi.url_scheme": "http", "HTTP_HOST": "broker:8000",
               "SERVER_NAME": "broker", "SERVER_PORT": "8000"}
    environ.update({"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()})
    TrustedProxies(app, parse_trusted(trusted))(environ, lambda *a: None)  # type: ignore[arg-type]
    return captured


FORWARDED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https",
             "X-Forwarded-Host": "broker.example"}


def test_forwarded_headers_from_a_trusted_proxy_are_used() -> None:
    environ = seen("10.0.0.5", FORWARDED, "10.0.0.5, 10.0.0.6")
    assert environ["REMOTE_ADDR"] == "203.0.113.7"
    assert environ["wsgi.url_scheme"] == "https"
    assert environ["HTTP_HOST"] == "broker.example"


def test_forwarded_headers_from_anyone_else_are_ignored() -> None:
    environ = seen("198.51.100.9", FORWARDED, "10.0.0.5")
    assert environ["REMOTE_ADDR"] == "198.51.100.9"
    assert environ["wsgi.url_scheme"] == "http"
    assert environ["HTTP_HOST"] == "broker:8000"
    assert seen("10.0.0.5", FORWARDED, "")["REMOTE_ADDR"] == "10.0.0.5"


def test_parse_trusted() -> None:
    assert parse_trusted(" 10.0.0.5,,::1 ") == frozenset({"10.0.0.5", "::1"})
    assert parse_trusted(None) == frozenset()
