"""Request ids: the broker always makes its own; a caller's is kept beside it, once checked.

Rules this module guarantees:

- Every request gets a request id the broker makes (a time-ordered UUID version 7) in
  ``g.request_id``: the ``request_id`` of every audit event the request writes and the
  ``X-Request-Id`` of its answer. A caller cannot choose it, so a caller cannot make two
  requests look like one in the log, or write text of its own into that column.
- A caller's ``X-Request-Id`` (a case system's correlation id, or a proxy's) is kept in
  ``g.client_request_id`` only when it is 1 to 64 characters of letters, digits and ``._:-``
  and holds nothing shaped like an identifier (:func:`broker.freetext.identifier_shapes`: a
  BSN, a postcode, a date). Kept, it is recorded in the details of the request's audit events
  as ``client_request_id`` and echoed back in ``X-Client-Request-Id``. Anything else is ignored:
  neither recorded nor echoed, and the request goes on.
"""

from __future__ import annotations

import re

from flask import Response, g, request

from broker.audit.services import time_ordered_uuid
from broker.freetext import identifier_shapes

HEADER = "X-Request-Id"
CLIENT_HEADER = "X-Client-Request-Id"
_ACCEPTED = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def checked_client_id(value: str | None) -> str | None:
    """The caller's request id if it may be kept (see the module's rules), else None."""
    if value is None or not _ACCEPTED.fullmatch(value) or identifier_shapes(value):
        return None
    return value


def assign() -> None:
    """Give the request the broker's own id and the caller's checked one (before_request)."""
    g.request_id = time_ordered_uuid()
    g.client_request_id = checked_client_id(request.headers.get(HEADER))


def echo(response: Response) -> Response:
    """Put both ids on the answer (after_request; the API's signing calls it first, so that
    they are signed with the rest, and the app's call then leaves them as they are)."""
    for name, value in ((HEADER, g.get("request_id")), (CLIENT_HEADER,
                                                        g.get("client_request_id"))):
        if value is not None and name not in response.headers:
            response.headers[name] = value
    return response
