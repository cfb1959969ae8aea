"""Notifications: each professional's inbox, and the e-mails and webhooks that announce it.

Rules this module guarantees:

- :func:`notify` writes in the *caller's* transaction: the inbox message and the outbox rows
  that announce it commit together with the change they announce, or not at all. A crash never
  loses one (the outbox is delivered later, see :mod:`broker.notifications.delivery`); a rollback
  never sends one. The caller's own audit event covers the change.
- What leaves the broker says as little as possible. An e-mail row holds only the kind; the mail,
  rendered when it is sent, says in Dutch and English that there is a new message in the broker
  and where to sign in, nothing else. A webhook body holds a message id (receivers deduplicate
  on it), the kind, the reference and the time. The reference is always something of the
  receiving organisation's own (its involvement, a contact request or link it is party to):
  never a name, an identifier or a token.
- A new registration notifies the contact professional of another organisation's active
  involvement on the same household only when the policy lets that organisation's type discover
  the newcomer's type, for its own involvement's purpose, under a basis that purpose accepts:
  otherwise the notification itself would disclose the registration.
- An inbox is read by members of the professional's own organisation only; marking messages
  read is audited (``inbox:read``), and so is every refused attempt on an inbox
  (``inbox:access_refused``), answered as for a name that does not exist.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from broker_primitives import oprf
from broker_primitives.identifiers import Category
from sqlalchemy import Connection, insert, select, update
from sqlalchemy.orm import Session

from broker.audit.events import Event
from broker.audit.services import Actor, now_of, record_event
from broker.config import number_setting
from broker.core import Core, UnitOfWork, unit_of
from broker.errors import ConfigurationError, ValidationError
from broker.interfaces import StoredForm
from broker.notifications.models import InboxMessage, OutboxMessage
from broker.policy import DecisionRequest, Policy
from broker.policy.model import Reveal
from broker.pseudonyms.matching import StoredKey
from broker.registry.candidates import find_candidates
from broker.registry.common import member
from broker.registry.models import (
    ACCESS_AUDITOR,
    Involvement,
    Organisation,
    Professional,
)

KINDS = frozenset({"new_match", "contact_request", "decision", "link", "coordinator_proposal",
                   "inform_review_due", "lookup_notice", "review_flag", "misuse_flag"})
# Kinds whose reference is the receiver's own involvement: the message goes with it.
PER_INVOLVEMENT = frozenset({"new_match", "lookup_notice"})
# Kinds that go to the auditors (accounts with the auditor access role), never to the chain.
AUDITOR_KINDS = frozenset({"review_flag", "misuse_flag"})
_EVENT_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")
# Keys a webhook's extra data may never carry, whatever the caller meant by them.
_FORBIDDEN_KEYS = frozenset({"name", "email", "phone", "token", "bsn", "address", "postcode",
                             "person", "identifier", "url"})


@dataclass(frozen=True)
class NotificationSettings:
    """How notifications leave the broker, from ``BROKER_*`` environment variables.

    | variable                   | default                               |
    | -------------------------- | ------------------------------------- |
    | BROKER_SMTP_URL            | (none: no e-mail; see below)          |
    | BROKER_SMTP_FROM           | broker@localhost                      |
    | BROKER_BASE_URL            | http://127.0.0.1:5000 (in the e-mail) |
    | BROKER_NOTIFY_INTERVAL     | 2 (seconds between delivery rounds)   |
    | BROKER_WEBHOOK_TIMEOUT     | 5 (seconds, per webhook or e-mail)    |
    | BROKER_NOTIFY_BACKOFF      | 30 (seconds before the first retry; doubles) |
    | BROKER_NOTIFY_BACKOFF_MAX  | 3600 (the longest wait between attempts) |
    | BROKER_NOTIFY_JITTER       | 0.2 (a wait is shortened by up to this fraction) |
    | BROKER_NOTIFY_MAX_ATTEMPTS | 10 (then the message is given up)     |
    | BROKER_NOTIFY_LEASE        | 300 (seconds a claimed message is left to its deliverer) |

    ``BROKER_SMTP_URL`` is ``smtp://relay:25`` (a local relay, no TLS),
    ``smtp+starttls://user:password@host:587`` or ``smtps://user:password@host:465``.
    """

    smtp_url: str | None = None
    mail_from: str = "broker@localhost"
    base_url: str = "http://127.0.0.1:5000"
    interval: float = 2.0
    timeout: float = 5.0
    backoff: float = 30.0
    backoff_max: float = 3600.0
    jitter: float = 0.2
    max_attempts: int = 10
    lease: float = 300.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> NotificationSettings:
        """Read the settings from ``environ`` (default: the process environment)."""
        env = os.environ if environ is None else environ
        smtp_url = env.get("BROKER_SMTP_URL") or None
        if smtp_url and smtp_url.split("://", 1)[0] not in ("smtp", "smtp+starttls", "smtps"):
            raise ConfigurationError(
                "BROKER_SMTP_URL must start with smtp://, smtp+starttls:// or smtps://")
        jitter = number_setting(env, "BROKER_NOTIFY_JITTER", 0.2, allow_zero=True)
        if jitter >= 1:
            raise ConfigurationError("BROKER_NOTIFY_JITTER must lie between 0 and 1")
        return cls(
            smtp_url=smtp_url,
            mail_from=env.get("BROKER_SMTP_FROM") or "broker@localhost",
            base_url=(env.get("BROKER_BASE_URL") or "http://127.0.0.1:5000").rstrip("/"),
            interval=number_setting(env, "BROKER_NOTIFY_INTERVAL", 2.0),
            timeout=number_setting(env, "BROKER_WEBHOOK_TIMEOUT", 5.0),
            backoff=number_setting(env, "BROKER_NOTIFY_BACKOFF", 30.0),
            backoff_max=number_setting(env, "BROKER_NOTIFY_BACKOFF_MAX", 3600.0),
            jitter=jitter,
            max_attempts=int(number_setting(env, "BROKER_NOTIFY_MAX_ATTEMPTS", 10)),
            lease=number_setting(env, "BROKER_NOTIFY_LEASE", 300.0),
        )


def _connection(session: Session | Connection) -> Connection:
    return session.connection() if isinstance(session, Session) else session


def _event_data(event: Mapping[str, object] | None) -> dict[str, object]:
    """A webhook's extra data: short keys, scalar values, nothing that names anyone."""
    data = dict(event or {})
    for key, value in data.items():
        if not _EVENT_KEY.fullmatch(key) or key in _FORBIDDEN_KEYS:
            raise ValueError(f"a webhook event may not carry the key {key!r}")
        if not (value is None or isinstance(value, (bool, int))
                or (isinstance(value, str) and len(value) <= 100)):
            raise ValueError(f"a webhook event's {key!r} must be a short string, number or bool")
    return data


