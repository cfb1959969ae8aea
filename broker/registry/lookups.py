"""Look-ups: who else is involved with this household, as far as the policy lets the asker know.

Rules this module guarantees:

- The asker is the actor's organisation, as authenticated by the door; it is never a match.
- One statement, driven by the matching-key index, finds every active involvement sharing a
  key (:mod:`broker.registry.candidates`); which statement runs depends on the policy only,
  so the work done does not depend on what the policy will disclose.
- The purpose and the legal basis are codes of the policy, and the basis carries what the policy
  demands of it (a consent reference, a statute, a written justification of minimum length).
  A look-up refused for that is itself audited (``lookup:refused``), then reported; a refused
  look-up on ``vital_interest`` is flagged for review like any other.
- On the ``consent`` basis the reference must name a consent record of the asker's organisation,
  in force, for the purpose, sharing a matching key with the household asked about (checked in
  the look-up's transaction, :mod:`broker.registry.consents`); otherwise the look-up is refused
  and audited. Matches of a holder type the consent does not reach are withheld.
- Every other organisation's active involvement sharing a key is put to the policy engine
  (requester type × holder type × purpose × basis). Only allowed ones are disclosed, each to the
  level of its rule's ``reveal``; default deny. Where the rule demands reciprocity, a match is
  disclosed only when the asker's organisation holds an active involvement sharing a matching
  key with that match's involvement (reciprocity per household, not per question).
- The look-up stage's obligations (:mod:`broker.policy.obligations`) are carried out by their
  executors (:mod:`broker.registry.obligations`) for the disclosed matches whose deciding rule
  carries them: ``notify_holder`` tells those holders, ``flag_for_review`` tells the auditors
  (every look-up on ``vital_interest`` is flagged). The audit event lists only the obligations
  carried out, and its details say what was done (which holder involvements were told, how
  many auditors).
- The disclosure, the notices and the audit event (policy version, deciding rules, flags) are
  one transaction; every look-up is counted for same-day misuse in it
  (:mod:`broker.registry.misuse`).
- A match says whether it matched on a person or an address, never which identifier.
- ``registration_required`` in the answer: reciprocity applies to this asker, purpose and basis
  under the policy, and the asker's organisation does not hold an active involvement on every
  identifier of the question (registering them could show more). It depends on the policy and
  the asker's own registrations only, so it reads the same for an empty household as for one
  whose holders are withheld: it is no oracle for "someone is registered here".
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn, TypedDict

from broker_primitives.blinding import Pseudonym
from sqlalchemy import Connection

from broker.audit.events import Event
from broker.audit.services import Actor, Subject, record_event, time_ordered_uuid
from broker.catalogue import Joined
from broker.core import Core, UnitOfWork
from broker.errors import Forbidden, ValidationError
from broker.policy import Decision, DecisionRequest, Policy
from broker.policy.bases import consent_record_id, recordable_justification
from broker.policy.model import CONSENT, FLAG_FOR_REVIEW, NOTIFY_HOLDER, VITAL_INTEREST
from broker.policy.obligations import applies_at
from broker.pseudonyms.matching import StoredKey, unique_values
from broker.registry.candidates import Candidate, find_candidates
from broker.registry.consents import ConsentRefused, ConsentScope, consent_in_force
from broker.registry.misuse import count_lookup
from broker.registry.obligations import flag_for_review, notify_holders
from broker.registry.results import LookupResult, Match
from broker.registry.services import NewInvolvement, RegistryService
from broker.registry.validation import MAX_KEYS_PER_INVOLVEMENT, require_known


@dataclass(frozen=True)
class Evidence:
    """What carries the legal basis: a consent reference, a statute, a written justification."""

    consent_reference: str | None = None
    statute: str | None = None
    justification: str | None = None


class LookupService:
    """Look-ups, filtered by the sharing policy and audited."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.core = uow.core
        self.session = uow.session

    def lookup(
        self,
        actor: Actor,
        *,
        pseudonyms: Sequence[Pseudonym],
        purpose: str,
        basis: str,
        evidence: Evidence = Evidence(),
        on_behalf_of: str | None = None,
        register: NewInvolvement | None = None,
    ) -> LookupResult:
        """Who else is involved with the household of ``pseudonyms``?

        ``on_behalf_of`` names the professional asking (an active member of the actor's
        organisation). ``register`` registers the organisation's own involvement first
        (reciprocity); it happens only after every check of the look-up itself has passed, so a
        refused look-up registers nothing.

        The hot path: one prepared SELECT (the matches, the asker's own registrations and, where
        reciprocity applies, whether the asker shares a key with each match), the policy's
        compiled table, the look-up stage's obligations (only for disclosed matches whose rule
        carries one, and for vital interest), and one audit event, on a plain connection.
        """
        org_id = actor.organisation_id
        if org_id is None:
            raise Forbidden(
                "A look-up is made on behalf of an organisation; sign in as its professional.")
        if not 1 <= len(pseudonyms) <= MAX_KEYS_PER_INVOLVEMENT:
            raise ValidationError(
                "Give between 1 and %(max_keys_per_involvement)s identifiers of the household.",
                max_keys_per_involvement=MAX_KEYS_PER_INVOLVEMENT)
        policy = self.core.policy()
        purpose = require_known(purpose, policy.purposes, "purpose")
        basis = require_known(basis, policy.bases, "legal basis")
        registry = RegistryService(self.uow)
        if on_behalf_of is not None:
            registry.check_member(actor, on_behalf_of)
            actor = actor.acting_for(on_behalf_of)
        self._check_basis(actor, policy, purpose, basis, evidence)
        try:
            if register is not None:
                if basis == CONSENT:  # a look-up refused for its consent registers nothing
                    connection = self.uow.connection
                    _, values, _ = _household(self.core, connection, pseudonyms)
                    self._consent(connection, org_id, values, purpose, basis, evidence)
                registry.register_involvements(
                    actor, organisation=registry.organisation_code(org_id), items=[register])
            return self._lookup(actor, org_id, pseudonyms, policy, purpose, basis, evidence)
        except ConsentRefused as refused:
            self._refuse(actor, policy, purpose, basis, evidence, refused.code, refused)

    def _lookup(
        self,
        actor: Actor,
        org_id: int,
        pseudonyms: Sequence[Pseudonym],
        policy: Policy,
        purpose: str,
        basis: str,
        evidence: Evidence,
    ) -> LookupResult:
        today = self.core.today()
        connection = self.uow.connection
        requester_type = self.core.org_type(connection, org_id)
        variants, values, epochs = _household(self.core, connection, pseudonyms)
        consent = self._consent(connection, org_id, values, purpose, basis, evidence)
        # Whether reciprocity applies depends on the policy only, never on what matched,
        # so the statement that runs (and the time it takes) tells nothing of who is there.
        reciprocal = _reciprocity_applies(policy, requester_type, purpose, basis)
        found = find_candidates(connection, variants, org_id, today, reciprocal)
        lookup_id = time_ordered_uuid()
        handle_key = self._handle_key(epochs[1])
        matches, decided, shown, to_notify = [], [], [], []
        withheld_policy = withheld_reciprocity = withheld_consent = 0
        for candidate in found.candidates:
            decision = policy.decide(
                DecisionRequest(requester_type, candidate.org_type, purpose, basis))
            if not decision.allowed:
                withheld_policy += 1
            elif consent is not None and not consent.reaches(candidate.org_type):
                withheld_consent += 1
            elif decision.requires_registration and not candidate.reciprocal:
                withheld_reciprocity += 1
            else:
                matches.append(_disclose(candidate, decision,
                                         match_handle(handle_key, lookup_id,
                                                      candidate.involvement_id)))
                decided.append(decision)
                shown.append(candidate.involvement_id)
                if _carries(decision, NOTIFY_HOLDER):
                    to_notify.append(candidate)
        # The look-up stage's obligations (broker.policy.obligations), carried out here, in
        # this transaction; the event lists only what was done.
        notices = self.core.notices  # none wired: the look-up fails, it tells no one
        notified = notify_holders(notices, connection, policy, org_id, requester_type,
                                  to_notify)
        flagged = basis == VITAL_INTEREST or any(_carries(d, FLAG_FOR_REVIEW)
                                                 for d in decided)
        auditors = flag_for_review(notices, connection, lookup_id) if flagged else []
        record_event(
            connection, actor, Event.LOOKUP_PERFORMED, event_id=lookup_id, purpose=purpose,
            legal_basis=basis, policy_version=policy.version,
            rule_id=",".join(sorted({d.rule_ids[0] for d in decided})) or None,
            obligations=[code for code, done in ((NOTIFY_HOLDER, notified),
                                                 (FLAG_FOR_REVIEW, flagged)) if done],
            vital_interest=basis == VITAL_INTEREST,
            subjects=[Subject(k.category, k.value, k.oprf_epoch, k.broker_epoch)
                      for k in (group[0] for group in variants)],
            details={
                "match_count": len(matches),
                "matched_involvements": shown,
                "withheld_by_policy": withheld_policy,
                "withheld_for_reciprocity": withheld_reciprocity,
                "withheld_by_consent": withheld_consent,
                "holders_notified": notified,
                "flag_for_review": flagged,
                "auditors_told": len(auditors),
                "handle_epoch": epochs[1],
            },
            **_evidence(evidence),
        )
        count_lookup(connection, self.core, actor, org_id, lookup_id,
                     fishing=not found.registered)
        return LookupResult(lookup_id, matches, reciprocal and not found.covered,
                            policy.version, flagged)

    def _handle_key(self, broker_epoch: int) -> bytes:
        return handle_key(self.core, broker_epoch)

    def _check_basis(self, actor: Actor, policy: Policy, purpose: str, basis: str,
                     evidence: Evidence) -> None:
        problems = policy.check_basis(
            purpose, basis, justification=evidence.justification, statute=evidence.statute,
            consent_reference=evidence.consent_reference,
        )
        if problems:
            self._refuse(actor, policy, purpose, basis, evidence,
                         "; ".join(str(p) for p in problems),
                         ValidationError(Joined("; ", [p.text for p in problems]), code="basis"))

    def _consent(self, connection: Connection, org_id: int, values: list[bytes], purpose: str,
                 basis: str, evidence: Evidence) -> ConsentScope | None:
        """On the consent basis, the record that carries this look-up (ConsentRefused when
        none does); None on any other basis."""
        if basis != CONSENT:
            return None
        return consent_in_force(connection, organisation_id=org_id,
                                reference=evidence.consent_reference or "", purpose=purpose,
                                household=values, today=self.core.today())

    def _refuse(self, actor: Actor, policy: Policy, purpose: str, basis: str,
                evidence: Evidence, reason: str, refusal: ValidationError) -> NoReturn:
        """Audit a refused look-up (``lookup:refused``, committed by the unit of work with nothing
        else of the request; every use of vital interest is flagged for review, refused or
        not), then raise ``refusal``."""
        flagged = basis == VITAL_INTEREST
        notices = self.core.notices  # none wired: fail before anything is undone
        event_id = time_ordered_uuid()
        self.uow.undo()
        connection = self.uow.connection
        auditors = flag_for_review(notices, connection, event_id) if flagged else []
        record_event(
            connection, actor, Event.LOOKUP_REFUSED, event_id=event_id, outcome="refused",
            at=self.uow.now(),
            purpose=purpose, legal_basis=basis, policy_version=policy.version,
            reason=reason, obligations=[FLAG_FOR_REVIEW] if flagged else [],
            vital_interest=flagged,
            details={"flag_for_review": flagged, "auditors_told": len(auditors)},
            **_evidence(evidence, policy, purpose),
        )
        raise refusal


