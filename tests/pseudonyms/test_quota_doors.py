"""The attack of issue 10, item 5: a second door, a restart or a second worker to dodge the
daily evaluation quota. Web look-ups after the API's quota was spent, a restarted app on the
same database, and two apps on one database: each is now refused, and every refusal is audited.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from broker_primitives import oprf
from flask.testing import FlaskClient
from nacl.signing import SigningKey
from sqlalchemy import select

from broker.api.schemas import b64url
from broker.app import create_app
from broker.audit.models import AuditEvent
from broker.audit.services import Actor
from broker.callers.keys import OrganisationKeys
from broker.core import Core
from broker.notifications.notices import InboxNotices
from broker.registry.services import RegistryService
from tests.api.live import Organisation, call, serve
from tests.conftest import OPEN_POLICY, FakeClock
from tests.factories import make_member
from tests.uow import committed
from tests.web.forms import household_fields
from tests.web.test_views import csrf, sign_in

QUOTA, PER_CHECK = 12, 4
BSNS = ["123456782", "111222333", "222222220", "222222232", "222222244", "222222256",
        "222222268", "999999990", "100000009", "100000010", "100000022"]


@pytest.fixture
def policy_path(tmp_path: Path) -> Path:
    """The open test policy with a small daily quota and four identifiers per web check."""
    path = tmp_path / "quota-policy.yaml"
    path.write_text(OPEN_POLICY.read_text() + (
        f"quotas:\n  pseudonym_evaluations_per_day: {QUOTA}\n"
        f"  web_identifiers_per_check: {PER_CHECK}\n"))
    return path


@pytest.fixture
def school(core: Core, registry: RegistryService) -> Organisation:
    """A school with a professional who signs in on the web and an API key."""
    member = make_member(registry, "school")
    key = SigningKey.generate()
    committed(core, OrganisationKeys).add(Actor.operator("test"), organisation=member.org,
                               key_id="school-key-1", public_key=bytes(key.verify_key).hex())
    return Organisation(member.org, "school-key-1", key, member.username)


@contextmanager
def restarted(core: Core, clock: FakeClock) -> Iterator[Core]:
    """Another process on the same database (a restart, or one more worker)."""
    other = Core(core.settings, clock=clock, notices=InboxNotices())
    try:
        yield other
    finally:
        other.dispose()


def evaluate(url: str, school: Organisation, count: int) -> int:
    """Status of an API evaluation of ``count`` blinded elements."""
    element = b64url(oprf.blind(b"bsn|123456782")[1])
    return call(url, school, "POST", "/v1/pseudonyms/evaluate",
                {"blinded_elements": [element] * count}).status_code


def web_client(core: Core, school: Organisation) -> FlaskClient:
    """A signed-in browser on a web app of ``core``."""
    client = create_app(core=core, TESTING=True).test_client()
    sign_in(client, school.professional)
    return client


def check(client: FlaskClient, bsns: list[str]) -> str:
    """The page answering a household check of ``bsns``."""
    return client.post("/check", data={
        **household_fields(bsns), "purpose": "care_coordination", "basis": "legal_task",
        "statute": "jeugdwet_7_1_1", "csrf": csrf(client, "/check")},
        follow_redirects=True).get_data(as_text=True)


def event_types(core: Core) -> list[str]:
    """Every audit event's type, oldest first."""
    with core.session() as session:
        return list(session.scalars(select(AuditEvent.event_type).order_by(AuditEvent.seq)))


def refusals(core: Core) -> list[tuple[str, dict[str, object]]]:
    """(channel, details) of every quota refusal."""
    with core.session() as session:
        return [(c, d) for c, d in session.execute(
            select(AuditEvent.channel, AuditEvent.details)
            .where(AuditEvent.event_type == "pseudonym:quota_refused").order_by(AuditEvent.seq))]


REFUSED_NL = f"dagquotum van uw organisatie van {QUOTA} pseudonimiseringen"
ANSWERED_NL = "Kenmerk van deze raadpleging"  # shown with every answer to a check


def test_web_look_ups_after_the_api_quota_is_spent_are_refused(
        core: Core, school: Organisation, clock: FakeClock) -> None:
    with serve(create_app(core=core)) as url:
        assert evaluate(url, school, QUOTA) == 200
        assert evaluate(url, school, 1) == 429
    client = web_client(core, school)
    page = check(client, BSNS[:1])
    assert REFUSED_NL in page and ANSWERED_NL not in page
    assert "lookup:performed" not in event_types(core)
    assert [channel for channel, _ in refusals(core)] == ["api", "web"]


