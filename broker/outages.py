"""Which failures mean that a backing store is out of reach: answered 503 with ``Retry-After``.

A lost database or Redis is not a bug in the broker and not the client's fault: both doors answer
``503 Service Unavailable`` with ``Retry-After`` (RFC 9110 §15.6.4, §10.2.3) — the API a signed
problem, the web a calm page — never a 500, and log the failure by its type only (a database
error's message carries the statement's parameters). Nothing needs a restart afterwards:
the pool drops a connection the server closed before handing it out (broker.db) and redis-py
reconnects.

Rules :func:`is_outage` applies:

- A database error is an outage when the driver reports that the *operation* failed, not the
  statement: PEP 249's ``OperationalError`` (connection refused or lost, server shutting down,
  a transaction the server could not complete), a connection SQLAlchemy found dead and
  invalidated, or no pooled connection within the pool's timeout.
- Every Redis error is an outage (rate limits, quotas and the replay cache live there; each
  fails closed).
- The pseudonym service out of reach (:class:`PseudonymServiceUnavailable`: refused connection,
  timeout, a 5xx, or an answer whose signature or proof does not verify) is an outage: nothing
  is evaluated, so nothing is written.
- Anything else is not: a bug stays a 500, so that it is seen and fixed.
"""

from __future__ import annotations

from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

#: Seconds a client is asked to wait before retrying.
RETRY_AFTER_SECONDS = 5



class PseudonymServiceUnavailable(Exception):
    """The pseudonym service could not evaluate (unreachable, failing, or an answer that does
    not verify); the message names the cause, never an element."""


#: The exception classes an outage can arrive as (see :func:`is_outage` for DBAPIError).
OUTAGE_ERRORS: tuple[type[Exception], ...] = (DBAPIError, PoolTimeout, RedisError,
                                              PseudonymServiceUnavailable)


def is_outage(exc: BaseException) -> bool:
    """True when ``exc`` means a backing store cannot be reached (the module's rules)."""
    if isinstance(exc, OperationalError | PoolTimeout | RedisError | PseudonymServiceUnavailable):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated
