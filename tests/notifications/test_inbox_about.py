"""Who a new match is about is stored by reference — the registering organisation's id, its
involvement and the reveal level the policy allowed — never as a copied name: the name is read
when the inbox is read, and the message goes with the involvement it is about (or the one it is
for) when retention purges it. The API's inbox says the same ``about`` as the web's."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from nacl.signing import SigningKey
from sqlalchemy import text, update

from broker.audit.services import Actor
from broker.callers.keys import OrganisationKeys
from broker.cli.jobs import retain
from broker.core import Core
from broker.notifications.services import About, inbox
from broker.registry.models import INVOLVEMENT_ENDED, Involvement, Organisation
from tests.api.door import Door
from tests.api.live import Organisation as ApiOrganisation
from tests.factories import ORGS, register
from tests.notifications.conftest import World
from tests.uow import committed, in_uow

VT_NAME = ORGS["vt"][1]


def _stored(core: Core) -> str:
    """Everything the inbox table holds, as the database returns it."""
    with core.transaction() as connection:
        return repr(connection.execute(text("SELECT * FROM inbox_messages")).all())


def _purge_from_history(core: Core, public_id: str) -> None:
    """End ``public_id`` with a history already past its retention (what years would do)."""
    with core.transaction() as connection:
        connection.execute(update(Involvement).where(Involvement.public_id == public_id).values(
            state=INVOLVEMENT_ENDED, history_until=core.today() - timedelta(days=1)))


def test_a_new_match_stores_no_name_and_reads_the_current_one(world: World) -> None:
    register(world.registry, world.school, world.child)
    register(world.registry, world.vt, world.mother)
    assert VT_NAME not in _stored(world.core)
    with world.core.transaction() as connection:
        connection.execute(update(Organisation).where(Organisation.identifier == world.vt.org)
                           .values(name="Veilig Thuis Utrecht"))
    [entry] = in_uow(world.core, inbox, world.school.actor, world.school.username)
    assert entry.about == About("Veilig Thuis Utrecht", "veilig_thuis")


def test_the_message_goes_when_the_match_it_is_about_is_purged(world: World) -> None:
    register(world.registry, world.school, world.child)
    vt_case = register(world.registry, world.vt, world.mother)
    assert len(world.inbox()) == 1
    _purge_from_history(world.core, vt_case)
    assert retain(world.core)["purged"] == 1
    assert world.inbox() == []


def test_the_message_goes_when_the_involvement_it_is_for_is_purged(world: World) -> None:
    school_case = register(world.registry, world.school, world.child)
    register(world.registry, world.vt, world.mother)
    _purge_from_history(world.core, school_case)
    assert retain(world.core)["purged"] == 1
    assert world.inbox() == []


def test_the_api_inbox_says_who_as_the_web_inbox_does(world: World, app: Flask) -> None:
    register(world.registry, world.school, world.child)
    register(world.registry, world.vt, world.mother)
    key = SigningKey.generate()
    committed(world.core, OrganisationKeys).add(
        Actor.operator("test"), organisation=world.school.org, key_id="school-key-1",
        public_key=bytes(key.verify_key).hex())
    door = Door(app, ApiOrganisation(world.school.org, "school-key-1", key,
                                     world.school.username))
    answer = door.send("GET", f"/v1/inbox?professional={world.school.username}")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    [message] = answer.get_json()["messages"]
    assert message["about"] == {"organisation": VT_NAME, "org_type": "veilig_thuis"}
