"""Who may open a page of the web door: one guard for the professional's and the staff's pages.

Rules this module guarantees:

1. A page of a role (:func:`role_required`) opens only for a live server-side session of an
   account with that ``access_role``; without a session the browser is sent to sign in. The
   session is asked of the server on every request (:mod:`broker.web.sessions`): sign-out, a
   password change, deactivation, 30 minutes idle or 8 hours end it; the cookie alone opens
   nothing.
2. Any other signed-in account gets the 403 page, and the refusal is an audit event of its own
   (``web:access_refused``, outcome ``refused``) naming the account by its kind, the role the
   page needs, the method and the path (never a form value), kept although the request fails —
   as the web door's other refused accesses (:mod:`broker.web.refusals`). A professional opening
   a privacy officer's page is refused so, and so is a privacy officer or an auditor opening a
   professional's page: staff do no chain work.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import g, redirect, url_for

from broker.web import sessions as web_sessions
from broker.web.refusals import refuse_access

F = TypeVar("F", bound=Callable[..., Any])


def role_required(role: str) -> Callable[[F], F]:
    """Open the view for a signed-in account of ``role`` only (rules 1 and 2)."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            live = web_sessions.current()
            if live is None:
                web_sessions.forget()
                return redirect(url_for("web.login"))
            if live.professional.access_role != role:
                refuse_access(role)
            g.professional = live.professional
            return view(*args, **kwargs)

        return cast(F, wrapped)

    return decorate
