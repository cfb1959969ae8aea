"""Look-ups: who else is involved with this household, as far as the policy lets the asker know.

Rules this module guarantees:

- The asker is the actor's organisation, as authenticated by the door; it is never a match.
- One statement, driven by the matching-key index, finds every active involvement sharing a
  key; whether the asker is registered itself comes from the same rows, so the work done does
  not depend on what the policy will disclose.
- The purpose and the legal basis are codes of the policy, and the basis carries what the policy
  demands of it (a consent reference, a statute, a written justification of minimum length).
  A look-up refused for that is itself audited (``lookup:refused``), then reported.
- On the ``consent`` basis the reference must name a consent record of the asker's organisation,
  in force, for the purpose, sharing a matching key with the household asked about (checked in
  the look-up's transaction, :mod:`broker.registry.consents`); otherwise the look-up is refused
  and audited. Matches of a holder type the consent does not reach are withheld.
- Every other organisation's active involvement sharing a key is put to the policy engine
  (requester type × holder type × purpose × basis). Only allowed ones are disclosed, each to the
  level of its rule's ``reveal``; default deny. Where the rule demands reciprocity, the match is
  disclosed only when the asker's organisation is registered on the household itself.
- The disclosure and its audit event (policy version, deciding rules, flags) are one transaction.
- Every look-up is counted for same-day misuse in that transaction (:mod:`broker.audit.misuse`).
- A match says whether it matched on a person or an address, never which identifier.
"""

from __future__ import annotations

import base64
import hmac
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import NoReturn, TypedDict, cast

from sqlalchemy import Connection, bindparam, select

from broker.audit.misuse import count_lookup
from broker.audit.services import Actor, Subject, record_event, time_ordered_uuid
from broker.core import Core
from broker.db import Prepared
from broker.errors import Forbidden, ValidationError
from broker.policy import Decision, DecisionRequest, Policy
from broker.policy.bases import consent_record_id
from broker.pseudonyms.matching import Category, Pseudonym, StoredKey, unique_values
from broker.registry.consents import ConsentRefused, ConsentScope, consent_in_force
from broker.registry.models import INVOLVEMENT_ACTIVE, Involvement, MatchingKey, Organisation
from broker.registry.services import NewInvolvement, RegistryService
from broker.registry.validation import MAX_KEYS_PER_INVOLVEMENT, require_known
from broker.registry.views import LookupResult, Match

# Built once (see Prepared): every look-up runs these.
MATCHES = Prepared(
    select(
        Involvement.id, MatchingKey.category, Involvement.public_id,
        Involvement.organisation_id, Organisation.org_type, Organisation.name,
    )
    .join(Involvement, Involvement.id == MatchingKey.involvement_id)
    .join(Organisation, Organisation.id == Involvement.organisation_id)
    .where(
        MatchingKey.value.in_(bindparam("values", expanding=True)),
        Involvement.state == INVOLVEMENT_ACTIVE,
        Involvement.ends_on >= bindparam("today"),
    ),
    expanding=["values"],
)


@dataclass(frozen=True)
class Evidence:
    """What carries the legal basis: a consent reference, a statute, a written justification."""

    consent_reference: str | None = None
    statute: str | None = None
    justification: str | None = None


@dataclass(frozen=True)
class _Candidate:
    involvement_id: str
    matched_on: tuple[Category, ...]
    org_type: str
    organisation: str


