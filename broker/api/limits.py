"""The API's per-minute limits: per client address and per organisation, counted together.

Rules this module guarantees (issue 13: one round trip to the limit store per request):

1. Every request to the API blueprint is counted against the per-address limit
   (``BROKER_API_IP_RATE``, per address and endpoint, as the limiter counts the web's pages),
   and, once its signature verified, against its organisation's (``BROKER_API_ORG_RATE``). A
   signed request of a key the process has cached pays one round trip for both
   (:func:`count_hits`, one Lua script); the address is counted on its own, before the
   database is asked, when the key must be read from the database, and after the refusal when
   the signature is refused. So no request reaches the database's key table, or is answered
   anything but 429, once its address is over the limit; nor is it charged to its
   organisation's window then (a flooding host does not use up its organisation's limit).
2. Over the per-address limit: 429 ``rate-limited``, counted for the source network (no event
   each, broker.oversight.refusals). Over the organisation's limit: 429 ``rate-limited``
   and an audit event ``auth:rate_limited`` as the caller.
3. When the store cannot answer, the request is refused (503, fail closed): Redis out of reach
   is answered as the outage it is (broker.outages), anything else of the store as
   :class:`LimitStoreUnavailable`.
4. The counts are limits' own fixed windows (the key and the expiry its ``FixedWindowRateLimiter``
   keeps), in Redis (``BROKER_REDIS_URL``) or in one process's memory without it.
5. ``RateLimit-Limit``, ``-Remaining`` and ``-Reset`` of the organisation's limit once
   authenticated, else of the address's, on every API answer (:func:`limit_headers`).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Sequence
from functools import lru_cache

from flask import g, request
from limits import RateLimitItem, parse
from limits.storage import RedisStorage, Storage
from redis.commands.core import Script
from redis.exceptions import RedisError

from broker.api.context import api_context
from broker.errors import BrokerError
from broker.outages import is_outage

#: One window to count: the limit, the cost and who is counted.
Hit = tuple[RateLimitItem, int, tuple[str, ...]]


class RateLimited(BrokerError):
    """A limit of the caller's organisation, or of its address, is used up."""

    code = "rate-limited"
    status = 429


class LimitStoreUnavailable(BrokerError):
    """The rate-limit store cannot answer; the request is refused rather than let through."""

    code = "service-unavailable"
    status = 503


@lru_cache(maxsize=16)
def limit(text: str) -> RateLimitItem:
    """A limit such as ``600/minute`` (parsed once)."""
    return parse(text)


def address_hit(rate: str) -> Hit:
    """The per-address window of this request (its address and endpoint)."""
    return limit(rate), 1, ("ip", request.endpoint or "", request.remote_addr or "")


def organisation_hit(rate: str, organisation_id: int, *, cost: int = 1,
                     scope: str = "requests") -> Hit:
    """The organisation's window of ``scope``."""
    return limit(rate), cost, ("org", scope, str(organisation_id))


def count(hits: Sequence[Hit]) -> list[tuple[int, float]]:
    """:func:`count_hits` in the app's limit store; the store out of reach refuses (503)."""
    try:
        return count_hits(api_context().limiter.limiter.storage, hits)
    except Exception as exc:
        if is_outage(exc):
            raise  # Redis out of reach: the outage's 503 (broker.outages)
        raise LimitStoreUnavailable(
            "The rate-limit store cannot be reached; the request was refused. Retry "
            "later.") from exc


def over(hit: Hit, counted: tuple[int, float]) -> bool:
    """Set the RateLimit-* headers from ``counted``; True when ``hit``'s limit is used up."""
    item = hit[0]
    used, reset_at = counted
    g.limit_headers = {
        "RateLimit-Limit": str(item.amount),
        "RateLimit-Remaining": str(max(0, item.amount - used)),
        "RateLimit-Reset": str(max(0, int(reset_at - time.time()))),
    }
    return used > item.amount


def address_refusal(hit: Hit) -> RateLimited:
    """The 429 of a used-up per-address limit."""
    item = hit[0]
    return RateLimited("Rate limit %(item)s exceeded; slow down and retry later.", item=item)


# limits' own fixed window (incr_expire.lua), for each key, answering each window's expiry too;
# counting stops after the first window over its limit (the windows after it are not charged).
_COUNT_HITS = b"""
local answers = {}
for i, key in ipairs(KEYS) do
    local cost = ARGV[3 * i - 1]
    local current = redis.call("incrby", key, cost)
    if tonumber(current) == tonumber(cost) then
        redis.call("expire", key, ARGV[3 * i - 2])
    end
    answers[2 * i - 1] = current
    answers[2 * i] = redis.call("ttl", key)
    if tonumber(current) > tonumber(ARGV[3 * i]) then
        break
    end
end
return answers
"""
_SCRIPTS: weakref.WeakKeyDictionary[RedisStorage, Script] = weakref.WeakKeyDictionary()


def count_hits(storage: Storage, hits: Sequence[Hit]) -> list[tuple[int, float]]:
    """Add each hit's cost to its fixed window: each window's count after it and when it ends
    (epoch seconds) — the counters limits' fixed-window strategy keeps, under its keys, all in
    one round trip to Redis. Counting stops at the first window over its limit: the hits after
    it are not charged (a request refused for its address does not use up its organisation's
    window) and are answered as ``(0, now)``."""
    keys = [item.key_for(*who) for item, _, who in hits]
    counted: list[tuple[int, float]] = []
    if isinstance(storage, RedisStorage):
        script = _SCRIPTS.get(storage)
        if script is None:
            script = _SCRIPTS[storage] = storage.get_connection().register_script(_COUNT_HITS)
        arguments: list[int] = []
        for item, cost, _ in hits:
            arguments += [item.get_expiry(), cost, item.amount]
        answers = script([storage.prefixed_key(key) for key in keys], arguments)
        now = time.time()
        counted = [(int(answers[2 * i]), now + max(0, int(answers[2 * i + 1])))
                   for i in range(len(answers) // 2)]
    else:
        for key, (item, cost, _) in zip(keys, hits, strict=True):
            used = storage.incr(key, item.get_expiry(), amount=cost)
            counted.append((used, storage.get_expiry(key)))
            if used > item.amount:
                break
    now = time.time()
    return counted + [(0, now)] * (len(hits) - len(counted))


def count_hit(storage: Storage, item: RateLimitItem, cost: int, *identifiers: str
              ) -> tuple[int, float]:
    """One window of :func:`count_hits`."""
    [counted] = count_hits(storage, [(item, cost, identifiers)])
    return counted


def limit_headers() -> dict[str, str]:
    """RateLimit-* of the organisation's limit once authenticated, else of the address's, else
    of the limiter's (a path outside the blueprint)."""
    headers: dict[str, str] | None = getattr(g, "limit_headers", None)
    if headers is not None:
        return headers
    current = api_context().limiter.current_limit
    if current is None:
        return {}
    try:
        return {"RateLimit-Limit": str(current.limit.amount),
                "RateLimit-Remaining": str(max(0, current.remaining)),
                "RateLimit-Reset": str(max(0, int(current.reset_at - time.time())))}
    except RedisError:
        return {}  # the store went away: the answer (often a 503) goes out without them
