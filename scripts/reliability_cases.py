"""Mostly valid requests for every operation: schemathesis generates each case from the broker's
OpenAPI document, and :func:`seeded_cases` then, for a share of them, replaces what only the
broker can know with values that exist (scripts/reliability_seeds.py): real matching keys and
blinded elements, ids of involvements, contact requests, links and consents of the signing
organisation, its professional, a purpose with a basis and evidence the policy accepts, dates in
range and a fresh Idempotency-Key. The rest go out as schemathesis made them (schema-valid,
mostly refused on their merits or as invalid)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeAlias

from hypothesis import strategies as st
from reliability_seeds import Seeds
from schemathesis import APIOperation, Case

END_REASONS = ["concern_resolved", "transferred", "no_longer_involved"]
JUSTIFICATION = "Acute zorg om de veiligheid van een kind; overleg is nu nodig."

Operation: TypeAlias = APIOperation[Any, Any, Any, Any]
AnyCase: TypeAlias = Case[Any]
Seeder = Callable[[st.DrawFn, AnyCase, Seeds], None]


def _keys(draw: st.DrawFn, seeds: Seeds, index: int | None = None) -> list[dict[str, Any]]:
    """One to three matching keys of one real household (of household ``index``)."""
    if index is None:
        index = draw(st.integers(0, len(seeds.households) - 1))
    return draw(st.lists(st.sampled_from(seeds.households[index]), min_size=1, max_size=3,
                         unique_by=lambda key: str(key["element"])))


def _day(draw: st.DrawFn, seeds: Seeds, low: int, high: int) -> str:
    """A day ``low`` to ``high`` days from the broker's today."""
    return (seeds.today + timedelta(days=draw(st.integers(low, high)))).isoformat()


def _grounds(draw: st.DrawFn, seeds: Seeds, index: int) -> dict[str, Any]:
    """A purpose, a basis the policy accepts for it and the evidence that basis asks for (a
    consent: the one recorded on household ``index``)."""
    purpose = draw(st.sampled_from(sorted(seeds.policy.purposes)))
    bases, statutes = seeds.policy.purposes[purpose]
    basis = draw(st.sampled_from(bases))
    grounds: dict[str, Any] = {"purpose": purpose, "basis": basis}
    if basis == "consent":
        grounds["consent_reference"] = seeds.consents[index]
    elif seeds.policy.min_justification.get(basis, 1) > 1:
        grounds["justification"] = JUSTIFICATION
    else:
        grounds["statute"] = draw(st.sampled_from(statutes))
    return grounds


def _maybe(draw: st.DrawFn, body: dict[str, Any], name: str, value: Any) -> None:
    """``body[name] = value``, or not (an optional field left out)."""
    if draw(st.booleans()):
        body[name] = value


def evaluate(draw: st.DrawFn, case: AnyCase, seeds: Seeds) -> None:
    """Blinded elements of real identifiers."""
    body: dict[str, Any] = {"blinded_elements": draw(st.lists(st.sampled_from(seeds.blinded),
                                                              min_size=1, max_size=5))}
    case.body = body


def register(draw: st.DrawFn, case: AnyCase, seeds: Seeds) -> None:
    """One to three involvements on real households."""
    involvements = []
    for _ in range(draw(st.integers(1, 3))):
        entry = {"professional": seeds.signer.professional,
                 "purpose": draw(st.sampled_from(sorted(seeds.policy.purposes))),
                 "matching_keys": _keys(draw, seeds)}
        _maybe(draw, entry, "ends_on", _day(draw, seeds, 1, 150))
        involvements.append(entry)
    body: dict[str, Any] = {"involvements": involvements}
    case.body = body


def involvement(draw: st.DrawFn, case: AnyCase, seeds: Seeds) -> None:
    """One of the signer's involvements (GET, DELETE)."""
    case.path_parameters = {"involvement_id": draw(st.sampled_from(seeds.involvements))}


def patch_involvement(draw: st.DrawFn, case: AnyCase, seeds: Seeds) -> None:
    """Renew, change the contact or (seldom) end one of the signer's involvements."""
    involvement(draw, case, seeds)
    change = draw(st.sampled_from(["renew", "renew", "contact", "contact", "end"]))
    body: dict[str, Any] = (
        {"ends_on": _day(draw, seeds, 1, 150)} if change == "renew"
        else {"professional": seeds.signer.professional} if change == "contact"
        else {"state": "ended", "end_reason": draw(st.sampled_from(END_REASONS))})
    case.body = body


def lookup(draw: st.DrawFn, case: AnyCase, seeds: Seeds) -> None:
    """A look-up of a real household on grounds the policy accepts."""
    index = draw(st.integers(0, len(seeds.households) - 1))
    keys, grounds = _keys(draw, seeds, index), _grounds(draw, seeds, index)
    consented = seeds.households[index][0]  # the key the household's consent was given on
    if "consent_reference" in grounds and consented not in keys:
        keys = [consented, *keys[:2]]
    body = {"matching_keys": keys, **grounds}
    _maybe(draw, body, "professional", seeds.signer.professional)
    if draw(st.integers(0, 4)) == 0:
        body["register"] = {"professional": seeds.signer.professional}
        _maybe(draw, body["register"], "ends_on", _day(draw, seeds, 1, 150))
    case.body = body


