"""The replay cache: each signature nonce is accepted once per key id, until the signature expires.

RFC 9421 §7.2.2 leaves replay protection to the application; the broker's rule (issue 4) is that a
nonce, per key id, is refused on any second use for as long as the signature that carried it could
still be accepted. The verifier asks the cache only *after* a signature has verified, so nobody can
fill the cache or burn a nonce without a valid signature.

Rules this module guarantees:

- :meth:`ReplayCache.seen_before` is one atomic test-and-set: of two concurrent calls with the same
  key id and nonce, exactly one returns False. An entry is kept until ``expires_at``.
- Key id and nonce are kept apart unambiguously (no ``"a:b" + "c"`` == ``"a" + "b:c"``).
- Failing closed: when the store cannot answer, :class:`ReplayCacheUnavailable` is raised and the
  caller refuses the request. A cache never answers "not seen" when it does not know.
- :class:`DatabaseReplayCache` is what the broker serves with, embedded and in production: the
  nonces live in the broker's own database, which every worker and host shares and which keeps
  them across a restart of any process, of Redis or of the database itself (a committed row is
  durable). The test-and-set is one statement committed on its own (autocommit), before the
  request's unit of work does anything: an INSERT of the nonce that, on a conflict, only takes
  over a row whose signature has expired; whether it wrote a row answers the question. So a
  nonce is used up once its signature has verified, whatever comes of the request: a refused
  request's rollback cannot free it for a replay waiting behind it (the replay-while-refused
  gap of the nonce written in the unit of work). The same statement returns the caller version
  (broker.callers.cache), which :attr:`DatabaseReplayCache.version` hands to the door.
  :func:`purge_expired` (the housekeeping) deletes the rows whose signatures can no longer be
  accepted.

Why the database and not Redis: Redis restarted without persistence (or with its last second of
writes lost) forgets nonces inside their validity window, and a captured request is accepted
again; the broker's database already has to be durable, and one small statement per request
costs about what a Redis round trip does.
"""

from __future__ import annotations

import hashlib
from typing import Any, cast

from broker_primitives.httpsig.signatures import ReplayCache
from sqlalchemy import Engine, Table, bindparam, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from broker.callers.cache import VERSION
from broker.callers.models import ReplayNonce
from broker.db import Prepared
from broker.errors import BrokerError

__all__ = [
    "DatabaseReplayCache",
    "ReplayCache",
    "ReplayCacheUnavailable",
    "nonce_digest",
    "purge_expired",
]


class ReplayCacheUnavailable(BrokerError):
    """The replay cache cannot answer; the request must be refused (fail closed)."""

    code = "replay-cache-unavailable"
    status = 503


def nonce_digest(key_id: str, nonce: str) -> bytes:
    """The stored form of (key id, nonce): 16 bytes of SHA-256 over both, each length-prefixed,
    so that ``("a:b", "c")`` and ``("a", "b:c")`` differ."""
    hashed = hashlib.sha256()
    for part in (key_id.encode(), nonce.encode()):
        hashed.update(len(part).to_bytes(4, "big"))
        hashed.update(part)
    return hashed.digest()[:16]


_NONCES = cast(Table, ReplayNonce.__table__)


def _record_statement(insert: Any) -> Prepared:
    """INSERT the nonce; on a conflict take over the row only if its signature has expired.
    A written row returns the caller version; a nonce seen before returns no row."""
    statement = insert(_NONCES).values(digest=bindparam("digest"),
                                       expires_at=bindparam("expires_at"))
    return Prepared(statement.on_conflict_do_update(
        index_elements=[_NONCES.c.digest],
        set_={"expires_at": statement.excluded.expires_at},
        where=_NONCES.c.expires_at <= bindparam("now"),
    ).returning(VERSION))


# Compiled once per dialect: every signed request runs it.
_RECORD = {"postgresql": _record_statement(postgresql.insert),
           "sqlite": _record_statement(sqlite.insert)}


class DatabaseReplayCache:
    """The replay cache in the broker's database (every worker and host shares it), each nonce
    committed on its own before the request's work (the module's rules)."""

    def __init__(self, engine: Engine) -> None:
        """Record nonces in ``engine``'s database, one autocommitted statement each."""
        self._engine = engine
        #: The caller version read with the last nonce recorded (None: none recorded yet).
        self.version: int | None = None

    def seen_before(self, key_id: str, nonce: str, expires_at: int, now: int) -> bool:
        """Record the nonce until ``expires_at``; True if it was already recorded and still live.

        One statement, committed when it returns: of two concurrent requests with the same
        nonce, the database's unique key lets exactly one write its row, and the other finds
        it at once — the first request's fate does not matter.

        Raises:
            ReplayCacheUnavailable: the database did not answer.
        """
        params = {"digest": nonce_digest(key_id, nonce), "expires_at": expires_at, "now": now}
        engine = self._engine
        try:
            rows = _RECORD[engine.dialect.name].autocommitted(engine, params)
        except (SQLAlchemyError, engine.dialect.loaded_dbapi.Error) as exc:
            raise ReplayCacheUnavailable(
                "The replay cache (the database) is unavailable; the request is refused") from exc
        if not rows:
            return True
        self.version = int(rows[0][0])
        return False


def purge_expired(engine: Engine, now: int) -> int:
    """Delete the nonces whose signatures can no longer be accepted at ``now``; how many."""
    with engine.begin() as connection:
        result = connection.execute(delete(_NONCES).where(_NONCES.c.expires_at <= now))
    return int(result.rowcount)
