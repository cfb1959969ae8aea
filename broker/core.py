"""The wired core that both doors (web and API) and the CLI share, and the unit of work.

``Core`` holds what a service needs: settings, the session factory, the key store, the matching-key
maker, the pseudonym service, and the backends behind the interfaces of :mod:`broker.interfaces`
(the clock, the password hasher, the notifier), chosen in one place (:mod:`broker.composition`),
and the notices the registry hands over (:class:`broker.interfaces.Notices`), which the
composition root (``create_app``, the ``broker`` command) hands in: written by
:mod:`broker.notifications`, which sits above the core and the registry. It is built once by
``create_app`` or the CLI; tests build it on a temporary directory.

Rules of the unit of work (:class:`UnitOfWork`, STYLE habit 3), which every door opens once per
request and hands to the services:

1. one session and one transaction per request: services run in it and never commit, roll back
   or open a transaction of their own;
2. :meth:`Core.unit_of_work` commits once when the block ends normally; on any exception it
   undoes everything the unit of work wrote, except what must outlast a failed request (a
   recorded refusal — :meth:`UnitOfWork.refuse`, or :meth:`UnitOfWork.undo` and then a
   record — and what was asked to :meth:`~UnitOfWork.keep`: a quota charge), and
   commits that (:meth:`UnitOfWork.settle_failure`): no change without its event, nothing
   half-written;
3. one policy per unit of work: :meth:`UnitOfWork.policy` is read once, so every decision of a
   request names the same policy version;
4. one clock: the audit events' times, sessions and periods all come from the core's clock.

Every pseudonym evaluation of every door goes through :meth:`UnitOfWork.evaluate`, which charges
it to the acting organisation's daily quota (:mod:`broker.pseudonyms.quota`); there is no other
way to the pseudonym service for a door. The evaluator (:mod:`broker.pseudonyms.interfaces`) is
in this process (the embedded default: the broker's database keeps the quota) or the pseudonym
service as its own process (``BROKER_PSEUDONYM_SERVICE_URL``: the service keeps the quota, the
broker records what it answered, and this process never holds ``k``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, NoReturn

from broker_primitives.blinding import Evaluation, Pseudonym, pseudonymise
from broker_primitives.identifiers import Identifier
from sqlalchemy import Connection, Integer, String, column, select, table
from sqlalchemy.orm import Session

from broker.audit.checkpoints import NoteKey, load_audit_key
from broker.audit.services import Actor, RecordedEvent, bind_clock, record_event
from broker.clock import LOCAL_ZONE, Clock, local_date
from broker.composition import components
from broker.config import Settings
from broker.db import make_engine, make_session_factory, unit_of_work
from broker.interfaces import Notices, Notifier, NotWired, PasswordHasher
from broker.metrics import QUOTA_REFUSALS
from broker.outages import PseudonymServiceUnavailable
from broker.policy import Policy, PolicyHolder
from broker.pseudonyms import remote
from broker.pseudonyms.interfaces import Evaluator, Requester
from broker.pseudonyms.keys import FileKeyStore
from broker.pseudonyms.matching import MatchingKeys
from broker.pseudonyms.quota import (
    QuotaExceeded,
    QuotaUse,
    charge,
    record_evaluation,
    record_refusal,
    used_on,
)
from broker.pseudonyms.service import PseudonymService

# A charge that no quota refuses: an evaluation already made is paid for after a refusal.
UNCAPPED = 2**31 - 1

# The organisations as the quota reads them: each one's code and type. The table is the
# registry's (broker.registry.models.Organisation), which sits above the core: the core names
# the columns it reads instead of importing it (tests/test_composition.py holds them alike).
ORGANISATIONS = table("organisations", column("id", Integer), column("identifier", String),
                      column("org_type", String))


@dataclass(frozen=True)
class ChargedEvaluation:
    """Evaluated elements, and the organisation's quota after their charge (None: evaluated
    for no organisation, and so charged to none)."""

    evaluation: Evaluation
    quota: QuotaUse | None


class UnitOfWork:
    """One request's session and transaction, and what its services reach through it (see the
    module's rules). Made by :meth:`Core.unit_of_work` (or, for a web request, the door)."""

    def __init__(self, core: Core, session: Session) -> None:
        self.core = core
        self.session = session
        session.info["uow"] = self  # so that code holding only the session finds its unit
        session.info["clock"] = core.clock  # and audit events appended on it, its time
        self._policy: Policy | None = None
        self._kept: list[Callable[[Connection], object]] = []
        self.refusal_recorded = False

    @property
    def connection(self) -> Connection:
        """The transaction's connection (for prepared statements and Core-style queries); the
        audit events appended on it take this unit's time (rule 4)."""
        connection = self.session.connection()
        bind_clock(connection, self.core.clock)
        return connection

    def policy(self) -> Policy:
        """The sharing policy in force when this unit of work first asked (then fixed)."""
        if self._policy is None:
            self._policy = self.core.policy()
        return self._policy

    def now(self) -> datetime:
        """The current time (UTC, aware) from the core's clock."""
        return self.core.now()

    def today(self) -> date:
        """Today's date in the Netherlands."""
        return self.core.today()

    def record(self, actor: Actor, event_type: str, **fields: Any) -> RecordedEvent:
        """Append an audit event in this transaction, at the core's time
        (:func:`broker.audit.services.record_event` takes the same fields)."""
        return record_event(self.connection, actor, event_type, at=self.now(), **fields)

    def keep(self, write: Callable[[Connection], object]) -> None:
        """Have ``write`` (already run once) run again after a refusal undid the transaction:
        for what must outlast a refused request, such as an evaluation's quota charge."""
        self._kept.append(write)

    def refuse(self, error: Exception, actor: Actor, event_type: str,
               **fields: Any) -> NoReturn:
        """Undo everything this unit of work wrote, record the refusal (``outcome`` refused),
        and raise ``error``; the unit of work then commits the refusal alone (rule 2)."""
        self.undo()
        self.record(actor, event_type, outcome="refused", **fields)
        raise error

    def undo(self) -> None:
        """Undo everything this unit of work wrote but what it must :meth:`keep`; what is
        written from now on is a refusal's record, committed even though the request fails."""
        self.session.rollback()
        for write in self._kept:
            write(self.connection)
        self.refusal_recorded = True

    def evaluate(self, actor: Actor, blinded_elements: Sequence[bytes]) -> ChargedEvaluation:
        """Evaluate blinded elements for ``actor``, charged to its organisation's daily quota.

        In this unit of work: the quota's conditional upsert, the evaluation (which refuses a
        bad batch before any element is evaluated) and its audit event. Raises
        :class:`QuotaExceeded` when the quota cannot take the batch, its refusal recorded (the
        rest of the unit of work undone). An actor acting for no organisation (an operator or
        auditor) is charged to none and not recorded here: its command is audited.
        """
        organisation_id = actor.organisation_id
        evaluator = self.core.evaluator
        if organisation_id is None:
            return ChargedEvaluation(evaluator.evaluate(blinded_elements, None).evaluation, None)
        if evaluator.charges_quota:
            return self._evaluate_elsewhere(actor, organisation_id, blinded_elements)
        count = len(blinded_elements)
        day = self.today()
        resets_at = datetime.combine(day + timedelta(days=1), time(), tzinfo=LOCAL_ZONE)
        connection = self.connection
        quota = self.policy().quota_for(self.core.org_type(connection, organisation_id))
        used = charge(connection, organisation_id=organisation_id, day=day, count=count,
                      quota=quota)
        if used is None:
            refused = QuotaUse(False, quota, used_on(connection, organisation_id, day),
                               resets_at)
            self.undo()
            record_refusal(self.connection, actor, refused, count, day)
            QUOTA_REFUSALS.inc()
            raise QuotaExceeded(refused, count)
        result = evaluator.evaluate(blinded_elements, None).evaluation
        use = QuotaUse(True, quota, used, resets_at)
        record_evaluation(connection, actor, use, count, result.key_epoch)

        def charge_again(again: Connection) -> None:
            # The evaluation was made: it counts whatever comes of the request it serves, even
            # when other requests filled the quota while this one was undone (no cap here).
            total = charge(again, organisation_id=organisation_id, day=day, count=count,
                           quota=UNCAPPED)
            record_evaluation(again, actor, QuotaUse(True, quota, total or used, resets_at),
                              count, result.key_epoch)

        self.keep(charge_again)
        return ChargedEvaluation(result, use)

    def _evaluate_elsewhere(self, actor: Actor, organisation_id: int,
                            blinded_elements: Sequence[bytes]) -> ChargedEvaluation:
        """The pseudonym service as its own process charges its own quota: record what it
        answered, as the embedded evaluation does (``pseudonym:evaluated`` kept whatever comes
        of the request; a refusal as ``pseudonym:quota_refused``, the rest undone). The service
        unreachable raises before anything is written (an outage: 503)."""
        count = len(blinded_elements)
        requester = Requester(*self.core.org_ref(self.connection, organisation_id))
        try:
            answer = self.core.evaluator.evaluate(blinded_elements, requester)
        except QuotaExceeded as refused:
            self.undo()
            record_refusal(self.connection, actor, refused.use, count, self.today())
            QUOTA_REFUSALS.inc()
            raise
        result, use = answer.evaluation, answer.quota
        if use is None:  # an evaluator that charges reports the quota (Evaluator's contract)
            raise PseudonymServiceUnavailable("the pseudonym service reported no quota")
        record_evaluation(self.connection, actor, use, count, result.key_epoch)
        self.keep(lambda again: record_evaluation(again, actor, use, count, result.key_epoch))
        return ChargedEvaluation(result, use)

    def pseudonymise(self, actor: Actor, identifiers: Sequence[Identifier]) -> list[Pseudonym]:
        """Blind, evaluate in-process and unblind for ``actor``: the web form's and the CLI's
        door, charged like the API (see :meth:`evaluate`).

        The identifiers stay in this process's memory for this call only; the pseudonym service
        sees blinded elements.
        """
        return pseudonymise(identifiers,
                            lambda blinded: self.evaluate(actor, blinded).evaluation)

    def settle_failure(self) -> None:
        """The request failed: commit the refusal it recorded (and what it keeps), or, without
        one, undo everything but what it must keep and commit that; with nothing to keep, roll
        back (rule 2)."""
        if not self.refusal_recorded and self._kept:
            self.undo()
        if self.refusal_recorded:
            self.commit()
        else:
            self.rollback()

    def keep_as_refusal(self) -> None:
        """What this unit of work wrote so far is a refusal's record (a counted failure and its
        event): keep it although the request fails. Only for services whose refusal *is* the
        write (sign-in throttling); others :meth:`refuse`."""
        self.refusal_recorded = True

    def commit(self) -> None:
        """Commit the transaction (the door does, once)."""
        self.session.commit()

    def rollback(self) -> None:
        """Roll the transaction back (the door does, on an unexpected error)."""
        self.session.rollback()

    def close(self) -> None:
        """Release the session and its connection."""
        self.session.close()


