"""Issue 10, item 10: no identifier in free text. A BSN typed into the statute or the
justification of a look-up or a contact request is refused, and the event that records the
refusal holds neither: the statute is a code of the policy or nothing, a refused justification
is not kept at all (not even as an erasable detail)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from broker.audit.models import AuditEvent
from broker.contact.services import ContactService
from broker.core import Core
from broker.errors import ValidationError
from broker.registry.lookups import Evidence, LookupService
from broker.registry.services import RegistryService
from tests.conftest import SHIPPED_POLICY
from tests.factories import ADDRESS, MOTHER_BSN, household, make_member, register
from tests.uow import committed

BSN = "111222333"
JUSTIFICATION = ("De moeder is in acuut gevaar; haar partner dreigt en de kinderen zijn thuis. "
                 "Overleg met de behandelaar is nu nodig om de veiligheid te wegen.")


@pytest.fixture
def policy_path() -> Path:
    """Under the policy we ship."""
    return SHIPPED_POLICY


def _everything_stored(core: Core) -> str:
    """Every stored field of every audit event, as text."""
    with core.session() as session:
        events = session.scalars(select(AuditEvent)).all()
        return "\n".join(repr({c.name: getattr(e, c.name) for c in AuditEvent.__table__.columns})
                         for e in events)


@pytest.mark.parametrize("evidence", [
    Evidence(statute=f"Wmo, BSN {BSN}"),
    Evidence(statute=BSN),
])
def test_a_bsn_typed_as_statute_never_reaches_the_log(core: Core, registry: RegistryService,
                                                       evidence: Evidence) -> None:
    wijkteam = make_member(registry, "wijkteam")
    with pytest.raises(ValidationError) as refused:
        committed(core, LookupService).lookup(
                wijkteam.actor, pseudonyms=household(core, address=(ADDRESS,)),
                                   purpose="safety_assessment", basis="legal_task",
                                   evidence=evidence)
    assert "wmo2015_5_2_6" in refused.value.message("en")  # it says what to pick
    assert BSN not in refused.value.message("en") + refused.value.message("nl")
    stored = _everything_stored(core)
    assert "lookup:refused" in stored and BSN not in stored


def test_a_bsn_in_a_justification_is_refused_and_not_kept(core: Core,
                                                          registry: RegistryService) -> None:
    wijkteam = make_member(registry, "wijkteam")
    with pytest.raises(ValidationError) as refused:
        committed(core, LookupService).lookup(
            wijkteam.actor, pseudonyms=household(core, address=(ADDRESS,)),
            purpose="safety_assessment", basis="vital_interest",
            evidence=Evidence(justification=f"{JUSTIFICATION} Moeder BSN {BSN}."))
    assert "burgerservicenummer" in refused.value.message("nl")
    stored = _everything_stored(core)
    assert "lookup:refused" in stored and BSN not in stored and "acuut gevaar" not in stored


def test_a_contact_request_with_a_bsn_as_statute_is_refused_without_it(
        core: Core, registry: RegistryService) -> None:
    wijkteam, vt = make_member(registry, "wijkteam"), make_member(registry, "vt")
    register(registry, vt, household(core, bsn=(MOTHER_BSN,), address=(ADDRESS,)),
             purpose="protection")
    keys = household(core, address=(ADDRESS,))
    register(registry, wijkteam, keys)  # reciprocity: registered on the household itself
    found = committed(core, LookupService).lookup(wijkteam.actor, pseudonyms=keys,
                                       purpose="safety_assessment", basis="legal_task",
                                       evidence=Evidence(statute="wmo2015_5_2_6"))
    (match,) = found.matches
    with pytest.raises(ValidationError):
        committed(core, ContactService).request(
            wijkteam.actor, professional=wijkteam.username, lookup_id=found.lookup_id,
            match_id=match.match_id, purpose="safety_assessment", basis="legal_task",
            evidence=Evidence(statute=BSN))
    stored = _everything_stored(core)
    assert "'outcome': 'refused'" in stored and BSN not in stored
