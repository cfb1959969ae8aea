"""Who may open which page: one guard for the professional's and the staff's pages, and every
refused access an audit event of the account, named by its kind (professional, privacy officer,
auditor)."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from broker.core import Core
from broker.registry.models import Organisation
from broker.registry.services import RegistryService
from tests.web.oversight import AUDITOR, OFFICER, build, events
from tests.web.test_views import csrf, sign_in

# A professional's pages (their own forms and lists), none of them a staff member's.
PROFESSIONAL_PAGES = ("/check", "/register", "/involvements", "/consent", "/inbox")
ACTORS = {OFFICER: f"privacy_officer:{OFFICER}", AUDITOR: f"auditor:{AUDITOR}",
          "basisschool-1": "professional:basisschool-1"}


@pytest.fixture
def world(core: Core, registry: RegistryService) -> str:
    """The shared world (two organisations on one child, staff)."""
    return build(core, registry)


def school_id(core: Core) -> int:
    """The school's organisation id."""
    with core.session() as session:
        found = session.scalar(select(Organisation.id).filter_by(identifier="basisschool"))
    assert found is not None
    return found


@pytest.mark.parametrize("username", [OFFICER, AUDITOR])
@pytest.mark.usefixtures("world")
def test_staff_on_a_professionals_page_is_refused_and_audited(client: FlaskClient, core: Core,
                                                              username: str) -> None:
    sign_in(client, username)
    for path in PROFESSIONAL_PAGES:
        assert client.get(path).status_code == 403, path
    refused = events(core, "web:access_refused")
    assert [e.details for e in refused] == [
        {"method": "GET", "path": path, "needs": "professional"} for path in PROFESSIONAL_PAGES]
    assert {(e.actor, e.channel, e.outcome, e.organisation_id) for e in refused} == {
        (ACTORS[username], "web", "refused", None)}


@pytest.mark.parametrize(("username", "path", "needs"), [
    (OFFICER, "/auditor/log", "auditor"),
    (AUDITOR, "/officer/policy", "privacy_officer"),
])
@pytest.mark.usefixtures("world")
def test_staff_refused_a_staff_page_are_named_as_staff(client: FlaskClient, core: Core,
                                                       username: str, path: str, needs: str
                                                       ) -> None:
    sign_in(client, username)
    assert client.get(path).status_code == 403
    [event] = events(core, "web:access_refused")
    assert (event.actor, event.organisation_id, event.actor_role) == (
        ACTORS[username], None, "privacy_officer" if username == OFFICER else "auditor")
    assert event.details == {"method": "GET", "path": path, "needs": needs}


@pytest.mark.usefixtures("world")
def test_a_professional_refused_a_staff_page_acts_for_their_organisation(
        client: FlaskClient, core: Core) -> None:
    sign_in(client, "basisschool-1")
    assert client.get("/officer/policy").status_code == 403
    [event] = events(core, "web:access_refused")
    assert (event.actor, event.organisation_id) == (ACTORS["basisschool-1"], school_id(core))


@pytest.mark.usefixtures("world")
def test_a_staff_members_csrf_failure_names_them_as_staff(client: FlaskClient, core: Core
                                                          ) -> None:
    sign_in(client, OFFICER)
    csrf(client, "/officer/policy")
    assert client.post("/officer/policy/diff", data={"csrf": "forged"}).status_code == 400
    [event] = events(core, "web:csrf_refused")
    assert (event.actor, event.organisation_id) == (ACTORS[OFFICER], None)
