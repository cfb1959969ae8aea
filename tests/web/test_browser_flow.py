"""The professional's whole flow in a real browser (Playwright driving Debian's Chromium), with
axe-core on every page reached (issue 14 item 7).

A teacher signs in, checks a household with bad input and then good input, registers with a case
number and asks for contact; in a second browser context Veilig Thuis signs in with its second
factor and approves (a second colleague too, where the rule asks for two); both sides open the
link; the teacher revokes it, and the other side's link is gone too. Every page reached has no
serious or critical axe violation under WCAG 2.2 AA and best practice, fits 320 CSS px without
horizontal scrolling, and is photographed at 1280 and 390 px into test-artefacts/screenshots.
No BSN typed into a form appears in any URL requested (redirects included), any captured log
line, or any page — apart from the form that shows the typed values again to be corrected.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from broker.audit.services import Actor
from broker.core import Core
from broker.registry.services import RegistryService
from tests.api.live import serve as served
from tests.conftest import SHIPPED_POLICY
from tests.factories import ADDRESS, CHILD_BSN, MOTHER_BSN, household, make_member, register
from tests.web.browser import axe_findings, reflow_findings, require_browser
from tests.web.test_views import fresh_code, second_factor

pytestmark = pytest.mark.slow

TYPED_BSNS = (CHILD_BSN, "123456789")  # the good and the bad one typed into the forms
_VALUES = re.compile(r'\svalue="[^"]*"')


@pytest.fixture
def policy_path() -> Path:
    """The shipped policy: a school's contact request needs Veilig Thuis' approval."""
    return SHIPPED_POLICY


@pytest.fixture(params=["sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The embedded SQLite database (the browser flow needs no second engine)."""
    yield f"sqlite:///{tmp_path / 'broker.db'}"


@pytest.fixture
def world(core: Core, registry: RegistryService) -> None:
    """The school registered on the child; Veilig Thuis (two professionals) on the mother at
    the same address, under its own case number."""
    register(registry, make_member(registry, "school"),
             household(core, bsn=(CHILD_BSN,), address=(ADDRESS,)))
    vt = make_member(registry, "vt")
    registry.add_professional(Actor.operator("test"), organisation=vt.org,
                              username="veilig-thuis-2", name="Tweede Veilig Thuis",
                              role="contactpersoon", password="correct horse")
    registry.register_involvement(
        vt.actor, organisation=vt.org, professional=vt.username,
        pseudonyms=household(core, bsn=(MOTHER_BSN,), address=(ADDRESS,)),
        purpose="protection", case_reference="VT-2026-0042")


class Walk:
    """One browser context's pages, each checked by axe, for reflow at 320 px and
    photographed; every URL requested is kept for the scan."""

    def __init__(self, browser: Any, base: str, axe: str, name: str, urls: list[str],
                 findings: list[str], pages: list[str]) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900},
                                           locale="nl-NL")
        self.page = self.context.new_page()
        self.page.on("request", lambda request: urls.append(request.url))
        self.base, self.axe, self.name = base, axe, name
        self.findings, self.pages = findings, pages

    def goto(self, path: str) -> None:
        self.page.goto(self.base + path)

    def seen(self, shot: str, *, typed_values: bool = False) -> str:
        """Check the page now shown and return its HTML (``typed_values``: the form shows what
        was typed again, so its input values are left out of the scan)."""
        page = self.page
        self.findings.extend(axe_findings(page, self.axe))
        html = page.content()
        self.pages.append(_VALUES.sub("", html) if typed_values else html)
        self.findings.extend(reflow_findings(page, self.name, shot))
        return html

    def sign_in(self, app: Flask, username: str) -> None:
        secret = second_factor(app, username)
        self.goto("/login")
        self.seen("login")
        self.page.fill("#username", username)
        self.page.fill("#password", "correct horse")
        self.page.get_by_role("button", name="Inloggen").click()
        if secret is not None:
            self.page.wait_for_url("**/login/code")
            self.seen("code")
            self.page.fill("#code", fresh_code(app, secret))
            self.page.get_by_role("button", name="Bevestigen").click()
        self.page.wait_for_url("**/check")


