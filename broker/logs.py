"""The broker's log lines: plain text by default, one JSON object per line with
``BROKER_LOG_FORMAT=json`` (for a log collector).

Rules this module guarantees:

1. A JSON line has ``time`` (UTC, ISO 8601), ``level``, ``logger`` and ``message``, and the
   fields a caller passes in ``extra`` among :data:`FIELDS` (a request's ``request_id``,
   ``method``, ``endpoint``, ``status``, ``duration_ms``); nothing else of the record.
2. An exception is named by its type only (``exception``), never its message or traceback: the
   text of a database error can hold the values of its statement.
3. The web server's own access lines (werkzeug) are silenced in JSON mode: they carry the
   request's path, which may hold a contact link's token; the door logs each request by its URL
   rule instead (:func:`log_request`), in JSON mode only.
4. The broker's loggers (``broker.*``) log at ``BROKER_LOG_LEVEL``.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from broker.config import Settings

FIELDS = ("request_id", "method", "endpoint", "status", "duration_ms", "job")
_HANDLER_NAME = "broker-json"
requests_log = logging.getLogger("broker.requests")


class JsonFormatter(logging.Formatter):
    """One JSON object per record (rules 1 and 2)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in FIELDS:
            if hasattr(record, field):
                line[field] = getattr(record, field)
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = record.exc_info[0].__name__
        return json.dumps(line, ensure_ascii=False, separators=(",", ":"), default=str)


def configure_logging(settings: Settings) -> None:
    """Set the broker's level, and in JSON mode send every record to stderr as JSON (rule 3:
    werkzeug's access lines off). Idempotent."""
    logging.getLogger("broker").setLevel(settings.log_level)
    if settings.log_format != "json":
        # The web server's access line says it already; the request's own line is for JSON.
        requests_log.setLevel(logging.WARNING)
        if not logging.getLogger().handlers:
            logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        return
    requests_log.setLevel(logging.NOTSET)  # the broker's level
    root = logging.getLogger()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    if any(handler.get_name() == _HANDLER_NAME for handler in root.handlers):
        return
    handler = _StandardError()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)


class _StandardError(logging.StreamHandler):  # type: ignore[type-arg]  # of the stream's type
    """Writes to whatever ``sys.stderr`` is when a record comes (a server may replace it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # the base class keeps it in an attribute
    def stream(self) -> object:
        """The current standard error."""
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        """Ignored: always the current standard error."""


def log_request(*, request_id: str, method: str, endpoint: str, status: int,
                duration_ms: float) -> None:
    """One line per answered request, by URL rule (never the path or query)."""
    requests_log.info("%s %s %s", method, endpoint, status, extra={
        "request_id": request_id, "method": method, "endpoint": endpoint, "status": status,
        "duration_ms": round(duration_ms, 2)})
