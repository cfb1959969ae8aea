"""broker.serving and the worker's housekeeping job: who may serve with several processes, and
the housekeeping round."""

from __future__ import annotations

import sys
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from broker.api.models import ReplayNonce
from broker.api.replay import DatabaseReplayCache
from broker.audit.refusals import count_refusal
from broker.audit.services import Actor
from broker.cli.jobs import housekeep
from broker.config import Settings
from broker.core import Core
from broker.errors import ConfigurationError
from broker.pseudonyms.models import EvaluationCount
from broker.pseudonyms.quota import charge
from broker.registry.services import RegistryService
from broker.serving import check_workers, under_unchecked_gunicorn
from tests.conftest import FakeClock
from tests.uow import committed, in_uow


def test_several_workers_need_redis(settings: Settings) -> None:
    check_workers(1, settings)
    check_workers(4, settings.with_overrides(redis_url="redis://127.0.0.1:6379/0"))
    with pytest.raises(ConfigurationError, match="BROKER_REDIS_URL") as refused:
        check_workers(3, settings)
    assert "--workers 1" in refused.value.message("en")
    assert "BROKER_REDIS_URL" in refused.value.message("nl")


def test_an_unchecked_gunicorn_is_recognised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "gunicorn.arbiter", raising=False)
    assert not under_unchecked_gunicorn({})  # not under gunicorn at all
    monkeypatch.setitem(sys.modules, "gunicorn.arbiter", sys.modules[__name__])
    assert under_unchecked_gunicorn({})
    assert not under_unchecked_gunicorn({"BROKER_GUNICORN_CONF": "1"})


def _count(core: Core, model: object) -> int:
    with core.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0  # type: ignore[arg-type]


def test_one_round_flushes_counts_and_purges(core: Core, clock: FakeClock) -> None:
    committed(core, DatabaseReplayCache).seen_before("k", "old", 1_000, 900)  # long expired
    committed(core, DatabaseReplayCache).seen_before("k", "live", 4_000_000_000, 900)
    today = core.today()
    org = committed(core, RegistryService).create_organisation(
            Actor.operator("test"), identifier="vt",
                                                    name="VT", org_type="veilig_thuis")
    with core.transaction() as connection:
        for back in (0, 1, 2):
            charge(connection, organisation_id=org.id, day=today - timedelta(days=back),
                   count=1, quota=5)
    in_uow(core, count_refusal, network="10.0.0.0/24", door="api", reason="signature-missing")
    clock.now += timedelta(minutes=1)
    done = housekeep(core)
    assert (done["refusal_events"], done["nonces_purged"], done["quota_days_purged"]) == (1, 1, 1)
    assert (_count(core, ReplayNonce), _count(core, EvaluationCount)) == (1, 2)
    assert housekeep(core)["refusal_events"] == 0
