"""Killing the server (a real process, SIGKILL) between accepting a registration and sending
its webhook loses nothing: the webhook is delivered after the restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from broker_client import BrokerClient
from sqlalchemy import select, update

from broker.audit.services import Actor
from broker.core import Core
from broker.notifications.models import OutboxMessage
from broker.registry.models import Organisation
from broker.registry.services import RegistryService
from tests.api.live import broker_public_key, enrol
from tests.factories import CHILD_BSN, household
from tests.notifications.helpers import Receiver, free_port
from tests.uow import committed

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def broker_process(core: Core, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """The broker serving on ``port`` in its own process, with quick delivery rounds and short
    back-off; killed (SIGKILL) when the block ends, if still running."""
    settings = core.settings
    env = {**os.environ, "BROKER_HOME": str(settings.home),
           "BROKER_DATABASE_URL": settings.database_url,
           "BROKER_POLICY_DIR": str(settings.policy_dir), "BROKER_NOTIFY_INTERVAL": "0.2",
           "BROKER_NOTIFY_BACKOFF": "0.2", "BROKER_NOTIFY_BACKOFF_MAX": "0.5",
           "BROKER_NOTIFY_JITTER": "0", "BROKER_NOTIFY_LEASE": "2",
           "BROKER_WEBHOOK_TIMEOUT": "2"}
    env.pop("BROKER_SMTP_URL", None)
    process = subprocess.Popen([sys.executable, "-m", "tests.notifications.serve", str(port)],
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, "the broker process stopped"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/openapi.json").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the broker process did not start"
            time.sleep(0.1)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)


def _webhook_rows(core: Core) -> list[OutboxMessage]:
    with core.session() as session:
        rows = list(session.scalars(select(OutboxMessage).where(
            OutboxMessage.channel == "webhook")))
        session.expunge_all()
    return rows


def test_a_webhook_survives_a_sigkill_after_the_request_was_accepted(core: Core) -> None:
    school, vt = enrol(core, "school-a", "school"), enrol(core, "vt-a", "veilig_thuis")
    hook_port, broker_port = free_port(), free_port()
    hook_url = f"http://127.0.0.1:{hook_port}/hooks/broker"
    with core.transaction() as connection:
        connection.execute(update(Organisation).where(Organisation.identifier == school.code)
                           .values(webhook_url=hook_url))
    school_case = committed(core, RegistryService).register_involvement(
        Actor.operator("test"), organisation=school.code, professional=school.professional,
        pseudonyms=household(core, bsn=(CHILD_BSN,)), purpose="care_coordination").id
    public = broker_public_key(core)

    with broker_process(core, broker_port) as first:
        with BrokerClient(f"http://127.0.0.1:{broker_port}", vt.key_id, vt.key,
                          broker_public_key=bytes(public)) as client:
            client.register(professional=vt.professional, purpose="protection",
                            bsn=[CHILD_BSN])
        first.send_signal(signal.SIGKILL)  # accepted and answered; the receiver is not up
        first.wait(timeout=10)
    (row,) = _webhook_rows(core)
    assert row.delivered_at is None and row.failed_at is None  # queued, not lost

    receiver = Receiver(port=hook_port)
    try:
        with broker_process(core, broker_port):
            (hook, *again) = receiver.wait_for(1, timeout=30)
            deadline = time.monotonic() + 10
            while _webhook_rows(core)[0].delivered_at is None and time.monotonic() < deadline:
                time.sleep(0.1)
    finally:
        receiver.close()
    hook.verify(public)
    body = hook.json()
    assert (body["event"], body["reference"], body["id"]) == (
        "new_match", school_case, row.payload["id"])
    assert all(r.json()["id"] == body["id"] for r in again)  # at least once, same id
    (row,) = _webhook_rows(core)
    assert row.delivered_at is not None
