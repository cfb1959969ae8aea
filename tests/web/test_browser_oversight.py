"""The privacy officer's and the auditor's pages in a real browser (Playwright driving Debian's
Chromium, never a browser download), with axe-core on every page reached (issue 14 item 7).

A privacy officer signs in with the second factor, reads the policy, its history and tests, and
compares a proposed file (nothing applied); an auditor finds the vital-interest look-up in the
log, opens it, reviews it, draws the chart, exports a period (a download) and runs a
verification. Every page: no serious or critical axe violation under WCAG 2.2 AA and best
practice, no sideways scrolling at 320 CSS px, screenshots at 1280 and 390 px in
test-artefacts/screenshots, and no identifier of the test data in any page or URL.

The helpers are the professional pages' browser tests' (tests/web/browser.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from broker.core import Core
from broker.registry.services import RegistryService
from tests.api.live import serve
from tests.web.browser import axe_findings, reflow_findings, require_browser
from tests.web.oversight import AUDITOR, OFFICER, assert_no_raw, build, events
from tests.web.test_views import fresh_code, second_factor

pytestmark = pytest.mark.slow



@pytest.fixture(params=["sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The embedded SQLite database (the browser needs no second engine)."""
    yield f"sqlite:///{tmp_path / 'broker.db'}"


class Walk:
    """One browser context: every page reached is checked and photographed."""

    def __init__(self, browser: Any, base: str, axe: str, name: str) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900},
                                           locale="nl-NL", accept_downloads=True)
        self.page = self.context.new_page()
        self.urls: list[str] = []
        self.findings: list[str] = []
        self.page.on("request", lambda request: self.urls.append(request.url))
        self.base, self.axe, self.name = base, axe, name

    def seen(self, shot: str) -> str:
        page = self.page
        self.findings.extend(axe_findings(page, self.axe))
        html: str = page.content()
        assert_no_raw(html)
        self.findings.extend(reflow_findings(page, self.name, shot))
        return html

    def sign_in(self, app: Flask, username: str, lands_on: str) -> None:
        secret = second_factor(app, username)
        assert secret is not None  # staff always have a second factor
        self.page.goto(self.base + "/login")
        self.page.fill("#username", username)
        self.page.fill("#password", "correct horse")
        self.page.get_by_role("button", name="Inloggen").click()
        self.page.wait_for_url("**/login/code")
        self.page.fill("#code", fresh_code(app, secret))
        self.page.get_by_role("button", name="Bevestigen").click()
        self.page.wait_for_url(f"**{lands_on}")


@pytest.fixture
def vital(core: Core, registry: RegistryService) -> str:
    return build(core, registry)


def test_the_privacy_officer_and_the_auditor_in_a_browser(app: Flask, core: Core, vital: str,
                                                          tmp_path: Path,
                                                          policy_path: Path) -> None:
    chromium, axe = require_browser()
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    version = core.policy().version
    with serve(app) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium))
        officer = Walk(browser, base, axe, "officer")
        officer.sign_in(app, OFFICER, "/officer/policy")
        assert "Regels" in officer.seen("policy")
        for link, shot in (("Versies van het beleid", "history"),
                           ("Tests van het beleid", "tests"),
                           ("Inzageverzoeken", "subject-access"),
                           ("Beleid vergelijken", "diff")):
            officer.page.get_by_role("link", name=link).click()
            officer.seen(shot)
        proposal = tmp_path / "proposal.yaml"
        proposal.write_text(policy_path.read_text(encoding="utf-8").replace(
            "reveal: organisation", "reveal: organisation_type"), encoding="utf-8")
        officer.page.set_input_files("#policy", str(proposal))
        officer.page.get_by_role("button", name="Vergelijken").click()
        assert "Er is niets veranderd" in officer.seen("diff-result")
        assert core.policy().version == version

        auditor = Walk(browser, base, axe, "auditor")
        auditor.sign_in(app, AUDITOR, "/auditor/log")
        auditor.seen("log")
        auditor.page.get_by_label("Zwaarwegend belang").check()
        auditor.page.get_by_role("button", name="Zoeken").click()
        auditor.seen("log-filtered")
        auditor.page.locator(f"a[href$='/auditor/events/{vital}']").click()
        assert vital in auditor.seen("event")
        auditor.page.get_by_role("link", name="Te beoordelen").click()
        auditor.seen("reviews")
        auditor.page.get_by_label("Terecht", exact=True).check()
        auditor.page.get_by_label("Toelichting bij uw oordeel").fill("Acuut gevaar, onderbouwd.")
        auditor.page.get_by_role("button", name="Oordeel over gebeurtenis").click()
        assert "Uw oordeel is vastgelegd." in auditor.seen("reviewed")
        for link, shot in (("Meldingen van misbruik", "flags"), ("Gebruik per dag", "chart"),
                           ("Logboek downloaden", "export")):
            auditor.page.get_by_role("link", name=link).click()
            auditor.seen(shot)
        with auditor.page.expect_download() as download:
            auditor.page.get_by_role("button", name="Periode downloaden").click()
        assert download.value.suggested_filename.endswith(".tar.gz")
        auditor.page.get_by_role("link", name="Logboek controleren").click()
        auditor.seen("checkpoint-before")
        auditor.page.get_by_role("button", name="Nu controleren").click()
        assert "Het logboek klopt" in auditor.seen("checkpoint")
        browser.close()
    assert officer.findings + auditor.findings == [], "\n".join(officer.findings + auditor.findings)
    for url in officer.urls + auditor.urls:
        assert_no_raw(url)
    assert len(events(core, "audit:reviewed")) == 1 and len(events(core, "audit:verified")) == 1
