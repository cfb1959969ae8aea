"""Security headers on every response of the app: web pages, the API, error pages.

Rules:

1. A Content-Security-Policy that allows no script at all, styles and fonts only from the
   broker's own static files (plus the API docs page's one inline style element, by its
   SHA-256), no style attributes, forms only to the broker itself, and no framing
   (``frame-ancestors 'none'``, with ``X-Frame-Options: DENY`` for older browsers): the
   approve and contact buttons cannot be clickjacked.
2. ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: no-referrer`` (a link's or an
   enrolment's token in a URL never travels on in a Referer).
3. ``Cache-Control: no-store`` on every response except the static stylesheet: pages with
   matches, contact details, the inbox, the enrolment secret and every API answer carry
   personal data or secrets.
4. ``Strict-Transport-Security`` on every response that came over HTTPS (as the connection, or a
   trusted proxy's ``X-Forwarded-Proto``, says); browsers ignore it over plain HTTP.
5. The session cookie is ``__Host-session`` with ``Secure`` whenever the base URL is https (or
   BROKER_COOKIE_SECURE=1). Over plain HTTP — the embedded default on 127.0.0.1 — a browser
   keeps neither a Secure nor a ``__Host-`` cookie, so the cookie is then plain ``session``, and
   a start with a non-local http base URL logs a warning.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from urllib.parse import urlsplit

from flask import Flask, request
from werkzeug.wrappers import Response

from broker.api.openapi import DOCS_STYLE
from broker.config import Settings

log = logging.getLogger("broker.web")

HSTS = "max-age=31536000; includeSubDomains"
STATIC_ENDPOINTS = frozenset({"static", "web.static"})
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _style_hash(style: str) -> str:
    digest = hashlib.sha256(style.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'",
    "script-src 'none'",
    f"style-src 'self' {_style_hash(DOCS_STYLE)}",
    "img-src 'self'",
    "font-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
])


def cookie_settings(settings: Settings) -> dict[str, object]:
    """The Flask session-cookie settings of rule 5 (warns when they cannot be safe)."""
    secure = settings.secure_cookies
    host = urlsplit(settings.base_url).hostname or ""
    if not secure and host not in _LOCAL_HOSTS:
        log.warning("the session cookie is not Secure: serve the broker over HTTPS and set "
                    "BROKER_BASE_URL=https://%s", host)
    return {"SESSION_COOKIE_NAME": "__Host-session" if secure else "session",
            "SESSION_COOKIE_SECURE": secure, "SESSION_COOKIE_PATH": "/",
            "SESSION_COOKIE_DOMAIN": None, "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax"}


def add_security_headers(response: Response) -> Response:
    """Rules 1-4, on one response (an ``after_request`` function of the whole app)."""
    headers = response.headers
    headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    headers["X-Frame-Options"] = "DENY"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    if request.endpoint not in STATIC_ENDPOINTS:
        headers["Cache-Control"] = "no-store"
    if request.is_secure:
        headers["Strict-Transport-Security"] = HSTS
    return response


def install(app: Flask, settings: Settings) -> None:
    """Put the cookie settings and the headers on ``app``."""
    app.config.update(cookie_settings(settings))
    app.after_request(add_security_headers)
