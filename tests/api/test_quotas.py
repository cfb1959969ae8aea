"""broker.api.quotas: a daily quota in the database, never exceeded, not even by a race."""

from __future__ import annotations

import threading
from datetime import date, timedelta

from broker.api.quotas import Charge, charge, purge_days
from broker.core import Core

DAY = date(2026, 3, 2)


def _charge(core: Core, cost: int, *, day: date = DAY, organisation_id: int = 1,
            limit: int = 10) -> Charge:
    return charge(core.engine, organisation_id=organisation_id, scope="evaluations", day=day,
                  cost=cost, limit=limit)


def test_charges_until_the_limit_and_refusals_use_nothing(core: Core) -> None:
    assert _charge(core, 4) == Charge(True, 4)
    assert _charge(core, 6) == Charge(True, 10)
    assert _charge(core, 1) == Charge(False, 10)
    assert _charge(core, 1, organisation_id=2) == Charge(True, 1)  # per organisation
    assert _charge(core, 1, day=DAY + timedelta(days=1)) == Charge(True, 1)  # per day


def test_a_refused_charge_leaves_room_for_a_smaller_one(core: Core) -> None:
    assert _charge(core, 7) == Charge(True, 7)
    assert _charge(core, 4) == Charge(False, 7)
    assert _charge(core, 3) == Charge(True, 10)


def test_a_cost_beyond_the_limit_is_refused_at_once(core: Core) -> None:
    assert _charge(core, 11) == Charge(False, 0)
    assert _charge(core, 10) == Charge(True, 10)


def test_racing_charges_never_pass_the_limit(core: Core) -> None:
    barrier = threading.Barrier(16)
    results: list[Charge] = []
    lock = threading.Lock()

    def one() -> None:
        barrier.wait()
        result = _charge(core, 3, limit=20)
        with lock:
            results.append(result)

    threads = [threading.Thread(target=one) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.allowed for r in results) == 6  # 6 × 3 = 18 ≤ 20 < 21
    assert _charge(core, 2, limit=20) == Charge(True, 20)


def test_purge_keeps_today_and_yesterday(core: Core) -> None:
    for back in range(4):
        _charge(core, 1, day=DAY - timedelta(days=back))
    assert purge_days(core.engine, DAY) == 2
    assert _charge(core, 1, day=DAY - timedelta(days=1)) == Charge(True, 2)
