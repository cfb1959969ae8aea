"""The /v1 route table: flask-smorest's Blueprint, with the broker's JSON door and JSON answers.

Each view declares its route, its body schema (``@bp.arguments``), its answer schema
(``@bp.response``) and its operation (``@bp.operation``: id, problem answers, parameters); the
OpenAPI document (:mod:`broker.api.openapi`) is made from these declarations, so there is one
route table. Rules this module guarantees:

1. A body is read by :class:`BodyParser`: ``application/json`` only (else a 422
   ``unsupported-media``), then :func:`broker.api.bodies.parse_json` (UTF-8, depth, NUL and lone
   surrogates, duplicate member names), then the schema, which refuses unknown fields. An empty
   body (or ``null``) is loaded as ``{}``.
2. A schema's refusal is the marshmallow ``ValidationError`` it raised, with its messages as
   the schema gave them, so that the problem handler (:mod:`broker.api.problems`) answers it
   exactly as before: 422 ``validation`` with ``errors`` per field.
3. An answer is the schema's dump as UTF-8 JSON in the schema's field order (not Flask's
   sorted, ASCII-escaped ``jsonify``), with the declared success status.
4. Routes made with :meth:`ApiBlueprint.public_route` (the document and its page) are not in
   the document.
5. flask-smorest's decorators write what they know into a view's ``_apidoc``, from which the
   document is made; here they lend that documentation only. What runs per request is webargs'
   parser, the dump of rule 3 and the view: none of flask-smorest's pass-through wrappers (each
   costs a look-up of the app per request on the performance-sensitive look-up path).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from functools import wraps
from typing import Any, NoReturn, TypeVar

import flask
import flask_smorest
from flask import Response
from marshmallow import Schema
from marshmallow import ValidationError as SchemaError
from webargs.flaskparser import FlaskParser

from broker.api.bodies import parse_json
from broker.api.openapi import ERRORS, EXTRA_HEADERS, IDEMPOTENCY_KEY, SIGNED
from broker.api.problems import PROBLEM_JSON
from broker.api.schemas import Problem
from broker.errors import ValidationError

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


class BodyParser(FlaskParser):
    """webargs' Flask parser with the broker's JSON door (rules 1 and 2)."""

    def load_json(self, req: flask.Request, schema: Schema) -> Any:
        """The body checked by :func:`broker.api.bodies.parse_json`; ``{}`` when empty."""
        if req.mimetype != "application/json":
            raise ValidationError("Send the body as application/json.", code="unsupported-media")
        body = req.get_data(cache=True)
        data = parse_json(body) if body else None
        return data if data is not None else {}

    def handle_error(self, error: SchemaError, req: flask.Request, schema: Schema, *,
                     error_status_code: int | None,
                     error_headers: Mapping[str, str] | None) -> NoReturn:
        """The schema's own refusal, its messages no longer filed under the location."""
        # webargs files them under the location that was read: {"json": {...}}.
        [messages] = error.messages_dict.values()
        raise SchemaError(messages) from None


class ApiBlueprint(flask_smorest.Blueprint):  # type: ignore[misc]  # flask-smorest is untyped
    """A flask-smorest Blueprint whose bodies and answers keep the broker's rules."""

    ARGUMENTS_PARSER = BodyParser()

    def route(self, rule: str, **options: Any) -> Callable[[F], F]:
        """flask-smorest's ``route`` (the route, and the operation in the document), typed."""
        decorator: Callable[[F], F] = super().route(rule, **options)
        return decorator

    def arguments(self, schema: Schema) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """The JSON body loaded by :class:`BodyParser` with ``schema``, as the view's first
        argument; documented as flask-smorest does (the operation's request body)."""
        document = super().arguments(schema)

        def decorator(view: Callable[..., T]) -> Callable[..., T]:
            loaded: Callable[..., T] = self.ARGUMENTS_PARSER.use_args(schema, location="json")(
                view)
            loaded._apidoc = document(view)._apidoc  # type: ignore[attr-defined]  # rule 5
            return loaded

        return decorator

    def response(self, status_code: int, schema: Schema, **doc: Any
                 ) -> Callable[[Callable[..., Any]], Callable[..., Response]]:
        """The view's result dumped with ``schema`` as a ``status_code`` answer (rule 3),
        documented as flask-smorest does, with the signed-answer headers."""
        document = super().response(status_code, schema, description="Success",
                                    headers=SIGNED, **doc)

        def decorator(view: Callable[..., Any]) -> Callable[..., Response]:
            @wraps(view)
            def dumped(*args: Any, **kwargs: Any) -> Response:
                return Response(json.dumps(schema.dump(view(*args, **kwargs)),
                                           ensure_ascii=False),
                                status=status_code, mimetype="application/json")

            dumped._apidoc = document(view)._apidoc  # type: ignore[attr-defined]  # rule 5
            return dumped

        return decorator

    def operation(self, operation_id: str, *, idempotency_key: bool = False,
                  parameters: Iterable[dict[str, Any]] = ()) -> Callable[[F], F]:
        """Document the view as ``operation_id``, with every problem answer of the API and
        ``parameters`` (query parameters), plus the ``Idempotency-Key`` header when the view
        honours one."""
        listed = [*parameters, *([IDEMPOTENCY_KEY] if idempotency_key else [])]
        manual: dict[str, Any] = {"operationId": operation_id}
        if listed:
            manual["parameters"] = listed

        def decorator(view: F) -> F:
            documented: Any = view
            for code, text in reversed(ERRORS.items()):
                documented = self.alt_response(
                    int(code), schema=Problem, description=text, content_type=PROBLEM_JSON,
                    headers={**SIGNED, **EXTRA_HEADERS.get(code, {})})(documented)
            documented = self.doc(**manual)(documented)
            view._apidoc = documented._apidoc  # type: ignore[attr-defined]  # rule 5
            return view

        return decorator

    def public_route(self, rule: str) -> Callable[[F], F]:
        """A GET route outside the document (rule 4)."""

        def decorator(view: F) -> F:
            flask.Blueprint.add_url_rule(self, rule, view.__name__, view)
            return view

        return decorator

