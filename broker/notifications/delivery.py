"""Delivering the outbox: signed webhooks and e-mails, with retries and exponential back-off.

Rules this module guarantees:

- At least once. A message is claimed, sent, then its outcome recorded, each step in its own
  transaction. A crash after sending but before recording sends it again once its claim (the
  *lease*, ``BROKER_NOTIFY_LEASE``) runs out; a crash before sending loses nothing. Receivers
  deduplicate on the body's ``id`` (e-mails carry it in their Message-ID).
- Delivery runs in ``broker worker`` (its ``notifications`` job, broker.cli.jobs) or
  ``broker notify run``, never in a web process. Concurrent deliverers (several workers, hosts)
  never claim the same message at once: a claim is one ``WITH … UPDATE … RETURNING`` that moves
  the claimed rows' ``next_attempt_at`` to the end of the lease; on PostgreSQL the CTE takes the
  rows ``FOR UPDATE SKIP LOCKED``, on SQLite the statement runs under the database's single writer.
  A round claims only what was due when it began, in batches of ten.
- A webhook is an HTTP POST of the JSON body, signed per RFC 9421 with the broker's API key
  (``keys/api/signing.key``, key id ``broker-api-1``: the key organisations already trust for
  responses) by the broker's own signing code, with ``Content-Digest`` (RFC 9530), a nonce and
  tag ``broker-v1-webhook``; receivers verify it with :data:`WEBHOOK_POLICY`. Any 2xx is
  success; anything else, or no answer within the timeout, is retried.
- A failed attempt waits ``backoff · 2^(attempts-1)`` seconds (at most ``backoff_max``, shortened
  by a random jitter) and is audited as ``notification:retry``; after ``max_attempts`` (or at
  once when it can never succeed: no URL or address any more) it is given up
  (``notification:given_up``). A delivery is audited as ``notification:delivered``. Audit
  events and log lines name the message, the channel, the kind and the organisation, never a
  URL, an address, a name or an error text that could hold them.
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import cast
from urllib.parse import urlsplit

import httpx
from broker_primitives.httpsig.signature_policy import REQUEST_COMPONENTS, SignaturePolicy
from broker_primitives.httpsig.signatures import sign_request
from nacl.signing import SigningKey
from sqlalchemy import Table, and_, select, update

from broker.audit.events import Event
from broker.audit.services import Actor, record_event
from broker.callers.keys import RESPONSE_KEY_ID, load_response_key
from broker.clock import utcnow
from broker.core import Core
from broker.interfaces import NotifierError
from broker.notifications.models import OutboxMessage
from broker.notifications.services import NotificationSettings
from broker.registry.models import Organisation, Professional

log = logging.getLogger("broker.notifications")
WEBHOOK_TAG = "broker-v1-webhook"
#: What a receiver demands of a webhook's signature
#: (``broker_primitives.httpsig.signatures.verify_request``).
WEBHOOK_POLICY = SignaturePolicy(required_components=REQUEST_COMPONENTS, required_tag=WEBHOOK_TAG)
SUBJECT = "Nieuw bericht in de broker / New message in the broker"
_ACTOR = Actor.system("notifications")
_CLAIM_BATCH = 10  # rows per claim, so that one lease covers the sends of its batch
_OUTBOX = cast(Table, OutboxMessage.__table__)
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


class _Failed(Exception):
    """One attempt failed; ``permanent`` when no later attempt can succeed."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True)
class _Message:
    """A claimed outbox row."""

    id: int
    channel: str
    organisation_id: int | None
    professional_id: int | None
    payload: dict[str, object]
    attempts: int


@dataclass(frozen=True)
class DeliveryReport:
    """What one delivery round did."""

    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    given_up: int = 0

    def __add__(self, other: DeliveryReport) -> DeliveryReport:
        return DeliveryReport(self.claimed + other.claimed, self.delivered + other.delivered,
                              self.retried + other.retried, self.given_up + other.given_up)


