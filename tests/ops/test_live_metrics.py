"""``broker serve --production`` as a real gunicorn with two workers on PostgreSQL and Redis:
/metrics adds up the counts of every worker (PROMETHEUS_MULTIPROC_DIR), /readyz is ready."""

from __future__ import annotations

import os
import re
import sys
import threading
from pathlib import Path

import httpx
import pytest

from broker.config import Settings
from broker.core import Core
from broker.pseudonym_service import home
from tests.private_servers import free_port, private_redis, server_process, wait_until_serving
from tests.pseudonyms.service_process import running_service

pytestmark = pytest.mark.slow

HITS = 24


def _healthz_count(metrics: str) -> float:
    found = re.search(r'^broker_http_requests_total\{endpoint="/healthz",method="GET",'
                      r'status="200"\} (\S+)$', metrics, re.MULTILINE)
    assert found, metrics
    return float(found.group(1))


def _holding_only_b(settings: Settings, tmp_path: Path) -> Path:
    """Production keeps k out of the broker: pair the home with a pseudonym service directory
    (served by the test, since /readyz asks it) and take k away."""
    service = tmp_path / "pseudonym-service"
    home.initialise(service, default_quota=100)
    home.pair(service, settings.keys_dir, settings.pseudonym_service_key_id)
    for key in (settings.keys_dir / "oprf").glob("*.key"):
        key.unlink()
    return service


def test_metrics_add_up_every_gunicorn_worker(core: Core, tmp_path: Path) -> None:
    if core.settings.is_sqlite:
        pytest.skip("--production refuses SQLite (tests/test_serving.py shows it)")
    settings = core.settings
    port = free_port()
    service_dir = _holding_only_b(settings, tmp_path)
    with private_redis(tmp_path) as store, running_service(
            service_dir, tmp_path / "service.log") as service:
        env = {**os.environ, "BROKER_HOME": str(settings.home),
               "BROKER_DATABASE_URL": settings.database_url,
               "BROKER_POLICY_DIR": str(settings.policy_dir), "BROKER_REDIS_URL": store.url,
               "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
               "BROKER_PSEUDONYM_SERVICE_URL": service.base}
        command = [sys.executable, "-c", "from broker.cli import main; main()", "serve",
                   "--production", "--workers", "2", "--port", str(port)]
        with server_process(command, env, tmp_path / "server.log", port) as server:
            assert wait_until_serving(server), server.output()
            start = threading.Barrier(HITS)

            def hit() -> None:
                start.wait()
                assert httpx.get(f"{server.base}/healthz", timeout=10).status_code == 200

            threads = [threading.Thread(target=hit) for _ in range(HITS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            ready = httpx.get(f"{server.base}/readyz", timeout=10)
            scrapes = [httpx.get(f"{server.base}/metrics", timeout=10).text for _ in range(4)]
            output = server.output()
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["redis"] == "ok"
    assert "gunicorn: 2 workers x 2 threads" in output
    assert output.count("Booting worker") == 2
    assert {_healthz_count(text) for text in scrapes} == {float(HITS)}  # whichever answers
    assert list((tmp_path / "prometheus").glob("counter_*.db"))