class LookupService:
    """Look-ups, filtered by the sharing policy and audited."""

    def __init__(self, core: Core) -> None:
        self.core = core

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
        request_key: str | None = None,
    ) -> LookupResult:
        """Who else is involved with the household of ``pseudonyms``?

        ``on_behalf_of`` names the professional asking (an active member of the actor's
        organisation). ``register`` registers the organisation's own involvement first
        (reciprocity); it happens only after every check of the look-up itself has passed, so a
        refused look-up registers nothing.

        The hot path: one prepared SELECT (the matches and the asker's own registration), the
        policy's compiled table, and one audit event, on a plain connection.
        """
        org_id = actor.organisation_id
        if org_id is None:
            raise Forbidden(
                "A look-up is made on behalf of an organisation; sign in as its professional.",
                "Een raadpleging gebeurt namens een organisatie; log in als haar professional.",
            )
        if not 1 <= len(pseudonyms) <= MAX_KEYS_PER_INVOLVEMENT:
            raise ValidationError(
                f"Give between 1 and {MAX_KEYS_PER_INVOLVEMENT} identifiers of the household.",
                f"Geef tussen 1 en {MAX_KEYS_PER_INVOLVEMENT} gegevens van het huishouden.",
            )
        policy = self.core.policy()
        purpose = require_known(purpose, policy.purposes, "purpose", "doel")
        basis = require_known(basis, policy.bases, "legal basis", "grondslag")
        registry = RegistryService(self.core)
        if on_behalf_of is not None:
            registry.check_member(actor, on_behalf_of)
            actor = actor.acting_for(on_behalf_of)
        self._check_basis(actor, policy, purpose, basis, evidence)
        try:
            if register is not None:
                if basis == "consent":  # a look-up refused for its consent registers nothing
                    with self.core.transaction() as connection:
                        _, values, _ = _household(self.core, connection, pseudonyms)
                        self._consent(connection, org_id, values, purpose, basis, evidence)
                registry.register_involvements(
                    actor, organisation=registry.organisation_code(org_id), items=[register],
                    request_key=request_key)
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
        with self.core.transaction() as connection:
            requester_type = self.core.org_type(connection, org_id)
            variants, values, epochs = _household(self.core, connection, pseudonyms)
            consent = self._consent(connection, org_id, values, purpose, basis, evidence)
            # Whether reciprocity applies depends on the policy only, never on what matched,
            # so an unregistered asker learns nothing about who is involved.
            reciprocal = _reciprocity_applies(policy, requester_type, purpose, basis)
            # One statement finds the others and the asker's own registration alike, so the
            # work (and the time) does not depend on what matched.
            candidates, registered = self._candidates(connection, values, org_id, today)
            lookup_id = time_ordered_uuid()
            handle_key = self._handle_key(epochs[1])
            matches, decided, shown = [], [], []
            withheld_policy = withheld_reciprocity = withheld_consent = 0
            for candidate in candidates:
                decision = policy.decide(
                    DecisionRequest(requester_type, candidate.org_type, purpose, basis))
                if not decision.allowed:
                    withheld_policy += 1
                elif consent is not None and not consent.reaches(candidate.org_type):
                    withheld_consent += 1
                elif decision.requires_registration and not registered:
                    withheld_reciprocity += 1
                else:
                    matches.append(_disclose(candidate, decision,
                                             match_handle(handle_key, lookup_id,
                                                          candidate.involvement_id)))
                    decided.append(decision)
                    shown.append(candidate.involvement_id)
            flagged = basis == "vital_interest" or any(
                "flag_for_review" in d.obligations for d in decided)
            record_event(
                connection, actor, "lookup:performed", event_id=lookup_id, purpose=purpose,
                legal_basis=basis, policy_version=policy.version,
                rule_id=",".join(sorted({d.rule_ids[0] for d in decided})) or None,
                obligations={o for d in decided for o in d.obligations},
                vital_interest=basis == "vital_interest",
                subjects=[Subject(k.category, k.value, k.oprf_epoch, k.broker_epoch)
                          for k in (group[0] for group in variants)],
                details={
                    "match_count": len(matches),
                    "matched_involvements": shown,
                    "withheld_by_policy": withheld_policy,
                    "withheld_for_reciprocity": withheld_reciprocity,
                    "withheld_by_consent": withheld_consent,
                    "flag_for_review": flagged,
                    "handle_epoch": epochs[1],
                },
                **_evidence(evidence),
            )
            count_lookup(connection, self.core, actor, org_id, lookup_id, fishing=not registered)
        return LookupResult(lookup_id, matches, reciprocal and not registered, policy.version,
                            flagged)

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
                         ValidationError("; ".join(p.message("en") for p in problems),
                                         "; ".join(p.message("nl") for p in problems),
                                         code="basis"))

    def _consent(self, connection: Connection, org_id: int, values: list[bytes], purpose: str,
                 basis: str, evidence: Evidence) -> ConsentScope | None:
        """On the consent basis, the record that carries this look-up (ConsentRefused when
        none does); None on any other basis."""
        if basis != "consent":
            return None
        return consent_in_force(connection, organisation_id=org_id,
                                reference=evidence.consent_reference or "", purpose=purpose,
                                household=values, today=self.core.today())

    def _refuse(self, actor: Actor, policy: Policy, purpose: str, basis: str,
                evidence: Evidence, reason: str, refusal: ValidationError) -> NoReturn:
        """Audit a refused look-up (``lookup:refused``, committed), then raise ``refusal``."""
        with self.core.transaction() as connection:
            record_event(
                connection, actor, "lookup:refused", outcome="refused", purpose=purpose,
                legal_basis=basis, policy_version=policy.version, reason=reason,
                vital_interest=basis == "vital_interest",
                details={"flag_for_review": basis == "vital_interest"},
                **_evidence(evidence),
            )
        raise refusal

    @staticmethod
    def _candidates(
        connection: Connection, values: list[bytes], own_organisation_id: int, today: date
    ) -> tuple[list[_Candidate], bool]:
        """Other organisations' active involvements sharing a key, and whether the asker's
        own organisation is registered on the household too."""
        rows = MATCHES.all(connection, {"values": values, "today": today})
        categories: dict[int, set[Category]] = defaultdict(set)
        details: dict[int, tuple[str, str, str]] = {}
        registered = False
        for involvement_id, category, public_id, organisation_id, org_type, org_name in rows:
            if organisation_id == own_organisation_id:
                registered = True  # never a match: the caller's own organisation
                continue
            categories[involvement_id].add(cast(Category, category))
            details[involvement_id] = (public_id, org_type, org_name)
        candidates = [
            _Candidate(public_id, tuple(sorted(categories[i], reverse=True)), org_type, name)
            for i, (public_id, org_type, name) in sorted(details.items())
        ]
        return candidates, registered


def _household(core: Core, connection: Connection, pseudonyms: Sequence[Pseudonym]
               ) -> tuple[list[list[StoredKey]], list[bytes], tuple[int, int]]:
    """Per pseudonym its stored forms, every distinct value to search, and the key epochs
    they were made at (see MatchingKeys.snapshot)."""
    rotation, epochs = core.matching.snapshot(connection)
    variants = core.matching.search_values(pseudonyms, rotation, epochs)
    return variants, unique_values(v for group in variants for v in group), epochs


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


def _disclose(candidate: _Candidate, decision: Decision, handle: str) -> Match:
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


def _evidence(evidence: Evidence) -> _EvidenceFields:
    """The evidence the auditor reviews, as audit fields: the statute and the consent reference
    are hashed (the reference only when it is a record's id, never free text); the
    justification is free text that may hold personal details, so it is kept outside the hash
    (bound by its digest) and erased by retention."""
    return _EvidenceFields(statute=evidence.statute,
                           consent_reference=consent_record_id(evidence.consent_reference),
                           justification=evidence.justification)
