"""broker.serving and the worker's housekeeping job: who may serve with several processes, and
the housekeeping round."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from broker.audit.services import Actor
from broker.callers.models import ReplayNonce
from broker.callers.replay import DatabaseReplayCache
from broker.cli.jobs import housekeep
from broker.config import Settings
from broker.core import Core
from broker.errors import ConfigurationError
from broker.oversight.refusals import count_refusal
from broker.pseudonyms.models import EvaluationCount
from broker.pseudonyms.quota import charge
from broker.registry.services import RegistryService
from broker.serving import (
    check_production,
    check_workers,
    default_workers,
    metrics_directory,
    production_command,
    under_unchecked_gunicorn,
)
from tests.conftest import FakeClock, broker_cli
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
    DatabaseReplayCache(core.engine).seen_before("k", "old", 1_000, 900)  # long expired
    DatabaseReplayCache(core.engine).seen_before("k", "live", 4_000_000_000, 900)
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


def test_production_refuses_sqlite_and_a_missing_redis(settings: Settings) -> None:
    postgres = settings.with_overrides(database_url="postgresql+psycopg://broker@db/broker")
    if settings.is_sqlite:
        with pytest.raises(ConfigurationError, match="BROKER_DATABASE_URL=postgresql"):
            check_production(settings.with_overrides(redis_url="redis://127.0.0.1:6379/0"))
    with pytest.raises(ConfigurationError, match="BROKER_REDIS_URL"):
        check_production(postgres)
    check_production(postgres.with_overrides(redis_url="redis://127.0.0.1:6379/0"))


def test_serve_production_says_how_to_fix_sqlite(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    monkeypatch.setenv("BROKER_PRODUCTION", "0")  # the command sets it; restored afterwards
    monkeypatch.setenv("BROKER_PSEUDONYM_SERVICE_URL", "https://pseudonyms.invalid")
    result = broker_cli(monkeypatch, tmp_path)("serve", "--production")
    assert result.exit_code == 1
    assert "PostgreSQL" in result.output and "BROKER_DATABASE_URL" in result.output


def test_serve_production_refuses_a_broker_that_can_read_k(monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    monkeypatch.setenv("BROKER_PRODUCTION", "0")
    cli = broker_cli(monkeypatch, tmp_path)
    assert cli("init").exit_code == 0  # the embedded set-up: k in keys/oprf, readable
    monkeypatch.setenv("BROKER_PSEUDONYM_SERVICE_URL", "https://pseudonyms.invalid")
    result = cli("serve", "--production")
    assert result.exit_code == 1
    assert "can read the OPRF key k" in result.output and "oprf" in result.output
    monkeypatch.delenv("BROKER_PSEUDONYM_SERVICE_URL")
    result = cli("serve", "--production")
    assert result.exit_code == 1 and "BROKER_PSEUDONYM_SERVICE_URL" in result.output


def test_the_production_command_and_its_sizing(settings: Settings) -> None:
    assert default_workers(1) == 3 and default_workers(4) == 9 and default_workers(64) == 16
    command = production_command(9, "0.0.0.0", 8000)  # noqa: S104 - an argument, not a bind
    assert command[command.index("--config") + 1] == "python:broker.gunicorn_conf"
    assert command[command.index("--workers") + 1] == "9"
    assert command[command.index("--worker-class") + 1] == "gthread"
    assert command[-1] == "broker.wsgi:app"
    directory = metrics_directory(settings, {})
    (directory / "counter_1.db").write_bytes(b"old run")
    assert list(metrics_directory(settings, {}).iterdir()) == []  # emptied for a new run