def unit_of(session: Session) -> UnitOfWork:
    """The unit of work ``session`` belongs to (for helpers that are handed only the session)."""
    found: UnitOfWork = session.info["uow"]
    return found


class Core:
    """Everything a service needs, built once per process."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None,
                 passwords: PasswordHasher | None = None,
                 notifier: Notifier | None = None, notices: Notices | None = None) -> None:
        # Production keeps k out of this process (DESIGN): refused before anything starts.
        remote.refuse_readable_k(settings)
        self.settings = settings
        # The backends, chosen in one place (broker.composition) unless a test hands them in.
        chosen = components(clock=clock, passwords=passwords, notifier=notifier)
        self.clock: Clock = chosen.clock
        self.passwords: PasswordHasher = chosen.passwords
        self.notifier: Notifier = chosen.notifier
        # Written by broker.notifications, above the core: the composition root hands it in.
        self._notices = notices
        self.engine = make_engine(settings.database_url)
        self.sessions = make_session_factory(self.engine)
        remote_k = settings.pseudonym_service_url is not None
        self.keystore = FileKeyStore(settings.keys_dir, oprf_public=remote_k)
        self.matching = MatchingKeys(self.keystore)
        self.evaluator: Evaluator = (remote.from_settings(settings, self.keystore) if remote_k
                                     else PseudonymService(self.keystore))
        # A missing or broken policy stops the start with line-numbered errors (default deny
        # cannot be "no policy at all").
        self.policies = PolicyHolder(settings.policy_dir)
        self._org_types: dict[int, str] = {}
        self._audit_key: NoteKey | None = None

    def policy(self) -> Policy:
        """The sharing policy in force."""
        return self.policies.current()

    @property
    def notices(self) -> Notices:
        """Where a change's notices are written, in its transaction. A core built without
        them raises :class:`NotWired` here, so a change that owes notices fails (and its unit of
        work rolls back) rather than leave them unsent."""
        if self._notices is None:
            raise NotWired("this core was built without notices (Core(notices=...)): "
                           "the composition root hands them in")
        return self._notices

    def check_wired(self) -> None:
        """Raise :class:`NotWired` unless the composition root handed in what only it can
        (the notices): a door refuses to start on a core that would fail its first change."""
        _ = self.notices

    def org_type(self, connection: Connection, organisation_id: int) -> str:
        """The type of an organisation; cached, as a type never changes once created."""
        cached = self._org_types.get(organisation_id)
        if cached is None:
            cached = connection.execute(
                select(ORGANISATIONS.c.org_type).where(ORGANISATIONS.c.id == organisation_id)
            ).scalar_one()
            self._org_types[organisation_id] = cached
        return cached

    def org_ref(self, connection: Connection, organisation_id: int) -> tuple[str, str]:
        """An organisation's code and type (for the pseudonym service)."""
        code: str = connection.execute(select(ORGANISATIONS.c.identifier).where(
            ORGANISATIONS.c.id == organisation_id)).scalar_one()
        return code, self.org_type(connection, organisation_id)

    def begin(self) -> UnitOfWork:
        """A new unit of work on a new session (the caller commits and closes it)."""
        return UnitOfWork(self, self.sessions())

    @contextmanager
    def unit_of_work(self) -> Iterator[UnitOfWork]:
        """One unit of work: committed when the block ends normally or with the refusal it
        recorded, rolled back on any other exception (the module's rule 2)."""
        uow = self.begin()
        try:
            yield uow
        except BaseException:
            try:
                uow.settle_failure()  # the refusal's record and what must be kept, nothing else
            except Exception:  # the database is gone: nothing can be kept; the cause is raised
                uow.rollback()
            raise
        else:
            uow.commit()
        finally:
            uow.close()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction on a session of its own: for what is not a request (background
        rounds, set-up); a door uses :meth:`unit_of_work`."""
        with unit_of_work(self.sessions) as session:
            yield session

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction on a plain connection, for hot paths that need no ORM objects."""
        with self.engine.begin() as connection:
            yield connection

    def now(self) -> datetime:
        """The current time (UTC, aware) from the core's clock."""
        return self.clock()

    def today(self) -> date:
        """Today's date in the Netherlands."""
        return local_date(self.clock())

    def pseudonymise(self, actor: Actor, identifiers: Sequence[Identifier]) -> list[Pseudonym]:
        """:meth:`UnitOfWork.pseudonymise` in a unit of work of its own (for set-up, the demo
        and tests; a door uses its request's unit of work)."""
        with self.unit_of_work() as uow:
            return uow.pseudonymise(actor, identifiers)

    def audit_key(self) -> NoteKey:
        """The audit log's signing key under the log's origin (loaded once)."""
        if self._audit_key is None:
            self._audit_key = load_audit_key(self.settings.audit_origin, self.settings.keys_dir)
        return self._audit_key

    def dispose(self) -> None:
        """Close the database connections (the core starts no thread: background work is
        ``broker worker``'s, broker.cli.jobs)."""
        self.evaluator.close()
        self.engine.dispose()
