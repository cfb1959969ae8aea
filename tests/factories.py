"""Small builders for tests: organisations, professionals and pseudonymised households."""

from __future__ import annotations

from dataclasses import dataclass

from broker_primitives.blinding import Pseudonym
from broker_primitives.identifiers import parse_household

from broker.audit.services import Actor
from broker.core import Core
from broker.registry.lookups import Evidence, LookupService
from broker.registry.services import RegistryService
from tests.uow import committed

MOTHER_BSN = "111222333"
CHILD_BSN = "123456782"
ADDRESS = "1011 AB 12 A"

STATUTE = Evidence(statute="jeugdwet_7_1_1")

ORGS = {
    "school": ("basisschool", "Basisschool De Linde", "school"),
    "vt": ("veilig-thuis", "Veilig Thuis Midden", "veilig_thuis"),
    "wijkteam": ("wijkteam", "Wijkteam Noord", "wijkteam"),
}


@dataclass(frozen=True)
class Member:
    """A test organisation with one professional, and the actor acting for them."""

    org: str
    username: str
    actor: Actor


def make_member(registry: RegistryService, key: str) -> Member:
    """Create the organisation ``key`` of :data:`ORGS` and one professional in it."""
    identifier, name, org_type = ORGS[key]
    org = registry.create_organisation(Actor.operator("test"), identifier=identifier, name=name,
                                       org_type=org_type)
    person = registry.add_professional(
        Actor.operator("test"), organisation=identifier, username=f"{identifier}-1",
        name=f"Contact {name}", role="contactpersoon", phone="+31 20 555 0101",
        email=f"{identifier}@example.org", password="correct horse",
    )
    actor = Actor(actor=f"professional:{person.username}", channel="web",
                  organisation_id=org.id, role=person.role)
    return Member(identifier, person.username, actor)


def household(core: Core, *, bsn: tuple[str, ...] = (), address: tuple[str, ...] = (),
              person: tuple[str, ...] = ()) -> list[Pseudonym]:
    """Pseudonyms of a household, made the way the web form makes them (by an operator, so
    that no organisation's quota is charged)."""
    return core.pseudonymise(Actor.operator("test"),
                             parse_household(bsn=bsn, address=address, person=person))


def register(registry: RegistryService, member: Member, pseudonyms: list[Pseudonym],
             purpose: str = "care_coordination") -> str:
    """Register ``member`` on the household; returns the involvement id."""
    return registry.register_involvement(
        member.actor, organisation=member.org, professional=member.username,
        pseudonyms=pseudonyms, purpose=purpose,
    ).id


def lookup_orgs(registry: RegistryService, member: Member, pseudonyms: list[Pseudonym]
                ) -> dict[str, tuple[str, ...]]:
    """Organisation name -> matched_on, for a look-up by ``member``."""
    result = committed(registry.core, LookupService).lookup(
        member.actor, pseudonyms=pseudonyms, purpose="care_coordination", basis="legal_task",
        evidence=STATUTE)
    return {m.organisation or "?": m.matched_on for m in result.matches}
