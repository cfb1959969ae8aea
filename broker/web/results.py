"""A look-up's result kept for the web session that asked (table ``web_results``).

The check form is answered by a redirect to the result page (POST-redirect-GET): reloading that
page shows the kept result and runs no second look-up (the audit log shows one). The kept
result is what the page shows — the look-up's id, the match handles, kinds of key, the types
and names the policy revealed, how contact can be had — and the form's choices that a contact
request needs (purpose, basis and its evidence); never an identifier. Only the session that
asked can see it, and it goes with that session.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import select

from broker.core import UnitOfWork
from broker.registry.results import LookupResult, Match
from broker.signin.models import WebResult
from broker.web.household import HouseholdInput


def keep(uow: UnitOfWork, session_id: int, result: LookupResult, form: HouseholdInput) -> None:
    """Keep ``result`` (and the form's non-identifying choices) for the session."""
    payload: dict[str, Any] = {
        "lookup_id": result.lookup_id,
        "matches": [asdict(m) for m in result.matches],
        "registration_required": result.registration_required,
        "policy_version": result.policy_version,
        "flagged_for_review": result.flagged_for_review,
        "form": {"purpose": form.purpose, "basis": form.basis,
                 **{k: v for k, v in asdict(form.evidence()).items() if v}},
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
