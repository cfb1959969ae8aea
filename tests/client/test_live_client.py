"""The client and the real server agree end to end, through HTTP on 127.0.0.1.

One organisation registers and another looks up, through ``BrokerClient`` only, and the server
is shown never to receive a raw identifier. ``broker-client sync`` registers a 10,000-row CSV,
a second run changes nothing, and a run killed halfway (SIGKILL) and restarted ends the same.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from broker_client import BrokerClient
from broker_client.cli import main as client_cli
from click.testing import CliRunner
from flask import request
from sqlalchemy import func, select

from broker.app import create_app
from broker.callers.keys import response_key_path
from broker.core import Core
from broker.registry.models import Involvement, MatchingKey
from tests.api.live import Organisation, enrol, serve
from tests.client.conftest import valid_bsns
from tests.conftest import OPEN_POLICY

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def policy_path(tmp_path: Path) -> Path:
    """The open test policy with a quota large enough for a 10,000-row sync."""
    path = tmp_path / "policy.yaml"
    path.write_text(OPEN_POLICY.read_text()
                    + "quotas:\n  pseudonym_evaluations_per_day: 100000\n")
    return path


@dataclass
class Server:
    """A live broker, what it received, and two enrolled organisations."""

    base: str
    core: Core
    received: list[bytes]
    vt: Organisation
    school: Organisation

    def client(self, org: Organisation) -> BrokerClient:
        """A client for ``org`` that verifies the broker's response signatures."""
        public = response_key_path(self.core.settings.keys_dir).with_suffix(".pub").read_text()
        return BrokerClient(self.base, org.key_id, org.key, broker_public_key=public.strip())


@pytest.fixture
def server(core: Core) -> Iterator[Server]:
    """A live broker that records every request's URL, headers and body."""
    vt, school = enrol(core, "vt-a", "veilig_thuis"), enrol(core, "school-a", "school")
    app = create_app(core=core)
    received: list[bytes] = []

    @app.before_request
    def _record() -> None:
        headers = "\n".join(f"{k}: {v}" for k, v in request.headers.items())
        received.append(request.url.encode() + b"\n" + headers.encode() + b"\n"
                        + request.get_data(cache=True))

    with serve(app) as base:
        yield Server(base, core, received, vt, school)


def test_register_and_lookup_through_the_client_only(server: Server) -> None:
    household = {"bsn": ["123456782", "111222333"], "address": ["1011 AB 12 A"],
                 "person": ["van der Horst;J;2015-02-03"]}
    with server.client(server.vt) as vt:
        registered = vt.register(professional=server.vt.professional, purpose="protection",
                                 **household)
    with server.client(server.school) as school:
        answer = school.lookup(purpose="care_coordination", basis="legal_task",
                               statute="jeugdwet_7_1_1", address=["1011ab 12-a"],
                               bsn=["123456782"])
    assert [(m["organisation"], tuple(m["matched_on"])) for m in answer["matches"]] == [
        ("VT-A", ("person", "address"))]
    # The match is named by a handle for this look-up, never by the holder's involvement id.
    assert answer["matches"][0]["match_id"] != registered["id"]
    assert registered["id"].encode() not in b"".join(server.received[-1:])
    sent = b"\n".join(server.received)
    assert b"/v1/pseudonyms/evaluate" in sent and b"/v1/lookups" in sent
    for raw in ("123456782", "111222333", "1011 AB", "1011AB", "1011ab", "Horst", "horst",
                "2015-02-03", "bsn|"):
        assert raw.encode() not in sent, raw


def _write_csv(path: Path, rows: int) -> None:
    bsns = valid_bsns(rows * 2, start=20_000_000)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["external_id", "professional", "purpose", "ends_on", "status", "bsn",
                         "address", "person"])
        for n in range(rows):
            writer.writerow([f"case-{n}", "vt-a-p", "protection", "", "active",
                             f"{bsns[2 * n]}|{bsns[2 * n + 1]}",
                             f"{1000 + n % 9000} AB {n % 300 + 1}", ""])


def _environment(server: Server, tmp_path: Path) -> dict[str, str]:
    key_file = tmp_path / "vt.key"
    key_file.write_text(bytes(server.vt.key).hex() + "\n")
    key_file.chmod(0o600)
    public = response_key_path(server.core.settings.keys_dir).with_suffix(".pub").read_text()
    return {"BROKER_URL": server.base, "BROKER_KEY_ID": server.vt.key_id,
            "BROKER_KEY_FILE": str(key_file), "BROKER_PUBLIC_KEY": public.strip()}


def _involvements(core: Core) -> tuple[int, int]:
    """How many involvements, and how many distinct households (person keys) they name: every
    row of the sheet has two BSNs of its own."""
    with core.session() as session:
        total = session.scalar(select(func.count()).select_from(Involvement)) or 0
        people = session.scalar(select(func.count(func.distinct(MatchingKey.value)))
                                .where(MatchingKey.category == "person"))
    return total, (people or 0) // 2


@pytest.mark.slow
def test_sync_of_10000_rows_killed_halfway_resumes_and_reruns_change_nothing(
    server: Server, tmp_path: Path
) -> None:
    rows = 10_000
    sheet = tmp_path / "involvements.csv"
    _write_csv(sheet, rows)
    env = {**os.environ, **_environment(server, tmp_path)}
    state = Path(str(sheet) + ".state.json")

    # A run killed (SIGKILL) once a few batches are saved.
    killed = subprocess.Popen([str(Path(sys.executable).with_name("broker-client")), "sync",
                               str(sheet)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and killed.poll() is None:
        if state.exists() and state.stat().st_size > 200_000:  # several batches recorded
            break
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    halfway, _ = _involvements(server.core)
    assert 0 < halfway < rows

    runner = CliRunner()
    resumed = runner.invoke(client_cli, ["sync", str(sheet)], env=_environment(server, tmp_path))
    assert resumed.exit_code == 0, resumed.output
    total, distinct = _involvements(server.core)
    assert total == rows  # every row once: nothing lost, nothing registered twice
    assert distinct == rows

    again = runner.invoke(client_cli, ["sync", str(sheet)], env=_environment(server, tmp_path))
    assert again.exit_code == 0, again.output
    assert "0 changes" in again.output
    assert _involvements(server.core)[0] == rows
