"""The web door's refusals in the audit log: a page of another role, a failed CSRF check and a
rate limit (issue 11).

Rules this module guarantees:

- With someone signed in, each refusal is an audit event of its own (``web:access_refused``,
  ``web:csrf_refused``, ``web:rate_limited``, outcome ``refused``) carrying the account, the
  broker's request id and the source network; the details hold the method and path, never the
  form (which may hold identifiers).
- The account is named by its kind (:func:`actor_of`): ``professional:<name>`` acting for its
  organisation in its role, ``privacy_officer:<name>`` or ``auditor:<name>`` acting for no
  organisation — the same actor the account's own acts are recorded under.
- With nobody signed in (or a session naming an account that no longer exists), the refusal is
  counted per source network and minute (:mod:`broker.oversight.refusals`), never an event each.
- The answer is the same either way: 403 for a page of another role; 400 with the "form
  expired" text for CSRF; 429 with a Dutch or English page and ``Retry-After`` for a rate limit.
- The API's per-address limit is counted the same way (nobody is authenticated yet), by
  broker.api.auth; its answer stays the API's problem document.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import NoReturn

from flask import Response, abort, g, request
from flask_limiter import RequestLimit

from broker.audit.events import Event
from broker.audit.services import Actor, truncate_address
from broker.door import uow
from broker.oversight.refusals import count_refusal
from broker.oversight.subject_requests import as_privacy_officer
from broker.registry.models import ACCESS_PRIVACY_OFFICER, ACCESS_PROFESSIONAL
from broker.signin.sessions import Resumed
from broker.web import sessions as web_sessions
from broker.web.errors import error_page
from broker.web.i18n import gettext


def actor_of(live: Resumed) -> Actor:
    """The account of a live session as the audit log's actor, named by its kind: a professional
    acts for their organisation in their role; a privacy officer or an auditor for no
    organisation (an auditor's pseudonym evaluations are charged to none)."""
    me = live.professional
    if me.access_role == ACCESS_PROFESSIONAL:
        base = Actor(actor=f"professional:{me.username}", channel="web",
                     organisation_id=live.organisation_id, role=me.role)
    elif me.access_role == ACCESS_PRIVACY_OFFICER:
        base = as_privacy_officer(me.username, "web")
    else:
        base = Actor(actor=f"{me.access_role}:{me.username}", channel="web",
                     role=me.access_role)
    return replace(base, request_id=g.get("request_id"),
                   source_address=truncate_address(request.remote_addr))


def signed_in_actor() -> Actor | None:
    """The signed-in account as the audit log's actor; None when nobody is signed in.

    Asked of the server (the session's row), never of the cookie alone: a cookie copied before
    sign-out names nobody, so its refusals are counted for its network, not put on the name."""
    live = web_sessions.current()
    return actor_of(live) if live is not None else None


def _count(door: str, reason: str) -> None:
    count_refusal(uow(), network=truncate_address(request.remote_addr), door=door,
                  reason=reason)


def _audit_or_count(event_type: str, reason: str, counted_as: str,
                    **details: str) -> None:
    """An event of the signed-in account, or a count for the source network."""
    actor = signed_in_actor()
    if actor is None:
        _count("web", counted_as)
        return
    work = uow()
    work.undo()  # the request's refusal, and nothing else of it, is kept
    work.record(actor, event_type, outcome="refused", reason=reason,
                details={"method": request.method, "path": request.path, **details})


def refuse_access(needs: str) -> NoReturn:
    """Record that the signed-in account opened a page of the ``needs`` role, and answer 403."""
    _audit_or_count(Event.WEB_ACCESS_REFUSED, f"the page is for the {needs} role",
                    "access-refused", needs=needs)
    abort(403)


def refuse_csrf() -> NoReturn:
    """Record the failed CSRF check and answer 400."""
    _audit_or_count(Event.WEB_CSRF_REFUSED, "missing or wrong CSRF token", "csrf")
    abort(400, description=gettext("csrf"))


def rate_limited(limit: RequestLimit) -> Response | None:
    """Record a breached per-address limit (the limiter's ``on_breach``); the web's 429 page.
    (The API is exempt from the limiter: broker.api.limits counts and refuses its requests.)"""
    _audit_or_count(Event.WEB_RATE_LIMITED, f"limit {limit.limit}", "rate-limited")
    seconds = str(max(1, int(limit.reset_at - time.time())))
    page, status, headers = error_page(429, gettext("rate_limited", seconds=seconds),
                                       {"Retry-After": seconds})
    return Response(page, status=status, headers=headers, mimetype="text/html")