def test_a_restart_does_not_renew_the_quota(core: Core, school: Organisation,
                                            clock: FakeClock) -> None:
    with serve(create_app(core=core)) as url:
        assert evaluate(url, school, QUOTA) == 200
    # A new app on the same database (a restart): the quota is still spent, on both doors.
    with restarted(core, clock) as again:
        with serve(create_app(core=again)) as url:
            element = b64url(oprf.blind(b"bsn|123456782")[1])
            answer = call(url, school, "POST", "/v1/pseudonyms/evaluate",
                          {"blinded_elements": [element]})
        assert answer.status_code == 429
        assert REFUSED_NL in check(web_client(again, school), BSNS[:1])
    assert answer.json()["type"] == "urn:broker:problem:rate-limited"
    assert answer.headers["RateLimit-Limit"] == str(QUOTA)
    assert answer.headers["RateLimit-Remaining"] == "0"
    # Noon UTC is 13:00 in Amsterdam (CET): eleven hours to the Dutch midnight.
    assert answer.headers["RateLimit-Reset"] == answer.headers["Retry-After"] == "39600"
    assert "lookup:performed" not in event_types(core)
    assert [channel for channel, _ in refusals(core)] == ["api", "web"]


def test_two_apps_on_one_database_do_not_multiply_the_quota(
        core: Core, school: Organisation, clock: FakeClock) -> None:
    first = web_client(core, school)
    with restarted(core, clock) as other:
        second = web_client(other, school)
        assert ANSWERED_NL in check(first, BSNS[:4])  # 4 of 12
        assert ANSWERED_NL in check(second, BSNS[4:8])  # 8
        with serve(create_app(core=other)) as url:
            assert evaluate(url, school, 4) == 200  # 12: the quota is spent, on every app
            assert evaluate(url, school, 1) == 429
        assert REFUSED_NL in check(first, BSNS[:1])
        assert REFUSED_NL in check(second, BSNS[:1])
    assert event_types(core).count("lookup:performed") == 2
    assert [d["used"] for _, d in refusals(core)] == [QUOTA] * 3


def test_the_web_form_takes_one_household_per_check(core: Core, school: Organisation) -> None:
    client = web_client(core, school)
    before = event_types(core)
    page = check(client, BSNS[:PER_CHECK + 1])
    assert f"hooguit {PER_CHECK} gegevens (u gaf er {PER_CHECK + 1})" in page
    # Nothing was pseudonymised, charged or looked up; the form keeps every value.
    assert event_types(core) == before
    assert '<option value="care_coordination" selected>' in page
    assert '<option value="legal_task" selected>' in page
    assert '<option value="jeugdwet_7_1_1" selected>' in page
    assert all(f'value="{bsn}"' in page for bsn in BSNS[:PER_CHECK + 1])
    client.get("/lang/en")
    page = check(client, BSNS[:PER_CHECK + 1])
    assert f"at most {PER_CHECK} identifiers (you gave {PER_CHECK + 1})" in page
    page = check(client, BSNS[:PER_CHECK])
    assert "identifiers per check" not in page
    assert event_types(core)[-2:] == ["pseudonym:evaluated", "lookup:performed"]


def test_registering_on_the_web_is_charged_too(core: Core, school: Organisation) -> None:
    client = web_client(core, school)

    def register(bsns: list[str]) -> str:
        return client.post("/register", data={
            **household_fields(bsns), "purpose": "care_coordination",
            "csrf": csrf(client, "/register")}, follow_redirects=True).get_data(as_text=True)

    for household in (BSNS[0:4], BSNS[4:8], BSNS[8:11]):  # 11 of 12
        assert "geregistreerd tot" in register(household)
    client.get("/lang/en")
    page = register(BSNS[:2])
    assert f"daily quota of {QUOTA} pseudonym evaluations cannot take 2 more (1 left" in page
    assert event_types(core).count("involvement:registered") == 3
    assert [channel for channel, _ in refusals(core)] == ["web"]


@pytest.mark.parametrize("policy_path", [OPEN_POLICY])
def test_by_default_the_web_form_takes_ten_identifiers(core: Core, school: Organisation,
                                                       policy_path: Path) -> None:
    client = web_client(core, school)
    assert "hooguit 10 gegevens (u gaf er 11)" in check(client, BSNS[:11])
    assert ANSWERED_NL in check(client, BSNS[:10])