def _household(core: Core, connection: Connection, pseudonyms: Sequence[Pseudonym]
               ) -> tuple[list[list[StoredKey]], list[bytes], tuple[int, int]]:
    """Per pseudonym its stored forms, every distinct value to search, and the key epochs
    they were made at (see MatchingKeys.snapshot)."""
    rotation, epochs = core.matching.snapshot(connection)
    variants = core.matching.search_values(pseudonyms, rotation, epochs)
    return variants, unique_values(v for group in variants for v in group), epochs


def _carries(decision: Decision, obligation: str) -> bool:
    """True when ``decision`` carries ``obligation`` and it is carried out at a look-up."""
    return obligation in decision.obligations and applies_at(obligation, "lookup")


def _reciprocity_applies(policy: Policy, requester_type: str, purpose: str, basis: str) -> bool:
    """True when some holder type would be shown to this requester only after registering."""
    return any(
        decision.allowed and decision.requires_registration
        for decision in (policy.decide(DecisionRequest(requester_type, holder, purpose, basis))
                         for holder in policy.org_types)
    )


def handle_key(core: Core, broker_epoch: int) -> bytes:
    """The key of match handles, derived from the broker's key ``b`` of the look-up's epoch
    (once per epoch)."""
    return core.keystore.derive("broker", broker_epoch, b"broker match handle v1")