def backoff_delay(settings: NotificationSettings, attempts: int, draw: float | None = None
                  ) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt: ``backoff · 2^(attempts-1)``,
    at most ``backoff_max``, shortened by up to ``jitter`` of itself (``draw`` in [0, 1))."""
    delay = min(settings.backoff_max, settings.backoff * 2.0 ** max(0, attempts - 1))
    draw = random.random() if draw is None else draw  # noqa: S311 - jitter, not a secret
    return delay * (1.0 - settings.jitter * draw)


def deliver_due(core: Core, *, now: datetime | None = None, limit: int = 100,
                settings: NotificationSettings | None = None) -> DeliveryReport:
    """Claim up to ``limit`` due messages, send each and record the outcome (see the module
    docstring). ``now`` defaults to the wall clock, the clock :func:`notify` queues by."""
    settings = settings or NotificationSettings.from_env()

    def clock() -> datetime:
        return now if now is not None else utcnow()

    started = clock()  # what is due by then: a retry scheduled in this round waits for the next
    report = DeliveryReport()
    key: SigningKey | None = None
    while report.claimed < limit:
        rows = _claim(core, started, clock() + timedelta(seconds=settings.lease),
                      min(_CLAIM_BATCH, limit - report.claimed))
        if not rows:
            break
        report += DeliveryReport(claimed=len(rows))
        for row in rows:
            try:
                if row.channel == "webhook":
                    key = key or load_response_key(core.settings.keys_dir)
                    _send_webhook(core, key, row, settings)
                else:
                    _send_email(core, settings, row)
            except _Failed as failure:
                report += _record(core, settings, row, failure, clock())
            except NotifierError as refused:
                failed = _Failed(refused.reason, permanent=refused.permanent)
                report += _record(core, settings, row, failed, clock())
            except Exception as exc:  # a bug must not hold the rest of the batch back
                report += _record(core, settings, row, _Failed(type(exc).__name__), clock())
            else:
                report += _record(core, settings, row, None, clock())
    return report


def _claim(core: Core, due_by: datetime, lease_until: datetime, count: int) -> list[_Message]:
    due = and_(_OUTBOX.c.delivered_at.is_(None), _OUTBOX.c.failed_at.is_(None),
               _OUTBOX.c.next_attempt_at <= due_by)
    oldest = select(_OUTBOX.c.id).where(due).order_by(_OUTBOX.c.next_attempt_at,
                                                      _OUTBOX.c.id).limit(count)
    if not core.settings.is_sqlite:
        oldest = oldest.with_for_update(skip_locked=True)
    # A CTE, not "id IN (sub-select)": PostgreSQL may run such a sub-select once per row,
    # skipping its own locks, and so claim more than ``count`` rows.
    claimed = oldest.cte("claimed")
    with core.transaction() as connection:
        rows = connection.execute(
            update(_OUTBOX).where(_OUTBOX.c.id == claimed.c.id, due)
            .values(next_attempt_at=lease_until)
            .returning(_OUTBOX.c.id, _OUTBOX.c.channel, _OUTBOX.c.organisation_id,
                       _OUTBOX.c.professional_id, _OUTBOX.c.payload, _OUTBOX.c.attempts)
        ).all()
    return sorted((_Message(*row) for row in rows), key=lambda message: message.id)


def _send_webhook(core: Core, key: SigningKey, row: _Message,
                  settings: NotificationSettings) -> None:
    with core.transaction() as connection:
        url = connection.execute(select(Organisation.webhook_url)
                                 .where(Organisation.id == row.organisation_id)).scalar()
    if not url:
        raise _Failed("no-webhook-url", permanent=True)
    parts = urlsplit(url)
    if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in _LOOPBACK):
        raise _Failed("webhook-url-not-https", permanent=True)
    body = json.dumps(row.payload, sort_keys=True, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "broker-webhook/1"}
    try:
        target = str(httpx.URL(url))
        headers.update(sign_request(method="POST", target_uri=target, headers=headers,
                                    key_id=RESPONSE_KEY_ID, private_key=key, body=body,
                                    tag=WEBHOOK_TAG))
    except (ValueError, httpx.InvalidURL):
        raise _Failed("webhook-url-invalid", permanent=True) from None
    # Through the core's notifier (broker.notifier: an httpx transport, never following a
    # redirect, its failures named by type).
    status = core.notifier.post_webhook(target, body, headers, settings.timeout)
    if not 200 <= status < 300:
        raise _Failed(f"http-{status}")


def render_email(settings: NotificationSettings, recipient: str, message_id: str
                 ) -> EmailMessage:
    """The e-mail for one notification: only that there is a new message, and where."""
    mail = EmailMessage()
    mail["From"] = settings.mail_from
    mail["To"] = recipient
    mail["Subject"] = SUBJECT
    mail["Message-ID"] = f"<{message_id}@{settings.mail_from.rpartition('@')[2] or 'broker'}>"
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(
        "Er staat een nieuw bericht voor u klaar in de broker.\n"
        f"Log in om het te lezen: {settings.base_url}\n\n"
        "There is a new message for you in the broker.\n"
        f"Sign in to read it: {settings.base_url}\n\n"
        "Dit bericht is automatisch verstuurd. / This message was sent automatically.\n")
    return mail


def _send_email(core: Core, settings: NotificationSettings, row: _Message) -> None:
    with core.transaction() as connection:
        recipient = connection.execute(
            select(Professional.email).where(Professional.id == row.professional_id,
                                             Professional.active.is_(True))).scalar()
    if not recipient:
        raise _Failed("no-email-address", permanent=True)
    if not settings.smtp_url:
        raise _Failed("smtp-not-configured")
    mail = render_email(settings, recipient, str(row.payload.get("id", row.id)))
    core.notifier.send_email(mail, settings.smtp_url, settings.timeout)


def _record(core: Core, settings: NotificationSettings, row: _Message, failure: _Failed | None,
            now: datetime) -> DeliveryReport:
    """Record one attempt's outcome and its audit event (none when another deliverer already
    recorded the message as delivered or given up)."""
    attempt = row.attempts + 1
    details: dict[str, object] = {"message": row.id, "channel": row.channel, "attempt": attempt,
                                  "kind": row.payload.get("event") or row.payload.get("kind")}
    if row.professional_id is not None:
        details["professional_id"] = row.professional_id
    values: dict[str, object] = {"attempts": attempt, "last_error": None}
    if failure is None:
        event, outcome, values["delivered_at"] = Event.NOTIFICATION_DELIVERED, "delivered", now
    elif failure.permanent or attempt >= settings.max_attempts:
        event, outcome, values["failed_at"] = Event.NOTIFICATION_GIVEN_UP, "given_up", now
    else:
        event, outcome = Event.NOTIFICATION_RETRY, "retried"
        retry_at = now + timedelta(seconds=backoff_delay(settings, attempt))
        values["next_attempt_at"], details["next_attempt_at"] = retry_at, retry_at.isoformat()
    if failure is not None:
        values["last_error"] = details["error"] = failure.reason
    with core.transaction() as connection:
        if connection.execute(
                update(_OUTBOX).where(_OUTBOX.c.id == row.id, _OUTBOX.c.delivered_at.is_(None),
                                      _OUTBOX.c.failed_at.is_(None)).values(**values)).rowcount:
            record_event(connection, _ACTOR, event, organisation_id=row.organisation_id,
                         outcome="success" if failure is None else "failure",
                         reason=failure.reason if failure else None, details=details)
    level = {"delivered": logging.INFO, "retried": logging.WARNING}.get(outcome, logging.ERROR)
    log.log(level, "notification %s %s (%s, attempt %s%s)", row.id, outcome.replace("_", " "),
            row.channel, attempt, f", {failure.reason}" if failure else "")
    return DeliveryReport(**{outcome: 1})
