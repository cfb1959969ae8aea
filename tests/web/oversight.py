"""Builders for the privacy officer's and auditor's page tests: staff accounts, a world with a
vital-interest look-up, and helpers that read the audit log."""

from __future__ import annotations

from collections.abc import Sequence

from flask.testing import FlaskClient
from sqlalchemy import select

from broker.audit.models import AuditEvent
from broker.audit.services import Actor
from broker.core import Core
from broker.registry.lookups import Evidence, LookupService
from broker.registry.models import ACCESS_AUDITOR, ACCESS_PRIVACY_OFFICER
from broker.registry.services import RegistryService
from tests.factories import ADDRESS, CHILD_BSN, MOTHER_BSN, household, make_member, register
from tests.uow import committed

OFFICER, AUDITOR = "fg-1", "auditor-1"
JUSTIFICATION = ("Acuut gevaar voor het kind, het gezin is onvindbaar en de melder is bang; "
                 "de politie vraagt om spoed en er is geen tijd om toestemming te vragen.")
# Every identifier the test data holds: none may reach a page or a URL.
RAW = (CHILD_BSN, MOTHER_BSN, ADDRESS, "1011 AB", "1011AB")


def staff(registry: RegistryService) -> None:
    """A privacy officer and an auditor (in the school's organisation)."""
    for username, role in ((OFFICER, ACCESS_PRIVACY_OFFICER), (AUDITOR, ACCESS_AUDITOR)):
        registry.add_professional(Actor.operator("test"), organisation="basisschool",
                                  username=username, name=f"Staff {username}", role="staf",
                                  password="correct horse", access_role=role)


def build(core: Core, registry: RegistryService) -> str:
    """A school, Veilig Thuis on the child, staff; Veilig Thuis's vital-interest look-up (its
    event id returned)."""
    make_member(registry, "school")
    vt = make_member(registry, "vt")
    keys = household(core, bsn=(CHILD_BSN,), address=(ADDRESS,))
    register(registry, vt, household(core, bsn=(CHILD_BSN,)))
    staff(registry)
    return str(committed(core, LookupService).lookup(
        vt.actor, pseudonyms=keys, purpose="protection", basis="vital_interest",
        evidence=Evidence(justification=JUSTIFICATION)).lookup_id)


def events(core: Core, event_type: str) -> list[AuditEvent]:
    """The audit events of one type, oldest first."""
    with core.session() as session:
        return list(session.scalars(select(AuditEvent).filter_by(event_type=event_type)
                                    .order_by(AuditEvent.seq)))


def assert_no_raw(text: str) -> None:
    """No identifier of the test data in ``text`` (a page, a URL)."""
    for raw in RAW:
        assert raw not in text, raw


def assert_titled_pages(client: FlaskClient, pages: Sequence[str], titles: Sequence[str],
                        lang: str) -> None:
    """Each of ``pages`` answers 200 in ``lang`` with its title, and shows no raw identifier."""
    client.get(f"/lang/{lang}")
    for path, title in zip(pages, titles, strict=True):
        page = client.get(path)
        html = page.get_data(as_text=True)
        assert page.status_code == 200, (path, html)
        assert f"<title>{title} –" in html and f'<html lang="{lang}"' in html
        assert_no_raw(html)
