"""What the web and API doors share: the running app's core, and each request's unit of work.

Rules this module guarantees (STYLE habit 3, the warehouse model):

1. Every request gets one unit of work, opened before anything else of the request runs (the
   first ``before_request`` function of the app) and available as :func:`uow`. Every service a
   request calls runs in it; nothing of a request opens a transaction of its own.
2. After the answer is made, the unit of work commits once — unless the request failed: an
   error the door answers (a refusal, bad input) undoes everything except a refusal the
   service recorded (:meth:`~broker.core.UnitOfWork.refuse`) and what must be kept (a quota
   charge: :meth:`~broker.core.UnitOfWork.settle_failure`); an error nobody
   answers (a bug) rolls everything back. The commit happens before the answer is signed and
   sent, so a client never sees a success the database did not keep; a commit that fails
   because the database is gone becomes the door's 503.
3. The session is closed when the request ends, whatever happened.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app, g, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask.wrappers import Request
from werkzeug.wrappers import Response

from broker.core import Core, UnitOfWork

API_PREFIX = "/v1"


def is_api_path(path: str) -> bool:
    """True when ``path`` is the API's (``/v1`` or under it), not a web page's."""
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


def is_api_request() -> bool:
    """True when the current request is addressed to the API (``/v1``), not a web page."""
    return is_api_path(request.path)


class PageSessions(SecureCookieSessionInterface):
    """The web pages' signed cookie session, and none for the API: a signed request names its
    caller by its signature, so a ``/v1`` request reads no cookie (a cookie sent along counts
    for nothing) and writes none — Flask's null session, which refuses to be written."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """No session on the API; the pages' cookie session otherwise."""
        if is_api_path(request.path):
            return self.make_null_session(app)
        return super().open_session(app, request)


CORE_EXTENSION = "broker.core"


def core_of(app: Flask) -> Core:
    """The core an app was built on."""
    core: Core = app.extensions[CORE_EXTENSION]
    return core


def current_core() -> Core:
    """The core of the app serving this request."""
    return core_of(current_app)


def uow() -> UnitOfWork:
    """This request's unit of work (rule 1)."""
    found: UnitOfWork = g.uow
    return found


def failed() -> None:
    """The door answers an error itself (an error page, a form with its message): undo what the
    request wrote, keeping a refusal a service recorded and what must be kept (rule 2)."""
    work: UnitOfWork | None = g.get("uow")
    if work is not None:
        work.settle_failure()


def install(app: Flask, *, on_commit_failure: Callable[[Exception], Response]) -> None:
    """Open a unit of work before each request, commit it after, close it at the end.

    Call after the blueprints are registered: ``after_request`` functions run in reverse order
    of registration, so the commit runs before the answer is signed. ``on_commit_failure`` makes
    the answer for a commit the database refused (an outage: 503).
    """
    core = core_of(app)

    def open_unit() -> None:
        g.uow = core.begin()

    def commit(response: Response) -> Response:
        work: UnitOfWork | None = g.get("uow")
        if work is None:
            return response
        try:
            if response.status_code >= 400:
                work.settle_failure()  # an answered error: only a refusal and what is kept stay
            else:
                work.commit()
        except Exception as exc:  # the database refused the commit: nothing was kept
            work.rollback()
            return on_commit_failure(exc)  # an outage's 503; anything else is raised (500)
        return response

    def close(_exc: BaseException | None) -> None:
        work: UnitOfWork | None = g.pop("uow", None)
        if work is not None:
            work.close()  # rolls back whatever was not committed

    app.before_request_funcs.setdefault(None, []).insert(0, open_unit)
    app.after_request(commit)
    app.teardown_request(close)
