"""Whether this process can serve: the checks behind ``/readyz``.

Rules this module guarantees:

1. Each check names one part (``database``, ``redis``, ``keys``, ``witnesses``,
   ``pseudonym-service``) and answers
   ``ok``, ``not configured`` or what is wrong in a few fixed words (the exception's type at
   most), never a message, a URL, a path or a value: a readiness answer holds no personal data
   and tells a stranger nothing of the installation.
2. A check costs one round trip at most and waits at most :data:`TIMEOUT` seconds.
3. ``database``: one ``SELECT 1`` on a pooled connection. ``redis``: a ``PING`` when
   ``BROKER_REDIS_URL`` is set. ``keys``: the pseudonym keys, the audit, API and sign-in keys
   exist and no other user can read them. ``witnesses``: when witnesses are configured, at least
   the quorum of them answers HTTP (any status below 500). ``pseudonym-service``: when the
   pseudonym service runs as its own process (``BROKER_PSEUDONYM_SERVICE_URL``), its
   ``/healthz`` answers 200: without it no look-up, registration or evaluation can be served.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

import httpx
import redis
from sqlalchemy import text

from broker.audit.checkpoints import load_audit_key
from broker.audit.witnessing import configured_witnesses, quorum
from broker.callers.keys import load_response_key
from broker.core import Core
from broker.signin.keys import SignInKey

TIMEOUT = 2.0
OK = "ok"
NOT_CONFIGURED = "not configured"


@dataclass(frozen=True)
class Readiness:
    """Each part's state; ready when none is wrong."""

    checks: dict[str, str]

    @property
    def ready(self) -> bool:
        """True when every part is ``ok`` or not configured."""
        return all(state in (OK, NOT_CONFIGURED) for state in self.checks.values())

    @property
    def not_ready(self) -> list[str]:
        """The parts that are not ready."""
        return [part for part, state in self.checks.items() if state not in (OK, NOT_CONFIGURED)]


def _database(core: Core) -> str:
    with core.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return OK


def _redis(core: Core) -> str:
    url = core.settings.redis_url
    if not url:
        return NOT_CONFIGURED
    client = redis.Redis.from_url(url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)
    try:
        client.ping()
    finally:
        client.close()
    return OK


def _keys(core: Core) -> str:
    settings = core.settings
    core.keystore.check()
    load_audit_key(settings.audit_origin, settings.keys_dir)
    load_response_key(settings.keys_dir)
    SignInKey.load(settings.keys_dir)
    return OK


def _witnesses(core: Core) -> str:
    witnesses = configured_witnesses(core.settings)
    if not witnesses:
        return NOT_CONFIGURED
    needed = quorum(core.settings)
    origin = quote(core.settings.audit_origin, safe="/")
    reachable = 0
    with httpx.Client(timeout=min(TIMEOUT, core.settings.witness_timeout)) as client:
        for witness in witnesses:
            try:
                if client.get(f"{witness.url}/checkpoint/{origin}").status_code < 500:
                    reachable += 1
            except httpx.HTTPError:
                continue
    return OK if reachable >= needed else f"{reachable} of {needed} needed reachable"


def _pseudonym_service(core: Core) -> str:
    url = core.settings.pseudonym_service_url
    if not url:
        return NOT_CONFIGURED
    status = httpx.get(f"{url.rstrip('/')}/healthz", timeout=TIMEOUT).status_code
    return OK if status == 200 else f"answered {status}"


CHECKS: dict[str, Callable[[Core], str]] = {
    "database": _database, "redis": _redis, "keys": _keys, "witnesses": _witnesses,
    "pseudonym-service": _pseudonym_service}


def readiness(core: Core) -> Readiness:
    """Run every check (rule 1: a failure is named by the exception's type only)."""
    checks = {}
    for part, check in CHECKS.items():
        try:
            checks[part] = check(core)
        except Exception as exc:  # any failure means "not ready"; its text may hold anything
            checks[part] = f"unavailable ({type(exc).__name__})"
    return Readiness(checks)
