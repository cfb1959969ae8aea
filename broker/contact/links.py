"""Contact links: need-to-know access to another professional's contact details.

Rules this module guarantees:

- A link shows only the fields the policy's rule allows (name, role, phone, e-mail,
  organisation) of one professional, to the one professional it was issued to: on the web the
  signed-in professional, on the API a key of that professional's organisation.
- A token carries 256 random bits, is returned once to its holder and stored only as
  ``SHA-256("contact-link" || 0 || token)`` — the label keeps it from serving any other purpose.
  Tokens are never written to a log or an audit event; events name the link's public id.
- Links expire (the policy's ``contact_link_days``) and either side can revoke them. Every view,
  refused view and revocation is an audit event.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from broker.audit.events import Event
from broker.audit.services import Actor, record_event
from broker.catalogue import Message
from broker.contact.common import changed
from broker.contact.models import ContactLink, ContactRequest
from broker.core import UnitOfWork
from broker.errors import Forbidden, NotFound, required
from broker.registry.models import Organisation, Professional

TOKEN_LABEL = b"contact-link"
_TOKEN_IN_PATH = re.compile(r"(/contact-links/)[^\s?\"'/]+")
# Loggers that write request lines: the web servers' access logs, and httpx in clients.
REDACTED_LOGGERS = ("werkzeug", "gunicorn.access", "gunicorn.error", "httpx")
_REFUSED = Message("There is no contact link for you with this reference, or it has expired.")


def redact_tokens(text: str) -> str:
    """``text`` with every contact-link token in a path replaced by ``[redacted]``."""
    return _TOKEN_IN_PATH.sub(r"\1[redacted]", text)


def _redact_argument(value: object) -> object:
    if isinstance(value, str) or type(value).__name__ == "URL":  # httpx.URL
        return redact_tokens(str(value))
    return value


class TokenRedaction(logging.Filter):
    """Replaces contact-link tokens in a log record's message and arguments (never drops);
    arguments may be a tuple (werkzeug, httpx) or a mapping (gunicorn's access log)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the record in place."""
        record.msg = redact_tokens(str(record.msg))
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_argument(a) for a in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {k: _redact_argument(v) for k, v in record.args.items()}
        return True


for _name in REDACTED_LOGGERS:
    logging.getLogger(_name).addFilter(TokenRedaction())


def token_hash(token: str) -> bytes:
    """What is stored of a token."""
    return hashlib.sha256(TOKEN_LABEL + b"\0" + token.encode("utf-8")).digest()


@dataclass(frozen=True)
class IssuedLink:
    """A link and, when it is being handed over, its token (the only time the token exists
    outside its holder; empty otherwise)."""

    link_id: str
    issued_to_id: int
    token: str


@dataclass(frozen=True)
class ContactCard:
    """What a link shows: only the allowed fields, the others None."""

    link_id: str
    request_id: str
    expires_at: datetime
    name: str | None = None
    role: str | None = None
    phone: str | None = None
    email: str | None = None
    organisation: str | None = None


def issue_links(session: Session, request: ContactRequest, holder: Professional,
                requester: Professional, days: int, now: datetime) -> list[IssuedLink]:
    """Links for an approved request: the requester sees the holder and, when mutual, the
    holder sees the requester. No token exists yet (the stored hash is of a random value
    nobody holds): each organisation receives its token at its first read of the request
    (:func:`deliver_tokens`). The caller records the audit events."""
    pairs = [(requester, holder)]
    if request.link_direction == "mutual":
        pairs.append((holder, requester))
    issued = []
    for viewer, shown in pairs:
        link = ContactLink(token_hash=token_hash(secrets.token_urlsafe(32)),
                           request_id=request.id, issued_to_id=viewer.id,
                           issued_to_org_id=viewer.organisation_id, shows_id=shown.id,
                           fields=list(request.link_fields),
                           expires_at=now + timedelta(days=days))
        session.add(link)
        session.flush()
        issued.append(IssuedLink(link.public_id, viewer.id, ""))
    return issued


def deliver_tokens(session: Session, request: ContactRequest, organisation_id: int,
                   now: datetime) -> list[IssuedLink]:
    """Hand the organisation the tokens of its links on ``request`` not handed over yet (a
    fresh token each, its hash replacing the placeholder)."""
    links = session.scalars(select(ContactLink).filter_by(
        request_id=request.id, issued_to_org_id=organisation_id, delivered_at=None,
        revoked_at=None)).all()
    delivered = []
    for link in links:
        token = secrets.token_urlsafe(32)
        # Conditional: of two first reads at once, only one receives a (working) token.
        if changed(session,
            update(ContactLink)
            .where(ContactLink.id == link.id, ContactLink.delivered_at.is_(None))
            .values(token_hash=token_hash(token), delivered_at=now)
        ) == 1:
            delivered.append(IssuedLink(link.public_id, link.issued_to_id, token))
    return delivered


class LinkService:
    """Opening and revoking contact links."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.core = uow.core
        self.session = uow.session

    def open_by_token(self, actor: Actor, token: str) -> ContactCard:
        """The API's door: the link whose token this is, if issued to the actor's
        organisation and still valid. A guessed token is refused and logged."""
        session = self.session
        link = session.scalar(select(ContactLink).filter_by(token_hash=token_hash(token)))
        return self._open(session, actor, link)

    def open(self, actor: Actor, link_id: str, professional_id: int) -> ContactCard:
        """The web's door: the link ``link_id`` if issued to this signed-in professional."""
        session = self.session
        link = session.scalar(select(ContactLink).filter_by(public_id=link_id))
        if link is not None and link.issued_to_id != professional_id:
            self._refuse(session, actor, link, "another_professional")
        return self._open(session, actor, link)

    def revoke(self, actor: Actor, *, token: str | None = None, link_id: str | None = None
               ) -> str:
        """Revoke a link (either side: its holder's or its subject's organisation), and with it
        the other links of the same request: the contact ends on both sides."""
        now = self.core.now()
        session = self.session
        query = select(ContactLink)
        query = (query.filter_by(token_hash=token_hash(token)) if token is not None
                 else query.filter_by(public_id=link_id or ""))
        link = session.scalar(query)
        shown = session.get(Professional, link.shows_id) if link else None
        sides = {link.issued_to_org_id, shown.organisation_id} if link and shown else set()
        if link is None or actor.organisation_id not in sides:
            self.uow.refuse(NotFound(_REFUSED), actor, Event.CONTACT_LINK_REFUSED,
                            reason="revoke_unknown_or_foreign")
        if link.revoked_at is None:
            link.revoked_at, link.revoked_reason = now, "revoked"
        # Revoking ends the contact on both sides: the request's other links go with it.
        others = session.scalars(select(ContactLink).filter(
            ContactLink.request_id == link.request_id, ContactLink.id != link.id,
            ContactLink.revoked_at.is_(None))).all()
        for other in others:
            other.revoked_at, other.revoked_reason = now, "revoked_with_other_side"
        record_event(session, actor, Event.CONTACT_LINK_REVOKED,
                     details={"link_id": link.public_id, "reason": link.revoked_reason,
                              **({"also_revoked": [o.public_id for o in others]}
                                 if others else {})})
        return link.public_id

    def _refuse(self, session: Session, actor: Actor, link: ContactLink | None,
                reason: str) -> NoReturn:
        self.uow.refuse(Forbidden(_REFUSED) if link is not None else NotFound(_REFUSED),
                        actor, Event.CONTACT_LINK_REFUSED, reason=reason,
                        details={"link_id": link.public_id} if link else {})

    def _open(self, session: Session, actor: Actor, link: ContactLink | None) -> ContactCard:
        if link is None:
            self._refuse(session, actor, None, "unknown_token")
        if link.issued_to_org_id != actor.organisation_id:
            self._refuse(session, actor, link, "another_organisation")
        if link.revoked_at is not None:
            self._refuse(session, actor, link, "revoked")
        if link.expires_at <= self.core.now():
            self._refuse(session, actor, link, "expired")
        shown = required(session.get(Professional, link.shows_id), "the link's professional")
        request = required(session.get(ContactRequest, link.request_id), "the link's request")
        org = session.get(Organisation, shown.organisation_id)
        values = {"name": shown.name, "role": shown.role, "phone": shown.phone,
                  "email": shown.email, "organisation": org.name if org else None}
        record_event(session, actor, Event.CONTACT_LINK_VIEWED, purpose=request.purpose,
                     legal_basis=request.legal_basis, rule_id=request.rule_id,
                     policy_version=request.policy_version,
                     details={"link_id": link.public_id, "request_id": request.public_id,
                              "fields": sorted(link.fields)})
        return ContactCard(link.public_id, request.public_id, link.expires_at,
                           **{f: values[f] for f in link.fields if f in values})
