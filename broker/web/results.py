"""A look-up's result kept for the web session that asked (table ``web_results``).

The check form is answered by a redirect to the result page (POST-redirect-GET): reloading that
page shows the kept result and runs no second look-up (the audit log shows one).

Rules this module guarantees:

1. The kept result is what the page shows — the look-up's id, the match handles, kinds of key,
   the types and names the policy revealed, how contact can be had — and the form's choices a
   contact request needs, as codes and ids only: the purpose, the basis, a statute the policy
   lists and a consent record's id. Never an identifier, and never free text: a vital-interest
   justification is not kept (a contact request on it is given its own, at the request).
2. Only the session that asked can see it, and it goes with that session: at sign-out (every
   session of the account ends), and for a session that ended unseen (idle, too old) at the
   worker's housekeeping (:func:`broker.signin.sessions.forget_ended`), the row removed with
   its session by the table's ``ON DELETE CASCADE``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import select

from broker.core import UnitOfWork
from broker.policy.bases import consent_record_id
from broker.registry.results import LookupResult, Match
from broker.signin.models import WebResult
from broker.web.household import HouseholdInput


def _choices(uow: UnitOfWork, form: HouseholdInput) -> dict[str, str]:
    """The form's choices as codes and ids (rule 1)."""
    evidence = form.evidence()
    kept = {"purpose": form.purpose, "basis": form.basis,
            "statute": uow.policy().listed_statute(form.purpose, evidence.statute),
            "consent_reference": consent_record_id(evidence.consent_reference)}
    return {name: value for name, value in kept.items() if value}


def keep(uow: UnitOfWork, session_id: int, result: LookupResult, form: HouseholdInput) -> None:
    """Keep ``result`` (and the form's codes) for the session."""
    payload: dict[str, Any] = {
        "lookup_id": result.lookup_id,
        "matches": [asdict(m) for m in result.matches],
        "registration_required": result.registration_required,
        "policy_version": result.policy_version,
        "flagged_for_review": result.flagged_for_review,
        "form": _choices(uow, form),
    }
    uow.session.add(WebResult(session_id=session_id, lookup_id=result.lookup_id,
                              payload=payload, created_at=uow.now()))


def kept(uow: UnitOfWork, session_id: int, lookup_id: str
         ) -> tuple[LookupResult, dict[str, str]] | None:
    """The result the session kept under ``lookup_id`` with its form choices; None if none."""
    row = uow.session.scalar(select(WebResult).filter_by(session_id=session_id,
                                                         lookup_id=lookup_id))
    if row is None:
        return None
    data = row.payload
    matches = [Match(**{**m, "matched_on": tuple(m["matched_on"])}) for m in data["matches"]]
    result = LookupResult(data["lookup_id"], matches, data["registration_required"],
                          data["policy_version"], data["flagged_for_review"])
    return result, dict(data["form"])