def contact_request(draw: st.DrawFn, case: AnyCase, seeds: Seeds) -> None:
    """Contact with the holder of a real match, on the look-up's grounds."""
    lookup_id, match_id = draw(st.sampled_from(seeds.matches))
    case.body = {"lookup_id": lookup_id, "match_id": match_id, "purpose": "protection",
                 "basis": "legal_task", "statute": "jeugdwet_7_1_1",
                 "professional": seeds.signer.professional}


def get_contact_request(draw: st.DrawFn, case: AnyCase, seeds: Seeds) -> None:
    """A contact request the signer made or was asked."""
    case.path_parameters = {"request_id": draw(st.sampled_from(
        seeds.own_requests + seeds.requests_to))}


def decision(draw: st.DrawFn, case: AnyCase, seeds: Seeds) -> None:
    """Approve or deny a request made to the signer."""
    case.path_parameters = {"request_id": draw(st.sampled_from(seeds.requests_to))}
    body: dict[str, Any] = {"professional": seeds.signer.professional,
                            "decision": draw(st.sampled_from(["approve", "deny"]))}
    _maybe(draw, body, "message", "Bel gerust, ik ben de hele week bereikbaar.")
    case.body = body


def withdrawal(draw: st.DrawFn, case: AnyCase, seeds: Seeds) -> None:
    """Withdraw a request the signer made."""
    case.path_parameters = {"request_id": draw(st.sampled_from(seeds.own_requests))}
    body: dict[str, Any] = {"professional": seeds.signer.professional}
    case.body = body


def link(draw: st.DrawFn, case: AnyCase, seeds: Seeds) -> None:
    """A link token issued to the signer."""
    if seeds.link_tokens:
        case.path_parameters = {"token": draw(st.sampled_from(seeds.link_tokens))}


def consent(draw: st.DrawFn, case: AnyCase, seeds: Seeds) -> None:
    """Consent on a real household for purposes (and holder types) of the policy."""
    body: dict[str, Any] = {
            "professional": seeds.signer.professional, "matching_keys": _keys(draw, seeds),
            "given_by": draw(st.sampled_from(["person", "parent", "guardian"])),
            "given_on": _day(draw, seeds, -30, 0), "valid_until": _day(draw, seeds, 1, 365),
            "purposes": draw(st.lists(st.sampled_from(sorted(seeds.policy.purposes)),
                                      min_size=1, max_size=3, unique=True))}
    _maybe(draw, body, "holder_types", draw(st.lists(st.sampled_from(seeds.policy.org_types),
                                                     max_size=3, unique=True)))
    case.body = body


def withdraw_consent(draw: st.DrawFn, case: AnyCase, seeds: Seeds) -> None:
    """Withdraw one of the signer's consents."""
    case.path_parameters = {"consent_id": draw(st.sampled_from(seeds.consents))}
    case.query = {"professional": seeds.signer.professional}


def inbox(draw: st.DrawFn, case: AnyCase, seeds: Seeds) -> None:
    """The signer's professional's inbox."""
    del draw
    case.query = {"professional": seeds.signer.professional}


SEEDERS: dict[tuple[str, str], Seeder] = {
    ("POST", "/v1/pseudonyms/evaluate"): evaluate,
    ("POST", "/v1/involvements"): register,
    ("GET", "/v1/involvements/{involvement_id}"): involvement,
    ("PATCH", "/v1/involvements/{involvement_id}"): patch_involvement,
    ("DELETE", "/v1/involvements/{involvement_id}"): involvement,
    ("POST", "/v1/lookups"): lookup,
    ("POST", "/v1/contact-requests"): contact_request,
    ("GET", "/v1/contact-requests/{request_id}"): get_contact_request,
    ("POST", "/v1/contact-requests/{request_id}/decision"): decision,
    ("POST", "/v1/contact-requests/{request_id}/withdrawal"): withdrawal,
    ("GET", "/v1/contact-links/{token}"): link,
    ("DELETE", "/v1/contact-links/{token}"): link,
    ("POST", "/v1/consents"): consent,
    ("DELETE", "/v1/consents/{consent_id}"): withdraw_consent,
    ("GET", "/v1/inbox"): inbox,
}


def documents_idempotency(operation: Operation) -> bool:
    """Whether the document offers ``Idempotency-Key`` for ``operation``."""
    return any(p.name == "Idempotency-Key" for p in operation.headers)


def seeded_cases(operation: Operation, seeds: Seeds,
                 share: float) -> st.SearchStrategy[tuple[AnyCase, bool]]:
    """schemathesis' cases for ``operation``, about ``share`` of them seeded; each with
    whether it was. An operation without a seeder (a new one) goes out as generated."""
    seeder = SEEDERS.get((operation.method.upper(), operation.path))

    @st.composite
    def cases(draw: st.DrawFn) -> tuple[AnyCase, bool]:
        case = draw(operation.as_strategy())
        if seeder is None or draw(st.floats(0, 1)) >= share:
            return case, False
        seeder(draw, case, seeds)
        if documents_idempotency(operation):
            case.headers["Idempotency-Key"] = str(uuid.uuid4())  # never one drawn twice
        return case, True

    return cases()
