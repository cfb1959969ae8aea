"""The site's layout and language on every page: a title per page, the landmarks and the skip
link, the chosen language (Dutch by default) with no message id shown bare, Dutch error pages in
the layout, and the NL Design System stylesheets served by the broker itself."""

from __future__ import annotations

import html as html_lib
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient

from broker.registry.services import RegistryService
from broker.web.headers import CONTENT_SECURITY_POLICY
from broker.web.i18n import TRANSLATIONS
from tests.factories import make_member
from tests.web.test_views import sign_in

# Every page a signed-in professional reaches with GET from the menu.
PAGES = ("/check", "/register", "/consent", "/inbox", "/account/password")
VENDOR = Path(__file__).resolve().parents[2] / "broker" / "web" / "static" / "vendor"


def message_ids() -> set[str]:
    with (TRANSLATIONS / "nl" / "LC_MESSAGES" / "messages.po").open("rb") as source:
        return {m.id for m in read_po(source) if m.id and "_" in m.id}


def visible_text(page: str) -> str:
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", body))


def title(page: str) -> str:
    match = re.search(r"<title>(.*?)</title>", page, re.S)
    assert match, page
    return html_lib.unescape(match.group(1)).strip()


def check_layout(page: str, lang: str) -> None:
    assert f'<html lang="{lang}"' in page
    assert 'class="utrecht-skip-link' in page and 'href="#inhoud"' in page
    assert '<main id="inhoud"' in page and "<header" in page and "<footer" in page
    assert page.count("<h1") == 1
    words = set(re.findall(r"\b[a-z]+(?:_[a-z0-9]+)+\b", visible_text(page)))
    assert not words & message_ids(), f"message ids shown bare: {words & message_ids()}"


@pytest.fixture
def member(registry: RegistryService) -> None:
    make_member(registry, "school")


@pytest.mark.usefixtures("member")
@pytest.mark.parametrize("lang", ["nl", "en"])
def test_every_page_in_both_languages(client: FlaskClient, lang: str) -> None:
    sign_in(client, "basisschool-1")
    client.get(f"/lang/{lang}")
    titles = set()
    for path in PAGES:
        answer = client.get(path)
        assert answer.status_code == 200, path
        page = answer.get_data(as_text=True)
        check_layout(page, lang)
        assert '<nav class="site-nav" aria-label="' in page
        titles.add(title(page))
    assert len(titles) == len(PAGES), "every page has its own title"
    client.post("/logout", data={"csrf": re.search(
        r'name="csrf" value="([^"]+)"', client.get("/check").get_data(as_text=True))[1]})
    page = client.get("/login").get_data(as_text=True)
    check_layout(page, lang)
    assert title(page).startswith("Inloggen" if lang == "nl" else "Sign in")


def test_dutch_404_in_the_layout(client: FlaskClient) -> None:
    answer = client.get("/bestaat-niet")
    assert answer.status_code == 404
    page = answer.get_data(as_text=True)
    check_layout(page, "nl")
    assert "Pagina niet gevonden" in title(page) and "Not Found" not in page
    client.get("/lang/en")
    assert "Page not found" in client.get("/bestaat-niet").get_data(as_text=True)


def test_the_api_keeps_its_problem_documents(client: FlaskClient) -> None:
    answer = client.get("/v1/bestaat-niet")
    assert answer.status_code == 404 and answer.mimetype == "application/problem+json"


def test_dutch_500_in_the_layout(app: Flask) -> None:
    def boom() -> str:
        raise RuntimeError("a defect")

    app.add_url_rule("/boom", view_func=boom)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    answer = app.test_client().get("/boom")
    assert answer.status_code == 500
    page = answer.get_data(as_text=True)
    check_layout(page, "nl")
    assert "Er ging iets mis bij ons" in page and "a defect" not in page


def test_the_csp_allows_the_broker_s_own_fonts_and_no_script() -> None:
    assert "font-src 'self'" in CONTENT_SECURITY_POLICY
    assert "script-src 'none'" in CONTENT_SECURITY_POLICY


def test_the_nl_design_system_stylesheets_are_served_by_the_broker(client: FlaskClient) -> None:
    if not (VENDOR / ".built").exists():
        pytest.skip("the web assets are not built: run scripts/test or scripts/run (npm ci)")
    page = client.get("/login").get_data(as_text=True)
    sheets = re.findall(r'<link rel="stylesheet" href="([^"]+)"', page)
    assert len(sheets) == 5 and all(s.startswith("/static/web/") for s in sheets)
    for sheet in sheets:
        answer = client.get(sheet)
        assert answer.status_code == 200 and answer.mimetype == "text/css", sheet
        answer.close()
    assert "utrecht-button--danger" in (VENDOR / "utrecht-components.css").read_text()
