"""The request's target URI as the client sent it, for ``@target-uri`` (RFC 9421 §2.2.2).

A signature covers the target URI *as received*: ``/v1/%69nbox`` and ``/v1/inbox`` name the same
resource, but they are different targets, and only the one the client signed verifies. Werkzeug's
``request.url`` is rebuilt from the decoded path (``%41`` becomes ``A``, ``%C3%A9`` becomes ``é``,
a trailing ``?`` is lost), so it is never used for signatures.

Rules :func:`target_uri` guarantees:

- The path and query are the request target exactly as the server received it: ``RAW_URI``
  (gunicorn, and Werkzeug's server and test client) or else ``REQUEST_URI`` (mod_wsgi, uWSGI).
  An absolute-form target (``GET http://host/path``, HTTP/1.1 §3.2.2) contributes its path and
  query only.
- Only when the server gives neither is the target rebuilt from ``SCRIPT_NAME``, ``PATH_INFO``
  and ``QUERY_STRING``, percent-encoding what RFC 3986 does not allow in a path; such a server
  cannot tell ``%41`` from ``A``, so a client must then sign the plain form.
- Scheme and authority are the request's (``X-Forwarded-Proto`` and ``X-Forwarded-Host`` count
  only from a trusted proxy, see :mod:`broker.api.proxies`); the authority is the ``Host`` the
  client sent.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from werkzeug.wrappers import Request

# RFC 3986 pchar plus "/": what may stand in a path without percent-encoding.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def received_target(environ: dict[str, object]) -> str:
    """The request target's path and query, as received (see the module docstring)."""
    for name in ("RAW_URI", "REQUEST_URI"):
        raw = environ.get(name)
        if isinstance(raw, str) and raw:
            if raw.startswith("/"):
                return raw
            if "://" in raw:  # absolute-form: keep its path and query
                parts = urlsplit(raw)
                path = parts.path or "/"
                return path + ("?" + parts.query if "?" in raw else "")
    path = str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))
    # WSGI strings carry bytes as latin-1 (PEP 3333).
    path = quote(path.encode("latin-1"), safe=_PATH_SAFE) or "/"
    query = str(environ.get("QUERY_STRING", ""))
    return path + ("?" + query if query else "")


def target_uri(request: Request) -> str:
    """``scheme://authority`` plus :func:`received_target`: the request's ``@target-uri``."""
    return f"{request.scheme}://{request.host}{received_target(request.environ)}"
