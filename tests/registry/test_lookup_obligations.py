"""Obligations at the look-up stage are carried out, and the audit event lists only those.

Reproduces issue 10, item 2: a look-up under a ``notify_holder`` rule left the holders' inboxes
unchanged while its audit event listed the obligation (and ``require_second_approver``, which
belongs to the contact decision) as carried out.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from broker_primitives.blinding import Pseudonym

from broker.core import Core
from broker.errors import ValidationError
from broker.registry.lookups import Evidence, LookupService
from broker.registry.results import LookupResult
from broker.registry.services import RegistryService
from tests.conftest import SHIPPED_POLICY
from tests.factories import ADDRESS, MOTHER_BSN, Member, household, register
from tests.registry.world import (
    JUSTIFICATION,
    OPERATOR,
    add_auditor,
    add_member,
    event,
    inboxes,
    last_event,
    new_messages,
    webhook_payloads,
)
from tests.uow import committed


@pytest.fixture
def policy_path() -> Path:
    """The policy we ship."""
    return SHIPPED_POLICY


def _ask(core: Core, member: Member, keys: list[Pseudonym], purpose: str = "safety_assessment",
         basis: str = "legal_task", statute: str = "wmo2015_5_2_6") -> LookupResult:
    evidence = (Evidence(justification=JUSTIFICATION) if basis == "vital_interest"
                else Evidence(statute=statute))
    return committed(core, LookupService).lookup(member.actor, pseudonyms=keys, purpose=purpose,
                                      basis=basis, evidence=evidence)


def test_notify_holder_tells_exactly_the_disclosed_holders(core: Core,
                                                           registry: RegistryService) -> None:
    vt, school, wijkteam = (add_member(registry, c, t) for c, t in
                            (("vt", "veilig_thuis"), ("school", "school"), ("wt", "wijkteam")))
    keys = household(core, bsn=(MOTHER_BSN,), address=(ADDRESS,))
    vt_involvement = register(registry, vt, keys, purpose="protection")
    register(registry, school, keys)
    register(registry, wijkteam, keys, purpose="safety_assessment")
    before = inboxes(core)
    # professionals-inform-veilig-thuis (notify_holder) shows Veilig Thuis; no rule shows the
    # school to the neighbourhood team for a safety assessment.
    result = _ask(core, wijkteam, keys)
    assert [m.rule_id for m in result.matches] == ["professionals-inform-veilig-thuis"]
    assert new_messages(before, inboxes(core)) == [("vt-1", "lookup_notice", vt_involvement)]
    performed = event(core, result.lookup_id)
    assert performed.obligations == ["notify_holder"]
    assert performed.details["holders_notified"] == [vt_involvement]
    assert performed.details["flag_for_review"] is False


def test_flag_for_review_without_notify_holder_tells_the_auditor_only(
    core: Core, registry: RegistryService
) -> None:
    add_auditor(registry)
    police, wijkteam = add_member(registry, "politie", "politie"), add_member(registry, "wt",
                                                                            "wijkteam")
    keys = household(core, address=(ADDRESS,))
    register(registry, wijkteam, keys, purpose="safety_assessment")
    before = inboxes(core)
    result = _ask(core, police, keys, statute="politiewet_3")
    assert [(m.rule_id, m.org_type) for m in result.matches] == [
        ("police-finds-chain", "wijkteam")]
    # police-finds-chain carries flag_for_review only: the auditor is told, the holder is not.
    assert new_messages(before, inboxes(core)) == [
        ("auditor-1", "review_flag", result.lookup_id)]
    performed = event(core, result.lookup_id)
    assert performed.obligations == ["flag_for_review"]
    assert performed.details["holders_notified"] == []
    assert performed.details["flag_for_review"] is True and result.flagged_for_review


def test_only_obligations_of_the_lookup_stage_are_listed(core: Core,
                                                          registry: RegistryService) -> None:
    """vital-interest-breaks-the-glass names require_second_approver too: that one is the
    contact decision's, so the look-up's event does not claim it."""
    add_auditor(registry)
    police, wijkteam = add_member(registry, "politie", "politie"), add_member(registry, "wt",
                                                                            "wijkteam")
    keys = household(core, address=(ADDRESS,))
    police_involvement = register(registry, police, keys, purpose="safety_assessment")
    register(registry, wijkteam, keys, purpose="safety_assessment")
    before = inboxes(core)
    result = _ask(core, wijkteam, keys, basis="vital_interest")
    assert [m.rule_id for m in result.matches] == ["vital-interest-breaks-the-glass"]
    assert new_messages(before, inboxes(core)) == [
        ("politie-1", "lookup_notice", police_involvement),
        ("auditor-1", "review_flag", result.lookup_id)]
    assert event(core, result.lookup_id).obligations == ["flag_for_review", "notify_holder"]


@pytest.mark.parametrize(
    ("holder_type", "holder_purpose", "asker_type", "basis", "statute", "learns"),
    [
        # Veilig Thuis may discover a neighbourhood team (veilig-thuis-investigates): all of it.
        ("veilig_thuis", "protection", "wijkteam", "legal_task", "wmo2015_5_2_6",
         {"asker_reveal": "organisation", "asker_type": "wijkteam",
          "asker_organisation": "asker"}),
        # The police may learn only the type of a neighbourhood team (police-finds-chain).
        ("politie", "safety_assessment", "wijkteam", "vital_interest", None,
         {"asker_reveal": "organisation_type", "asker_type": "wijkteam"}),
        # No rule lets a GP discover a school: the GP learns only that someone looked.
        ("huisarts", "safety_assessment", "school", "legal_task", "wmo2015_5_2_6",
         {"asker_reveal": "nothing"}),
    ],
)
def test_the_holder_learns_of_the_asker_no_more_than_the_policy_lets_it(
    core: Core, registry: RegistryService, holder_type: str, holder_purpose: str,
    asker_type: str, basis: str, statute: str | None, learns: dict[str, str],
) -> None:
    holder, asker = add_member(registry, "holder", holder_type), add_member(registry, "asker",
                                                                            asker_type)
    registry.set_webhook(OPERATOR, "holder", "https://holder.example/hook")
    keys = household(core, address=(ADDRESS,))
    involvement = register(registry, holder, keys, purpose=holder_purpose)
    register(registry, asker, keys, purpose="safety_assessment")
    sent = len(webhook_payloads(core))
    result = _ask(core, asker, keys, basis=basis, statute=statute or "")
    assert len(result.matches) == 1
    [payload] = webhook_payloads(core)[sent:]
    assert (payload["event"], payload["reference"]) == ("lookup_notice", involvement)
    assert payload["data"] == learns


def test_flag_for_review_on_vital_interest_even_when_nothing_matched(
    core: Core, registry: RegistryService
) -> None:
    add_auditor(registry)
    wijkteam = add_member(registry, "wt", "wijkteam")
    result = _ask(core, wijkteam, household(core, address=("9999 ZZ 1",)), basis="vital_interest")
    assert result.matches == [] and result.flagged_for_review
    performed = event(core, result.lookup_id)
    assert performed.obligations == ["flag_for_review"]
    assert ("auditor-1", "review_flag", result.lookup_id) in inboxes(core)


def test_a_refused_vital_interest_lookup_reaches_the_auditors(core: Core,
                                                              registry: RegistryService) -> None:
    add_auditor(registry)
    wijkteam = add_member(registry, "wt", "wijkteam")
    with pytest.raises(ValidationError, match="justification"):
        committed(core, LookupService).lookup(
                wijkteam.actor, pseudonyms=household(core, address=(ADDRESS,)),
                                   purpose="safety_assessment", basis="vital_interest",
                                   evidence=Evidence(justification="te kort"))
    refused = last_event(core, "lookup:refused")
    assert refused.details["flag_for_review"] is True
    assert refused.obligations == ["flag_for_review"]
    assert inboxes(core) == [("auditor-1", "review_flag", refused.event_id)]


def test_a_rolled_back_lookup_tells_no_one(core: Core, registry: RegistryService,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The notices are written in the look-up's transaction: when its audit event cannot be
    written, no holder and no auditor is told."""
    add_auditor(registry)
    vt, wijkteam = add_member(registry, "vt", "veilig_thuis"), add_member(registry, "wt",
                                                                         "wijkteam")
    keys = household(core, address=(ADDRESS,))
    register(registry, vt, keys, purpose="protection")
    register(registry, wijkteam, keys, purpose="safety_assessment")
    before = inboxes(core)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the audit log is unavailable")

    monkeypatch.setattr("broker.registry.lookups.record_event", broken)
    with pytest.raises(RuntimeError):
        _ask(core, wijkteam, keys, basis="vital_interest")
    assert inboxes(core) == before