@pytest.mark.usefixtures("world")
def test_the_professional_flow_in_a_browser(app: Flask, core: Core,
                                            caplog: pytest.LogCaptureFixture) -> None:
    chromium, axe = require_browser()
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    caplog.set_level(logging.DEBUG)
    urls: list[str] = []
    findings: list[str] = []
    pages: list[str] = []
    with served(app) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium))
        teacher = Walk(browser, base, axe, "teacher", urls, findings, pages)
        teacher.sign_in(app, "basisschool-1")
        teacher.seen("check")
        page = teacher.page

        # Bad input: a BSN that fails the eleven-test, a person without initial, no basis.
        page.fill("#p1-bsn", "123456789")
        page.fill("#p2-family_name", "van der Vries")
        page.select_option("#purpose", "care_coordination")
        page.get_by_role("button", name="Controleren").click()
        html = teacher.seen("check-errors", typed_values=True)
        assert 'href="#p1-bsn"' in html and 'href="#p2-initial"' in html
        assert 'href="#basis"' in html and "elfproef" in html
        assert page.input_value("#p1-bsn") == "123456789"  # every value kept
        assert page.title().startswith("Fout:")
        page.click('a[href="#p1-bsn"]')
        assert page.evaluate("location.hash") == "#p1-bsn"

        # Good input: the child and the address, on a legal task.
        page.fill("#p1-bsn", CHILD_BSN)
        page.fill("#p2-family_name", "")
        page.fill("#postcode", "1011 AB")
        page.fill("#house_number", "12")
        page.fill("#addition", "A")
        page.select_option("#basis", "legal_task")
        page.select_option("#statute", "jeugdwet_7_4_0")
        assert not page.is_visible("#justification")  # only the basis' own field shows
        page.get_by_role("button", name="Controleren").click()
        page.wait_for_url("**/check/result/**")
        result_url = page.url
        result = teacher.seen("result")
        assert "Contact als de organisatie die betrokken is dat goedkeurt" in result
        page.reload()  # no second look-up
        teacher.seen("result-again")

        # Register on the household with the school's own case number.
        teacher.goto("/register")
        teacher.seen("register")
        page.fill("#p1-bsn", CHILD_BSN)
        page.select_option("#purpose", "care_coordination")
        page.fill("#case_reference", "LL-2026-17")
        page.get_by_role("button", name="Registreren").click()
        page.wait_for_url("**/involvements")
        assert "LL-2026-17" in teacher.seen("involvements")
        page.get_by_role("link", name="LL-2026-17").click()
        assert "Het huishouden informeren" in teacher.seen("involvement")
        teacher.goto("/consent")
        teacher.seen("consent")
        teacher.goto("/bestaat-niet")
        assert "Pagina niet gevonden" in teacher.seen("not-found")

        # Ask for contact on the match.
        page.goto(result_url)
        page.get_by_role("button", name=re.compile("Vraag contact met")).first.click()
        page.wait_for_url("**/contact/requests/**")
        teacher.seen("request-asked")

        # Veilig Thuis approves in its own browser context (with its second factor).
        holder = Walk(browser, base, axe, "holder", urls, findings, pages)
        holder.sign_in(app, "veilig-thuis-1")
        holder.goto("/inbox")
        holder.seen("inbox")
        holder.page.get_by_role("link", name="Nieuw contactverzoek").first.click()
        request_page = holder.seen("request")
        assert "Dit verzoek gaat over uw dossier VT-2026-0042." in request_page
        request_url = holder.page.url
        holder.page.get_by_role("button", name=re.compile("Keur contact met")).click()
        approved = holder.seen("request-approved")
        if "Een tweede collega" in approved:  # the rule asks for two approvers
            second = Walk(browser, base, axe, "holder2", urls, findings, pages)
            second.sign_in(app, "veilig-thuis-2")
            second.page.goto(request_url)
            second.page.get_by_role("button", name=re.compile("Keur contact met")).click()
            second.seen("request-second")

        # Both sides open their link.
        teacher.goto("/inbox")
        teacher.seen("inbox-teacher")
        page.get_by_role("link", name="Contactgegevens beschikbaar").first.click()
        card = teacher.seen("link")
        assert "+31 20 555 0101" in card
        teacher_link = page.url
        holder.goto("/inbox")
        holder_links = holder.page.get_by_role("link", name="Contactgegevens beschikbaar")
        holder_link = None
        if holder_links.count():
            holder_links.first.click()
            holder.seen("link-holder")
            holder_link = holder.page.url

        # The teacher revokes: the contact ends on both sides.
        page.goto(teacher_link)
        page.get_by_role("button", name=re.compile("Stop contact met")).click()
        page.wait_for_url("**/inbox")
        assert "Het contact is gestopt" in teacher.seen("revoked")
        if holder_link is not None:
            holder.page.goto(holder_link)
            assert "Stop contact met" not in holder.seen("link-revoked")
        browser.close()

    assert not findings, "\n".join(findings)
    # No BSN typed into a form in any URL, log line or page (but the form shown to correct it).
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    for bsn in TYPED_BSNS:
        assert not [u for u in urls if bsn in u], bsn
        assert bsn not in logged
        assert not [p[max(0, p.index(bsn) - 300):p.index(bsn) + 100]
                    for p in pages if bsn in p], bsn
    assert len([u for u in urls if "/check/result/" in u]) >= 2
