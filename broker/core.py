"""The wired core that both doors (web and API) and the CLI share.

``Core`` holds what a service needs: settings, the session factory, the key store, the matching-key
maker, the pseudonym service and the clock. It is built once by ``create_app`` or the CLI; tests
build it on a temporary directory.

Every pseudonym evaluation of every door goes through :meth:`Core.evaluate`, which charges it to
the acting organisation's daily quota (:mod:`broker.pseudonyms.quota`); there is no other way to
the pseudonym service for a door.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from broker_primitives.blinding import Evaluation, Pseudonym, pseudonymise
from broker_primitives.identifiers import Identifier
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from broker.audit.checkpoints import Checkpointer, NoteKey, load_audit_key
from broker.audit.services import Actor
from broker.config import Settings
from broker.db import (
    make_engine,
    make_session_factory,
    start_checkpointer,
    unit_of_work,
    utcnow,
)
from broker.policy import Policy, PolicyHolder
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
from broker.registry.models import Organisation

# Periods (involvement end dates, history) are calendar dates as Dutch professionals see them.
LOCAL_ZONE = ZoneInfo("Europe/Amsterdam")

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class ChargedEvaluation:
    """Evaluated elements, and the organisation's quota after their charge (None: evaluated
    for no organisation, and so charged to none)."""

    evaluation: Evaluation
    quota: QuotaUse | None


class Core:
    """Everything a service needs, built once per process."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.engine = make_engine(settings.database_url)
        self.checkpointer = start_checkpointer(self.engine)
        self.sessions = make_session_factory(self.engine)
        self.keystore = FileKeyStore(settings.keys_dir)
        self.matching = MatchingKeys(self.keystore)
        self.pseudonym_service = PseudonymService(self.keystore)
        self.clock: Clock = clock or utcnow
        # A missing or broken policy stops the start with line-numbered errors (default deny
        # cannot be "no policy at all").
        self.policies = PolicyHolder(settings.policy_dir)
        self._org_types: dict[int, str] = {}
        self._audit_key: NoteKey | None = None
        self.audit_checkpointer: Checkpointer | None = None
        self._on_dispose: list[Callable[[], None]] = []

    def policy(self) -> Policy:
        """The sharing policy in force."""
        return self.policies.current()

    def org_type(self, connection: Connection, organisation_id: int) -> str:
        """The type of an organisation; cached, as a type never changes once created."""
        cached = self._org_types.get(organisation_id)
        if cached is None:
            cached = connection.execute(
                select(Organisation.org_type).where(Organisation.id == organisation_id)
            ).scalar_one()
            self._org_types[organisation_id] = cached
        return cached

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """One transaction (see :func:`broker.db.unit_of_work`)."""
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
        return self.clock().astimezone(LOCAL_ZONE).date()

    def evaluate(self, actor: Actor, blinded_elements: Sequence[bytes]) -> ChargedEvaluation:
        """Evaluate blinded elements for ``actor``, charged to its organisation's daily quota.

        One transaction: the quota's conditional upsert, the evaluation (which refuses a bad
        batch before any element is evaluated, rolling the charge back) and its audit event.
        Raises :class:`QuotaExceeded` (after committing the refusal's audit event) when the
        quota cannot take the batch. An actor acting for no organisation (an operator or
        auditor) is charged to none and not recorded here: its command is audited.
        """
        organisation_id = actor.organisation_id
        if organisation_id is None:
            return ChargedEvaluation(self.pseudonym_service.evaluate(blinded_elements), None)
        count = len(blinded_elements)
        day = self.today()
        resets_at = datetime.combine(day + timedelta(days=1), time(), tzinfo=LOCAL_ZONE)
        with self.transaction() as connection:
            quota = self.policy().quota_for(self.org_type(connection, organisation_id))
            used = charge(connection, organisation_id=organisation_id, day=day, count=count,
                          quota=quota)
            if used is None:
                refused = QuotaUse(False, quota, used_on(connection, organisation_id, day),
                                   resets_at)
                record_refusal(connection, actor, refused, count, day)
            else:
                result = self.pseudonym_service.evaluate(blinded_elements)
                use = QuotaUse(True, quota, used, resets_at)
                record_evaluation(connection, actor, use, count, result.key_epoch)
        if used is None:
            raise QuotaExceeded(refused, count)
        return ChargedEvaluation(result, use)

    def pseudonymise(self, actor: Actor, identifiers: Sequence[Identifier]) -> list[Pseudonym]:
        """Blind, evaluate in-process and unblind for ``actor``: the web form's and the CLI's
        door, charged like the API (see :meth:`evaluate`).

        The identifiers stay in this process's memory for this call only; the pseudonym service
        sees blinded elements.
        """
        return pseudonymise(identifiers,
                            lambda blinded: self.evaluate(actor, blinded).evaluation)

    def audit_key(self) -> NoteKey:
        """The audit log's signing key under the log's origin (loaded once)."""
        if self._audit_key is None:
            self._audit_key = load_audit_key(self.settings.audit_origin, self.settings.keys_dir)
        return self._audit_key

    def start_audit_checkpoints(self) -> None:
        """Sign audit checkpoints in the background (a serving process calls this once)."""
        if self.audit_checkpointer is None:
            self.audit_key()  # a missing or exposed key stops the start, not the thread
            self.audit_checkpointer = Checkpointer(self, self.settings.audit_checkpoint_interval)

    def on_dispose(self, stop: Callable[[], None]) -> None:
        """Have :meth:`dispose` call ``stop`` first (a background task of a serving process)."""
        self._on_dispose.append(stop)

    def dispose(self) -> None:
        """Sign the last audit checkpoint, stop the background threads and close the database
        connections."""
        from broker.notifications.delivery import stop_delivery  # noqa: PLC0415 - imports core

        while self._on_dispose:  # before the last checkpoint, which covers what they write
            self._on_dispose.pop()()
        stop_delivery(self)  # first, so that the last checkpoint covers its events
        if self.audit_checkpointer is not None:
            self.audit_checkpointer.stop()
            self.audit_checkpointer = None
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self.engine.dispose()
