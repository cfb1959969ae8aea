"""Throttling and lock-out of web sign-in, per user name and per source address.

Rules (times from the core's clock):

1. Every attempt — a password, a second-factor code, the current password on the change page —
   counts as a failure from the moment it starts until it succeeds (a crash or two attempts at
   once cannot slip past the counters). Counting and checking happen under a write lock on the
   counters, before the password is looked at.
2. Per user name, as typed (whether or not an account has it, so that the answers do not tell
   which names exist): after 5 failures in a row each further attempt must wait 30 s, then
   1, 2, 4 and 8 minutes after the one before; after 10 failures in a row the name is locked
   until an administrator lifts the lock (``broker professional unlock``). A success resets the
   count.
3. Per source address (IPv4 address, IPv6 /64): 20 failures within 15 minutes block every
   sign-in from it until those 15 minutes are over.
4. While a name or address is throttled, locked or blocked, an attempt is refused without the
   password being checked; such refusals are counted on the row, not audited one by one. The
   lock of a name and the block of an address are audited when they begin (by the caller).
5. An attempt that ends neither in success nor in a wrong secret (the password was right but the
   second factor is still due or missing) is taken off the counts again, without resetting them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from broker.catalogue import Message
from broker.errors import BrokerError
from broker.signin.keys import SignInKey
from broker.signin.models import SCOPE_ADDRESS, SCOPE_NAME, SignInThrottle

NAME_DELAY_AFTER = 5
NAME_LOCK_AFTER = 10
FIRST_DELAY = timedelta(seconds=30)
ADDRESS_LIMIT = 20
ADDRESS_WINDOW = timedelta(minutes=15)
MAX_NAME_LENGTH = 200  # longer input is cut before hashing; no account name is that long


class Throttled(BrokerError):
    """Too many failed attempts: refused without looking at the password."""

    code = "too-many-attempts"
    status = 429

    def __init__(self, message_id: str, retry_after: int | None, **values: object) -> None:
        super().__init__(Message(message_id, **values))
        self.retry_after = retry_after  # seconds; None: until an administrator unlocks


def normalise_name(typed: str) -> str:
    """A typed user name as it is counted and looked up: trimmed, lower case, cut to length."""
    return typed.strip().lower()[:MAX_NAME_LENGTH]


def address_scope(address: str | None) -> str:
    """The unit an address counts under: the IPv4 address, or the IPv6 /64 network."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return "unknown"
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


@dataclass(frozen=True)
class Attempt:
    """A counted attempt: the keys of its name and address rows."""

    name_key: bytes
    address_key: bytes
    at: datetime
    name_attempt_before: datetime  # the name's previous attempt, restored by settle_neither


@dataclass(frozen=True)
class Settled:
    """What a failure began: the lock of the name, the block of the address."""

    failures: int
    name_locked: bool
    address_blocked: bool


def _wait_after(failures: int) -> timedelta:
    doubling: int = 2 ** (failures - NAME_DELAY_AFTER)
    return FIRST_DELAY * doubling


