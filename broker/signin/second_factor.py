"""The second factor (TOTP): who needs it, enrolment through a one-time link, checking a code.

Rules:

1. Accounts with the access role ``privacy_officer`` or ``auditor`` need a second factor, and
   so do professionals of the organisation types the policy lists under
   ``sign_in: second_factor:``. An account that has one enrolled is always asked for it.
2. An administrator issues an enrolment link (``broker professional enrol-totp``): 256 random
   bits in the URL, stored only hashed, valid for 24 hours and once; a new link replaces any
   earlier unused one of the account. The secret it offers is made when the link is issued and
   stored sealed (see :mod:`broker.signin.keys`); neither it nor the link's token is written to
   an event or a log (the web servers' access logs have the token redacted).
3. The link's page shows the secret; a first correct code confirms it. Confirmation replaces any
   earlier second factor of the account and ends every session of the account; the code's step
   counts as used.
4. A code is checked under a lock on the account's second-factor row, so that two requests with
   the same code cannot both succeed (RFC 6238 §5.2: each code once).
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from broker.audit.events import Event
from broker.audit.services import Actor, record_event
from broker.catalogue import Message
from broker.core import UnitOfWork
from broker.errors import NotFound, ValidationError
from broker.policy import Policy
from broker.registry.models import ACCESS_AUDITOR, ACCESS_PRIVACY_OFFICER, Professional
from broker.signin import totp
from broker.signin.accounts import account, web_actor
from broker.signin.keys import SignInKey
from broker.signin.models import SecondFactor, SecondFactorEnrolment
from broker.signin.sessions import end_all, token_hash

ENROLMENT_TIME = timedelta(hours=24)
ISSUER = "Broker"
ALWAYS_REQUIRED = (ACCESS_PRIVACY_OFFICER, ACCESS_AUDITOR)

_TOKEN_IN_PATH = re.compile(r"(/enrol/)[^\s?\"'/]+")
# Loggers that write request lines: the web servers' access logs.
REDACTED_LOGGERS = ("werkzeug", "gunicorn.access", "gunicorn.error")

_NO_LINK = Message("This enrolment link is unknown, used or expired. Ask your administrator for "
                   "a new one.")


def redact_enrolment_tokens(text: str) -> str:
    """``text`` with every enrolment token in a path replaced by ``[redacted]``."""
    return _TOKEN_IN_PATH.sub(r"\1[redacted]", text)


class EnrolmentTokenRedaction(logging.Filter):
    """Replaces enrolment tokens in a log record's message and arguments (never drops it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the record in place."""
        record.msg = redact_enrolment_tokens(str(record.msg))
        if isinstance(record.args, tuple):
            record.args = tuple(redact_enrolment_tokens(a) if isinstance(a, str) else a
                                for a in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {k: redact_enrolment_tokens(v) if isinstance(v, str) else v
                           for k, v in record.args.items()}
        return True


for _name in REDACTED_LOGGERS:
    logging.getLogger(_name).addFilter(EnrolmentTokenRedaction())


def requires_second_factor(policy: Policy, org_type: str, access_role: str) -> bool:
    """Rule 1: whether an account must sign in with a second factor."""
    return access_role in ALWAYS_REQUIRED or org_type in policy.sign_in.second_factor


CodeOutcome = Literal["accepted", "wrong", "used"]


def check_code(session: Session, key: SignInKey, professional_id: int, code: str,
               now: datetime) -> CodeOutcome:
    """Rule 4: check ``code`` against the account's factor and mark its step used."""
    session.execute(update(SecondFactor).where(SecondFactor.professional_id == professional_id)
                    .values(last_used_step=SecondFactor.last_used_step))  # takes the lock
    factor = session.scalar(select(SecondFactor).where(
        SecondFactor.professional_id == professional_id).execution_options(
        populate_existing=True))
    if factor is None:
        return "wrong"
    secret = key.open(factor.sealed_secret, professional_id)
    step = totp.matching_step(secret, code, now, factor.last_used_step)
    if step is not None:
        factor.last_used_step = step
        return "accepted"
    return "used" if totp.matching_step(secret, code, now, None) is not None else "wrong"


def has_second_factor(session: Session, professional_id: int) -> bool:
    """Whether the account has a confirmed second factor."""
    return session.scalar(select(SecondFactor.id).where(
        SecondFactor.professional_id == professional_id)) is not None


@dataclass(frozen=True)
class EnrolmentLink:
    """A link to hand to the account's owner, and until when it works."""

    url: str
    expires_at: datetime


@dataclass(frozen=True)
class Offer:
    """What the enrolment page shows: the account, its new secret, until when."""

    username: str
    secret: str  # base32
    uri: str  # otpauth://
    expires_at: datetime


class SecondFactorService:
    """Enrolment of the second factor; each public method is one unit of work."""

    def __init__(self, uow: UnitOfWork, key: SignInKey) -> None:
        self.uow = uow
        self.core = uow.core
        self.session = uow.session
        self.key = key

    def issue_link(self, actor: Actor, username: str, base_url: str) -> EnrolmentLink:
        """Rule 2: a new one-time enrolment link for ``username``."""
        now = self.core.now()
        token = secrets.token_urlsafe(32)
        session = self.session
        person = account(session, username)
        session.execute(delete(SecondFactorEnrolment).where(
            SecondFactorEnrolment.professional_id == person.id,
            SecondFactorEnrolment.used_at.is_(None)))
        expires = now + ENROLMENT_TIME
        session.add(SecondFactorEnrolment(
            token_hash=token_hash(token), professional_id=person.id,
            sealed_secret=self.key.seal(totp.new_secret(), person.id),
            created_at=now, expires_at=expires))
        record_event(session, actor, Event.SIGNIN_TOTP_LINK_ISSUED,
                     organisation_id=person.organisation_id,
                     details={"professional_id": person.id,
                              "expires_at": expires.isoformat()})
        return EnrolmentLink(f"{base_url.rstrip('/')}/enrol/{token}", expires)

    def offer(self, token: str, address: str | None) -> Offer:
        """Rule 3: the secret an unused, unexpired link offers (showing it is audited)."""
        session = self.session
        enrolment, person = self._open_link(session, token)
        secret = self.key.open(enrolment.sealed_secret, person.id)
        record_event(session, web_actor(person, address), Event.SIGNIN_TOTP_LINK_OPENED,
                     details={"professional_id": person.id})
        return Offer(person.username, totp.to_base32(secret),
                     totp.otpauth_uri(secret, person.username, ISSUER), enrolment.expires_at)

    def confirm(self, token: str, code: str, address: str | None) -> str:
        """Rule 3: confirm the link's secret with a first code; the account's user name."""
        now = self.core.now()
        session = self.session
        enrolment, person = self._open_link(session, token, lock=True)
        secret = self.key.open(enrolment.sealed_secret, person.id)
        step = totp.matching_step(secret, code, now, None)
        if step is None:
            raise ValidationError(
                "That code is not right. Type the code your app shows now (6 digits).")
        enrolment.used_at = now
        ended = self._replace_factor(session, person.id, secret, step, now)
        record_event(session, web_actor(person, address), Event.SIGNIN_TOTP_ENROLLED,
                     details={"professional_id": person.id, "by": "link",
                              "sessions_ended": ended})
        return person.username

    def enrol_directly(self, actor: Actor, username: str) -> str:
        """Give ``username`` a new second factor without a link (an operator at the console,
        e.g. for the demo accounts); returns the base32 secret to hand over once."""
        secret = totp.new_secret()
        session = self.session
        person = account(session, username)
        ended = self._replace_factor(session, person.id, secret, None, self.core.now())
        record_event(session, actor, Event.SIGNIN_TOTP_ENROLLED,
                     organisation_id=person.organisation_id,
                     details={"professional_id": person.id, "by": "operator",
                              "sessions_ended": ended})
        return totp.to_base32(secret)

    def _replace_factor(self, session: Session, professional_id: int, secret: bytes,
                        step: int | None, now: datetime) -> int:
        session.execute(delete(SecondFactor).where(SecondFactor.professional_id ==
                                                   professional_id))
        session.add(SecondFactor(professional_id=professional_id,
                                 sealed_secret=self.key.seal(secret, professional_id),
                                 last_used_step=step, enrolled_at=now))
        return end_all(session, professional_id)

    def _open_link(self, session: Session, token: str, *, lock: bool = False
                   ) -> tuple[SecondFactorEnrolment, Professional]:
        if not token or len(token) > 100:
            raise NotFound(_NO_LINK)
        hashed = token_hash(token)
        if lock:  # a write first: SQLite's write lock, PostgreSQL's row lock (rule 4's reason)
            session.execute(update(SecondFactorEnrolment).where(
                SecondFactorEnrolment.token_hash == hashed).values(
                used_at=SecondFactorEnrolment.used_at))
        enrolment = session.scalar(select(SecondFactorEnrolment).where(
            SecondFactorEnrolment.token_hash == hashed).execution_options(
            populate_existing=True))
        person = session.get(Professional, enrolment.professional_id) if enrolment else None
        if (enrolment is None or person is None or not person.active
                or enrolment.used_at is not None or self.core.now() >= enrolment.expires_at):
            raise NotFound(_NO_LINK)
        return enrolment, person

