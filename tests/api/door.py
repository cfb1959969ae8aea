"""Signed requests through Flask's test client: the API door without a socket, for many cases.

The test client hands the path to the app exactly as given (``RAW_URI``/``REQUEST_URI`` carry it,
as gunicorn and Werkzeug's server do), so a path with percent-encodings is signed and received
byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from broker_primitives.httpsig.signature_policy import REQUEST_COMPONENTS
from broker_primitives.httpsig.signatures import sign_request
from flask import Flask
from werkzeug.test import TestResponse

from tests.api.live import Organisation

ORIGIN = "http://localhost"


class Door:
    """Send signed requests as one organisation to an app."""

    def __init__(self, app: Flask, org: Organisation) -> None:
        self.client = app.test_client()
        self.org = org
        self.last_headers: dict[str, str] = {}  # of the last request sent

    def send(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        components: Sequence[str] = REQUEST_COMPONENTS,
        sign: bool = True,
    ) -> TestResponse:
        """``body`` as JSON (or the exact bytes ``raw``), signed over ``ORIGIN + path``."""
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        sent = {"Content-Type": "application/json", **(headers or {})}
        if sign:
            sent.update(sign_request(method=method, target_uri=ORIGIN + path, headers=sent,
                                     key_id=self.org.key_id, private_key=self.org.key,
                                     body=data, components=components))
        self.last_headers = sent
        return self.client.open(path, method=method, headers=sent, data=data)
