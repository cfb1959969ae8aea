"""The client stands alone (issue 12): the ``broker-client`` distribution installs into a fresh
virtual environment with the primitives only — no server, no SQLAlchemy, no Flask, no Redis —
and its command and its package work there."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CHECK = """
import importlib.util, sys
import broker_client, broker_client.cli, broker_client.transport, broker_primitives.identifiers
for server_part in ("broker", "sqlalchemy", "flask", "redis", "alembic", "marshmallow"):
    assert importlib.util.find_spec(server_part) is None, server_part + " is installed"
identifier = broker_primitives.identifiers.parse_bsn("123456782")
print("ok", broker_client.BrokerClient.__name__, identifier.kind)
"""


@pytest.mark.slow
def test_the_client_installs_and_runs_without_the_server(tmp_path: Path) -> None:
    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env)
    python = env / "bin" / "python"
    installed = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         str(ROOT / "primitives"), str(ROOT / "client")],
        capture_output=True, text=True, timeout=600, check=False)
    assert installed.returncode == 0, installed.stderr
    # Run from an empty directory: the repository's own broker/ must not be on the path.
    ran = subprocess.run([python, "-c", CHECK], capture_output=True, text=True, timeout=60,
                         check=False, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "ok BrokerClient bsn"
    helped = subprocess.run([env / "bin" / "broker-client", "--help"], capture_output=True,
                            text=True, timeout=60, check=False)
    assert helped.returncode == 0 and "keygen" in helped.stdout
    assert sys.prefix != str(env)  # the suite's own environment was not touched