def _lock_rows(session: Session, keys: dict[bytes, str], now: datetime
               ) -> dict[bytes, SignInThrottle]:
    """Create missing rows and lock all of them (the insert takes SQLite's write lock; FOR
    UPDATE takes PostgreSQL's row locks), then read them."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    while True:
        rows = [{"key_hash": k, "scope": scope, "failures": 0, "refused": 0,
                 "window_started_at": now, "last_attempt_at": now} for k, scope in keys.items()]
        session.execute(insert(SignInThrottle).values(rows).on_conflict_do_nothing(
            index_elements=["key_hash"]))
        found = {row.key_hash: row for row in session.scalars(select(SignInThrottle).where(
            SignInThrottle.key_hash.in_(list(keys))).with_for_update().execution_options(
            populate_existing=True))}
        if len(found) == len(keys):
            return found
        # A concurrent sign-in that succeeded deleted a row while this one waited for its lock
        # (its own insert had found the row still there): insert it again and lock once more.


def reserve(session: Session, key: SignInKey, username: str, address: str | None,
            now: datetime) -> Attempt | Throttled:
    """Count an attempt (rule 1), or the refusal that rules 2-4 give instead of it.

    The caller commits in both cases (a refusal is counted on its row) and raises a refusal.
    """
    name_key = key.throttle_key(SCOPE_NAME, normalise_name(username))
    address_key = key.throttle_key(SCOPE_ADDRESS, address_scope(address))
    rows = _lock_rows(session, {name_key: SCOPE_NAME, address_key: SCOPE_ADDRESS}, now)
    name, place = rows[name_key], rows[address_key]
    attempt = Attempt(name_key, address_key, now, name.last_attempt_at)
    if now >= place.window_started_at + ADDRESS_WINDOW:
        place.failures, place.window_started_at, place.locked_at = 0, now, None
    refusal = _refusal(name, place, now)
    if refusal is not None:
        for row in (name, place):
            row.refused += 1
        return refusal
    for row in (name, place):
        row.failures += 1
        row.last_attempt_at = now
    return attempt


def _refusal(name: SignInThrottle, place: SignInThrottle, now: datetime) -> Throttled | None:
    if name.locked_at is not None or name.failures >= NAME_LOCK_AFTER:
        return Throttled(
            "Too many failed sign-in attempts with this user name: it is locked. Ask your "
            "administrator to lift the lock.",
            None)
    if place.failures >= ADDRESS_LIMIT:
        seconds = _seconds(place.window_started_at + ADDRESS_WINDOW - now)
        return Throttled(
            "Too many failed sign-in attempts from your network. Try again in %(seconds)s seconds.",
            seconds, seconds=seconds)
    if name.failures >= NAME_DELAY_AFTER:
        ready = name.last_attempt_at + _wait_after(name.failures)
        if now < ready:
            seconds = _seconds(ready - now)
            return Throttled(
                "Too many failed sign-in attempts with this user name. Wait %(seconds)s seconds "
                "before you try again.",
                seconds, seconds=seconds)
    return None


def _seconds(delta: timedelta) -> int:
    return max(1, int(delta.total_seconds() + 0.999))


def settle_success(session: Session, attempt: Attempt) -> None:
    """A success: the name's count starts again; the address's count loses this attempt."""
    session.execute(delete(SignInThrottle).where(SignInThrottle.key_hash == attempt.name_key))
    _take_back(session, [attempt.address_key])


def settle_neither(session: Session, attempt: Attempt) -> None:
    """Neither success nor a wrong secret (rule 5): the attempt is taken off both counts, and
    the name's waiting time runs from its attempt before (unless another came meanwhile)."""
    _take_back(session, [attempt.name_key, attempt.address_key])
    session.execute(update(SignInThrottle).where(
        SignInThrottle.key_hash == attempt.name_key,
        SignInThrottle.last_attempt_at == attempt.at).values(
        last_attempt_at=attempt.name_attempt_before))


def _take_back(session: Session, keys: list[bytes]) -> None:
    session.execute(update(SignInThrottle).where(
        SignInThrottle.key_hash.in_(keys), SignInThrottle.failures > 0).values(
        failures=SignInThrottle.failures - 1))


def settle_failure(session: Session, attempt: Attempt, now: datetime) -> Settled:
    """A wrong password or code: the counts stay; the name is locked or the address blocked
    when this failure reached the limit (the caller audits each that began)."""
    rows = _lock_rows(session, {attempt.name_key: SCOPE_NAME,
                                attempt.address_key: SCOPE_ADDRESS}, now)
    name, place = rows[attempt.name_key], rows[attempt.address_key]
    name_locked = name.failures >= NAME_LOCK_AFTER and name.locked_at is None
    if name_locked:
        name.locked_at = now
    address_blocked = place.failures >= ADDRESS_LIMIT and place.locked_at is None
    if address_blocked:
        place.locked_at = now
    return Settled(name.failures, name_locked, address_blocked)


@dataclass(frozen=True)
class Lifted:
    """What an unlock removed: the failures counted and the attempts refused meanwhile."""

    failures: int
    refused: int
    was_locked: bool


def lift(session: Session, key: SignInKey, username: str) -> Lifted | None:
    """Remove the count (and lock) of ``username``; None when there was none."""
    name_key = key.throttle_key(SCOPE_NAME, normalise_name(username))
    row = session.scalar(select(SignInThrottle).where(SignInThrottle.key_hash == name_key)
                         .with_for_update())
    if row is None:
        return None
    lifted = Lifted(row.failures, row.refused,
                    row.locked_at is not None or row.failures >= NAME_LOCK_AFTER)
    session.delete(row)
    return lifted


def forget_stale_addresses(session: Session, now: datetime) -> None:
    """Delete address counts whose window is over (they would be reset on next use anyway)."""
    session.execute(delete(SignInThrottle).where(
        SignInThrottle.scope == SCOPE_ADDRESS,
        SignInThrottle.window_started_at < now - ADDRESS_WINDOW))
