"""The contact hand-over through the real HTTP stack, under the shipped policy: consent, a
request, the holder's decision, both links, revocation and consent withdrawal."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from broker.audit.services import Actor
from broker.core import Core
from tests.api.live import Organisation, call
from tests.conftest import SHIPPED_POLICY
from tests.factories import ADDRESS, CHILD_BSN, MOTHER_BSN


@pytest.fixture
def policy_path() -> Path:
    """The shipped policy: a school needs the holder's approval."""
    return SHIPPED_POLICY


def _keys(core: Core, *identifiers: str) -> list[dict[str, Any]]:
    from broker_primitives.identifiers import parse_household  # noqa: PLC0415

    from broker.api.schemas import b64url  # noqa: PLC0415

    bsns = [i for i in identifiers if i.isdigit()]
    addresses = [i for i in identifiers if not i.isdigit()]
    household = parse_household(bsn=bsns, address=addresses)
    return [{"category": p.category, "element": b64url(p.element), "key_epoch": p.oprf_epoch}
            for p in core.pseudonymise(Actor.operator("test"), household)]


def test_request_decide_open_revoke(core: Core, base: str,
                                    orgs: tuple[Organisation, Organisation],
                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    vt, school = orgs
    for org, keys, purpose in ((vt, _keys(core, MOTHER_BSN, ADDRESS), "safety_assessment"),
                               (school, _keys(core, CHILD_BSN, ADDRESS), "care_coordination")):
        registered = call(base, org, "POST", "/v1/involvements", {"involvements": [
            {"professional": org.professional, "purpose": purpose, "matching_keys": keys}]})
        assert registered.status_code == 201, registered.text
    consent = call(base, school, "POST", "/v1/consents", {
        "professional": school.professional, "matching_keys": _keys(core, CHILD_BSN),
        "given_by": "parent", "given_on": "2026-03-01",
        "valid_until": "2026-06-01", "purposes": ["care_coordination"]})
    assert consent.status_code == 201, consent.text
    consent_id = consent.json()["id"]
    found = call(base, school, "POST", "/v1/lookups", {
        "matching_keys": _keys(core, CHILD_BSN, ADDRESS), "purpose": "care_coordination",
        "basis": "consent", "consent_reference": consent_id,
        "professional": school.professional})
    assert found.status_code == 200, found.text
    (match,) = found.json()["matches"]
    assert (match["organisation"], match["contact"]) == (None, "approval")

    asked = call(base, school, "POST", "/v1/contact-requests", {
        "lookup_id": found.json()["lookup_id"], "match_id": match["match_id"],
        "professional": school.professional, "purpose": "care_coordination",
        "basis": "consent", "consent_reference": consent_id})
    assert asked.status_code == 201, asked.text
    request_id = asked.json()["id"]
    assert asked.json()["status"] == "pending"
    assert call(base, school, "POST", f"/v1/contact-requests/{request_id}/decision", {
        "professional": school.professional, "decision": "approve"}).status_code == 404

    decided = call(base, vt, "POST", f"/v1/contact-requests/{request_id}/decision", {
        "professional": vt.professional, "decision": "approve", "message": "Bel maar."})
    assert decided.status_code == 200, decided.text
    assert decided.json()["link_tokens"] == []  # tokens leave only through the GET
    # One approval is enough under the school's rule; only the holder sees who approved.
    assert (decided.json()["approvals_required"], decided.json()["approved_by"]) == (
        1, [vt.professional])
    (vt_token,) = call(base, vt, "GET", f"/v1/contact-requests/{request_id}").json()["link_tokens"]
    (school_token,) = call(base, school, "GET",
                           f"/v1/contact-requests/{request_id}").json()["link_tokens"]
    card = call(base, school, "GET", f"/v1/contact-links/{school_token}")
    assert card.status_code == 200, card.text
    assert (card.json()["name"], card.json()["phone"], card.json()["email"]) == (
        "P", None, None)  # the factory's professional has no phone; e-mail is not allowed
    assert call(base, vt, "GET", f"/v1/contact-links/{school_token}").status_code == 403
    assert call(base, school, "GET", f"/v1/contact-links/{'x' * 43}").status_code == 404

    revoked = call(base, vt, "DELETE", f"/v1/contact-links/{vt_token}")
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    assert call(base, vt, "GET", f"/v1/contact-links/{vt_token}").status_code == 403
    # Revoking ends the contact on both sides (issue 14): the school's link went with it.
    assert call(base, school, "GET", f"/v1/contact-links/{school_token}").status_code == 403

    withdrawn = call(base, school, "DELETE",
                     f"/v1/consents/{consent_id}?professional={school.professional}")
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["links_revoked"] == 0  # both were revoked already

    # A request refused for its signature is only counted (no path kept); the token stays out
    # of the audit log and of the counters.
    import httpx  # noqa: PLC0415

    assert httpx.get(f"{base}/v1/contact-links/{school_token}").status_code == 401
    with core.session() as session:
        from sqlalchemy import select  # noqa: PLC0415

        from broker.audit.models import AuditEvent  # noqa: PLC0415
        from broker.oversight.refusals import RefusalTally  # noqa: PLC0415

        stored = [str(d) for d in session.scalars(select(AuditEvent.details))]
        stored += [str(row) for row in session.execute(select(RefusalTally.__table__)).all()]
    assert any("signature-missing" in d for d in stored)
    assert not any(t in d for d in stored for t in (school_token, vt_token))

    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert school_token not in logged and vt_token not in logged
