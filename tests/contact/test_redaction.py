"""Contact-link tokens are redacted from log records, whatever shape their arguments have."""

from __future__ import annotations

import logging

from broker.contact.links import TokenRedaction, redact_tokens

TOKEN = "k3Vh2x9QvYtqZ0mC4nP7sR1uW8eA5bD6fG2hJ9kL0oI"


def _record(msg: str, args: object) -> logging.LogRecord:
    return logging.LogRecord("x", logging.INFO, __file__, 1, msg, args, None)  # type: ignore[arg-type]


def test_tuple_mapping_and_message_arguments_are_redacted() -> None:
    werkzeug = _record('"%s" %s', (f"GET /v1/contact-links/{TOKEN} HTTP/1.1", 200))
    gunicorn = _record('%(r)s %(s)s', {"r": f"GET /v1/contact-links/{TOKEN}?a=1", "s": "200"})
    inline = _record(f"opened /v1/contact-links/{TOKEN}", None)
    for record in (werkzeug, gunicorn, inline):
        assert TokenRedaction().filter(record)
        assert TOKEN not in record.getMessage()
        assert "/v1/contact-links/[redacted]" in record.getMessage()
    assert redact_tokens("/v1/contact-requests/abc") == "/v1/contact-requests/abc"
