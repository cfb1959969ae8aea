"""Several gunicorn workers and one captured signed request (issue 11, item 5).

A real ``gunicorn -w 3`` receives the same signed request many times at once: it is accepted at
most once, or the server refuses to start because the workers would not share their limits.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from broker.audit.services import Actor
from broker.config import Settings
from broker.core import Core
from broker.setup import initialise
from tests.api.live import Organisation, enrol, send, signed
from tests.conftest import OPEN_POLICY
from tests.private_servers import (
    free_port,
    gunicorn,
    private_redis,
    server_process,
    wait_for_output,
    wait_until_serving,
)

pytestmark = pytest.mark.slow

CONFIG = ("--config", "python:broker.gunicorn_conf")


def _home(tmp_path: Path) -> tuple[dict[str, str], Organisation]:
    """An initialised broker home with one organisation and its key; the server's environment."""
    env = {**os.environ, "BROKER_HOME": str(tmp_path),
           "BROKER_DATABASE_URL": f"sqlite:///{tmp_path / 'b.db'}",
           "BROKER_POLICY_DIR": str(OPEN_POLICY)}
    env.pop("BROKER_REDIS_URL", None)
    core = Core(Settings.from_env(env))
    initialise(core, Actor.operator("test"))
    org = enrol(core, "vt-a", "veilig_thuis")
    core.dispose()
    return env, org


def _send_many(base: str, org: Organisation, times: int = 12) -> list[httpx.Response]:
    """One captured request sent ``times`` times at once, each on its own connection."""
    url, headers, body = signed(base, org, "GET", f"/v1/inbox?professional={org.professional}")
    answers: list[httpx.Response] = []
    lock = threading.Lock()
    start = threading.Barrier(times)

    def one() -> None:
        start.wait()
        answer = send("GET", url, headers, body)
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=one) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_three_workers_without_a_shared_store_accept_a_request_at_most_once(tmp_path: Path
                                                                             ) -> None:
    env, org = _home(tmp_path)
    # No config module, no Redis: as the tester ran it. Nobody checked the worker count, so
    # the workers refuse to load the broker (and were it served, nonces are in the database).
    with gunicorn(env, tmp_path / "gunicorn.log") as server:
        if wait_until_serving(server):
            answers = _send_many(server.base, org)
            accepted = [a for a in answers if a.status_code == 200]
            pytest.fail(f"served; accepted {len(accepted)} times: {server.output()}")
    assert server.process.returncode != 0
    assert "gunicorn -c python:broker.gunicorn_conf" in server.output()


def test_the_shipped_config_refuses_several_workers_without_redis(tmp_path: Path) -> None:
    env, _ = _home(tmp_path)
    with gunicorn(env, tmp_path / "gunicorn.log", *CONFIG) as server:
        assert not wait_until_serving(server)
        message = server.output()
    assert server.process.returncode != 0
    assert "BROKER_REDIS_URL" in message and "--workers 1" in message


def test_three_workers_with_redis_accept_a_captured_request_once(tmp_path: Path) -> None:
    env, org = _home(tmp_path)
    with private_redis(tmp_path) as store, gunicorn(
            {**env, "BROKER_REDIS_URL": store.url}, tmp_path / "gunicorn.log", *CONFIG
    ) as server:
        assert wait_until_serving(server), server.output()
        answers = _send_many(server.base, org)
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [401] * 11
    assert {a.json()["type"] for a in answers if a.status_code == 401} == {
        "urn:broker:problem:signature-replayed"}


def test_one_worker_is_not_grown_to_two_without_redis(tmp_path: Path) -> None:
    env, org = _home(tmp_path)
    with gunicorn(env, tmp_path / "gunicorn.log", *CONFIG, workers=1) as server:
        assert wait_until_serving(server), server.output()
        os.kill(server.process.pid, signal.SIGTTIN)  # "one more worker, please"
        output = wait_for_output(server, "not adding workers")
        answers = _send_many(server.base, org, times=4)
    assert "BROKER_REDIS_URL" in output
    assert output.count("Booting worker") == 1
    assert sorted(a.status_code for a in answers) == [200, 401, 401, 401]


def test_broker_serve_with_workers(tmp_path: Path) -> None:
    env, org = _home(tmp_path)
    broker = str(Path(sys.executable).with_name("broker"))
    refused = subprocess.run([broker, "--lang", "en", "serve", "--workers", "3"], env=env,
                             capture_output=True, text=True, check=False, timeout=60)
    assert refused.returncode == 1 and "BROKER_REDIS_URL" in refused.stderr
    port = free_port()
    with private_redis(tmp_path) as store, server_process(
            [broker, "serve", "--workers", "2", "--port", str(port)],
            {**env, "BROKER_REDIS_URL": store.url}, tmp_path / "serve.log", port) as server:
        assert wait_until_serving(server), server.output()
        answers = _send_many(server.base, org, times=4)
        assert server.output().count("Booting worker") == 2
    assert sorted(a.status_code for a in answers) == [200, 401, 401, 401]
