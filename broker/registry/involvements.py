"""Involvements: registered (one or a batch, all or nothing), renewed, handed to another contact
and ended; only matching keys and who is involved are stored, never an identifier.

An involvement ends at most the policy's ``involvement_max_months`` after it starts or is
renewed; the default is ``involvement_default_months`` (Jeugdwet §7.1.4: at most two years).
A new involvement notifies those whose policy lets them learn of it, through the core's
notices (:class:`broker.interfaces.Notices`), in the registration's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import partial

from broker_primitives.blinding import Pseudonym
from sqlalchemy import func, insert, select
from sqlalchemy.orm import aliased

from broker.audit.events import Event
from broker.audit.services import Actor, Subject, record_event
from broker.errors import Conflict, ValidationError
from broker.policy.diff import InvolvementPair
from broker.pseudonyms.matching import StoredKey
from broker.registry.common import ServiceBase
from broker.registry.models import (
    INVOLVEMENT_ACTIVE,
    Involvement,
    MatchingKey,
    Organisation,
    Professional,
    new_public_id,
)
from broker.registry.results import (
    InvolvementInfo,
)
from broker.registry.validation import (
    MAX_BATCH,
    MAX_KEYS_PER_INVOLVEMENT,
    case_reference,
    numbered,
    require_known,
    require_slug,
)


class _KeysChanged(Exception):
    """The key epochs changed between making the matching keys and storing them."""


@dataclass(frozen=True)
class NewInvolvement:
    """One involvement to register: who is the contact, which household, why, until when."""

    professional: str
    pseudonyms: Sequence[Pseudonym]
    purpose: str
    ends_on: date | None = None
    # The organisation's own case reference (dossier number); never a name or an identifier.
    case_reference: str | None = None


@dataclass(frozen=True)
class _New:
    """One involvement of a batch, ready to be written."""

    professional: str
    purpose: str
    ends_on: date
    keys: list[StoredKey]
    public_id: str
    case_reference: str | None


def _subjects(keys: Sequence[StoredKey]) -> list[Subject]:
    return [Subject(k.category, k.value, k.oprf_epoch, k.broker_epoch) for k in keys]


class Involvements(ServiceBase):
    """Registering and keeping involvements."""

    def register_involvement(
        self,
        actor: Actor,
        *,
        organisation: str,
        professional: str,
        pseudonyms: Sequence[Pseudonym],
        purpose: str,
        ends_on: date | None = None,
        case_reference: str | None = None,
    ) -> InvolvementInfo:
        """Register that ``organisation`` is involved with the household of ``pseudonyms``."""
        item = NewInvolvement(professional, pseudonyms, purpose, ends_on, case_reference)
        return self.register_involvements(actor, organisation=organisation, items=[item])[0]

    def register_involvements(
        self,
        actor: Actor,
        *,
        organisation: str,
        items: Sequence[NewInvolvement],
    ) -> list[InvolvementInfo]:
        """Register a batch of involvements in the unit of work: all of them or, on error,
        none. A refusal names the position of the item (counted from 1) that caused it. (A
        retried batch is answered by the API's Idempotency-Key, stored with the registration in
        the same transaction: broker.api.idempotency.)
        """
        if not 1 <= len(items) <= MAX_BATCH:
            raise ValidationError(
                "Send between 1 and %(max_batch)s involvements at once.",
                max_batch=MAX_BATCH)
        today = self.core.today()
        for _ in range(3):
            epochs = self.core.keystore.stamp()
            prepared = [
                numbered(len(items), n, partial(self._prepare, item, today, epochs))
                for n, item in enumerate(items, start=1)
            ]
            try:
                return self._register(actor, organisation, items, prepared, today, epochs)
            except _KeysChanged:
                continue  # a key rotation began meanwhile: make the keys again
        raise Conflict("The keys kept changing during registration; try again.")

    def _register(
        self,
        actor: Actor,
        organisation: str,
        items: Sequence[NewInvolvement],
        prepared: list[tuple[str, date, list[StoredKey]]],
        today: date,
        epochs: tuple[int, int],
    ) -> list[InvolvementInfo]:
        session = self.session
        notices = self.core.notices  # none wired (NotWired): nothing is registered
        if self.core.keystore.stamp() != epochs:
            raise _KeysChanged
        org = self._organisation(session, organisation)
        self._check_acting_for(actor, org.id)
        # Every contact is checked before anything is added, so that a refusal can be
        # audited and committed on its own (nothing of the batch is written yet).
        people: dict[str, Professional] = {}
        for n, item in enumerate(items, start=1):
            if item.professional not in people:
                people[item.professional] = numbered(len(items), n, partial(
                    self._contact, session, actor, org, item.professional))
        # Written as rows, two statements for the whole batch (the ORM's unit of work would
        # track two objects per key: most of a bulk registration's time).
        news = [_New(item.professional, purpose, ends_on, keys, new_public_id(),
                     case_reference(item.case_reference))
                for item, (purpose, ends_on, keys) in zip(items, prepared, strict=True)]
        ids = session.scalars(
            insert(Involvement).returning(Involvement.id, sort_by_parameter_order=True),
            [{"public_id": new.public_id, "organisation_id": org.id,
              "professional_id": people[new.professional].id, "purpose": new.purpose,
              "case_reference": new.case_reference, "starts_on": today,
              "ends_on": new.ends_on, "state": INVOLVEMENT_ACTIVE} for new in news],
        ).all()
        session.execute(insert(MatchingKey), [
            {"involvement_id": involvement_id, "category": k.category, "value": k.value,
             "oprf_epoch": k.oprf_epoch, "broker_epoch": k.broker_epoch}
            for involvement_id, new in zip(ids, news, strict=True) for k in new.keys])
        for involvement_id, new in zip(ids, news, strict=True):
            # Other organisations' contacts on the household learn of it, as far as the
            # policy allows; who was told is part of this registration's event.
            notified = notices.notify_new_matches(session, organisation_id=org.id,
                                                  involvement_id=involvement_id, keys=new.keys)
            record_event(
                session, actor, Event.INVOLVEMENT_REGISTERED, organisation_id=org.id,
                purpose=new.purpose, subjects=_subjects(new.keys),
                details={"involvement_id": new.public_id, "ends_on": new.ends_on.isoformat(),
                         "key_count": len(new.keys),
                         **({"notified_involvements": notified} if notified else {})},
            )
        return [InvolvementInfo(new.public_id, org.identifier, new.professional, new.purpose,
                                today, new.ends_on, INVOLVEMENT_ACTIVE, None, len(new.keys),
                                new.case_reference) for new in news]

    def change_contact(self, actor: Actor, involvement_id: str, professional: str
                       ) -> InvolvementInfo:
        """Make another professional of the same organisation the contact."""
        session = self.session
        involvement = self._own_involvement(session, actor, involvement_id,
                                            operation="change_contact")
        self._require_active(involvement)
        person = self._contact(session, actor, involvement.organisation, professional)
        previous = involvement.professional_id
        involvement.professional = person
        record_event(
            session, actor, Event.INVOLVEMENT_CONTACT_CHANGED,
            organisation_id=involvement.organisation_id,
            details={"involvement_id": involvement.public_id,
                     "previous_professional_id": previous, "professional_id": person.id},
        )
        return InvolvementInfo.of(involvement)

    def _prepare(self, item: NewInvolvement, today: date, epochs: tuple[int, int]
                 ) -> tuple[str, date, list[StoredKey]]:
        """Validate one new involvement and compute its stored keys (no database access)."""
        purpose = require_known(item.purpose, self.core.policy().purposes, "purpose")
        if not 1 <= len(item.pseudonyms) <= MAX_KEYS_PER_INVOLVEMENT:
            raise ValidationError(
                "Give between 1 and %(max_keys_per_involvement)s identifiers of the household.",
                max_keys_per_involvement=MAX_KEYS_PER_INVOLVEMENT)
        ends_on = self._check_end(today, item.ends_on)
        case_reference(item.case_reference)  # refused here, before anything is stored
        unique: dict[bytes, StoredKey] = {}
        for key in self.core.matching.to_stored_many(item.pseudonyms, epochs):
            unique.setdefault(key.value, key)
        return purpose, ends_on, list(unique.values())

    def get_involvement(self, actor: Actor, involvement_id: str) -> InvolvementInfo:
        """One of the actor's own organisation's involvements."""
        session = self.session
        return InvolvementInfo.of(self._own_involvement(session, actor, involvement_id,
                                                        operation="read"))

    def renew_involvement(self, actor: Actor, involvement_id: str, ends_on: date | None = None
                          ) -> InvolvementInfo:
        """Extend an active involvement, within the same limits as a new one."""
        ends_on = self._check_end(self.core.today(), ends_on)
        session = self.session
        involvement = self._own_involvement(session, actor, involvement_id,
                                            operation="renew")
        self._require_active(involvement)
        previous = involvement.ends_on
        involvement.ends_on = ends_on
        record_event(
            session, actor, Event.INVOLVEMENT_RENEWED, organisation_id=involvement.organisation_id,
            purpose=involvement.purpose,
            details={"involvement_id": involvement.public_id, "previous_end":
                     previous.isoformat(), "ends_on": ends_on.isoformat()},
        )
        return InvolvementInfo.of(involvement)

    def end_involvement(self, actor: Actor, involvement_id: str, reason: str = "concern_resolved"
                        ) -> InvolvementInfo:
        """End an active involvement now; it moves to the history."""
        reason = require_slug(reason, "The reason code")
        session = self.session
        involvement = self._own_involvement(session, actor, involvement_id,
                                            operation="end")
        self._require_active(involvement)
        self._move_to_history(involvement, reason)
        record_event(
            session, actor, Event.INVOLVEMENT_ENDED, organisation_id=involvement.organisation_id,
            purpose=involvement.purpose, reason=reason,
            details={"involvement_id": involvement.public_id},
        )
        return InvolvementInfo.of(involvement)

    def involvement_pairs(self) -> list[InvolvementPair]:
        """Directed pairs of active involvements of different organisations sharing a key,
        counted per (requester type, holder type, requester's purpose)."""
        mine, theirs = aliased(MatchingKey), aliased(MatchingKey)
        asker, holder = aliased(Involvement), aliased(Involvement)
        asker_org, holder_org = aliased(Organisation), aliased(Organisation)
        today = self.core.today()
        pairs = (
            select(asker.id.label("a"), holder.id.label("h"),
                   asker_org.org_type.label("requester"), holder_org.org_type.label("holder"),
                   asker.purpose.label("purpose"))
            .join(mine, mine.involvement_id == asker.id)
            .join(theirs, theirs.value == mine.value)
            .join(holder, holder.id == theirs.involvement_id)
            .join(asker_org, asker_org.id == asker.organisation_id)
            .join(holder_org, holder_org.id == holder.organisation_id)
            .where(asker.organisation_id != holder.organisation_id,
                   asker.state == INVOLVEMENT_ACTIVE, holder.state == INVOLVEMENT_ACTIVE,
                   asker.ends_on >= today, holder.ends_on >= today)
            .distinct()
            .subquery()
        )
        session = self.session
        rows = session.execute(
            select(pairs.c.requester, pairs.c.holder, pairs.c.purpose, func.count())
            .group_by(pairs.c.requester, pairs.c.holder, pairs.c.purpose)
        ).all()
        return [InvolvementPair(r, h, p, n) for r, h, p, n in rows]
