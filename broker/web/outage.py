"""The page a person sees while the database or Redis is out of reach (see broker.outages).

It is rendered without the session, the policy or the database — any of them may be what is
gone — and so without the base layout and its context: Dutch first and English below it, since
the language preference lives in the session. 503, ``Retry-After`` and ``Cache-Control:
no-store``, so that no cache keeps it after the outage.
"""

from __future__ import annotations

from flask import current_app
from werkzeug.wrappers import Response

from broker.outages import RETRY_AFTER_SECONDS


def outage_page() -> Response:
    """The calm, bilingual 503 page."""
    template = current_app.jinja_env.get_template("outage.html")
    response = Response(template.render(retry_after=RETRY_AFTER_SECONDS), status=503,
                        mimetype="text/html")
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response.headers["Cache-Control"] = "no-store"
    return response
