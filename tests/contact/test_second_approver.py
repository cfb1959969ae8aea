"""``require_second_approver``: under the shipped policy's ``vital-interest-breaks-the-glass``
rule, contact is granted only after two different professionals of the holder approve."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from broker.contact.services import ContactService, RequestView
from broker.core import Core
from broker.errors import BrokerError, Conflict
from broker.registry.lookups import Evidence, LookupService
from broker.registry.services import RegistryService
from tests.contact.glass import Glass, make_glass, make_members
from tests.factories import MOTHER_BSN, household, register
from tests.uow import committed


@pytest.fixture
def glass(core: Core, registry: RegistryService) -> Glass:
    """The vital-interest case."""
    return make_glass(core, registry)


def test_require_second_approver_one_approval_leaves_the_request_pending(glass: Glass) -> None:
    # The attack: one professional of the holder approved and the links were issued at once.
    asked = glass.ask()
    first = glass.decide(glass.ggz_1, asked.id)
    assert first.status == "pending"
    assert (first.approved_by, first.approvals_required) == (["ggz-1"], 2)
    assert glass.links() == 0
    (recorded,) = glass.events("contact:first_approval")
    assert recorded.obligations == ["require_second_approver"]
    assert recorded.details["request_id"] == asked.id
    assert glass.events("contact:approved") == []

    # The requester sees that it waits, not who approved.
    seen = committed(glass.core, ContactService).get(glass.wijkteam.actor, asked.id)
    assert (seen.status, seen.approved_by, seen.approvals_required) == ("pending", [], 2)

    # A second, different professional grants it: the links are issued.
    second = glass.decide(glass.ggz_2, asked.id)
    assert (second.status, second.approved_by) == ("approved", ["ggz-1", "ggz-2"])
    assert glass.links() == 2
    (approved,) = glass.events("contact:approved")
    assert approved.obligations == ["require_second_approver"]
    assert approved.details["approved_by"] == ["professional:ggz-1", "professional:ggz-2"]


def test_require_second_approver_the_same_person_twice_does_not_count(glass: Glass) -> None:
    asked = glass.ask()
    glass.decide(glass.ggz_1, asked.id)
    with pytest.raises(Conflict, match="different professional") as caught:
        glass.decide(glass.ggz_1, asked.id)
    assert "andere professional" in caught.value.message("nl")
    assert committed(glass.core, ContactService).get(
            glass.ggz_1.actor, asked.id).status == "pending"
    assert glass.links() == 0
    assert len(glass.events("contact:first_approval")) == 1


def test_require_second_approver_a_denial_by_either_ends_it(glass: Glass) -> None:
    asked = glass.ask()
    glass.decide(glass.ggz_1, asked.id)
    denied = glass.decide(glass.ggz_2, asked.id, approve=False)
    assert denied.status == "denied" and glass.links() == 0
    with pytest.raises(Conflict):
        glass.decide(glass.ggz_2, asked.id)

    again = glass.ask()
    assert glass.decide(glass.ggz_1, again.id, approve=False).status == "denied"
    with pytest.raises(Conflict):
        glass.decide(glass.ggz_2, again.id)
    assert glass.links() == 0


def test_a_rule_without_the_obligation_grants_on_one_approval(core: Core,
                                                             registry: RegistryService) -> None:
    # The neighbourhood team's own rule for youth care: one approval is enough.
    (wijkteam,) = make_members(registry, "wijkteam", "wijkteam")
    (jeugd,) = make_members(registry, "jeugd", "jeugdhulp")
    keys = household(core, bsn=(MOTHER_BSN,))
    register(registry, wijkteam, keys)
    register(registry, jeugd, keys)
    statute = Evidence(statute="jeugdwet_7_4_0")
    result = committed(core, LookupService).lookup(wijkteam.actor, pseudonyms=keys,
                                        purpose="care_coordination", basis="legal_task",
                                        evidence=statute)
    asked = committed(core, ContactService).request(
        wijkteam.actor, professional=wijkteam.username, lookup_id=result.lookup_id,
        match_id=result.matches[0].match_id, purpose="care_coordination", basis="legal_task",
        evidence=statute)
    assert asked.approvals_required == 1
    approved = committed(core, ContactService).decide(
            jeugd.actor, asked.id, professional=jeugd.username,
                                           approve=True)
    assert (approved.status, approved.approved_by) == ("approved", ["jeugd-1"])


def _at_once(calls: list[Callable[[], RequestView]]) -> list[RequestView | BrokerError]:
    """Run ``calls`` in threads released together; each one's view or domain error."""
    start = threading.Barrier(len(calls))
    results: list[RequestView | BrokerError] = [Conflict("not run")] * len(calls)

    def run(n: int) -> None:
        start.wait()
        try:
            results[n] = calls[n]()
        except BrokerError as error:
            results[n] = error

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_require_second_approver_two_approvals_at_once_issue_the_links_once(
        glass: Glass) -> None:
    for _ in range(3):  # each round is a new race
        asked = glass.ask()
        before = glass.links()
        results = _at_once([lambda i=asked.id: glass.decide(glass.ggz_1, i),
                            lambda i=asked.id: glass.decide(glass.ggz_2, i)])
        assert all(isinstance(r, RequestView) for r in results), results
        statuses = sorted(r.status for r in results if isinstance(r, RequestView))
        assert statuses == ["approved", "pending"]
        assert glass.links() == before + 2
    assert len(glass.events("contact:approved")) == 3
    assert len(glass.events("contact:first_approval")) == 3


def test_require_second_approver_the_same_person_twice_at_once_counts_once(
        glass: Glass) -> None:
    asked = glass.ask()
    results = _at_once([lambda: glass.decide(glass.ggz_1, asked.id),
                        lambda: glass.decide(glass.ggz_1, asked.id)])
    views = [r for r in results if isinstance(r, RequestView)]
    errors = [r for r in results if isinstance(r, BrokerError)]
    assert [v.status for v in views] == ["pending"]
    assert len(errors) == 1 and isinstance(errors[0], Conflict)
    assert glass.links() == 0 and len(glass.events("contact:first_approval")) == 1
    assert glass.decide(glass.ggz_2, asked.id).status == "approved"
