"""The registry's use cases: who finds whom, periods, history, purge, refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest
from broker_primitives import oprf
from broker_primitives.blinding import Pseudonym
from sqlalchemy import func, select

from broker.audit.models import AuditEvent, AuditSubject
from broker.audit.services import Actor
from broker.core import Core
from broker.errors import Conflict, Forbidden, NotFound, ValidationError
from broker.pseudonyms.matching import InvalidPseudonymError
from broker.registry.lookups import LookupService
from broker.registry.models import Involvement, MatchingKey
from broker.registry.periods import add_months
from broker.registry.services import RegistryService
from tests.conftest import FakeClock
from tests.factories import (
    ADDRESS,
    CHILD_BSN,
    MOTHER_BSN,
    STATUTE,
    household,
    lookup_orgs,
    make_member,
    register,
)
from tests.uow import committed


def counts(core: Core) -> dict[str, int]:
    """Rows per table, to prove a refused call wrote nothing."""
    with core.session() as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Involvement, MatchingKey, AuditEvent, AuditSubject)
        }


def test_household_members_find_each_other_and_address_matches(
    core: Core, registry: RegistryService
) -> None:
    school, vt, wijkteam = (make_member(registry, k) for k in ("school", "vt", "wijkteam"))
    register(registry, school, household(core, bsn=(CHILD_BSN,), address=(ADDRESS,)))
    register(registry, vt, household(core, bsn=(MOTHER_BSN, CHILD_BSN)))
    register(registry, wijkteam, household(core, address=("1011ab 12-a",)))

    assert lookup_orgs(registry, school, household(core, bsn=(CHILD_BSN,))) == {
        "Veilig Thuis Midden": ("person",)
    }
    assert lookup_orgs(registry, vt, household(core, bsn=(MOTHER_BSN,))) == {}
    assert lookup_orgs(registry, wijkteam, household(core, address=(ADDRESS,))) == {
        "Basisschool De Linde": ("address",)
    }
    both = lookup_orgs(registry, wijkteam, household(core, bsn=(CHILD_BSN,), address=(ADDRESS,)))
    assert both == {"Basisschool De Linde": ("person", "address"),
                    "Veilig Thuis Midden": ("person",)}


def test_lookup_never_returns_own_organisation(core: Core, registry: RegistryService) -> None:
    school = make_member(registry, "school")
    register(registry, school, household(core, bsn=(CHILD_BSN,)))
    assert lookup_orgs(registry, school, household(core, bsn=(CHILD_BSN,))) == {}


def test_lookup_is_audited_with_subjects_but_no_raw_identifier(
    core: Core, registry: RegistryService
) -> None:
    school, vt = make_member(registry, "school"), make_member(registry, "vt")
    register(registry, vt, household(core, bsn=(CHILD_BSN,)))
    result = committed(core, LookupService).lookup(
        school.actor, pseudonyms=household(core, bsn=(CHILD_BSN,)), purpose="protection",
        basis="legal_task", evidence=STATUTE)
    with core.session() as session:
        event = session.scalar(select(AuditEvent).filter_by(event_id=result.lookup_id))
        assert event is not None
        assert (event.event_type, event.action, event.purpose, event.legal_basis) == (
            "lookup:performed", "R", "protection", "legal_task")
        assert event.actor == school.actor.actor
        assert event.details["match_count"] == 1
        assert len(event.subjects) == 1
        assert CHILD_BSN not in repr(event.details)


def test_expired_involvement_is_not_found_and_purge_moves_it_to_history(
    core: Core, registry: RegistryService, clock: FakeClock
) -> None:
    school, vt = make_member(registry, "school"), make_member(registry, "vt")
    keys = household(core, bsn=(CHILD_BSN,))
    involvement_id = registry.register_involvement(
        vt.actor, organisation=vt.org, professional=vt.username, pseudonyms=keys,
        purpose="protection", ends_on=core.today() + timedelta(days=10),
    ).id
    assert lookup_orgs(registry, school, keys) == {"Veilig Thuis Midden": ("person",)}
    clock.now += timedelta(days=11)
    assert lookup_orgs(registry, school, keys) == {}

    assert registry.purge(vt.actor) == {"expired": 1, "purged": 0}
    info = registry.get_involvement(vt.actor, involvement_id)
    assert (info.state, info.end_reason) == ("ended", "expired")
    assert counts(core)["matching_keys"] == 1  # history keeps the keys for five years

    clock.now += timedelta(days=5 * 366)
    assert registry.purge(vt.actor) == {"expired": 0, "purged": 1}
    assert counts(core)["involvements"] == 0
    assert counts(core)["matching_keys"] == 0
    with pytest.raises(NotFound):
        registry.get_involvement(vt.actor, involvement_id)


def test_end_early_hides_from_lookups_and_cannot_be_renewed(
    core: Core, registry: RegistryService
) -> None:
    school, vt = make_member(registry, "school"), make_member(registry, "vt")
    keys = household(core, bsn=(CHILD_BSN,))
    involvement_id = register(registry, vt, keys)
    ended = registry.end_involvement(vt.actor, involvement_id, "concern_resolved")
    assert (ended.state, ended.ends_on) == ("ended", core.today())
    assert lookup_orgs(registry, school, keys) == {}
    with pytest.raises(Conflict):
        registry.renew_involvement(vt.actor, involvement_id)
    with pytest.raises(Conflict):
        registry.end_involvement(vt.actor, involvement_id)


def test_default_and_maximum_period(core: Core, registry: RegistryService) -> None:
    vt = make_member(registry, "vt")
    keys = household(core, bsn=(CHILD_BSN,))
    info = registry.register_involvement(vt.actor, organisation=vt.org, professional=vt.username,
                                         pseudonyms=keys, purpose="protection")
    assert info.ends_on == add_months(core.today(), 12)
    renewed = registry.renew_involvement(vt.actor, info.id, add_months(core.today(), 24))
    assert renewed.ends_on == add_months(core.today(), 24)
    before = counts(core)
    for bad_end in (add_months(core.today(), 24) + timedelta(days=1),
                    core.today() - timedelta(days=1)):
        with pytest.raises(ValidationError):
            registry.register_involvement(vt.actor, organisation=vt.org,
                                          professional=vt.username, pseudonyms=keys,
                                          purpose="protection", ends_on=bad_end)
        with pytest.raises(ValidationError):
            registry.renew_involvement(vt.actor, info.id, bad_end)
    assert counts(core) == before


def test_other_organisations_involvement_is_not_found(core: Core, registry: RegistryService
                                                      ) -> None:
    school, vt = make_member(registry, "school"), make_member(registry, "vt")
    involvement_id = register(registry, vt, household(core, bsn=(CHILD_BSN,)))
    with pytest.raises(NotFound):
        registry.get_involvement(school.actor, involvement_id)
    with pytest.raises(NotFound):
        registry.end_involvement(school.actor, involvement_id)


def test_refused_inputs_write_nothing(core: Core, registry: RegistryService) -> None:
    school, vt = make_member(registry, "school"), make_member(registry, "vt")
    keys = household(core, bsn=(CHILD_BSN,))
    before = counts(core)
    identity = Pseudonym("person", bytes(32), 1)
    not_a_point = Pseudonym("person", b"\xff" * 32, 1)
    stale = Pseudonym("person", keys[0].element, 7)
    core.keystore.create("oprf", 2)  # epoch 1 is now the previous one: converted, then refused
    previous_epoch_not_a_point = Pseudonym("person", b"\xff" * 32, 1)
    attempts = [
        lambda: register(registry, school, [identity]),
        lambda: register(registry, school, [not_a_point]),
        lambda: register(registry, school, [stale]),
        lambda: register(registry, school, [previous_epoch_not_a_point]),
        lambda: register(registry, school, []),
        lambda: register(registry, school, keys, purpose="Not A Slug!"),
        lambda: registry.register_involvement(
            school.actor, organisation=vt.org, professional=vt.username, pseudonyms=keys,
            purpose="protection"),
        lambda: registry.register_involvement(
            school.actor, organisation=school.org, professional=vt.username, pseudonyms=keys,
            purpose="protection"),
        lambda: registry.register_involvement(
            school.actor, organisation="nope", professional=school.username, pseudonyms=keys,
            purpose="protection"),
        lambda: committed(core, LookupService).lookup(school.actor, pseudonyms=[identity],
                                           purpose="protection", basis="legal_task",
                                           evidence=STATUTE),
        lambda: committed(core, LookupService).lookup(Actor.operator("no-org"), pseudonyms=keys,
                                           purpose="protection", basis="legal_task",
                                           evidence=STATUTE),
    ]
    for attempt in attempts:
        with pytest.raises((ValidationError, NotFound, Forbidden, InvalidPseudonymError)):
            attempt()
    # Nothing but the one audited refusal: the school named another organisation's professional.
    assert counts(core) == {**before, "audit_events": before["audit_events"] + 1}
    with core.session() as session:
        last = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert last is not None and (last.event_type, last.reason) == (
        "professional:acting_refused", "another_organisation")


def test_previous_oprf_epoch_is_converted(core: Core, registry: RegistryService) -> None:
    school, vt = make_member(registry, "school"), make_member(registry, "vt")
    register(registry, vt, household(core, bsn=(CHILD_BSN,)))
    old = household(core, bsn=(CHILD_BSN,))[0]
    core.keystore.create("oprf", 2)
    # A client that evaluated just before the new key took effect still finds the household.
    assert lookup_orgs(registry, school, [old]) == {}  # rows are still at epoch 1: not rotated
    k1, k2 = core.keystore.load("oprf", 1), core.keystore.load("oprf", 2)
    converted = core.matching.to_stored(old)
    assert converted.oprf_epoch == 2
    b = core.keystore.load("broker", 1)
    assert converted.value == oprf.scalar_mult(
        b, oprf.scalar_mult(oprf.rotation_factor(k1, k2), old.element))


def test_organisation_and_professional_validation(registry: RegistryService, core: Core) -> None:
    make_member(registry, "school")
    before = counts(core)
    with pytest.raises(Conflict):
        make_member(registry, "school")
    bad_professionals = [
        {"username": "x"}, {"email": "not-an-email"}, {"phone": "call me"},
        {"password": "short"}, {"name": " "},
    ]
    for bad in bad_professionals:
        fields = {"organisation": "basisschool", "username": "new-user", "name": "N",
                  "role": "r"} | bad
        with pytest.raises(ValidationError):
            registry.add_professional(
                Actor.operator("test"), **fields)  # type: ignore[arg-type]
    assert counts(core) == before
