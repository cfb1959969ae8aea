"""A web check's kept result (broker.web.results) holds codes and ids only — never the free text
typed with the look-up — and goes with its session: at sign-out, and for a session that ended
without one (idle, too old) at the worker's next housekeeping."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

from broker.cli.jobs import housekeep
from broker.core import Core
from broker.registry.services import RegistryService
from broker.signin.models import WebResult, WebSession
from tests.conftest import FakeClock
from tests.factories import CHILD_BSN, household, make_member, register
from tests.web.forms import household_fields
from tests.web.test_views import csrf, sign_in

JUSTIFICATION = ("Het kind is vandaag met letsel op school gekomen en de moeder is onbereikbaar; "
                 "overleg met de huisarts is dringend nodig.")
VITAL = {"purpose": "protection", "basis": "vital_interest", "justification": JUSTIFICATION}
LEGAL = {"purpose": "protection", "basis": "legal_task", "statute": "jeugdwet_7_1_1"}


@pytest.fixture
def world(core: Core, registry: RegistryService) -> None:
    """The school (asking) and Veilig Thuis registered on the child."""
    make_member(registry, "school")
    register(registry, make_member(registry, "vt"), household(core, bsn=(CHILD_BSN,)),
             purpose="protection")


def _check(client: FlaskClient, choices: dict[str, str]) -> str:
    answer = client.post("/check", data={**household_fields([CHILD_BSN]), **choices,
                                         "csrf": csrf(client, "/check")})
    assert answer.status_code == 303, answer.get_data(as_text=True)
    return str(answer.headers["Location"])


def _stored(core: Core) -> str:
    """Everything the web_results table holds, as the database returns it."""
    with core.transaction() as connection:
        return repr(connection.execute(text("SELECT * FROM web_results")).all())


def _count(core: Core, table: type[WebSession] | type[WebResult]) -> int:
    with core.session() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


@pytest.mark.usefixtures("world")
def test_the_kept_result_holds_no_free_text(client: FlaskClient, core: Core) -> None:
    sign_in(client, "basisschool-1")
    location = _check(client, VITAL)
    stored = _stored(core)
    assert _count(core, WebResult) == 1
    assert "letsel" not in stored and "huisarts" not in stored and CHILD_BSN not in stored
    with core.session() as session:
        kept = session.scalars(select(WebResult.payload)).one()
    assert set(kept["form"]) <= {"purpose", "basis", "statute", "consent_reference"}
    # The page is shown again from what was kept.
    page = client.get(location).get_data(as_text=True)
    assert "Zwaarwegend belang" in page and "letsel" not in page


@pytest.mark.usefixtures("world")
def test_a_vital_interest_contact_request_gives_its_own_justification(
        client: FlaskClient, core: Core) -> None:
    sign_in(client, "basisschool-1")
    page = client.get(_check(client, VITAL)).get_data(as_text=True)
    assert 'name="justification"' in page  # asked at the request, not taken from a kept copy
    form = {name: re.search(rf'name="{name}" value="([^"]+)"', page).group(1)  # type: ignore
            for name in ("lookup_id", "match_id")}
    without = client.post("/contact/request", data={**form, "csrf": csrf(client, "/check")})
    assert without.status_code == 200 and "onderbouwing" in without.get_data(as_text=True)
    asked = client.post("/contact/request", data={**form, "csrf": csrf(client, "/check"),
                                                  "justification": JUSTIFICATION})
    assert asked.status_code == 303, asked.get_data(as_text=True)


@pytest.mark.usefixtures("world")
def test_a_legal_task_contact_request_asks_no_justification(client: FlaskClient) -> None:
    sign_in(client, "basisschool-1")
    page = client.get(_check(client, LEGAL)).get_data(as_text=True)
    assert 'name="justification"' not in page


@pytest.mark.usefixtures("world")
def test_an_ended_sessions_result_goes_at_the_next_housekeeping(
        client: FlaskClient, core: Core, clock: FakeClock) -> None:
    sign_in(client, "basisschool-1")
    _check(client, LEGAL)
    assert (_count(core, WebSession), _count(core, WebResult)) == (1, 1)
    housekeep(core)
    assert (_count(core, WebSession), _count(core, WebResult)) == (1, 1)  # still live
    clock.now += timedelta(minutes=31)  # idle: the session has ended, nobody presents it again
    counts = housekeep(core)
    assert counts["web_sessions_ended"] == 1
    assert (_count(core, WebSession), _count(core, WebResult)) == (0, 0)


@pytest.mark.usefixtures("world")
def test_sign_out_removes_the_kept_result(client: FlaskClient, core: Core) -> None:
    sign_in(client, "basisschool-1")
    _check(client, LEGAL)
    client.post("/logout", data={"csrf": csrf(client, "/check")})
    assert (_count(core, WebSession), _count(core, WebResult)) == (0, 0)
