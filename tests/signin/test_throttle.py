"""Throttling and lock-out of sign-in, per user name and per address, on the core's clock."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from broker.audit.models import AuditEvent
from broker.audit.services import Actor
from broker.core import Core
from broker.signin.services import BadCredentials, SignInService
from broker.signin.throttle import Throttled
from tests.conftest import FakeClock

RIGHT, WRONG = "correct horse", "wrong password"
HERE = "192.0.2.10"


def _try(signin: SignInService, name: str, password: str, address: str = HERE
         ) -> str | int | None:
    """'ok', 'bad', or the Retry-After of a refusal (None: locked until unlocked)."""
    try:
        signin.with_password(name, password, address)
    except BadCredentials:
        return "bad"
    except Throttled as refused:
        return refused.retry_after
    return "ok"


def _events(core: Core, event_type: str) -> list[AuditEvent]:
    with core.session() as session:
        return list(session.scalars(select(AuditEvent).where(
            AuditEvent.event_type == event_type).order_by(AuditEvent.seq)))


@pytest.mark.usefixtures("school")
def test_waits_double_after_five_failures_then_the_name_locks(
        signin: SignInService, clock: FakeClock, core: Core) -> None:
    assert [_try(signin, "basisschool-1", WRONG) for _ in range(5)] == ["bad"] * 5
    for wait in (30, 60, 120, 240, 480):
        assert _try(signin, "basisschool-1", RIGHT) == wait  # refused unchecked, even if right
        clock.now += timedelta(seconds=wait - 1)
        assert _try(signin, "basisschool-1", RIGHT) == 1
        clock.now += timedelta(seconds=1)
        assert _try(signin, "basisschool-1", WRONG) == "bad"
    # Ten failures in a row: locked, whatever the clock says, until an administrator acts.
    clock.now += timedelta(days=30)
    assert _try(signin, "basisschool-1", RIGHT) is None
    [locked] = _events(core, "signin:locked")
    assert locked.actor == "professional:basisschool-1" and locked.details == {"failures": 10}
    assert len(_events(core, "signin:failed")) == 10  # refusals are counted, not audited

    lifted = signin.unlock(Actor.operator("admin"), "basisschool-1")
    assert lifted is not None and lifted.was_locked and lifted.failures == 10
    assert lifted.refused == 11
    [unlocked] = _events(core, "signin:unlocked")
    assert unlocked.actor == "cli:admin" and unlocked.details["refused_while_throttled"] == 11
    assert _try(signin, "basisschool-1", RIGHT) == "ok"
    assert signin.unlock(Actor.operator("admin"), "basisschool-1") is None  # nothing to lift


@pytest.mark.usefixtures("school")
def test_a_success_starts_the_count_again(signin: SignInService, core: Core) -> None:
    assert [_try(signin, "basisschool-1", WRONG) for _ in range(4)] == ["bad"] * 4
    assert _try(signin, "basisschool-1", RIGHT) == "ok"
    assert [_try(signin, "basisschool-1", WRONG) for _ in range(5)] == ["bad"] * 5
    assert _try(signin, "basisschool-1", WRONG) == 30


@pytest.mark.usefixtures("school")
def test_an_unknown_name_is_answered_like_an_account_and_never_written_down(
        signin: SignInService, clock: FakeClock, core: Core) -> None:
    answers = {}
    for name in ("basisschool-1", "no-such-person"):
        for n in range(10):
            assert _try(signin, name, WRONG) == "bad"
            clock.now += timedelta(minutes=10 * (n + 1))
        with pytest.raises(Throttled) as refused:
            signin.with_password(name, RIGHT, HERE)
        answers[name] = (refused.value.message("en"), refused.value.retry_after)
    assert answers["basisschool-1"] == answers["no-such-person"]
    failed = _events(core, "signin:failed")
    assert {e.actor for e in failed} == {"professional:basisschool-1", "web:unknown-account"}
    assert {e.reason for e in failed if e.actor == "web:unknown-account"} == {"unknown_account"}
    with core.session() as session:
        everything = repr([(e.details, e.reason, e.actor) for e in session.scalars(
            select(AuditEvent))])
        counters = repr(session.execute(text("SELECT * FROM sign_in_throttles")).all())
    assert "no-such-person" not in everything and WRONG not in everything
    # The counters hold keyed hashes: neither the typed names nor the address.
    for typed in ("no-such-person", "basisschool-1", HERE, "192.0.2"):
        assert typed not in counters


@pytest.mark.usefixtures("school")
def test_twenty_failures_block_the_address_for_fifteen_minutes(
        signin: SignInService, clock: FakeClock, core: Core) -> None:
    for n in range(20):
        assert _try(signin, f"guess-{n}", WRONG, "198.51.100.7") == "bad"
    assert _try(signin, "basisschool-1", RIGHT, "198.51.100.7") == 900
    assert _try(signin, "basisschool-1", RIGHT, "198.51.100.8") == "ok"  # another address
    clock.now += timedelta(minutes=10)
    assert _try(signin, "basisschool-1", RIGHT, "198.51.100.7") == 300
    clock.now += timedelta(minutes=5)
    assert _try(signin, "basisschool-1", RIGHT, "198.51.100.7") == "ok"
    [blocked] = _events(core, "signin:address_blocked")
    assert blocked.source_address == "198.51.100.0/24"  # truncated, as every event's
    assert blocked.details == {"failures": 20, "minutes": 15}


@pytest.mark.usefixtures("school")
def test_an_ipv6_attacker_counts_per_64_network(signin: SignInService) -> None:
    for n in range(20):
        assert _try(signin, f"guess-{n}", WRONG, f"2001:db8:1:2::{n + 1:x}") == "bad"
    assert _try(signin, "basisschool-1", RIGHT, "2001:db8:1:2:ffff::1") == 900
    assert _try(signin, "basisschool-1", RIGHT, "2001:db8:1:3::1") == "ok"


@pytest.mark.usefixtures("school")
def test_attempts_at_once_are_counted_before_any_password_is_checked(
        signin: SignInService, core: Core) -> None:
    answers: list[str | int | None] = []
    start = threading.Barrier(12)

    def attempt() -> None:
        start.wait()
        answers.append(_try(signin, "basisschool-1", WRONG))

    threads = [threading.Thread(target=attempt) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Only five attempts reach the password; the rest wait their turn (30 s after the fifth).
    assert sorted(answers, key=str) == [30] * 7 + ["bad"] * 5
    assert len(_events(core, "signin:failed")) == 5
