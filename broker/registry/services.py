"""Registry services: organisations, professionals, involvements, purge.

Every public method is one unit of work: it validates everything first (so bad input writes
nothing), changes state, and appends the audit event in the same transaction.

Rules this module guarantees:

- Only matching keys (``T = b·N``) and who is involved are stored; no identifier reaches it.
- Organisation types and purposes are the sharing policy's codes; nothing else is accepted.
- An involvement ends at most the policy's ``involvement_max_months`` after it starts or is
  renewed; the default is ``involvement_default_months`` (Jeugdwet §7.1.4: at most two years).
- Ended and expired involvements are history for the policy's ``history_years``, then purged:
  deleted with their matching keys, not hidden.

Look-ups are in :mod:`broker.registry.lookups`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import partial
from urllib.parse import urlsplit

from broker_primitives.blinding import Pseudonym
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, aliased, selectinload

from broker.audit.services import Actor, Subject, record_event
from broker.core import UnitOfWork, unit_of
from broker.errors import Conflict, Forbidden, NotFound, ValidationError
from broker.notifications.services import notify_new_matches
from broker.policy.diff import InvolvementPair
from broker.pseudonyms.matching import StoredKey
from broker.registry.models import (
    ACCESS_PROFESSIONAL,
    ACCESS_ROLES,
    INVOLVEMENT_ACTIVE,
    INVOLVEMENT_ENDED,
    Involvement,
    MatchingKey,
    Organisation,
    Professional,
)
from broker.registry.passwords import hash_password
from broker.registry.periods import add_months, add_years
from broker.registry.validation import (
    EMAIL,
    MAX_BATCH,
    MAX_KEYS_PER_INVOLVEMENT,
    MIN_PASSWORD_LENGTH,
    PHONE,
    case_reference,
    numbered,
    require_known,
    require_slug,
    require_text,
)
from broker.registry.views import (
    InvolvementInfo,
    OrganisationInfo,
    ProfessionalInfo,
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


def _subjects(keys: Sequence[StoredKey]) -> list[Subject]:
    return [Subject(k.category, k.value, k.oprf_epoch, k.broker_epoch) for k in keys]


class RegistryService:
    """The registry's use cases, each in its own unit of work."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.core = uow.core
        self.session = uow.session

    # -- organisations and professionals ------------------------------------------------------

    def create_organisation(
        self, actor: Actor, *, identifier: str, name: str, org_type: str
    ) -> OrganisationInfo:
        """Add an organisation; ``identifier`` is its stable short code."""
        identifier = require_slug(identifier, "The organisation code", "De organisatiecode")
        name = require_text(name, "The organisation name", "De naam van de organisatie")
        org_type = require_known(org_type, self.core.policy().org_types, "organisation type",
                                 "organisatietype")
        session = self.session
        if session.scalar(select(Organisation.id).filter_by(identifier=identifier)):
            raise Conflict(
                f"An organisation with code {identifier!r} already exists.",
                f"Er bestaat al een organisatie met code {identifier!r}.",
            )
        org = Organisation(identifier=identifier, name=name, org_type=org_type)
        session.add(org)
        session.flush()
        record_event(
            session, actor, "organisation:created", organisation_id=org.id,
            details={"identifier": identifier, "org_type": org_type},
        )
        return OrganisationInfo.of(org)

    def set_webhook(self, actor: Actor, identifier: str, url: str | None) -> None:
        """Set (or, with None, clear) where the organisation's case system gets notifications:
        an https URL, or http on this machine for a local test receiver."""
        if url is not None:
            parsed = urlsplit(url)
            local = parsed.scheme == "http" and parsed.hostname in ("127.0.0.1", "localhost",
                                                                   "::1")
            if not (parsed.scheme == "https" or local) or not parsed.hostname or len(url) > 500:
                raise ValidationError(
                    "A webhook URL must be https:// (http:// only on this machine), at most 500 "
                    "characters.",
                    "Een webhook-URL moet met https:// beginnen (http:// alleen op deze machine), "
                    "en is hoogstens 500 tekens.")
        session = self.session
        org = self._organisation(session, identifier)
        org.webhook_url = url
        # The URL may hold a receiver's secret: the event says only whether one is set.
        record_event(session, actor, "organisation:webhook_set", organisation_id=org.id,
                     details={"identifier": identifier, "webhook": url is not None})

    def list_organisations(self) -> list[OrganisationInfo]:
        """All organisations, by code."""
        session = self.session
        orgs = session.scalars(select(Organisation).order_by(Organisation.identifier))
        return [OrganisationInfo.of(o) for o in orgs]

    def organisation_code(self, organisation_id: int) -> str:
        """The code of the organisation with database id ``organisation_id``."""
        session = self.session
        code = session.scalar(
            select(Organisation.identifier).where(Organisation.id == organisation_id))
        if code is None:
            raise NotFound("There is no such organisation.", "Die organisatie bestaat niet.")
        return code

    def get_organisation(self, identifier: str) -> OrganisationInfo:
        """One organisation by code."""
        session = self.session
        return OrganisationInfo.of(self._organisation(session, identifier))

    def add_professional(
        self,
        actor: Actor,
        *,
        organisation: str,
        username: str,
        name: str,
        role: str,
        phone: str | None = None,
        email: str | None = None,
        password: str | None = None,
        access_role: str = ACCESS_PROFESSIONAL,
    ) -> ProfessionalInfo:
        """Add a contact professional, or (``access_role``) a privacy officer or auditor; with a
        password they can sign in on the web."""
        username = require_slug(username, "The user name", "De gebruikersnaam")
        if access_role not in ACCESS_ROLES:
            choices = ", ".join(ACCESS_ROLES)
            raise ValidationError(f"The access role must be one of: {choices}.",
                                  f"De toegangsrol moet een van deze zijn: {choices}.")
        name = require_text(name, "The name", "De naam")
        role = require_text(role, "The role", "De functie", 100)
        if phone and not PHONE.match(phone):
            raise ValidationError(
                "The phone number may hold digits, spaces, '+', '-' and brackets (6-20).",
                "Het telefoonnummer mag cijfers, spaties, '+', '-' en haakjes bevatten (6-20).",
            )
        if password is not None and len(password) < MIN_PASSWORD_LENGTH:
            raise ValidationError(
                f"The password must be at least {MIN_PASSWORD_LENGTH} characters.",
                f"Het wachtwoord moet minstens {MIN_PASSWORD_LENGTH} tekens zijn.",
            )
        if email and not EMAIL.match(email):
            raise ValidationError(
                "The e-mail address is not valid.", "Het e-mailadres is ongeldig."
            )
        session = self.session
        org = self._organisation(session, organisation)
        if session.scalar(select(Professional.id).filter_by(username=username)):
            raise Conflict(
                f"The user name {username!r} is taken.",
                f"De gebruikersnaam {username!r} is al in gebruik.",
            )
        professional = Professional(
            organisation=org, username=username, name=name, role=role,
            phone=phone or None, email=email or None,
            password_hash=hash_password(password) if password else None,
            access_role=access_role,
        )
        session.add(professional)
        session.flush()
        record_event(
            session, actor, "professional:created", organisation_id=org.id,
            details={"professional_id": professional.id, "role": role,
                     "access_role": access_role},
        )
        return ProfessionalInfo.of(professional)

    def list_professionals(self, organisation: str | None = None) -> list[ProfessionalInfo]:
        """Professionals, optionally of one organisation."""
        session = self.session
        query = select(Professional).options(selectinload(Professional.organisation))
        if organisation is not None:
            query = query.where(
                Professional.organisation_id == self._organisation(session, organisation).id
            )
        return [
            ProfessionalInfo.of(p) for p in session.scalars(query.order_by(Professional.id))
        ]

    def get_professional(self, username: str) -> ProfessionalInfo:
        """One professional by user name."""
        session = self.session
        return ProfessionalInfo.of(self._professional(session, username))

    # -- involvements ------------------------------------------------------------------------

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
                f"Send between 1 and {MAX_BATCH} involvements at once.",
                f"Stuur tussen 1 en {MAX_BATCH} betrokkenheden tegelijk.",
            )
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
        raise Conflict("The keys kept changing during registration; try again.",
                       "De sleutels veranderden tijdens de registratie; probeer het opnieuw.")

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
        involvements = []
        for item, (purpose, ends_on, keys) in zip(items, prepared, strict=True):
            involvement = Involvement(
                organisation=org, professional=people[item.professional], purpose=purpose,
                case_reference=case_reference(item.case_reference),
                starts_on=today, ends_on=ends_on, state=INVOLVEMENT_ACTIVE,
                matching_keys=[
                    MatchingKey(category=k.category, value=k.value, oprf_epoch=k.oprf_epoch,
                                broker_epoch=k.broker_epoch)
                    for k in keys
                ],
            )
            session.add(involvement)
            involvements.append((involvement, keys))
        session.flush()
        for involvement, keys in involvements:
            # Other organisations' contacts on the household learn of it, as far as the
            # policy allows; who was told is part of this registration's event.
            notified = notify_new_matches(session, self.core, involvement)
            record_event(
                session, actor, "involvement:registered", organisation_id=org.id,
                purpose=involvement.purpose, subjects=_subjects(keys),
                details={"involvement_id": involvement.public_id,
                         "ends_on": involvement.ends_on.isoformat(), "key_count": len(keys),
                         **({"notified_involvements": notified} if notified else {})},
            )
        return [InvolvementInfo.of(involvement) for involvement, _ in involvements]

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
            session, actor, "involvement:contact_changed",
            organisation_id=involvement.organisation_id,
            details={"involvement_id": involvement.public_id,
                     "previous_professional_id": previous, "professional_id": person.id},
        )
        return InvolvementInfo.of(involvement)

    def _prepare(self, item: NewInvolvement, today: date, epochs: tuple[int, int]
                 ) -> tuple[str, date, list[StoredKey]]:
        """Validate one new involvement and compute its stored keys (no database access)."""
        purpose = require_known(item.purpose, self.core.policy().purposes, "purpose", "doel")
        if not 1 <= len(item.pseudonyms) <= MAX_KEYS_PER_INVOLVEMENT:
            raise ValidationError(
                f"Give between 1 and {MAX_KEYS_PER_INVOLVEMENT} identifiers of the household.",
                f"Geef tussen 1 en {MAX_KEYS_PER_INVOLVEMENT} gegevens van het huishouden.",
            )
        ends_on = self._check_end(today, item.ends_on)
        case_reference(item.case_reference)  # refused here, before anything is stored
        unique: dict[bytes, StoredKey] = {}
        for key in self.core.matching.to_stored_many(item.pseudonyms, epochs):
            unique.setdefault(key.value, key)
        return purpose, ends_on, list(unique.values())

    @staticmethod
    def _contact(session: Session, actor: Actor, org: Organisation, username: str
                 ) -> Professional:
        # Unknown, another organisation's and inactive professionals get one answer, which does
        # not repeat the name: the API must not let callers enumerate other organisations' staff.
        # Every such refusal is an audit event, committed with the answer; the name itself is
        # recorded only as the id of an existing professional (a made-up name may be anything).
        person = session.scalar(
            select(Professional).filter_by(username=username, organisation_id=org.id,
                                           active=True, access_role=ACCESS_PROFESSIONAL)
            .options(selectinload(Professional.organisation))
        )
        if person is None:
            named = session.scalar(select(Professional).filter_by(username=username))
            foreign = named is not None and named.organisation_id != org.id
            unit_of(session).refuse(
                ValidationError(
                    "The professional must be an active member of your organisation.",
                    "De professional moet een actieve medewerker van uw organisatie zijn.",
                ),
                actor, "professional:acting_refused",
                reason="another_organisation" if foreign else "unknown_or_inactive",
                organisation_id=org.id,
                details={"professional_id": named.id} if named is not None else {},
            )
        return person

    def check_member(self, actor: Actor, username: str) -> None:
        """Refuse unless ``username`` is an active professional of the actor's organisation."""
        session = self.session
        org = session.get(Organisation, actor.organisation_id)
        if org is None:
            raise Forbidden("You act for no organisation.", "U handelt niet namens een "
                            "organisatie.")
        self._contact(session, actor, org, username)

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
            session, actor, "involvement:renewed", organisation_id=involvement.organisation_id,
            purpose=involvement.purpose,
            details={"involvement_id": involvement.public_id, "previous_end":
                     previous.isoformat(), "ends_on": ends_on.isoformat()},
        )
        return InvolvementInfo.of(involvement)

    def end_involvement(self, actor: Actor, involvement_id: str, reason: str = "concern_resolved"
                        ) -> InvolvementInfo:
        """End an active involvement now; it moves to the history."""
        reason = require_slug(reason, "The reason code", "De redencode")
        session = self.session
        involvement = self._own_involvement(session, actor, involvement_id,
                                            operation="end")
        self._require_active(involvement)
        self._move_to_history(involvement, reason)
        record_event(
            session, actor, "involvement:ended", organisation_id=involvement.organisation_id,
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

    # -- retention ---------------------------------------------------------------------------

    def purge(self, actor: Actor) -> dict[str, int]:
        """Move expired involvements to the history; delete history past its retention."""
        today = self.core.today()
        session = self.session
        expired = session.scalars(
            select(Involvement).where(
                Involvement.state == INVOLVEMENT_ACTIVE, Involvement.ends_on < today
            )
        ).all()
        for involvement in expired:
            self._move_to_history(involvement, "expired", ended_on=involvement.ends_on)
            record_event(
                session, actor, "involvement:expired",
                organisation_id=involvement.organisation_id, purpose=involvement.purpose,
                details={"involvement_id": involvement.public_id},
            )
        old = session.execute(
            select(Involvement.id, Involvement.public_id, Involvement.organisation_id).where(
                Involvement.state == INVOLVEMENT_ENDED, Involvement.history_until < today
            )
        ).all()
        for _, public_id, organisation_id in old:
            record_event(
                session, actor, "involvement:purged", organisation_id=organisation_id,
                details={"involvement_id": public_id},
            )
        ids = [row[0] for row in old]
        if ids:
            session.execute(delete(MatchingKey).where(MatchingKey.involvement_id.in_(ids)))
            session.execute(delete(Involvement).where(Involvement.id.in_(ids)))
        return {"expired": len(expired), "purged": len(ids)}

    # -- helpers -----------------------------------------------------------------------------

    def _check_end(self, today: date, ends_on: date | None) -> date:
        """The policy's default end, or ``ends_on`` if it lies within the policy's maximum."""
        retention = self.core.policy().retention
        if ends_on is None:
            return add_months(today, retention.involvement_default_months)
        months = retention.involvement_max_months
        latest = add_months(today, months)
        if ends_on < today or ends_on > latest:
            raise ValidationError(
                f"The end date must lie between today and {months} months from today "
                f"({latest.isoformat()}).",
                f"De einddatum moet tussen vandaag en {months} maanden na vandaag liggen "
                f"({latest.isoformat()}).",
            )
        return ends_on

    def _move_to_history(
        self, involvement: Involvement, reason: str, ended_on: date | None = None
    ) -> None:
        end = ended_on or self.core.today()
        involvement.state = INVOLVEMENT_ENDED
        involvement.ended_at = self.core.now()
        involvement.end_reason = reason
        involvement.ends_on = min(involvement.ends_on, end)
        involvement.history_until = add_years(end, self.core.policy().retention.history_years)

    @staticmethod
    def _require_active(involvement: Involvement) -> None:
        if involvement.state != INVOLVEMENT_ACTIVE:
            raise Conflict(
                "This involvement has already ended; register a new one instead.",
                "Deze betrokkenheid is al beëindigd; registreer een nieuwe.",
            )

    @staticmethod
    def _check_acting_for(actor: Actor, organisation_id: int) -> None:
        if actor.organisation_id is not None and actor.organisation_id != organisation_id:
            raise Forbidden(
                "You can only act on behalf of your own organisation.",
                "U kunt alleen namens uw eigen organisatie handelen.",
            )

    @staticmethod
    def _organisation(session: Session, identifier: str) -> Organisation:
        org = session.scalar(select(Organisation).filter_by(identifier=identifier))
        if org is None:
            raise RegistryService._no_organisation(identifier)
        return org

    @staticmethod
    def _no_organisation(identifier: str) -> NotFound:
        return NotFound(
            f"There is no organisation with code {identifier!r}; see: broker org list",
            f"Er is geen organisatie met code {identifier!r}; zie: broker org list",
        )

    @staticmethod
    def _professional(session: Session, username: str) -> Professional:
        person = session.scalar(
            select(Professional).filter_by(username=username)
            .options(selectinload(Professional.organisation))
        )
        if person is None:
            raise NotFound(
                f"There is no professional with user name {username!r}; see: "
                "broker professional list",
                f"Er is geen professional met gebruikersnaam {username!r}; zie: "
                "broker professional list",
            )
        return person

    @staticmethod
    def _own_involvement(session: Session, actor: Actor, involvement_id: str, *,
                         operation: str = "access") -> Involvement:
        involvement = session.scalar(
            select(Involvement).filter_by(public_id=involvement_id)
            .options(selectinload(Involvement.organisation),
                     selectinload(Involvement.professional),
                     selectinload(Involvement.matching_keys))
        )
        # Another organisation's involvement is reported as not found: its existence is
        # itself something the caller may not learn. Both refusals are audit events (the unit of
        # work keeps the refusal and nothing else); a made-up id is not recorded.
        foreign = involvement is not None and actor.organisation_id not in (
            None, involvement.organisation_id)
        if involvement is None or foreign:
            details = {"operation": operation}
            if involvement is not None:
                details["involvement_id"] = involvement.public_id
            unit_of(session).refuse(
                NotFound("There is no such involvement of your organisation.",
                         "Uw organisatie heeft geen betrokkenheid met dit kenmerk."),
                actor, "involvement:access_refused",
                reason="another_organisation" if foreign else "unknown", details=details)
        return involvement