def match_handle(key: bytes, lookup_id: str, involvement_id: str) -> str:
    """An opaque name for a match, valid for this look-up only (128 bits, base64url).

    Another organisation's involvement id is stable; handing it out would let an asker link
    separate look-ups to one holder even where the policy reveals nothing. The broker
    recomputes the handle from the look-up's audit event when contact is requested.
    """
    digest = hmac.new(key, f"{lookup_id}:{involvement_id}".encode(), "sha256")
    return base64.urlsafe_b64encode(digest.digest()[:16]).rstrip(b"=").decode("ascii")


def _disclose(candidate: Candidate, decision: Decision, handle: str) -> Match:
    """The match as far as the decision's ``reveal`` allows."""
    reveal = decision.reveal
    return Match(
        match_id=handle,
        matched_on=candidate.matched_on,
        reveal=reveal,
        org_type=candidate.org_type if reveal in ("organisation_type", "organisation") else None,
        organisation=candidate.organisation if reveal == "organisation" else None,
        contact=decision.contact,
        rule_id=decision.rule_ids[0],
    )


class _EvidenceFields(TypedDict):
    statute: str | None
    consent_reference: str | None
    justification: str | None


def _evidence(evidence: Evidence, policy: Policy | None = None,
              purpose: str | None = None) -> _EvidenceFields:
    """The evidence the auditor reviews, as audit fields. The statute and the consent reference
    are hashed, so only codes go in: the statute when it is one the policy lists for the
    purpose, the reference only when it is a record's id (issue 10: a BSN typed into either
    must never reach the hashed, never-erasable content). The justification is free text that
    may hold personal details: it is kept outside the hash (bound by its digest) and erased by
    retention, and a refused one is not kept at all. On the success path all were checked
    already (``policy`` is then not needed)."""
    statute, justification = evidence.statute, evidence.justification
    if policy is not None and purpose is not None:
        statute = policy.listed_statute(purpose, statute)
        justification = recordable_justification(justification)
    return _EvidenceFields(statute=statute,
                           consent_reference=consent_record_id(evidence.consent_reference),
                           justification=justification)
