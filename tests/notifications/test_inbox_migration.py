"""Migration 0016 on a database with 0015's messages: the copied names are gone, a message for
an existing involvement is tied to it, one for an involvement no longer there is deleted; and
the way down works."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from broker.core import Core
from broker.migrate import alembic_config, current_revision, upgrade
from tests.factories import ORGS, register
from tests.notifications.conftest import World


def test_0016_drops_copied_names_and_ties_messages_to_their_involvement(world: World) -> None:
    core: Core = world.core
    school_case = register(world.registry, world.school, world.child)
    command.downgrade(alembic_config(core.engine), "0015")
    insert = text("INSERT INTO inbox_messages (professional_id, kind, reference, created_at, "
                  "about_organisation, about_type) SELECT professional_id, :kind, :reference, "
                  "CURRENT_TIMESTAMP, :name, 'veilig_thuis' FROM involvements "
                  "WHERE public_id = :case")
    with core.engine.begin() as connection:
        for kind, reference in (("new_match", school_case), ("new_match", "gone-involvement"),
                                ("decision", "some-request")):
            connection.execute(insert, {"kind": kind, "reference": reference,
                                        "name": ORGS["vt"][1], "case": school_case})
    upgrade(core.engine, "0016")
    assert current_revision(core.engine) == "0016"
    with core.engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT m.kind, m.reference, i.public_id FROM inbox_messages m "
            "LEFT JOIN involvements i ON i.id = m.involvement_id ORDER BY m.id")).all()
        everything = repr(connection.execute(text("SELECT * FROM inbox_messages")).all())
    assert [tuple(row) for row in rows] == [("new_match", school_case, school_case),
                                            ("decision", "some-request", None)]
    assert ORGS["vt"][1] not in everything
