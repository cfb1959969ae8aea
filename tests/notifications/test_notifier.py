"""Delivery hands every webhook to the core's notifier (broker.interfaces.Notifier), and a
notifier's refusal is recorded like any failed attempt."""

from __future__ import annotations

from collections.abc import Mapping
from email.message import EmailMessage

from broker.interfaces import NotifierError
from broker.notifications.delivery import deliver_due
from tests.factories import register
from tests.notifications.conftest import FAST, World


class RecordingNotifier:
    """A notifier that keeps what it is handed and answers ``status`` (or refuses)."""

    def __init__(self, status: int = 200, refuse: NotifierError | None = None) -> None:
        self.status = status
        self.refuse = refuse
        self.webhooks: list[tuple[str, bytes, dict[str, str]]] = []

    def post_webhook(self, url: str, body: bytes, headers: Mapping[str, str],
                     timeout: float) -> int:
        """Keep the webhook; answer the status, or refuse."""
        if self.refuse is not None:
            raise self.refuse
        self.webhooks.append((url, body, dict(headers)))
        return self.status

    def send_email(self, mail: EmailMessage, smtp_url: str, timeout: float) -> None:
        """Refuse: these tests send none."""
        raise NotifierError("no-email-in-this-test", permanent=True)


def test_delivery_hands_webhooks_to_the_cores_notifier(world: World) -> None:
    notifier = RecordingNotifier()
    world.core.notifier = notifier
    register(world.registry, world.school, world.child)
    world.webhook(world.school, "https://school.example.nl/hook")
    register(world.registry, world.vt, world.mother)
    assert deliver_due(world.core, settings=FAST).delivered == 1
    ((url, _body, headers),) = notifier.webhooks
    assert url == "https://school.example.nl/hook"
    assert "Signature" in headers and "Content-Digest" in headers
    world.core.notifier = RecordingNotifier(refuse=NotifierError("ConnectError"))
    register(world.registry, world.wijkteam, world.mother)  # the school is told again
    assert deliver_due(world.core, settings=FAST).retried == 1
    assert world.outbox()[-1].last_error == "ConnectError"
