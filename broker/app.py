"""``create_app``: the one place where the broker is wired together.

The app refuses to start when a key or the session secret is missing or readable by others, and
says which file and how to fix it (STYLE habit 5).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from broker.audit.services import Actor
from broker.config import Settings
from broker.core import Core
from broker.policy.services import PolicyWatcher, record_policy_in_force
from broker.setup import read_secret


def create_app(settings: Settings | None = None, *, core: Core | None = None,
               **overrides: Any) -> Flask:
    """Build the Flask app on ``core`` (or a new core from ``settings``/the environment)."""
    if core is None:
        core = Core(settings or Settings.from_env())
    core.keystore.check()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=read_secret(core.settings.instance_dir),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
    )
    app.config.update(overrides)
    app.extensions["broker.core"] = core
    logging.getLogger("broker").setLevel(core.settings.log_level)

    from broker.web.views import bp as web  # noqa: PLC0415 - blueprints import the app's pieces

    app.register_blueprint(web)
    record_policy_in_force(core, Actor.system("startup"))
    watcher = PolicyWatcher(core)
    app.extensions["broker.policy_watcher"] = watcher

    @app.before_request
    def _reload_policy() -> None:
        watcher.tick()

    return app


def core_of(app: Flask) -> Core:
    """The core an app was built on."""
    core: Core = app.extensions["broker.core"]
    return core
