"""The privacy officer's web pages: each page in both languages, only for privacy officers (a
refusal audited), the policy diff applies nothing, no identifier in any page or URL."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from broker.core import Core
from broker.demo import load_demo
from broker.registry.services import RegistryService
from tests.conftest import OPEN_POLICY, SHIPPED_POLICY
from tests.factories import CHILD_BSN
from tests.web.oversight import (
    AUDITOR,
    OFFICER,
    assert_no_raw,
    assert_titled_pages,
    build,
    events,
)
from tests.web.test_views import csrf, sign_in

PAGES = ("/officer/policy", "/officer/policy/history", "/officer/policy/tests",
         "/officer/policy/diff")
TITLES = {"nl": ("Beleid", "Versies van het beleid", "Tests van het beleid",
                 "Beleid vergelijken"),
          "en": ("Policy", "Policy versions", "Policy tests", "Compare a policy")}


@pytest.fixture
def world(core: Core, registry: RegistryService) -> str:
    """The shared world (two organisations on one child, staff)."""
    return build(core, registry)


@pytest.mark.parametrize("lang", ["nl", "en"])
@pytest.mark.usefixtures("world")
def test_every_page_in_both_languages(client: FlaskClient, lang: str) -> None:
    sign_in(client, OFFICER)
    assert client.get("/").headers["Location"].endswith("/officer/policy")
    assert_titled_pages(client, PAGES, TITLES[lang], lang)


@pytest.mark.usefixtures("world")
def test_the_policy_as_a_table_with_labels(client: FlaskClient, core: Core) -> None:
    sign_in(client, OFFICER)
    html = client.get("/officer/policy").get_data(as_text=True)
    policy = core.policy()
    for rule in policy.spec.rules:
        assert f"<code>{rule.id}</code>" in html
    assert policy.version[:12] in html
    assert "<em>alle</em>" in html  # an axis without a limit, in words
    history = client.get("/officer/policy/history").get_data(as_text=True)
    assert "Geladen" in history and policy.version[:12] in history


@pytest.mark.parametrize("policy_path", [SHIPPED_POLICY])
@pytest.mark.usefixtures("world")
def test_the_shipped_policy_tests_and_coverage(client: FlaskClient, policy_path: Path) -> None:
    sign_in(client, OFFICER)
    html = client.get("/officer/policy/tests").get_data(as_text=True)
    assert "tests geslaagd" in html and "utrecht-alert--ok" in html


@pytest.mark.parametrize("username", ["basisschool-1", AUDITOR])
@pytest.mark.usefixtures("world")
def test_other_roles_get_403_and_the_refusal_is_audited(client: FlaskClient, core: Core,
                                                         username: str) -> None:
    sign_in(client, username)
    for path in PAGES:
        assert client.get(path).status_code == 403
    refused = events(core, "web:access_refused")
    assert [e.details["path"] for e in refused] == list(PAGES)
    assert {e.outcome for e in refused} == {"refused"}


@pytest.mark.usefixtures("world")
def test_the_diff_shows_changes_and_applies_nothing(client: FlaskClient, core: Core,
                                                    policy_path: Path) -> None:
    sign_in(client, OFFICER)
    before_version = core.policy().version
    before_text = policy_path.read_text(encoding="utf-8")
    # The proposal: the open policy without its rules that let anyone find Veilig Thuis.
    proposed = before_text.replace("reveal: organisation", "reveal: organisation_type")
    assert proposed != before_text
    answer = client.post("/officer/policy/diff", data={
        "csrf": csrf(client, "/officer/policy/diff"),
        "policy": (io.BytesIO(proposed.encode()), "proposal.yaml")},
        content_type="multipart/form-data")
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200, html
    assert "Er is niets veranderd aan het beleid dat geldt." in html
    assert "Beslissingen die veranderen: 0" not in html
    assert core.policy().version == before_version
    assert policy_path.read_text(encoding="utf-8") == before_text
    client.get("/officer/policy")  # a request ticks the policy watcher: still the same
    assert events(core, "policy:loaded")[-1].policy_version == before_version


@pytest.mark.usefixtures("world")
def test_a_broken_proposal_is_named_with_its_problems(client: FlaskClient) -> None:
    sign_in(client, OFFICER)
    answer = client.post("/officer/policy/diff", data={
        "csrf": csrf(client, "/officer/policy/diff"),
        "policy": (io.BytesIO(b"policy: [unclosed"), "broken.yaml")},
        content_type="multipart/form-data")
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "niet vergeleken" in html
    assert "proposed-policy-" not in html  # no server path, only the file's name
    empty = client.post("/officer/policy/diff",
                        data={"csrf": csrf(client, "/officer/policy/diff")})
    assert empty.status_code == 400


@pytest.mark.parametrize("policy_path", [SHIPPED_POLICY])
@pytest.mark.usefixtures("world")
def test_subject_access_withholds_veilig_thuis_until_released(
        client: FlaskClient, core: Core, policy_path: Path) -> None:
    sign_in(client, OFFICER)
    answer = client.post("/officer/subject-access", data={
        "bsn": CHILD_BSN, "csrf": csrf(client, "/officer/subject-access")})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200, html
    assert "UAVG art. 41" in html  # the ground the person reads
    assert "Veilig Thuis Midden vrijgeven voor dit verzoek" in html  # the officer's decision
    assert "raadpleegde" not in html  # Veilig Thuis's look-up is left out
    assert_no_raw(html)
    [requested] = events(core, "audit:subject_access_requested")
    assert requested.actor == f"privacy_officer:{OFFICER}"
    request_id = requested.details["request_id"]
    released = client.post("/officer/subject-access", data={
        "action": "release", "request_id": request_id, "organisation": "veilig-thuis",
        "reason": "Het onderzoek is afgerond; noemen brengt niemand meer in gevaar.",
        "csrf": csrf(client, "/officer/subject-access")})
    after = released.get_data(as_text=True)
    assert released.status_code == 200 and "raadpleegde" in after and "Vrijgegeven op" in after
    assert [e.details["organisation"] for e in events(core, "audit:subject_access_released")
            ] == ["veilig-thuis"]
    assert_no_raw(after)


@pytest.mark.usefixtures("world")
def test_subject_access_refuses_an_empty_or_bad_request_without_echoing(
        client: FlaskClient, core: Core) -> None:
    sign_in(client, OFFICER)
    empty = client.post("/officer/subject-access",
                        data={"csrf": csrf(client, "/officer/subject-access")})
    assert "Vul een BSN in" in empty.get_data(as_text=True)
    bad = client.post("/officer/subject-access", data={
        "bsn": "123456789", "csrf": csrf(client, "/officer/subject-access")})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 200 and "123456789" not in html
    assert events(core, "audit:subject_access_requested") == []


@pytest.mark.parametrize("policy_path", [SHIPPED_POLICY])
def test_the_demo_has_a_privacy_officer_and_an_auditor(core: Core, policy_path: Path) -> None:
    summary = load_demo(core, households=2)
    assert summary.staff == ["demo-privacy-officer", "demo-auditor"]
    assert {"demo-privacy-officer", "demo-auditor"} <= set(summary.second_factor_keys)
    assert "privacy officer and auditor" in summary.describe()
    with core.unit_of_work() as work:
        roles = {p.username: p.access_role for p in RegistryService(work).list_professionals()}
    assert (roles["demo-privacy-officer"], roles["demo-auditor"]) == (
        "privacy_officer", "auditor")


@pytest.mark.parametrize("policy_path", [SHIPPED_POLICY, OPEN_POLICY])
@pytest.mark.usefixtures("world")
def test_the_number_of_rules_takes_its_plural(client: FlaskClient, core: Core) -> None:
    count = len(core.policy().spec.rules)
    sign_in(client, OFFICER)
    dutch = client.get("/officer/policy").get_data(as_text=True)
    client.get("/lang/en")
    english = client.get("/officer/policy").get_data(as_text=True)
    if count == 1:  # the open test policy
        assert "1 regel, in de volgorde" in dutch and "1 regels" not in dutch
        assert "1 rule, in the order" in english and "1 rules" not in english
    else:
        assert f"{count} regels, in de volgorde" in dutch
        assert f"{count} rules, in the order" in english
