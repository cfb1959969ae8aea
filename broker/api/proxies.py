"""``X-Forwarded-*`` is believed only from the proxies named in ``BROKER_TRUSTED_PROXIES``.

From any other peer the headers are ignored: the client address, scheme and host are those of the
connection itself, so nobody can spoof their address into a rate limit or an audit entry.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.middleware.proxy_fix import ProxyFix

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


class TrustedProxies:
    """WSGI middleware: apply ProxyFix (one hop) only for requests from a trusted address."""

    def __init__(self, app: WSGIApplication, trusted: Iterable[str]) -> None:
        self.app = app
        self.trusted = frozenset(trusted)
        self.fixed = ProxyFix(app, x_for=1, x_proto=1, x_host=1, x_port=1)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[Any]:
        if environ.get("REMOTE_ADDR") in self.trusted:
            return self.fixed(environ, start_response)
        return self.app(environ, start_response)


def parse_trusted(value: str | None) -> frozenset[str]:
    """Addresses from a comma-separated setting."""
    return frozenset(part.strip() for part in (value or "").split(",") if part.strip())
