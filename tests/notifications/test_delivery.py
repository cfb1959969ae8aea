"""The outbox is delivered to real sockets: signed webhooks that verify with the broker's key,
e-mails that say only that there is a message, retries on a schedule, and no double sending by
concurrent deliverers."""

from __future__ import annotations

import dataclasses
import email
import ssl
import threading
from datetime import timedelta
from email.message import Message
from types import SimpleNamespace
from typing import Any

import click
import pytest
from broker_primitives.httpsig.signature_policy import SignatureError
from click.testing import CliRunner

from broker.cli.notifications import notify_group
from broker.clock import utcnow
from broker.core import Core
from broker.notifications.delivery import DeliveryReport, backoff_delay, deliver_due
from broker.notifications.services import NotificationSettings, notify
from tests.api.live import broker_public_key
from tests.factories import register
from tests.notifications.conftest import FAST, World
from tests.notifications.helpers import Receiver, SmtpSink, free_port


def _school_told(world: World, webhook: str | None) -> str:
    """The school registered, its webhook set, then Veilig Thuis registers: one webhook queued
    for the school. Returns the school's involvement id."""
    school_case = register(world.registry, world.school, world.child)
    world.webhook(world.school, webhook)
    register(world.registry, world.vt, world.mother)
    return school_case


def test_a_webhook_is_signed_with_the_brokers_key_and_names_nobody(
        world: World, receiver: Receiver) -> None:
    school_case = _school_told(world, receiver.url)
    report = deliver_due(world.core, settings=FAST)
    assert report == DeliveryReport(claimed=1, delivered=1)
    (hook,) = receiver.received
    verified = hook.verify(broker_public_key(world.core))
    assert (verified.key_id, verified.tag) == ("broker-api-1", "broker-v1-webhook")
    assert {"@method", "@target-uri", "@authority", "content-digest"} <= set(
        verified.covered_components)
    body = hook.json()
    assert set(body) == {"id", "event", "reference", "time"}
    assert (body["event"], body["reference"]) == ("new_match", school_case)
    for secret in ("Veilig Thuis", "veilig-thuis", "Contact", "111222333", "123456782", "1011",
                   "example.org"):
        assert secret not in hook.body.decode()
    # A changed byte no longer verifies.
    tampered = dataclasses.replace(hook, body=hook.body.replace(b"new_match", b"new_matcx"))
    with pytest.raises(SignatureError):
        tampered.verify(broker_public_key(world.core))
    (row,) = world.outbox()
    assert (row.attempts, row.last_error) == (1, None) and row.delivered_at is not None
    (event,) = world.events("notification:")
    assert (event.event_type, event.organisation_id) == (
        "notification:delivered", world.school.actor.organisation_id)
    assert event.details["kind"] == "new_match" and event.details["channel"] == "webhook"
    assert "s3cr3t" not in str(event.details)  # never the URL (or its secrets)
    assert deliver_due(world.core, settings=FAST) == DeliveryReport()  # nothing twice


