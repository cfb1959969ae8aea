"""In-place key rotation: look-ups keep working before, during and after; resumable."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import ORMExecuteState, Session

from broker.audit.models import AuditSubject
from broker.audit.services import Actor
from broker.core import Core
from broker.errors import Conflict
from broker.pseudonyms.keys import KeyName
from broker.registry import rotation as rotation_module
from broker.registry.models import Involvement, MatchingKey
from broker.registry.rotation import (
    active_rotation,
    remaining_rows,
    run_rotation,
    start_or_resume,
)
from broker.registry.services import RegistryService
from tests.factories import (
    ADDRESS,
    CHILD_BSN,
    MOTHER_BSN,
    Member,
    household,
    lookup_orgs,
    make_member,
    register,
)

OPERATOR = Actor.operator("test")


def _populate(core: Core, registry: RegistryService) -> None:
    school, vt = make_member(registry, "school"), make_member(registry, "vt")
    register(registry, school, household(core, bsn=(CHILD_BSN,), address=(ADDRESS,)))
    register(registry, vt, household(core, bsn=(MOTHER_BSN, CHILD_BSN)))
    for n in range(6):  # more rows than one batch
        register(registry, vt, household(core, address=(f"10{n}1 AB {n + 1}",)))


def make_member_actor(registry: RegistryService) -> Member:
    """The school created by :func:`_populate`, as a member that can look up."""
    org = registry.get_organisation("basisschool")
    actor = Actor(actor="professional:basisschool-1", channel="web", organisation_id=org.id)
    return Member(org.identifier, "basisschool-1", actor)


def _finds_each_other(core: Core, registry: RegistryService) -> bool:
    found = lookup_orgs(registry, make_member_actor(registry), household(core, bsn=(CHILD_BSN,)))
    return found.get("Veilig Thuis Midden") == ("person",)


def _values(core: Core) -> list[bytes]:
    """Every stored matching-key value, registry and audit subjects (duplicates kept)."""
    with core.session() as session:
        return list(session.scalars(select(MatchingKey.value))) + list(
            session.scalars(select(AuditSubject.value)))


@pytest.mark.parametrize("which", ["oprf", "broker"])
def test_rotation_rekeys_in_place_and_lookups_still_match(
    core: Core, registry: RegistryService, which: KeyName
) -> None:
    _populate(core, registry)
    before = _values(core)
    rotation, resumed = start_or_resume(core, OPERATOR, which, grace=0)
    assert not resumed
    assert (rotation.from_epoch, rotation.to_epoch) == (1, 2)
    total = remaining_rows(core, rotation)
    assert total == len(before)
    assert run_rotation(core, OPERATOR, rotation, batch_size=3) == total
    after = _values(core)
    assert set(after).isdisjoint(before)
    assert len(after) == len(before)
    assert len(set(after)) == len(set(before))  # equal identifiers stay equal
    with core.session() as session:
        assert active_rotation(session) is None
    assert core.keystore.current_epoch(which) == 2
    assert _finds_each_other(core, registry)


def test_crash_halfway_keeps_matching_and_resumes(core: Core, registry: RegistryService) -> None:
    _populate(core, registry)
    rotation, _ = start_or_resume(core, OPERATOR, "broker", grace=0)
    total = remaining_rows(core, rotation)
    done = run_rotation(core, OPERATOR, rotation, batch_size=2, max_batches=2)
    assert done == 4
    assert remaining_rows(core, rotation) == total - 4
    # Mid-rotation the table holds both epochs, and look-ups still find everyone.
    assert _finds_each_other(core, registry)
    register(registry, make_member(registry, "wijkteam"), household(core, bsn=(CHILD_BSN,)))

    with pytest.raises(Conflict):
        start_or_resume(core, OPERATOR, "oprf", grace=0)
    resumed_rotation, resumed = start_or_resume(core, OPERATOR, "broker", grace=0)
    assert resumed and resumed_rotation == rotation
    run_rotation(core, OPERATOR, resumed_rotation, batch_size=2)
    assert remaining_rows(core, rotation) == 0
    assert _finds_each_other(core, registry)
    with core.session() as session:
        assert set(session.scalars(select(MatchingKey.broker_epoch))) == {2}
    school = make_member_actor(registry)
    found = lookup_orgs(registry, school, household(core, bsn=(CHILD_BSN,)))
    assert "Wijkteam Noord" in found  # registered mid-rotation, found after it


def test_two_rotations_in_a_row(core: Core, registry: RegistryService) -> None:
    _populate(core, registry)
    for which in ("oprf", "broker", "oprf"):
        rotation, _ = start_or_resume(core, OPERATOR, which, grace=0)  # type: ignore[arg-type]
        run_rotation(core, OPERATOR, rotation)
    assert core.keystore.current_epoch("oprf") == 3
    assert _finds_each_other(core, registry)


def test_a_row_committed_at_the_old_epoch_after_the_last_batch_is_not_stranded(
    core: Core, registry: RegistryService
) -> None:
    _populate(core, registry)
    rotation, _ = start_or_resume(core, OPERATOR, "broker", grace=0)
    total = remaining_rows(core, rotation)
    run_rotation(core, OPERATOR, rotation, batch_size=total, max_batches=2)  # not finished
    assert remaining_rows(core, rotation) == 0
    # A registration that made its keys before the new key existed commits only now.
    late = core.matching.to_stored_many(household(core, bsn=("999999990",)), epochs=(1, 1))
    with core.session() as session:
        involvement = session.scalars(select(Involvement)).first()
        assert involvement is not None
        session.add(MatchingKey(involvement_id=involvement.id, category="person",
                                value=late[0].value, oprf_epoch=1, broker_epoch=1))
    assert remaining_rows(core, rotation) == 1
    # Finishing re-counts under the same transaction and re-keys what came late.
    factor = core.matching.rotation_factor(rotation)
    assert rotation_module._finish(core, OPERATOR, rotation, factor, total) == 1
    assert remaining_rows(core, rotation) == 0
    with core.session() as session:
        assert active_rotation(session) is None


def test_each_batch_carries_on_after_the_last_id_of_the_one_before(
    core: Core, registry: RegistryService
) -> None:
    """So that a batch at the end of a table costs what one at its start does: it does not walk
    past the rows re-keyed already (scripts/bench --scale measured 270 ms growing to 763 ms a
    batch over 10⁶ rows when every batch started from the first id)."""
    _populate(core, registry)
    with core.session() as session:
        ids = sorted(session.scalars(select(MatchingKey.id)))
    bounds: list[int] = []

    def watch(state: ORMExecuteState) -> None:
        sql = str(state.statement.compile(compile_kwargs={"literal_binds": True}))
        if "FOR UPDATE" in sql.upper() or "matching_keys.broker_epoch =" in sql:
            bounds.extend(int(n) for n in re.findall(r"matching_keys\.id > (\d+)", sql))

    rotation, _ = start_or_resume(core, OPERATOR, "broker", grace=0)
    event.listen(Session, "do_orm_execute", watch)
    try:
        run_rotation(core, OPERATOR, rotation, batch_size=3)
    finally:
        event.remove(Session, "do_orm_execute", watch)
    # 0, then the last id of each batch of 3, and of a last, partial batch (the empty batch
    # that ends the table starts after it).
    walk = [0, *ids[2::3], *([ids[-1]] if len(ids) % 3 else [])]
    assert bounds[: len(walk)] == walk
    with core.session() as session:
        assert set(session.scalars(select(MatchingKey.broker_epoch))) == {2}
