"""The browser's half of a web session.

The cookie is Flask's signed session. It carries the page language, the form (CSRF) token and
the random id of a server-side session (:mod:`broker.signin.sessions`) — nothing that decides
who is signed in: whether the id still opens a session (signed out, password changed,
deactivated, idle for 30 minutes, older than 8 hours) is asked of the server on every request.
The user name kept beside it only labels the sign-out button.
"""

from __future__ import annotations

import secrets

from flask import current_app, g, request, session

from broker.door import uow
from broker.signin.keys import SignInKey
from broker.signin.models import STAGE_SECOND_FACTOR, STAGE_SIGNED_IN
from broker.signin.second_factor import SecondFactorService
from broker.signin.services import SignInService
from broker.signin.sessions import Resumed
from broker.web.i18n import current_language

SESSION_ID = "sid"
PENDING_ID = "pending"


def _key() -> SignInKey:
    key: SignInKey = current_app.extensions["broker.signin_key"]
    return key


def sign_in_service() -> SignInService:
    """The sign-in service on this request's unit of work."""
    return SignInService(uow(), _key())


def second_factor_service() -> SecondFactorService:
    """The second-factor enrolment service on this request's unit of work."""
    return SecondFactorService(uow(), _key())


def client_address() -> str | None:
    """The address the request came from (a trusted proxy's ``X-Forwarded-For`` believed)."""
    return request.remote_addr


def session_id() -> str | None:
    """The server-side session id this browser holds, if any (live or not)."""
    token = session.get(SESSION_ID)
    return token if isinstance(token, str) else None


def current() -> Resumed | None:
    """The signed-in session of this browser (asked of the server once per request)."""
    if "signin_session" not in g:
        token = session_id()
        g.signin_session = (sign_in_service().current(token, STAGE_SIGNED_IN)
                            if token is not None else None)
    live: Resumed | None = g.signin_session
    return live


def pending() -> tuple[str, Resumed] | None:
    """The session of this browser that waits for its second factor, with its id."""
    token = session.get(PENDING_ID)
    if not isinstance(token, str):
        return None
    waiting = sign_in_service().current(token, STAGE_SECOND_FACTOR)
    return (token, waiting) if waiting is not None else None


def begin(token: str, stage: str, username: str) -> None:
    """Start afresh on a new server-side session id: a new form token, the old id gone."""
    lang = current_language()
    session.clear()
    session.update(lang=lang, csrf=secrets.token_urlsafe(32))
    if stage == STAGE_SIGNED_IN:
        session.update({SESSION_ID: token, "professional": username})
    else:
        session[PENDING_ID] = token
    g.pop("signin_session", None)


def forget() -> None:
    """Drop everything but the language from the cookie."""
    lang = current_language()
    session.clear()
    session["lang"] = lang
    g.pop("signin_session", None)
