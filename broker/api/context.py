"""What the API needs besides the core and the request's unit of work: the rate limiter and
the broker's response key; built once in ``create_app`` from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app
from flask_limiter import Limiter
from nacl.signing import SigningKey


@dataclass
class ApiContext:
    """The API's backends."""

    limiter: Limiter
    response_key: SigningKey


def api_context(app: Flask | None = None) -> ApiContext:
    """The API context of ``app`` (default: the current app)."""
    context: ApiContext = (app or current_app).extensions["broker.api"]
    return context
