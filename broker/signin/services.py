"""Signing in on the web: password, second factor, sign-out, unlock, password change.

Rules this module guarantees (with :mod:`~broker.signin.throttle`,
:mod:`~broker.signin.sessions` and :mod:`~broker.signin.second_factor`):

1. Throttling is checked, and the attempt counted, before a password or code is looked at.
2. An unknown user name, a deactivated account, an account without a web password and a wrong
   password get the same answer after the same work (a password hash is checked in every case).
3. Audit events: ``signin:succeeded``, ``signin:failed`` (reason ``wrong_password``,
   ``wrong_code``, ``code_already_used``, ``second_factor_missing``, ``inactive_account``,
   ``no_web_password`` or ``unknown_account``), ``signin:locked``, ``signin:address_blocked``,
   ``signin:signed_out``, ``signin:unlocked``, ``signin:password_changed``; each in the same
   transaction as the change it records. No event holds a password, a code or anything typed
   except the user name of an existing account: a failure for a name no account has is
   recorded under the actor ``web:unknown-account``, without the name.
4. A password change (by the account itself, which must give its current password, or by an
   operator) ends every session of the account, in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from broker.audit.events import Event
from broker.audit.services import Actor, record_event
from broker.core import UnitOfWork
from broker.errors import BrokerError, ValidationError
from broker.registry.models import Professional
from broker.registry.results import ProfessionalInfo
from broker.registry.validation import MIN_PASSWORD_LENGTH
from broker.signin import throttle
from broker.signin.accounts import account, anonymous_actor, find_account, web_actor
from broker.signin.keys import SignInKey
from broker.signin.models import STAGE_SECOND_FACTOR, STAGE_SIGNED_IN
from broker.signin.second_factor import check_code, has_second_factor, requires_second_factor
from broker.signin.sessions import (
    Resumed,
    end_all,
    end_session,
    forget_ended,
    open_session,
    resume,
)
from broker.signin.throttle import Attempt, Throttled

MAX_PASSWORD_LENGTH = 1000


class BadCredentials(BrokerError):
    """A wrong user name, password or code (one answer for all, rule 2)."""

    code = "bad-credentials"
    status = 401


class SignInExpired(BrokerError):
    """The step after the password came too late, or without one."""

    code = "sign-in-expired"
    status = 401


@dataclass(frozen=True)
class SignedIn:
    """A session opened: the id for the browser, its stage, the account."""

    token: str
    stage: str
    professional: ProfessionalInfo


def _failure_reason(person: Professional | None) -> str:
    if person is None:
        return "unknown_account"
    if not person.active:
        return "inactive_account"
    return "no_web_password" if person.password_hash is None else "wrong_password"


class SignInService:
    """Web sign-in's use cases; each step is its own unit of work."""

    def __init__(self, uow: UnitOfWork, key: SignInKey) -> None:
        self.uow = uow
        self.core = uow.core
        self.session = uow.session
        self.key = key

    # -- signing in --------------------------------------------------------------------------

    def with_password(self, username: str, password: str, address: str | None) -> SignedIn:
        """First step: user name and password. Either signed in, or (``stage`` second_factor)
        waiting for the code."""
        name = throttle.normalise_name(username)
        attempt = self._reserve(name, address)
        session = self.session
        person = find_account(session, name)
        stored = person.password_hash if person is not None and person.active else None
        right = self.core.passwords.verify(stored, password[:MAX_PASSWORD_LENGTH])
        session = self.session
        if person is not None and right:
            outcome = self._password_accepted(session, person, attempt, address)
        else:
            actor = anonymous_actor(address) if person is None else web_actor(person, address)
            self._failed(session, actor, attempt, _failure_reason(person))
            outcome = BadCredentials("Wrong user name or password.")
        if isinstance(outcome, BrokerError):
            raise outcome
        return outcome

    def _password_accepted(self, session: Session, person: Professional, attempt: Attempt,
                           address: str | None) -> SignedIn | BrokerError:
        now = self.core.now()
        info = ProfessionalInfo.of(person)
        if has_second_factor(session, person.id):
            throttle.settle_neither(session, attempt)  # the code decides (throttle rule 5)
            token = open_session(session, person.id, STAGE_SECOND_FACTOR, now)
            return SignedIn(token, STAGE_SECOND_FACTOR, info)
        if requires_second_factor(self.core.policy(), person.organisation.org_type,
                                  person.access_role):
            throttle.settle_neither(session, attempt)
            record_event(session, web_actor(person, address), Event.SIGNIN_FAILED,
                         outcome="failure", reason="second_factor_missing")
            self.uow.keep_as_refusal()
            return ValidationError(
                "Your account needs a second factor (an authenticator app). Ask your "
                "administrator for an enrolment link.")
        return self._succeed(session, person, address, attempt, second_factor=False)

    def with_code(self, pending: str, code: str, address: str | None) -> SignedIn:
        """Second step: the code of the account's second factor, within 5 minutes."""
        session = self.session
        waiting = resume(session, pending, STAGE_SECOND_FACTOR, self.core.now())
        if waiting is None:
            raise SignInExpired("Signing in took too long. Start again with your password.")
        attempt = self._reserve(waiting.professional.username, address)
        session = self.session
        person = account(session, waiting.professional.username)
        checked = check_code(session, self.key, person.id, code[:20], self.core.now())
        if checked == "accepted":
            end_session(session, waiting.session_id)
            return self._succeed(session, person, address, attempt, second_factor=True)
        self._failed(session, web_actor(person, address), attempt,
                     "code_already_used" if checked == "used" else "wrong_code")
        raise BadCredentials("The code is wrong or was used already. Wait for the next code.")

    def _succeed(self, session: Session, person: Professional, address: str | None,
                 attempt: Attempt, *, second_factor: bool) -> SignedIn:
        now = self.core.now()
        throttle.settle_success(session, attempt)
        forget_ended(session, now)
        throttle.forget_stale_addresses(session, now)
        token = open_session(session, person.id, STAGE_SIGNED_IN, now)
        record_event(session, web_actor(person, address), Event.SIGNIN_SUCCEEDED,
                     details={"second_factor": second_factor, "access_role": person.access_role})
        return SignedIn(token, STAGE_SIGNED_IN, ProfessionalInfo.of(person))

    def _reserve(self, name: str, address: str | None) -> Attempt:
        session = self.session
        counted = throttle.reserve(session, self.key, name, address, self.core.now())
        if isinstance(counted, Throttled):
            self.uow.keep_as_refusal()  # the refused attempt is counted
            raise counted
        return counted

    def _failed(self, session: Session, actor: Actor, attempt: Attempt, reason: str) -> None:
        self.uow.keep_as_refusal()  # the failure, its count and its events outlast the request
        settled = throttle.settle_failure(session, attempt, self.core.now())
        record_event(session, actor, Event.SIGNIN_FAILED, outcome="failure", reason=reason)
        if settled.name_locked:
            record_event(session, actor, Event.SIGNIN_LOCKED, reason="too_many_failures",
                         details={"failures": settled.failures})
        if settled.address_blocked:
            minutes = int(throttle.ADDRESS_WINDOW.total_seconds() // 60)
            record_event(session, Actor(actor="web:sign-in", channel="web",
                                        source_address=actor.source_address),
                         Event.SIGNIN_ADDRESS_BLOCKED, reason="too_many_failures",
                         details={"failures": throttle.ADDRESS_LIMIT, "minutes": minutes})

    # -- sessions ----------------------------------------------------------------------------

    def current(self, token: str, stage: str = STAGE_SIGNED_IN) -> Resumed | None:
        """The live session of ``token`` at ``stage``, marked as seen; None when there is none."""
        session = self.session
        return resume(session, token, stage, self.core.now())

    def sign_out(self, token: str, address: str | None) -> int:
        """End every session of the signed-in account; the number ended (0: none was live)."""
        session = self.session
        live = resume(session, token, STAGE_SIGNED_IN, self.core.now())
        if live is None:
            return 0
        person = account(session, live.professional.username)
        ended = end_all(session, person.id)
        record_event(session, web_actor(person, address), Event.SIGNIN_SIGNED_OUT,
                     details={"sessions_ended": ended})
        return ended

    # -- administration ----------------------------------------------------------------------

    def unlock(self, actor: Actor, username: str) -> throttle.Lifted | None:
        """Lift the lock (and the count) of an account's user name; None when it had none."""
        session = self.session
        person = account(session, username)
        lifted = throttle.lift(session, self.key, username)
        if lifted is not None:
            record_event(session, actor, Event.SIGNIN_UNLOCKED,
                         organisation_id=person.organisation_id,
                         details={"professional_id": person.id, "failures": lifted.failures,
                                  "was_locked": lifted.was_locked,
                                  "refused_while_throttled": lifted.refused})
        return lifted

    def change_own_password(self, username: str, current: str, new: str,
                            address: str | None) -> int:
        """The signed-in account changes its password, giving the current one (throttled like a
        sign-in); every session ends. The number of sessions ended."""
        _check_new(new)
        attempt = self._reserve(username, address)
        session = self.session
        person = account(session, username)
        stored = person.password_hash if person.active else None
        right = self.core.passwords.verify(stored, current[:MAX_PASSWORD_LENGTH])
        session = self.session
        person = account(session, username)
        if right:
            throttle.settle_success(session, attempt)
            return self._set(session, web_actor(person, address), person, new, "self")
        self._failed(session, web_actor(person, address), attempt, "wrong_password")
        raise BadCredentials("Your current password is wrong.")

    def set_password(self, actor: Actor, username: str, new: str) -> int:
        """An operator sets an account's password; every session ends. Sessions ended."""
        _check_new(new)
        session = self.session
        return self._set(session, actor, account(session, username), new, "operator")

    def _set(self, session: Session, actor: Actor, person: Professional, new: str, by: str
             ) -> int:
        person.password_hash = self.core.passwords.hash(new)
        ended = end_all(session, person.id)
        record_event(session, actor, Event.SIGNIN_PASSWORD_CHANGED,
                     organisation_id=person.organisation_id,
                     details={"professional_id": person.id, "by": by, "sessions_ended": ended})
        return ended


def _check_new(password: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise ValidationError(
            "The new password must be %(min_password_length)s to %(max_password_length)s "
            "characters.",
            min_password_length=MIN_PASSWORD_LENGTH, max_password_length=MAX_PASSWORD_LENGTH)
