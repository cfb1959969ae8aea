"""The web's refusals in the audit log (issue 11, item 7, first half): a failed CSRF check and a
rate limit are events of the signed-in professional, or counted per source network and minute
when nobody is signed in."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from broker.app import create_app
from broker.audit.models import AuditEvent
from broker.core import Core
from broker.notifications.notices import InboxNotices
from broker.oversight.refusals import flush_tallies
from broker.registry.models import Organisation
from broker.registry.services import RegistryService
from tests.conftest import FakeClock
from tests.factories import CHILD_BSN, household, make_member, register
from tests.web.test_views import csrf, sign_in

STRANGER = {"REMOTE_ADDR": "192.0.2.7"}


@pytest.fixture
def world(core: Core, registry: RegistryService) -> None:
    """A school and Veilig Thuis; Veilig Thuis is registered on the child."""
    make_member(registry, "school")
    register(registry, make_member(registry, "vt"), household(core, bsn=(CHILD_BSN,)))


def events(core: Core, event_type: str) -> list[AuditEvent]:
    """The audit events of one type, oldest first."""
    with core.session() as session:
        return list(session.scalars(select(AuditEvent).filter_by(event_type=event_type)
                                    .order_by(AuditEvent.seq)))


def school_id(core: Core) -> int:
    """The school's organisation id."""
    with core.session() as session:
        found = session.scalar(select(Organisation.id).filter_by(identifier="basisschool"))
    assert found is not None
    return found


def counted(core: Core, clock: FakeClock) -> list[AuditEvent]:
    """The counted refusals once the minute is over."""
    clock.now += timedelta(minutes=1, seconds=1)
    flush_tallies(core)
    return events(core, "auth:unauthenticated_refused")


@pytest.mark.usefixtures("world")
def test_a_signed_in_professionals_csrf_failure_is_an_event(client: FlaskClient, core: Core
                                                            ) -> None:
    sign_in(client, "basisschool-1")
    forged = client.post("/check", data={"p1-bsn": CHILD_BSN, "purpose": "care_coordination",
                                         "basis": "legal_task", "csrf": "forged"})
    assert forged.status_code == 400
    [event] = events(core, "web:csrf_refused")
    assert (event.actor, event.channel, event.outcome) == (
        "professional:basisschool-1", "web", "refused")
    assert event.organisation_id == school_id(core)
    assert event.details == {"method": "POST", "path": "/check"}
    assert CHILD_BSN not in str(event.details)
    assert events(core, "lookup:performed") == []


@pytest.mark.usefixtures("world")
def test_an_anonymous_csrf_failure_is_counted(client: FlaskClient, core: Core, clock: FakeClock
                                              ) -> None:
    csrf(client, "/login")
    for _ in range(3):
        refused = client.post("/login", data={"username": "basisschool-1", "password": "x"},
                              environ_overrides=STRANGER)
        assert refused.status_code == 400
    assert events(core, "web:csrf_refused") == []
    [event] = counted(core, clock)
    assert event.source_address == "192.0.2.0/24"
    assert event.details["reasons"] == {"web csrf": 3} and event.details["count"] == 3


@pytest.fixture
def limited(core: Core) -> Iterator[FlaskClient]:
    """A web app that allows 5 requests a minute per address and page."""
    narrow = Core(core.settings.with_overrides(api_ip_rate="5/minute"), clock=core.clock,
                  notices=InboxNotices())
    yield create_app(core=narrow, TESTING=True).test_client()
    narrow.dispose()


@pytest.mark.usefixtures("world")
def test_a_signed_in_professionals_429_is_an_event(limited: FlaskClient, core: Core) -> None:
    sign_in(limited, "basisschool-1")
    statuses = [limited.get("/check").status_code for _ in range(6)]  # the limit is per page
    assert statuses == [200] * 5 + [429]
    answer = limited.get("/check")
    assert answer.status_code == 429 and answer.headers["Retry-After"]
    assert "Te veel verzoeken" in answer.get_data(as_text=True)
    refusals = events(core, "web:rate_limited")
    assert len(refusals) == 2
    assert refusals[0].actor == "professional:basisschool-1"
    assert refusals[0].organisation_id == school_id(core)
    assert refusals[0].details["path"] == "/check"


@pytest.mark.usefixtures("world")
def test_an_anonymous_429_is_counted(limited: FlaskClient, core: Core, clock: FakeClock) -> None:
    statuses = [limited.get("/login", environ_overrides=STRANGER).status_code
                for _ in range(8)]
    assert statuses == [200] * 5 + [429] * 3
    assert events(core, "web:rate_limited") == []
    [event] = counted(core, clock)
    assert event.details["reasons"] == {"web rate-limited": 3}
    assert event.source_address == "192.0.2.0/24"
