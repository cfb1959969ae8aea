"""Organisations' active keys kept in the serving process, and the version that says when they
went stale (issue 13: no transaction of its own per request for the caller's key).

Rules this module guarantees:

- Every change to the keys (an added key, a revocation) raises the one counter of
  ``caller_versions`` in the change's own transaction (:func:`bump_version`).
- Every signed request reads that counter in the statement that records its nonce
  (:mod:`broker.callers.replay`), after its signature was checked against a key from the cache.
  :meth:`KeyCache.still_valid` then says whether the key came from a cache at least that
  new; when it did not, the cache is emptied and the request's key is read again from the
  database before the request goes on (:func:`broker.api.auth.authenticate`). A key revoked
  before a request's nonce statement is therefore refused to that request, in every process,
  whatever the process had cached.
- A key read from the database is kept only if nothing emptied the cache while it was read
  (a generation number), so an answer older than a revocation is never kept under the newer
  version.
- A key read again after the nonce statement is kept under that statement's version.
- Unknown and revoked key ids are not kept: each is asked of the database.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from nacl.signing import VerifyKey
from sqlalchemy import Connection, Table, func, select
from sqlalchemy.dialects import postgresql, sqlite

from broker.callers.models import CallerVersion
from broker.db import Prepared

__all__ = ["VERSION", "Cached", "Caller", "KeyCache", "bump_version"]

_VERSIONS = cast(Table, CallerVersion.__table__)
ROW = 1

#: The current version as a scalar subquery (0 before the first change), for a statement that
#: returns it beside its own work.
VERSION = func.coalesce(
    select(_VERSIONS.c.version).where(_VERSIONS.c.id == ROW).scalar_subquery(), 0)


def _bump_statement(insert: Any) -> Prepared:
    statement = insert(_VERSIONS).values(id=ROW, version=1)
    return Prepared(statement.on_conflict_do_update(
        index_elements=[_VERSIONS.c.id], set_={"version": _VERSIONS.c.version + 1}))


_BUMP = {"postgresql": _bump_statement(postgresql.insert),
         "sqlite": _bump_statement(sqlite.insert)}


def bump_version(connection: Connection) -> None:
    """Raise the version in ``connection``'s transaction: the keys changed."""
    _BUMP[connection.dialect.name].execute(connection, {})


@dataclass(frozen=True)
class Caller:
    """Who a verified key id belongs to."""

    key_id: str
    organisation_id: int
    organisation: str
    org_type: str


@dataclass(frozen=True)
class Cached:
    """A key as the cache answered it, and the version the cache was at (None: not known yet,
    so the answer must be checked again)."""

    key: VerifyKey
    caller: Caller
    version: int | None


Loader = Callable[[str], "tuple[VerifyKey, Caller] | None"]


class KeyCache:
    """Active keys by key id, valid up to a version of ``caller_versions`` (the module's rules).
    One per app; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[VerifyKey, Caller]] = {}
        self._version: int | None = None
        self._generation = 0

    def get(self, key_id: str, load: Loader) -> Cached | None:
        """The active key ``key_id`` from memory, else from ``load`` (kept when still current);
        None for an unknown or revoked key."""
        with self._lock:
            found = self._keys.get(key_id)
            version, generation = self._version, self._generation
        if found is None:
            found = load(key_id)
            if found is None:
                return None
            with self._lock:
                if self._generation == generation:
                    self._keys[key_id] = found
        return Cached(found[0], found[1], version)

    def put(self, key_id: str, found: tuple[VerifyKey, Caller], version: int) -> None:
        """Keep ``found``, read after a statement that read ``version``, if the cache is at
        that version (a newer one would have emptied it since)."""
        with self._lock:
            if self._version == version:
                self._keys[key_id] = found

    def still_valid(self, cached: Cached, version: int | None) -> bool:
        """Whether ``cached`` holds at ``version`` (what the request read with its nonce); when
        the cache is older than that, it is emptied first."""
        if version is None:
            return False
        with self._lock:
            if self._version is None or version > self._version:
                self._keys.clear()
                self._generation += 1
                self._version = version
        return cached.version is not None and cached.version >= version
