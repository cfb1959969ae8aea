"""Consent records: consent about a household, for the ``consent`` legal basis.

A consent, like an involvement, is about a household, so it lives in the registry: the look-ups
(:mod:`broker.registry.lookups`) and the contact requests (:mod:`broker.contact.services`) both
check it, in their own transaction, without importing each other.

Rules this module guarantees:

- A consent record is made with the household's identifiers, pseudonymised exactly like a
  registration: only matching keys ``T = b·N`` at the current key epochs are stored
  (:class:`~broker.registry.models.ConsentKey`), and every key rotation re-keys them in place
  (:mod:`broker.registry.rotation`). It never holds a name or an identifier.
- It says who consented (the person, a parent, a guardian), when, for which purposes and kinds
  of organisation (none named: any), until when, and which professional recorded it; recording
  it is an audit event (``consent:recorded``) whose subjects are the household's keys, so that a
  subject access report and an audit search find it.
- A look-up or contact request on the ``consent`` basis names a record by its public id. It is
  accepted only when, in this order: the id names a record of the asker's own organisation;
  the record is in force today (``given_on`` ≤ today ≤ ``valid_until``) and not withdrawn; its
  purposes include the purpose asked for; and it shares at least one matching key with the
  household asked about. Anything else raises :class:`ConsentRefused`, whose ``code`` names the
  reason (``consent-unknown``, ``consent-not-in-force``, ``consent-purpose``,
  ``consent-other-household``) for the caller's audit event.
- Its holder types bound whom it reaches (:meth:`ConsentScope.reaches`): a look-up withholds
  matches of other types, a contact request to another type is refused
  (``consent-holder-type``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from broker_primitives import oprf
from broker_primitives.blinding import Pseudonym
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from broker.audit.events import Event
from broker.audit.services import Actor, Subject, record_event
from broker.catalogue import Joined, Message
from broker.core import Core
from broker.errors import Conflict, ValidationError
from broker.pseudonyms.matching import StoredKey
from broker.registry.models import Consent, ConsentKey, Professional
from broker.registry.validation import MAX_KEYS_PER_INVOLVEMENT

GIVEN_BY = ("person", "parent", "guardian")


@dataclass(frozen=True)
class ConsentInfo:
    """A consent record as its organisation sees it (never its household's keys)."""

    id: str
    given_by: str
    given_on: date
    valid_until: date
    purposes: list[str]
    holder_types: list[str]
    recorded_by: str
    withdrawn: bool

    @classmethod
    def of(cls, consent: Consent, recorded_by: str) -> ConsentInfo:
        """The view of a stored record."""
        return cls(consent.public_id, consent.given_by, consent.given_on, consent.valid_until,
                   list(consent.purposes), list(consent.holder_types), recorded_by,
                   consent.withdrawn_at is not None)


@dataclass(frozen=True)
class NewConsent:
    """A consent to record: who gave it, when, for what, until when, about which household."""

    pseudonyms: Sequence[Pseudonym]
    given_by: str
    given_on: date
    valid_until: date
    purposes: Sequence[str]
    holder_types: Sequence[str] = ()


@dataclass(frozen=True)
class PreparedConsent:
    """A checked consent with its household's matching keys, made at ``epochs``."""

    new: NewConsent
    keys: list[StoredKey]
    epochs: tuple[int, int]


class ConsentRefused(ValidationError):
    """A consent reference that does not carry this look-up or request; ``code`` says why."""


@dataclass(frozen=True)
class ConsentScope:
    """A consent record found in force for a look-up or request."""

    id: int
    public_id: str
    holder_types: frozenset[str]

    def reaches(self, org_type: str) -> bool:
        """Whether the consent reaches an organisation of ``org_type`` (no types named: any)."""
        return not self.holder_types or org_type in self.holder_types

    def require_reach(self, org_type: str) -> None:
        """Refuse (``consent-holder-type``) unless the consent reaches ``org_type``."""
        if not self.reaches(org_type):
            raise ConsentRefused(
                "This consent does not reach this kind of organisation.",
                code="consent-holder-type")


def prepare_consent(core: Core, new: NewConsent) -> PreparedConsent:
    """Check a new consent against the policy and make its household's matching keys (no
    database access); every problem at once, in the reader's language."""
    policy, today = core.policy(), core.today()
    problems: list[Message] = []
    if new.given_by not in GIVEN_BY:
        problems.append(Message("who consented must be one of: %(choices)s",
                                choices=", ".join(GIVEN_BY)))
    if new.given_on > today:
        problems.append(Message("consent cannot be given in the future"))
    if new.valid_until < today or new.valid_until < new.given_on:
        problems.append(Message("consent must be valid until today or later"))
    unknown = sorted(set(new.purposes) - set(policy.purposes)) if new.purposes else ["(none)"]
    if unknown:
        problems.append(Message("unknown purpose(s): %(purposes)s", purposes=", ".join(unknown)))
    if set(new.holder_types) - set(policy.org_types):
        problems.append(Message("unknown organisation type(s)"))
    if not 1 <= len(new.pseudonyms) <= MAX_KEYS_PER_INVOLVEMENT:
        problems.append(Message("give between 1 and %(most)s identifiers of the household the "
                                "consent is about", most=MAX_KEYS_PER_INVOLVEMENT))
    if problems:
        raise ValidationError(Joined("; ", problems), code="consent")
    epochs = core.keystore.stamp()
    unique: dict[bytes, StoredKey] = {}
    for key in core.matching.to_stored_many(new.pseudonyms, epochs):
        unique.setdefault(key.value, key)
    return PreparedConsent(new, list(unique.values()), epochs)


def store_consent(session: Session, core: Core, actor: Actor, person: Professional,
                  prepared: PreparedConsent) -> Consent:
    """Store a prepared consent for ``person``'s organisation, with its audit event, in the
    caller's transaction."""
    if core.keystore.stamp() != prepared.epochs:
        # A key rotation began after the keys were made: refuse rather than store keys that
        # the rotation could miss.
        raise Conflict("The keys changed while recording the consent; try again.")
    new = prepared.new
    consent = Consent(
        organisation_id=person.organisation_id, recorded_by_id=person.id,
        given_by=new.given_by, given_on=new.given_on, valid_until=new.valid_until,
        purposes=sorted(set(new.purposes)), holder_types=sorted(set(new.holder_types)),
        keys=[ConsentKey(category=k.category, value=k.value, oprf_epoch=k.oprf_epoch,
                         broker_epoch=k.broker_epoch) for k in prepared.keys])
    session.add(consent)
    session.flush()
    record_event(session, actor, Event.CONSENT_RECORDED, organisation_id=person.organisation_id,
                 consent_reference=consent.public_id,
                 subjects=[Subject(k.category, k.value, k.oprf_epoch, k.broker_epoch)
                           for k in prepared.keys],
                 details={"given_by": new.given_by, "given_on": new.given_on.isoformat(),
                          "valid_until": new.valid_until.isoformat(),
                          "purposes": consent.purposes, "holder_types": consent.holder_types,
                          "key_count": len(prepared.keys)})
    return consent


def consent_in_force(connection: Session | Connection, *, organisation_id: int, reference: str,
                     purpose: str, household: Sequence[bytes], today: date) -> ConsentScope:
    """The organisation's consent record ``reference`` if it carries a look-up or request for
    ``purpose`` on the household whose stored values (every form, mid-rotation) are
    ``household``, today; :class:`ConsentRefused` otherwise (see the module's rules)."""
    row = connection.execute(
        select(Consent.id, Consent.withdrawn_at, Consent.given_on, Consent.valid_until,
               Consent.purposes, Consent.holder_types)
        .where(Consent.public_id == reference, Consent.organisation_id == organisation_id)
    ).first()
    if row is None:
        # Another organisation's record gets the same answer as none: its existence is not
        # the asker's to learn.
        raise ConsentRefused(
            "The consent reference names no consent record of your organisation; record the "
            "consent first, with the household's identifiers.",
            code="consent-unknown")
    consent_id, withdrawn_at, given_on, valid_until, purposes, holder_types = row
    if withdrawn_at is not None or not given_on <= today <= valid_until:
        raise ConsentRefused(
            "This consent is withdrawn or no longer in force.",
            code="consent-not-in-force")
    if purpose not in purposes:
        raise ConsentRefused("This consent does not cover this purpose.", code="consent-purpose")
    shared = connection.execute(
        select(ConsentKey.id)
        .where(ConsentKey.consent_id == consent_id, ConsentKey.value.in_(list(household)))
        .limit(1)
    ).first()
    if shared is None:
        raise ConsentRefused(
            "This consent is about another household: it shares no identifier with the "
            "household you asked about.",
            code="consent-other-household")
    return ConsentScope(consent_id, reference, frozenset(holder_types))


def household_values(core: Core, connection: Session | Connection,
                     keys: Sequence[Subject]) -> list[bytes]:
    """The stored values of a household's ``keys`` (an earlier look-up's subjects) and, while a
    key rotation runs, each one's form under the rotation's other epoch, so that a consent is
    found whichever of the two epochs its keys are at."""
    values = {key.value for key in keys}
    rotation = core.matching.rotation(connection)
    if rotation is None:
        return sorted(values)
    store, which = core.keystore, rotation.which
    for key in keys:
        epoch = key.oprf_epoch if which == "oprf" else key.broker_epoch
        other = rotation.from_epoch if epoch == rotation.to_epoch else rotation.to_epoch
        if store.has(which, epoch) and store.has(which, other):
            factor = oprf.rotation_factor(store.load(which, epoch), store.load(which, other))
            values.add(oprf.scalar_mult(factor, key.value))
    return sorted(values)