def test_a_failed_webhook_is_retried_after_the_back_off(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    receiver = Receiver([500])
    try:
        _school_told(world, receiver.url)
        t0 = utcnow()
        assert deliver_due(world.core, now=t0, settings=FAST).retried == 1
        (row,) = world.outbox()
        assert (row.attempts, row.last_error, row.next_attempt_at) == (
            1, "http-500", t0 + timedelta(seconds=10))
        assert deliver_due(world.core, now=t0 + timedelta(seconds=9.9), settings=FAST) == (
            DeliveryReport())
        assert len(receiver.received) == 1
        later = t0 + timedelta(seconds=10)
        assert deliver_due(world.core, now=later, settings=FAST).delivered == 1
        (row,) = world.outbox()
        assert (row.attempts, row.delivered_at, row.last_error) == (2, later, None)
        ids = {r.json()["id"] for r in receiver.received}
        assert len(receiver.received) == 2 and len(ids) == 1  # the same message, to dedupe
        events = world.events("notification:")
        assert [(e.event_type, e.details["attempt"]) for e in events] == [
            ("notification:retry", 1), ("notification:delivered", 2)]
        assert events[0].reason == "http-500"
        assert "s3cr3t" not in caplog.text
    finally:
        receiver.close()


def test_a_webhook_is_given_up_after_its_attempts(world: World) -> None:
    receiver = Receiver(default=503)
    try:
        _school_told(world, receiver.url)
        now = utcnow()
        for wait in (10, 20, 25):  # 10 · 2^(n-1), at most 25 s
            assert deliver_due(world.core, now=now, settings=FAST).retried == 1
            (row,) = world.outbox()
            assert row.next_attempt_at == now + timedelta(seconds=wait)
            now += timedelta(seconds=wait)
        assert deliver_due(world.core, now=now, settings=FAST).given_up == 1
        (row,) = world.outbox()
        assert (row.attempts, row.failed_at, row.delivered_at) == (4, now, None)
        assert deliver_due(world.core, now=now + timedelta(days=1), settings=FAST) == (
            DeliveryReport())
        assert len(receiver.received) == 4
        assert [e.event_type for e in world.events("notification:")] == [
            "notification:retry"] * 3 + ["notification:given_up"]
    finally:
        receiver.close()


def test_an_unreachable_receiver_is_retried_and_a_hopeless_one_given_up_at_once(
        world: World) -> None:
    _school_told(world, f"http://127.0.0.1:{free_port()}/hook")  # nobody listens
    assert deliver_due(world.core, settings=FAST).retried == 1
    assert world.outbox()[0].last_error == "ConnectError"
    world.webhook(world.school, "http://school.example.nl/hook")  # not https, not local
    assert deliver_due(world.core, now=utcnow() + timedelta(seconds=11), settings=FAST
                       ).given_up == 1
    assert world.outbox()[0].last_error == "webhook-url-not-https"


def test_the_back_off_doubles_up_to_its_cap_with_bounded_jitter() -> None:
    settings = NotificationSettings(backoff=30, backoff_max=3600, jitter=0.2)
    assert [backoff_delay(settings, n, draw=0.0) for n in (1, 2, 3, 8, 20)] == [
        30, 60, 120, 3600, 3600]
    assert backoff_delay(settings, 2, draw=0.999) == pytest.approx(60 * (1 - 0.2 * 0.999))
    assert all(48 <= backoff_delay(settings, 2) <= 60 for _ in range(100))


def _body(mail: Message) -> str:
    part = mail.get_payload(decode=True)
    assert isinstance(part, bytes)
    return part.decode()


def test_an_email_says_only_that_there_is_a_new_message(
        world: World, sink: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROKER_SMTP_URL", sink.url)
    school_case = _school_told(world, None)
    settings = dataclasses.replace(FAST, smtp_url=sink.url, mail_from="broker@gemeente.example")
    assert deliver_due(world.core, settings=settings).delivered == 1
    (mail,) = sink.mails
    assert mail.recipients == ["basisschool@example.org"]
    message = email.message_from_bytes(mail.data)
    body = _body(message)
    assert "Er staat een nieuw bericht voor u klaar" in body
    assert "There is a new message for you in the broker" in body
    assert "https://broker.example.nl" in body
    (row,) = world.outbox()
    assert message["Message-ID"] == f"<{row.payload['id']}@gemeente.example>"
    for secret in (school_case, "new_match", "Veilig Thuis", "veilig-thuis", "111222333",
                   "1011", "Contact"):
        assert secret not in mail.data.decode()
    (event,) = world.events("notification:")
    assert (event.details["channel"], event.details["kind"]) == ("email", "new_match")
    assert "basisschool@example.org" not in str(event.details)


@pytest.mark.parametrize("deliverers", [4])
def test_concurrent_deliverers_send_each_message_once(world: World, deliverers: int) -> None:
    receiver = Receiver(delay=0.01)
    try:
        world.webhook(world.school, receiver.url)
        school_id = world.registry.get_professional(world.school.username).id
        with world.core.session() as session:
            for n in range(40):
                notify(session, professional_id=school_id, kind="decision", reference=f"r-{n}",
                       organisation_id=world.school.actor.organisation_id or 0)
        reports: list[DeliveryReport] = []
        start = threading.Barrier(deliverers)

        def deliver() -> None:
            start.wait()
            reports.append(deliver_due(world.core, settings=FAST))

        threads = [threading.Thread(target=deliver) for _ in range(deliverers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        references = sorted(r.json()["reference"] for r in receiver.received)
        assert references == sorted(f"r-{n}" for n in range(40))  # each once
        assert sum(r.delivered for r in reports) == 40
        assert sum(1 for r in reports if r.claimed) > 1  # they really shared the work
        assert all(row.delivered_at is not None for row in world.outbox())
        assert len(world.events("notification:delivered")) == 40
    finally:
        receiver.close()


def test_the_cli_runs_once_and_reports_the_outbox(world: World, receiver: Receiver) -> None:
    _school_told(world, receiver.url)

    @click.group()
    @click.pass_context
    def root(ctx: click.Context) -> None:
        ctx.obj = SimpleNamespace(core=world.core, lang="en")

    root.add_command(notify_group)
    runner = CliRunner()
    before = runner.invoke(root, ["notify", "status"], catch_exceptions=False)
    assert before.output.startswith("webhook: 1 waiting (1 due now), 0 delivered, 0 given up")
    ran = runner.invoke(root, ["notify", "run", "--once"], catch_exceptions=False)
    assert (ran.exit_code, ran.output) == (0, "1 delivered, 0 to retry, 0 given up\n")
    after = runner.invoke(root, ["notify", "status"], catch_exceptions=False)
    assert after.output == "webhook: 0 waiting (0 due now), 1 delivered, 0 given up\n"
    assert len(receiver.received) == 1


def test_an_idle_round_builds_no_ssl_context(core: Core, monkeypatch: pytest.MonkeyPatch
                                              ) -> None:
    """The delivery thread runs a round every few seconds: with nothing due it must not build
    an HTTP transport (and with it an SSL context) each time (issue 13)."""
    built: list[object] = []
    original = ssl.create_default_context

    def counted(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        built.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", counted)
    for _ in range(3):
        assert deliver_due(core, settings=FAST) == DeliveryReport()
    assert built == []
