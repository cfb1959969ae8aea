"""``scripts/deploy-local up|down`` (issue 15, item 3): the production layout starts on free
ports with private servers, the broker answers over TLS through nginx, serves as a database role
that cannot drop the append-only triggers and holds no k; ``down`` stops every process and
removes the state."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deploy.local import Deployment, postgres_bin

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def state() -> Iterator[Path]:
    """A fresh state directory the postgres user can reach (when we are root)."""
    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        message = "nginx is not installed (apt-get install -y nginx)"
        if os.environ.get("BROKER_TEST_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    parent = Path(tempfile.mkdtemp(prefix="broker-deploy-test-", dir="/tmp"))
    parent.chmod(0o755)
    try:
        yield parent / "state"
    finally:
        deploy(parent / "state", "down")
        shutil.rmtree(parent, ignore_errors=True)


def deploy(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """scripts/deploy-local with its state in ``state``."""
    return subprocess.run(["bash", "scripts/deploy-local", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=600, check=False,
                          env={**os.environ, "BROKER_DEPLOY_DIR": str(state)})


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_deploy_local_starts_the_production_layout_and_down_removes_it(state: Path) -> None:
    started = deploy(state, "up", "--workers", "2")
    assert started.returncode == 0, started.stdout + started.stderr
    deployment = Deployment.load(state)
    answer = httpx.get(deployment.base_url + "/login", verify=deployment.tls())
    assert answer.status_code == 200
    assert "Strict-Transport-Security" in answer.headers  # https seen through the proxy
    # The serving role owns nothing: the append-only triggers stay.
    refused = subprocess.run(
        [str(postgres_bin() / "psql"), "-h", "127.0.0.1", "-p", str(deployment.ports["postgres"]),
         "-U", "broker_app", "-d", "broker", "-c",
         "DROP TRIGGER audit_events_no_delete ON audit_events"],
        capture_output=True, text=True, check=False)
    assert "must be owner" in refused.stderr
    # k is in the pseudonym service's directory only; the broker holds b and k's public half.
    assert list((deployment.service_dir / "keys" / "oprf").glob("*.key"))
    assert not list((state / "broker" / "keys" / "oprf").glob("*.key"))
    assert list((state / "broker" / "keys" / "broker").glob("*.key"))
    # The witness co-signs the broker's checkpoints (every 5 s here).
    witnessed = f"http://127.0.0.1:{deployment.ports['witness']}/checkpoint/deploy-local.test/audit"
    deadline = time.monotonic() + 60
    while httpx.get(witnessed).status_code != 200:
        assert time.monotonic() < deadline, "the witness co-signed no checkpoint"
        time.sleep(1)
    assert "deploy-local.test/audit" in httpx.get(witnessed).text
    pids = json.loads((state / "state.json").read_text())["pids"]
    assert set(pids) == {"redis", "service", "witness", "broker", "worker", "nginx"}

    stopped = deploy(state, "down")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert not state.exists()
    assert not [name for name, pid in pids.items() if _alive(pid)]
