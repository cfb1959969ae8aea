"""The witness's HTTP door: ``POST /add-checkpoint`` and ``GET /checkpoint/<origin>``.

Thin: it reads the body (at most 64 KiB, else 413), asks the service and writes its answer.
Successful answers and the 409 size are the plain-text bodies c2sp.org/tlog-witness defines;
every other refusal is RFC 9457 problem details (``urn:broker:witness:<code>``) with a detail in
Dutch or English, as the client's ``Accept-Language`` prefers.
"""

from __future__ import annotations

import json

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from broker.witness.service import MAX_REQUEST, Answer, WitnessService

PROBLEM_JSON = "application/problem+json"
_DUTCH = {404: "Niet gevonden.", 405: "Deze methode kan hier niet.",
          413: "Het verzoek is groter dan 64 KiB."}


def create_witness_app(service: WitnessService) -> Flask:
    """The witness's WSGI application."""
    app = Flask("broker.witness")
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST

    @app.post("/add-checkpoint")
    def add_checkpoint() -> Response:
        return _render(service.add_checkpoint(request.get_data(cache=False)))

    @app.get("/checkpoint/<path:origin>")
    def checkpoint(origin: str) -> Response:
        return _render(service.latest(origin))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        english = error.description or ""
        return _problem(status, (error.name or "error").lower().replace(" ", "-"), english,
                        _DUTCH.get(status, english))

    return app


def _render(answer: Answer) -> Response:
    if answer.code is None:
        return Response(answer.body, status=answer.status, content_type=answer.content_type)
    dutch = answer.problem.translate("nl") if answer.problem is not None else answer.body
    return _problem(answer.status, answer.code, answer.body, dutch)


def _problem(status: int, code: str, message_en: str, message_nl: str) -> Response:
    dutch = request.accept_languages.best_match(["en", "nl"], default="en") == "nl"
    body = {"type": f"urn:broker:witness:{code}", "title": code.replace("-", " ").capitalize(),
            "status": status, "detail": message_nl if dutch else message_en}
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=PROBLEM_JSON)
