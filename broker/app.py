"""``create_app``: the one place where the broker is wired together.

The app refuses to start when a key or the session secret is missing or readable by others, and
says which file and how to fix it (STYLE habit 5); a server refuses several worker processes
without a shared rate-limit store (broker.serving, broker.gunicorn_conf).

Every request gets the broker's own request id first (broker.request_ids). Replay nonces and
daily quotas live in the database, which every process shares; the per-minute limits in Redis
when ``BROKER_REDIS_URL`` is set, else in this process's memory. Building the app starts no
thread: checkpoints, notification delivery and housekeeping are ``broker worker``'s
(broker.cli.jobs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from flask_limiter import Limiter, RequestLimit
from flask_limiter.util import get_remote_address
from werkzeug.wrappers import Response

from broker import door, request_ids
from broker import headers as security_headers
from broker.api.context import ApiContext
from broker.api.problems import outage_problem, register_unrouted_handlers
from broker.api.proxies import TrustedProxies, parse_trusted
from broker.api.views import bp as api
from broker.audit.services import Actor
from broker.callers.keys import OrganisationKeys, load_response_key
from broker.config import Settings
from broker.core import Core
from broker.logs import configure_logging
from broker.notifications.notices import InboxNotices
from broker.ops import views as ops
from broker.outages import OUTAGE_ERRORS, is_outage
from broker.policy.services import PolicyWatcher, record_policy_in_force
from broker.setup import read_secret
from broker.signin.keys import SignInKey
from broker.web import errors as web_errors
from broker.web import i18n
from broker.web.auditor_views import bp as auditor_pages
from broker.web.officer_views import bp as officer_pages
from broker.web.outage import outage_page
from broker.web.refusals import rate_limited
from broker.web.views import bp as web

# The largest request body the broker reads (a 413 problem document beyond it). nginx in
# deploy/ bounds bodies above this, so that the broker, not nginx, answers a body it refuses.
MAX_BODY = 2 * 1024 * 1024


def create_app(settings: Settings | None = None, *, core: Core | None = None,
               **overrides: Any) -> Flask:
    """Build the Flask app on ``core`` (or a new core from ``settings``/the environment)."""
    if core is None:
        core = Core(settings or Settings.from_env(), notices=InboxNotices())
    core.keystore.check()
    core.check_wired()  # a core without notices fails here, not at its first registration
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=read_secret(core.settings.instance_dir),
        MAX_CONTENT_LENGTH=MAX_BODY,
    )
    # The session cookie (``__Host-`` and Secure behind an https base URL) and the security
    # headers of every response.
    security_headers.install(app, core.settings)
    app.session_interface = door.PageSessions()  # no cookie session on the API
    app.config.update(overrides)
    app.extensions[door.CORE_EXTENSION] = core
    app.extensions["broker.signin_key"] = SignInKey.load(core.settings.keys_dir)
    configure_logging(core.settings)

    app.before_request(request_ids.assign)  # before the limiter's check, so 429s carry it too
    app.after_request(request_ids.echo)
    # /healthz, /readyz, /metrics; every answer counted and timed by its URL rule (after the
    # commit below, which it includes).
    ops.install(app)
    app.extensions["broker.api"] = context = _api_context(app, core, on_breach=rate_limited)
    context.limiter.exempt(ops.bp)  # a monitor's polling is not a client's traffic
    # The API counts its addresses itself, with its organisations' (broker.api.limits).
    context.limiter.exempt(api)
    i18n.install(app)  # the web pages' message catalogue (Flask-Babel), Dutch by default
    app.register_blueprint(web)
    app.register_blueprint(officer_pages)  # the privacy officer's pages (issue 14)
    app.register_blueprint(auditor_pages)  # the auditor's pages (issue 14)
    app.register_blueprint(api)
    web_errors.install(app)  # 4xx and 500 of web pages in the site's layout and language
    register_unrouted_handlers(app, web_errors.web_error)
    _answer_outages(app)
    # One unit of work per request: opened first, committed before the answer is signed.
    door.install(app, on_commit_failure=_commit_failed)
    app.wsgi_app = TrustedProxies(  # type: ignore[method-assign]  # Flask's documented way
        app.wsgi_app, parse_trusted(core.settings.trusted_proxies))
    record_policy_in_force(core, Actor.system("startup"))
    watcher = PolicyWatcher(core)
    app.extensions["broker.policy_watcher"] = watcher

    @app.before_request
    def _reload_policy() -> None:
        if not ops.is_ops_request():  # /healthz reads nothing (broker.ops.views rule 5)
            watcher.tick()

    return app


def _outage(exc: Exception) -> Response:
    """The answer to a lost database or Redis: a 503 problem on the API, the web's calm page."""
    if not is_outage(exc):
        raise exc  # not an outage: Flask answers it as the 500 it is, and logs it
    return outage_problem(exc) if door.is_api_request() else outage_page()


def _commit_failed(exc: Exception) -> Response:
    """A commit the database refused: an outage's 503; anything else stays an error (500)."""
    return _outage(exc)


def _answer_outages(app: Flask) -> None:
    """A lost database or Redis outside the API blueprint's own handlers (web pages, unrouted
    ``/v1`` paths): 503 with Retry-After, never 500 (broker.outages)."""
    for error in OUTAGE_ERRORS:
        app.register_error_handler(error, _outage)


def _api_context(app: Flask, core: Core, *, on_breach: Callable[[RequestLimit], Any]
                 ) -> ApiContext:
    """The API's backends: nonces in the database; per-minute limits in Redis when
    BROKER_REDIS_URL is set, in memory otherwise. ``on_breach`` records a breached limit."""
    settings = core.settings
    limiter = Limiter(
        get_remote_address, app=app, default_limits=[settings.api_ip_rate], on_breach=on_breach,
        # RateLimit-* headers are set by broker.api.auth.sign, from whichever limit applied.
        storage_uri=settings.redis_url or "memory://", headers_enabled=False,
        swallow_errors=False,  # fail closed: an unreachable store refuses requests
        storage_options={"socket_timeout": 2, "socket_connect_timeout": 2}
        if settings.redis_url else {},
    )
    with core.unit_of_work() as uow:
        OrganisationKeys(uow).import_files(Actor.system("startup"),
                                           settings.keys_dir / "organisations")
    return ApiContext(limiter=limiter, response_key=load_response_key(settings.keys_dir))


