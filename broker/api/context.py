"""What the API needs besides the core: key resolution, the replay cache, the rate limiter and
the broker's response key; built once in ``create_app`` from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app
from flask_limiter import Limiter
from nacl.signing import SigningKey

from broker.api.keys import OrganisationKeys
from broker.api.replay import ReplayCache


@dataclass
class ApiContext:
    """The API's backends."""

    keys: OrganisationKeys
    replay: ReplayCache
    limiter: Limiter
    response_key: SigningKey
    org_rate: str


def api_context(app: Flask | None = None) -> ApiContext:
    """The API context of ``app`` (default: the current app)."""
    context: ApiContext = (app or current_app).extensions["broker.api"]
    return context