def notify(
    session: Session | Connection,
    *,
    professional_id: int,
    kind: str,
    reference: str,
    organisation_id: int,
    webhook_event: Mapping[str, object] | None = None,
    about: Registrant | None = None,
) -> None:
    """Put a message in the professional's inbox and queue what announces it, in the caller's
    transaction: an e-mail when SMTP is configured and the professional has an address, a
    webhook when their organisation has a webhook URL.

    ``reference`` is the public id the message is about, of the receiver's own side (their
    involvement, the contact request, the link); ``webhook_event`` adds scalar fields to the
    webhook body (never a name, an identifier or a token); ``about`` is who the message is about,
    by reference, shown in the inbox as far as the policy lets the receiver learn it. A message
    of a per-involvement kind is tied to the receiver's involvement ``reference`` names, and one
    ``about`` a registration to that registration: it is deleted with either. An unknown
    ``kind`` is a programming error and raises ``ValueError``.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    if not 0 < len(reference) <= 64:
        raise ValueError("a notification's reference is a public id of 1 to 64 characters")
    data = _event_data(webhook_event)
    connection = _connection(session)
    now = now_of(session)
    own = (select(Involvement.id).where(Involvement.public_id == reference).scalar_subquery()
           if kind in PER_INVOLVEMENT else None)
    connection.execute(insert(InboxMessage).values(
        professional_id=professional_id, kind=kind, reference=reference, created_at=now,
        involvement_id=own,
        about_organisation_id=about.organisation_id if about else None,
        about_involvement_id=about.involvement_id if about else None,
        about_reveal=about.reveal if about else None))
    if NotificationSettings.from_env().smtp_url and connection.execute(
            select(Professional.email).where(Professional.id == professional_id,
                                             Professional.active.is_(True))).scalar():
        _queue(connection, "email", organisation_id, professional_id,
               {"id": str(uuid.uuid4()), "kind": kind}, now)
    if connection.execute(select(Organisation.webhook_url)
                          .where(Organisation.id == organisation_id)).scalar():
        payload: dict[str, object] = {"id": str(uuid.uuid4()), "event": kind,
                                      "reference": reference, "time": now.isoformat()}
        if data:
            payload["data"] = data
        _queue(connection, "webhook", organisation_id, None, payload, now)


def notify_auditors(session: Session | Connection, *, kind: str, reference: str) -> list[int]:
    """Put a message in the inbox of every active auditor, in the caller's transaction (the
    caller's audit event covers it); an e-mail is queued for each auditor with an address when
    SMTP is configured. ``reference`` is the public id of what to look at (an audit event id).
    Returns the ids of the auditors told (empty when there are none: the flag still stands in
    the log and the reports)."""
    if kind not in AUDITOR_KINDS:
        raise ValueError(f"{kind!r} is not a message for auditors")
    if not 0 < len(reference) <= 64:
        raise ValueError("a notification's reference is a public id of 1 to 64 characters")
    connection = _connection(session)
    now = now_of(session)
    auditors = connection.execute(
        select(Professional.id, Professional.organisation_id, Professional.email)
        .where(Professional.access_role == ACCESS_AUDITOR, Professional.active.is_(True))
        .order_by(Professional.id)
    ).all()
    mail = NotificationSettings.from_env().smtp_url is not None
    for professional_id, organisation_id, email in auditors:
        connection.execute(insert(InboxMessage).values(
            professional_id=professional_id, kind=kind, reference=reference, created_at=now))
        if mail and email:
            _queue(connection, "email", organisation_id, professional_id,
                   {"id": str(uuid.uuid4()), "kind": kind}, now)
    return [row[0] for row in auditors]


def _queue(connection: Connection, channel: str, organisation_id: int,
           professional_id: int | None, payload: dict[str, object], now: datetime) -> None:
    connection.execute(insert(OutboxMessage).values(
        channel=channel, organisation_id=organisation_id, professional_id=professional_id,
        payload=payload, attempts=0, next_attempt_at=now, created_at=now))


def may_learn_of(policy: Policy, notified_type: str, registrant_type: str, purpose: str) -> bool:
    """Whether an organisation of ``notified_type``, involved for ``purpose``, may discover one
    of ``registrant_type`` under at least one basis the purpose accepts."""
    spec = policy.purposes.get(purpose)
    if spec is None:
        return False
    return any(policy.decide(DecisionRequest(notified_type, registrant_type, purpose, basis)
                             ).allowed for basis in spec.accepted_bases)


def about_registrant(reveal: Reveal, name: str, org_type: str) -> About:
    """Who registered, as ``reveal`` allows: the name and type, only the type, or neither."""
    if reveal == "organisation":
        return About(name, org_type)
    return About(None, org_type if reveal == "organisation_type" else None)


def notify_new_matches(session: Session, core: Core, *, organisation_id: int,
                       involvement_id: int, keys: Sequence[StoredForm]) -> list[str]:
    """Tell other organisations' contacts on the same household that someone new registered.

    Called in the registration's transaction, after the involvement ``involvement_id`` of
    ``organisation_id`` with its matching ``keys`` is written. Each other organisation's active
    involvement sharing a key is notified once, with kind ``new_match`` and its *own* public id
    as the reference, when :func:`may_learn_of` allows it, in the order of their public ids.
    Returns the public ids of the notified involvements (for the audit event of the
    registration).

    The involvements sharing a key are found by the look-up's own statement
    (:func:`broker.registry.candidates.find_candidates`, compiled once, driven by the
    matching-key index): a registration finds exactly the involvements a look-up on its keys
    would, and a batch of a thousand does not build a thousand queries.
    """
    connection = _connection(session)
    policy = core.policy()
    registrant_type = core.org_type(connection, organisation_id)
    found = find_candidates(connection, _search_forms(core, connection, keys), organisation_id,
                            core.today(), reciprocity=False)
    notified = []
    for candidate in sorted(found.candidates, key=lambda c: c.involvement_id):
        if may_learn_of(policy, candidate.org_type, registrant_type, candidate.purpose):
            reveal = policy.unasked_reveal(candidate.org_type, registrant_type, candidate.purpose)
            notify(session, professional_id=candidate.professional_id, kind="new_match",
                   reference=candidate.involvement_id,
                   organisation_id=candidate.organisation_id,
                   about=Registrant(organisation_id, involvement_id, reveal))
            notified.append(candidate.involvement_id)
    return notified


def _search_forms(core: Core, connection: Connection, keys: Sequence[StoredForm]
                  ) -> list[list[StoredKey]]:
    """Per key, its stored form, and during a key rotation its form under the other epoch too
    (rows not yet re-keyed still match)."""
    forms = [[StoredKey(cast(Category, key.category), key.value, key.oprf_epoch,
                        key.broker_epoch)] for key in keys]
    rotation = core.matching.rotation(connection)
    if rotation is None:
        return forms
    store, which = core.keystore, rotation.which
    for key, found in zip(keys, forms, strict=True):
        epoch = key.oprf_epoch if which == "oprf" else key.broker_epoch
        other = rotation.from_epoch if epoch == rotation.to_epoch else rotation.to_epoch
        if store.has(which, epoch) and store.has(which, other):
            factor = core.matching.epoch_factor(which, epoch, other)
            epochs = ((other, key.broker_epoch) if which == "oprf"
                      else (key.oprf_epoch, other))
            found.append(StoredKey(cast(Category, key.category),
                                   oprf.scalar_mult(factor, key.value), *epochs))
    return forms


@dataclass(frozen=True)
class Registrant:
    """Who a new match is about, as stored: the registering organisation and its involvement
    (ids), and how much the policy lets the receiver learn of it (read as :class:`About`)."""

    organisation_id: int
    involvement_id: int
    reveal: Reveal


@dataclass(frozen=True)
class About:
    """Who an inbox message is about, as far as the policy lets its receiver learn it: an
    organisation's name (with its type), only its type, or neither."""

    organisation: str | None
    org_type: str | None


