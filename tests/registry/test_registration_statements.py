"""What a registration asks the database (issue 13: registrations ≥ 500/s): the registering
organisation is read once, its contact professional once; the contact's organisation is the one
already read, never loaded again."""

from __future__ import annotations

from sqlalchemy import event

from broker.core import Core
from broker.registry.services import RegistryService
from tests.factories import ADDRESS, MOTHER_BSN, household
from tests.registry.world import add_member
from tests.uow import committed


def test_a_registration_reads_its_organisation_and_contact_once(
        core: Core, registry: RegistryService) -> None:
    school, vt = add_member(registry, "school", "school"), add_member(registry, "vt",
                                                                      "veilig_thuis")
    keys = household(core, bsn=(MOTHER_BSN,), address=(ADDRESS,))
    committed(core, RegistryService).register_involvement(
        school.actor, organisation=school.org, professional=school.username, pseudonyms=keys,
        purpose="protection")
    statements: list[str] = []

    def seen(_connection: object, _cursor: object, statement: str, *_rest: object) -> None:
        statements.append(" ".join(statement.split()))

    event.listen(core.engine, "before_cursor_execute", seen)
    try:
        committed(core, RegistryService).register_involvement(
            vt.actor, organisation=vt.org, professional=vt.username, pseudonyms=keys,
            purpose="protection")
    finally:
        event.remove(core.engine, "before_cursor_execute", seen)
    reads = [s for s in statements if s.startswith("SELECT")]
    # Whole rows: the organisation by its code, once; the contact, once. (The other
    # organisations' columns it reads are the notified school's webhook and a type the core
    # caches.)
    assert len([s for s in reads if s.startswith("SELECT organisations.id,")]) == 1, reads
    assert len([s for s in reads if s.startswith("SELECT professionals.id,")]) == 1, reads
