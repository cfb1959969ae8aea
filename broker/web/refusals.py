"""The web door's refusals in the audit log: a failed CSRF check and a rate limit (issue 11).

Rules this module guarantees:

- With a professional signed in, each refusal is an audit event of its own (``web:csrf_refused``,
  ``web:rate_limited``, outcome ``refused``) carrying the account, its organisation and role,
  the broker's request id and the source network; the details hold the method and path, never
  the form (which may hold identifiers).
- With nobody signed in (or a session naming an account that no longer exists), the refusal is
  counted per source network and minute (:mod:`broker.oversight.refusals`), never an event each.
- The answer is the same either way: 400 with the "form expired" text for CSRF; 429 with a
  Dutch or English page and ``Retry-After`` for a rate limit.
- The API's per-address limit is counted the same way (nobody is authenticated yet); its answer
  stays the API's problem document.
"""

from __future__ import annotations

import time
from typing import NoReturn

from flask import Response, abort, g, request
from flask_limiter import RequestLimit

from broker.audit.events import Event
from broker.audit.services import Actor, truncate_address
from broker.door import uow
from broker.oversight.refusals import count_refusal
from broker.web import sessions as web_sessions
from broker.web.errors import error_page
from broker.web.i18n import gettext


def signed_in_actor() -> Actor | None:
    """The signed-in professional as the audit log's actor; None when nobody is signed in.

    Asked of the server (the session's row), never of the cookie alone: a cookie copied before
    sign-out names nobody, so its refusals are counted for its network, not put on the name."""
    live = web_sessions.current()
    if live is None:
        return None
    return Actor(actor=f"professional:{live.professional.username}", channel="web",
                 organisation_id=live.organisation_id, role=live.professional.role,
                 request_id=g.get("request_id"),
                 source_address=truncate_address(request.remote_addr))


def _count(door: str, reason: str) -> None:
    count_refusal(uow(), network=truncate_address(request.remote_addr), door=door,
                  reason=reason)


def _audit_or_count(event_type: str, reason: str, counted_as: str) -> None:
    """An event of the signed-in professional, or a count for the source network."""
    actor = signed_in_actor()
    if actor is None:
        _count("web", counted_as)
        return
    work = uow()
    work.undo()  # the request's refusal, and nothing else of it, is kept
    work.record(actor, event_type, outcome="refused", reason=reason,
                details={"method": request.method, "path": request.path})


def refuse_csrf() -> NoReturn:
    """Record the failed CSRF check and answer 400."""
    _audit_or_count(Event.WEB_CSRF_REFUSED, "missing or wrong CSRF token", "csrf")
    abort(400, description=gettext("csrf"))


def rate_limited(limit: RequestLimit) -> Response | None:
    """Record a breached per-address limit (the limiter's ``on_breach``); the web's 429 page.

    Returns None for the API, whose problem handler answers.
    """
    if request.blueprint == "api":
        _count("api", "rate-limited")
        return None
    _audit_or_count(Event.WEB_RATE_LIMITED, f"limit {limit.limit}", "rate-limited")
    seconds = str(max(1, int(limit.reset_at - time.time())))
    page, status, headers = error_page(429, gettext("rate_limited", seconds=seconds),
                                       {"Retry-After": seconds})
    return Response(page, status=status, headers=headers, mimetype="text/html")