@dataclass(frozen=True)
class InboxEntry:
    """One inbox message: what kind, about what, when, and when it was read."""

    id: int
    kind: str
    reference: str
    created_at: datetime
    read_at: datetime | None
    about: About | None = None


def _inbox_owner(session: Session, actor: Actor, username: str) -> Professional:
    """The active professional ``username`` of the actor's organisation. A refusal is an audit
    event, kept by the unit of work (which undoes the rest); the name is recorded only
    as the id of an existing professional, since a made-up name may be anything."""
    try:
        return member(session, actor, username)
    except ValidationError as refused:
        named = session.scalar(select(Professional).filter_by(username=username))
        foreign = named is not None and named.organisation_id != actor.organisation_id
        unit_of(session).refuse(
            refused, actor, Event.INBOX_ACCESS_REFUSED,
            reason="another_organisation" if foreign else "unknown_or_inactive",
            details={"professional_id": named.id} if named is not None else {})


def inbox(uow: UnitOfWork, actor: Actor, professional_username: str, unread_only: bool = False
          ) -> list[InboxEntry]:
    """The professional's messages, newest first (for members of their own organisation)."""
    session = uow.session
    person = _inbox_owner(session, actor, professional_username)
    query = (select(InboxMessage, Organisation.name, Organisation.org_type)
             .outerjoin(Organisation, Organisation.id == InboxMessage.about_organisation_id)
             .where(InboxMessage.professional_id == person.id))
    if unread_only:
        query = query.where(InboxMessage.read_at.is_(None))
    return [InboxEntry(m.id, m.kind, m.reference, m.created_at, m.read_at,
                       _about(m.about_reveal, name, org_type))
            for m, name, org_type in session.execute(query.order_by(InboxMessage.id.desc()))]


