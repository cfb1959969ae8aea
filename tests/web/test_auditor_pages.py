"""The auditor's web pages: each page in both languages, only for auditors (a refusal audited),
every action an audit event, the export a bundle scripts/verify-audit accepts, no identifier
in any page or URL."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from broker.core import Core
from broker.registry.services import RegistryService
from tests.web.oversight import (
    AUDITOR,
    OFFICER,
    assert_no_raw,
    assert_titled_pages,
    build,
    events,
)
from tests.web.test_views import csrf, sign_in

ROOT = Path(__file__).resolve().parents[2]
PAGES = ("/auditor/log", "/auditor/reviews", "/auditor/flags", "/auditor/chart",
         "/auditor/export", "/auditor/checkpoint")
TITLES = {"nl": ("Logboek", "Te beoordelen", "Meldingen van misbruik", "Gebruik per dag",
                 "Logboek downloaden", "Logboek controleren"),
          "en": ("Audit log", "To review", "Misuse reports", "Use per day", "Download the log",
                 "Verify the log")}


@pytest.fixture
def vital(core: Core, registry: RegistryService) -> str:
    """The world, and the id of its vital-interest look-up."""
    return build(core, registry)


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_every_page_in_both_languages(client: FlaskClient, vital: str, lang: str) -> None:
    sign_in(client, AUDITOR)
    assert_titled_pages(client, PAGES, TITLES[lang], lang)


def test_signing_in_lands_on_the_log(client: FlaskClient, vital: str) -> None:
    sign_in(client, AUDITOR)
    assert client.get("/").headers["Location"].endswith("/auditor/log")


@pytest.mark.parametrize("username", ["basisschool-1", OFFICER])
def test_other_roles_get_403_and_the_refusal_is_audited(client: FlaskClient, core: Core,
                                                         vital: str, username: str) -> None:
    sign_in(client, username)
    for path in PAGES:
        page = client.get(path)
        assert page.status_code == 403
        assert "Geen toegang" in page.get_data(as_text=True) or page.status_code == 403
    refused = events(core, "web:access_refused")
    assert [e.details["path"] for e in refused] == list(PAGES)
    kind = "professional" if username == "basisschool-1" else "privacy_officer"
    assert {(e.actor, e.outcome) for e in refused} == {(f"{kind}:{username}", "refused")}
    assert events(core, "audit:searched") == []


def test_nobody_signed_in_is_sent_to_sign_in(client: FlaskClient, vital: str) -> None:
    assert client.get("/auditor/log").headers["Location"].endswith("/login")


def test_the_log_filters_and_each_search_and_detail_is_audited(client: FlaskClient, core: Core,
                                                              vital: str) -> None:
    sign_in(client, AUDITOR)
    page = client.get("/auditor/log?organisation=veilig-thuis&flag=vital_interest"
                      "&type=lookup:performed")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and f"/auditor/events/{vital}" in html
    assert "Veilig Thuis Midden" in html and "Basisschool" not in html
    [searched] = events(core, "audit:searched")
    assert searched.actor == f"auditor:{AUDITOR}" and searched.details["results"] == 1
    assert searched.details["organisation"] == "veilig-thuis"
    detail = client.get(f"/auditor/events/{vital}").get_data(as_text=True)
    assert vital in detail and "Zwaarwegend belang" in detail
    assert "onvindbaar" not in detail  # the justification is for the review queue only
    [viewed] = events(core, "audit:event_viewed")
    assert viewed.details == {"viewed_event": vital}
    assert client.get("/auditor/events/not-an-event").status_code == 404
    assert_no_raw(html + detail)


def test_a_bad_period_is_explained_and_still_audited_as_nothing(client: FlaskClient,
                                                               core: Core, vital: str) -> None:
    sign_in(client, AUDITOR)
    page = client.get("/auditor/log?from=2026-03-05&to=2026-03-01")
    assert page.status_code == 200
    assert "Het einde van de periode moet na het begin liggen." in page.get_data(as_text=True)


def test_review_queue_and_review_action(client: FlaskClient, core: Core, vital: str) -> None:
    sign_in(client, AUDITOR)
    html = client.get("/auditor/reviews").get_data(as_text=True)
    assert "onvindbaar" in html and vital in html  # the justification to judge
    assert [e.details["report"] for e in events(core, "audit:reported")] == ["vital_interest"]
    done = client.post("/auditor/reviews", data={
        "event_id": vital, "verdict": "justified", "note": "Acuut gevaar, goed onderbouwd.",
        "csrf": csrf(client, "/auditor/reviews")})
    assert done.status_code == 302
    [reviewed] = events(core, "audit:reviewed")
    assert reviewed.actor == f"auditor:{AUDITOR}"
    assert reviewed.details == {"reviewed_event": vital, "verdict": "justified"}
    after = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "Uw oordeel is vastgelegd." in after and "Er wacht niets op een beoordeling." in after
    again = client.post("/auditor/reviews", data={
        "event_id": vital, "verdict": "justified", "note": "Nog eens.",
        "csrf": csrf(client, "/auditor/reviews")})
    assert again.status_code == 200
    assert "Deze gebeurtenis is al beoordeeld" in again.get_data(as_text=True)
    assert len(events(core, "audit:reviewed")) == 1


def test_flags_and_chart_are_audited_reports(client: FlaskClient, core: Core, vital: str
                                              ) -> None:
    sign_in(client, AUDITOR)
    assert client.get("/auditor/flags").status_code == 200
    html = client.get("/auditor/chart?from=2026-03-01&to=2026-03-03").get_data(as_text=True)
    reports = [e.details["report"] for e in events(core, "audit:reported")]
    assert reports == ["misuse_flags", "misuse_flags", "activity"]
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in html and 'role="img"' in html
    assert "<title id=\"chart-lookup-performed-title\">" in html and "<desc" in html
    svg = html.split("<svg", 1)[1].split("</svg>")[0]
    assert "<script" not in html and "href" not in svg and "src=" not in svg
    # The same figures as a table: one look-up and one registration by Veilig Thuis on 2 March.
    rows = re.findall(r'<tr><th scope="row">02-03-2026</th>(.*?)</tr>', html)
    assert len(rows) == 2 and all(row.endswith("<td>1</td>") for row in rows)
    assert all(row.count("<td>1</td>") == 2 for row in rows)  # Veilig Thuis's, and the total


def test_export_downloads_a_bundle_verify_audit_accepts(client: FlaskClient, core: Core,
                                                        vital: str, tmp_path: Path) -> None:
    sign_in(client, AUDITOR)
    answer = client.post("/auditor/export", data={
        "from": "2026-03-01", "to": "2026-03-02", "csrf": csrf(client, "/auditor/export")})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.headers["Content-Disposition"].startswith("attachment;")
    with tarfile.open(fileobj=io.BytesIO(answer.data), mode="r:gz") as archive:
        archive.extractall(tmp_path, filter="data")
    bundle = tmp_path / "audit-2026-03-01-2026-03-02"
    key = core.audit_key().verifier()
    checked = subprocess.run([sys.executable, str(ROOT / "scripts" / "verify-audit"),
                              str(bundle), "--key", key], capture_output=True, text=True,
                             check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    [exported] = events(core, "audit:exported")
    assert exported.actor == f"auditor:{AUDITOR}"
    assert_no_raw((bundle / "events.jsonl").read_text(encoding="utf-8"))


def test_checkpoint_and_a_verification_run(client: FlaskClient, core: Core, vital: str) -> None:
    sign_in(client, AUDITOR)
    ran = client.post("/auditor/checkpoint", data={"csrf": csrf(client, "/auditor/checkpoint")})
    html = ran.get_data(as_text=True)
    assert ran.status_code == 200 and "Het logboek klopt" in html
    [verified] = events(core, "audit:verified")
    assert verified.outcome == "success" and verified.details["problem"] is None
    assert verified.actor == f"auditor:{AUDITOR}"
    reports = [e.details["report"] for e in events(core, "audit:reported")]
    assert reports.count("checkpoint") == 2  # the page before, and after the run
