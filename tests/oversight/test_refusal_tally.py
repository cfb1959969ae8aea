"""broker.oversight.refusals: counted refusals become one event per network and minute, exactly
once, whoever flushes and however many flush at once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from broker.audit.models import AuditEvent
from broker.audit.services import Actor
from broker.audit.verification import verify_log
from broker.core import Core
from broker.oversight.refusals import RefusalTally, count_refusal, flush_tallies
from broker.oversight.reports import refused_requests
from tests.conftest import FakeClock
from tests.uow import in_uow


def _events(core: Core) -> list[AuditEvent]:
    with core.session() as session:
        return list(session.scalars(select(AuditEvent).filter_by(
            event_type="auth:unauthenticated_refused").order_by(AuditEvent.seq)))


def _verified(core: Core) -> bool:
    with core.engine.connect() as connection:
        return verify_log(connection, core.audit_key()).ok


def _tallies(core: Core) -> int:
    with core.session() as session:
        return session.scalar(select(func.count()).select_from(RefusalTally)) or 0


def test_counts_per_network_minute_door_and_reason(core: Core, clock: FakeClock) -> None:
    for network in ("192.0.2.0/24", "192.0.2.0/24", "2001:db8:1::/48", None):
        in_uow(core, count_refusal, network=network, door="api", reason="signature-missing")
    in_uow(core, count_refusal, network="192.0.2.0/24", door="web", reason="csrf")
    in_uow(core, count_refusal, network="192.0.2.0/24", door="api", reason="signature-replayed",
                  key_id="vt-key-1")
    assert _tallies(core) == 5 and _events(core) == []
    clock.now += timedelta(minutes=1)
    assert flush_tallies(core) == 3
    by_network = {e.source_address: e.details for e in _events(core)}
    assert by_network == {
        "192.0.2.0/24": {"minute": "2026-03-02T12:00Z", "count": 4,
                         "reasons": {"api signature-missing": 2, "api signature-replayed": 1,
                                     "web csrf": 1},
                         "verified_keys": {"vt-key-1": 1}},
        "2001:db8:1::/48": {"minute": "2026-03-02T12:00Z", "count": 1,
                            "reasons": {"api signature-missing": 1}},
        None: {"minute": "2026-03-02T12:00Z", "count": 1,
               "reasons": {"api signature-missing": 1}},
    }
    assert all(e.actor == "unauthenticated" and e.outcome == "refused" for e in _events(core))
    assert _tallies(core) == 0
    assert _verified(core)


def test_an_unknown_door_is_a_programming_error(core: Core) -> None:
    with pytest.raises(ValueError, match="door"):
        in_uow(core, count_refusal, network=None, door="cli", reason="x")


def test_many_flushers_at_once_write_each_minute_once(core: Core, clock: FakeClock) -> None:
    for minute in range(3):
        for network in range(4):
            for _ in range(minute + 1):
                in_uow(core, count_refusal, network=f"10.0.{network}.0/24", door="api",
                              reason="signature-invalid")
        clock.now += timedelta(minutes=1)
    barrier = threading.Barrier(8)
    written: list[int] = []
    lock = threading.Lock()

    def flush() -> None:
        barrier.wait()
        result = flush_tallies(core)
        with lock:
            written.append(result)

    threads = [threading.Thread(target=flush) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(written) == 12
    events = _events(core)
    assert len(events) == 12
    assert sum(e.details["count"] for e in events) == 4 * (1 + 2 + 3)
    assert _verified(core)


def test_a_late_count_for_a_written_minute_is_not_lost(core: Core, clock: FakeClock) -> None:
    in_uow(core, count_refusal, network="10.0.0.0/24", door="web", reason="csrf")
    clock.now += timedelta(minutes=1)
    assert flush_tallies(core) == 1
    clock.now -= timedelta(minutes=1)  # another host's clock, a little behind
    in_uow(core, count_refusal, network="10.0.0.0/24", door="web", reason="csrf")
    clock.now += timedelta(minutes=1)
    assert flush_tallies(core) == 1
    assert [e.details["count"] for e in _events(core)] == [1, 1]


def test_the_refused_report_counts_what_the_events_carry(core: Core, clock: FakeClock) -> None:
    for _ in range(3):
        in_uow(core, count_refusal, network="10.0.0.0/24", door="api", reason="signature-missing")
    in_uow(core, count_refusal, network="10.0.1.0/24", door="web", reason="csrf")
    clock.now += timedelta(minutes=1)
    in_uow(core, count_refusal, network="10.0.0.0/24", door="api", reason="signature-missing")
    flush_tallies(core)
    clock.now += timedelta(minutes=1)
    flush_tallies(core)
    found = in_uow(core, refused_requests, Actor.operator("auditor"))
    assert [(g.event_type, g.reason, g.count) for g in found] == [
        ("auth:unauthenticated_refused", "api signature-missing", 4),
        ("auth:unauthenticated_refused", "web csrf", 1)]
    assert found[0].first_at <= found[0].last_at