def _about(reveal: str | None, name: str | None, org_type: str | None) -> About | None:
    """Who a message is about, read now, as far as its stored reveal level allows."""
    if reveal not in ("organisation", "organisation_type") or name is None or org_type is None:
        return None
    return about_registrant(cast(Reveal, reveal), name, org_type)


def mark_read(uow: UnitOfWork, actor: Actor, professional_username: str,
              message_ids: Sequence[int] | None = None) -> int:
    """Mark the professional's unread messages (all, or those of ``message_ids``) read; returns
    how many changed. Audited as ``inbox:read`` when any did."""
    core = uow.core
    now = core.now()
    session = uow.session
    person = _inbox_owner(session, actor, professional_username)
    query = select(InboxMessage.id).where(InboxMessage.professional_id == person.id,
                                          InboxMessage.read_at.is_(None))
    if message_ids is not None:
        query = query.where(InboxMessage.id.in_(list(message_ids)))
    ids = list(session.scalars(query.order_by(InboxMessage.id)))
    if not ids:
        return 0
    session.execute(update(InboxMessage).where(InboxMessage.id.in_(ids)).values(read_at=now))
    record_event(session, actor.acting_for(person.username), Event.INBOX_READ,
                 organisation_id=person.organisation_id,
                 details={"professional_id": person.id, "messages": ids})
    return len(ids)
