"""Subject access requests (AVG art. 15) under the shipped policy: for a person only, the
shelter, Veilig Thuis and the police withheld (UAVG art. 41) and the person told so, a release
by a privacy officer for one request, every step audited, every bad input refused."""

from __future__ import annotations

import csv
import io
import json
import shutil
import threading
from pathlib import Path

import pytest
from broker_primitives.blinding import Pseudonym
from broker_primitives.identifiers import parse_household
from sqlalchemy import func, select, update

from broker.audit.models import AuditEvent, SubjectAccessRequest, SubjectAccessWithholding
from broker.audit.services import Actor
from broker.core import Core
from broker.errors import BrokerError, Conflict, Forbidden, NotFound, ValidationError
from broker.oversight.subject_access import SubjectAccessReport
from broker.oversight.subject_access_render import (
    officer_notes,
    render_text,
    write_report_csv,
    write_report_json,
)
from broker.oversight.subject_requests import as_privacy_officer, release, request_access
from broker.registry.lookups import Evidence, LookupService
from broker.registry.models import ACCESS_AUDITOR, ACCESS_PRIVACY_OFFICER, Professional
from broker.registry.services import RegistryService
from tests.conftest import SHIPPED_POLICY, broker_cli
from tests.oversight.test_search import audit_count, last_event
from tests.uow import committed, in_uow

OPERATOR = Actor.operator("test")  # evaluations charged to no organisation

MOTHER, CHILD, FATHER = "111222333", "123456782", "999999990"
ADDRESS = "1011 AB 12 A"
OFFICER = as_privacy_officer("fg-1")
SHELTER_GROUND = ("UAVG art. 41 lid 1 onder i (bescherming van de betrokkene of van de rechten "
                  "en vrijheden van anderen)")
POLICE_GROUND = "UAVG art. 41 lid 1 onder d (voorkoming en opsporing van strafbare feiten)"
ORGS = {"opvang": ("Vrouwenopvang Het Anker", "vrouwenopvang"),
        "politie": ("Politie Basisteam Centrum", "politie"),
        "wijkteam": ("Wijkteam Noord", "wijkteam"),
        "school": ("Basisschool De Linde", "school")}
REASON = "Het onderzoek is afgesloten en de politie stemt in met bekendmaking."


@pytest.fixture
def policy_path(tmp_path: Path) -> Path:
    """A copy of the shipped policy, which a test may change."""
    return Path(shutil.copytree(SHIPPED_POLICY, tmp_path / "policies"))


def member(registry: RegistryService, code: str) -> Actor:
    """The first professional of ``code``, signed in on the web."""
    return Actor(actor=f"professional:{code}-1", channel="web",
                 organisation_id=registry.get_organisation(code).id)


def keys(core: Core, *, bsn: tuple[str, ...] = (), address: tuple[str, ...] = (),
         person: tuple[str, ...] = ()) -> list[Pseudonym]:
    return core.pseudonymise(OPERATOR, parse_household(bsn=bsn, address=address, person=person))


@pytest.fixture
def world(core: Core, registry: RegistryService) -> None:
    """The shelter on the mother (and the address), the school on the child, the
    neighbourhood team on the address; the police registered on the father and looked him up;
    a privacy officer (fg-1), an auditor and professionals without the role."""
    operator = Actor.operator()
    for code, (name, org_type) in ORGS.items():
        registry.create_organisation(operator, identifier=code, name=name, org_type=org_type)
        registry.add_professional(operator, organisation=code, username=f"{code}-1",
                                  name=f"Contact {name}", role="contactpersoon")
    for username, role in (("fg-1", ACCESS_PRIVACY_OFFICER), ("fg-2", ACCESS_PRIVACY_OFFICER),
                           ("auditor-1", ACCESS_AUDITOR)):
        registry.add_professional(operator, organisation="wijkteam", username=username,
                                  name=username, role=role, access_role=role)
    for code, pseudonyms in (("opvang", keys(core, bsn=(MOTHER,), address=(ADDRESS,))),
                             ("school", keys(core, bsn=(CHILD,))),
                             ("wijkteam", keys(core, address=(ADDRESS,))),
                             ("politie", keys(core, bsn=(FATHER,)))):
        registry.register_involvement(member(registry, code), organisation=code,
                                      professional=f"{code}-1", purpose="protection",
                                      pseudonyms=pseudonyms)
    committed(core, LookupService).lookup(
            member(registry, "politie"), pseudonyms=keys(core, bsn=(FATHER,)),
                               purpose="safety_assessment", basis="legal_task",
                               evidence=Evidence(statute="wmo2015_5_2_6"))


def every_form(report: SubjectAccessReport) -> tuple[str, str, dict[str, object]]:
    """The report as text, CSV and (parsed) JSON."""
    as_csv, as_json = io.StringIO(), io.StringIO()
    write_report_csv(as_csv, report)
    write_report_json(as_json, report)
    return render_text(report), as_csv.getvalue(), json.loads(as_json.getvalue())


def rows(core: Core) -> tuple[int, int, int]:
    """Audit events, requests and withholding decisions stored."""
    with core.session() as session:
        return (audit_count(core),
                session.scalar(select(func.count()).select_from(SubjectAccessRequest)) or 0,
                session.scalar(select(func.count()).select_from(SubjectAccessWithholding)) or 0)


@pytest.mark.usefixtures("world")
def test_a_report_by_address_is_refused(core: Core) -> None:
    # Issue 10, attack 7: by the address alone the report listed every organisation there,
    # the shelter included, to whoever asked for it (a banned partner).
    before = rows(core)
    for pseudonyms in (keys(core, address=(ADDRESS,)),
                       keys(core, bsn=(MOTHER,), address=(ADDRESS,))):
        with pytest.raises(ValidationError) as refused:
            in_uow(core, request_access, OFFICER, pseudonyms)
        assert refused.value.code == "subject-access-person"
        assert "nooit voor een adres" in refused.value.message("nl")
        assert "never for an address" in refused.value.message("en")
    with pytest.raises(ValidationError):  # three people at once
        in_uow(core, request_access, OFFICER, keys(core, bsn=(MOTHER, CHILD, FATHER)))
    assert rows(core) == before


@pytest.mark.usefixtures("world")
def test_the_shelter_is_withheld_and_the_person_is_told_that_something_was(core: Core) -> None:
    report = in_uow(core, request_access, OFFICER, keys(core, bsn=(MOTHER,)))
    assert report.entries == [] and report.withheld_grounds == (SHELTER_GROUND,)
    assert [(w.code, w.name, w.ground) for w in report.withheld] == [
        ("opvang", "Vrouwenopvang Het Anker", SHELTER_GROUND)]
    text, as_csv, as_json = every_form(report)
    for form in (text, as_csv, json.dumps(as_json, ensure_ascii=False)):
        assert "Anker" not in form and "opvang" not in form.lower()
        assert SHELTER_GROUND in form and report.request_id in form
    flowing = " ".join(text.split())  # the statement is wrapped over lines
    assert "Achtergehouden informatie" in text and "artikel 41 Uitvoeringswet AVG" in flowing
    assert "geen die getoond kunnen worden" in text  # not "no organisation"
    assert as_json["withheld_grounds"] == [SHELTER_GROUND]
    assert "artikel 41" in str(as_json["withheld_notice"])
    (withheld_row,) = list(csv.DictReader(io.StringIO(as_csv)))
    assert (withheld_row["event_type"], withheld_row["withheld_ground"]) == (
        "withheld", SHELTER_GROUND)
    english = render_text(in_uow(core, request_access, OFFICER, keys(core, bsn=(MOTHER,)), "en"))
    assert "Withheld information" in english and "article 41" in " ".join(english.split())
    # Only the privacy officer learns which organisation it is, to decide on a release.
    assert "opvang (Vrouwenopvang Het Anker, Vrouwenopvang)" in officer_notes(report)


@pytest.mark.usefixtures("world")
def test_police_lookups_on_a_suspect_are_withheld_until_released(
        core: Core, registry: RegistryService) -> None:
    # Issue 10, attack 7: by a suspect's BSN the report listed the police's look-ups.
    report = in_uow(core, request_access, OFFICER, keys(core, bsn=(FATHER,)))
    assert report.entries == [] and report.withheld_grounds == (POLICE_GROUND,)
    assert "Politie" not in render_text(report)
    released = in_uow(
            core, release, as_privacy_officer("fg-2"), report.request_id, "politie", REASON)
    assert [(e.organisation, e.event_type) for e in released.entries] == [
        ("Politie Basisteam Centrum", "involvement:registered"),
        ("Politie Basisteam Centrum", "lookup:performed")]
    assert released.withheld == () and released.withheld_grounds == ()
    assert released.request_id == report.request_id
    with core.session() as session:
        event = session.scalars(select(AuditEvent).where(
            AuditEvent.event_type == "audit:subject_access_released")).one()
        decision = session.scalars(select(SubjectAccessWithholding)).one()
        officer = session.scalars(select(Professional).filter_by(username="fg-2")).one()
        assert (event.action, event.actor, event.justification) == (
            "U", "privacy_officer:fg-2", REASON)  # the reason: erasable, outside the hash
        assert event.details == {"request_id": report.request_id, "organisation": "politie",
                                 "ground": POLICE_GROUND}
        assert event.subject_categories == ["person"]
        assert (decision.release_event_id, decision.released_by_id) == (
            event.event_id, officer.id)
    reported = last_event(core)
    assert (reported.event_type, reported.details["withheld"]) == ("audit:reported", [])
    # The release holds for that request only; a new request withholds the police again.
    again = in_uow(core, request_access, OFFICER, keys(core, bsn=(FATHER,)))
    assert again.entries == [] and again.withheld_grounds == (POLICE_GROUND,)
    before = rows(core)
    with pytest.raises(Conflict):
        in_uow(core, release, OFFICER, report.request_id, "politie", REASON)
    assert rows(core) == before


@pytest.mark.usefixtures("world")
def test_only_an_active_privacy_officer_acts(core: Core) -> None:
    report = in_uow(core, request_access, OFFICER, keys(core, bsn=(FATHER,)))
    with core.session() as session:
        session.execute(update(Professional).where(Professional.username == "fg-2")
                        .values(active=False))
    before = rows(core)
    for actor in (as_privacy_officer("politie-1"), as_privacy_officer("auditor-1"),
                  as_privacy_officer("fg-2"), as_privacy_officer("nobody"), Actor.operator(),
                  Actor(actor="privacy_officer:fg-1", channel="cli"),
                  Actor(actor="professional:fg-1", channel="web", role="privacy_officer")):
        with pytest.raises(Forbidden) as refused:
            in_uow(core, request_access, actor, keys(core, bsn=(FATHER,)))
        assert "privacy officer" in refused.value.message("nl")
        with pytest.raises(Forbidden):
            in_uow(core, release, actor, report.request_id, "politie", REASON)
    assert rows(core) == before


@pytest.mark.usefixtures("world")
def test_a_release_refuses_bad_input_and_writes_nothing(core: Core) -> None:
    report = in_uow(core, request_access, OFFICER, keys(core, bsn=(FATHER,)))
    child = in_uow(
            core, request_access, OFFICER, keys(core, bsn=(CHILD,)))  # the school: not withheld
    before = rows(core)
    cases: list[tuple[tuple[str, str, str], type[BrokerError]]] = [
        (("00000000-0000-4000-8000-000000000000", "politie", REASON), NotFound),
        (("x" * 500, "politie", REASON), NotFound),
        ((child.request_id, "school", REASON), NotFound),
        ((report.request_id, "opvang", REASON), NotFound),  # withheld elsewhere, not here
        ((report.request_id, "no-such-org", REASON), NotFound),
        ((report.request_id, "politie", "   "), ValidationError),
        ((report.request_id, "politie", f"Vader met BSN {FATHER} is geen gevaar."),
         ValidationError),
        ((report.request_id, "politie", "x" * 2001), ValidationError),
        ((report.request_id, "politie", "met een \x00 erin"), ValidationError),
    ]
    for arguments, error in cases:
        with pytest.raises(error) as refused:
            in_uow(core, release, OFFICER, *arguments)
        assert refused.value.message("nl") != refused.value.message("en")
    assert rows(core) == before


@pytest.mark.usefixtures("world")
def test_two_releases_at_once_release_once(core: Core) -> None:
    report = in_uow(core, request_access, OFFICER, keys(core, bsn=(FATHER,)))
    outcomes: list[str] = []

    def attempt(officer: str) -> None:
        try:
            in_uow(core, release, as_privacy_officer(officer), report.request_id, "politie", REASON)
            outcomes.append("released")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=attempt, args=(name,)) for name in ("fg-1", "fg-2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict", "released"]
    with core.session() as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.event_type == "audit:subject_access_released")) == 1


@pytest.mark.usefixtures("world")
def test_a_type_the_policy_withholds_later_stays_withheld_in_an_open_request(
        core: Core, registry: RegistryService, policy_path: Path) -> None:
    registry.register_involvement(member(registry, "opvang"), organisation="opvang",
                                  professional="opvang-1", purpose="protection",
                                  pseudonyms=keys(core, bsn=(CHILD,)))
    report = in_uow(core, request_access, OFFICER, keys(core, bsn=(CHILD,)))
    assert [w.code for w in report.withheld] == ["opvang"]
    assert {e.organisation for e in report.entries} == {"Basisschool De Linde"}
    policy_file = policy_path / "policy.yaml"
    policy_file.write_text(policy_file.read_text().replace(
        "  withhold:\n", "  withhold:\n    school: UAVG art. 41 lid 1 onder i (test)\n"))
    assert core.policies.reload_if_changed().status == "reloaded"
    released = in_uow(core, release, OFFICER, report.request_id, "opvang", REASON)
    assert {e.organisation for e in released.entries} == {"Vrouwenopvang Het Anker"}
    assert [w.code for w in released.withheld] == ["school"]
    assert released.withheld_grounds == ("UAVG art. 41 lid 1 onder i (test)",)


def test_cli_subject_access_and_release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = broker_cli(monkeypatch, tmp_path / "home", SHIPPED_POLICY)
    assert run("init").exit_code == 0
    for code, (name, org_type) in ORGS.items():
        assert run("org", "add", "--identifier", code, "--name", name, "--type",
                   org_type).exit_code == 0
        assert run("professional", "add", "--org", code, "--username", f"{code}-1", "--name",
                   "Contact", "--role", "contactpersoon").exit_code == 0
    assert run("professional", "add", "--org", "wijkteam", "--username", "fg-1", "--name",
               "FG", "--role", "FG", "--access", "privacy_officer").exit_code == 0
    for code, identifiers in (("opvang", ["--bsn", MOTHER, "--address", ADDRESS]),
                              ("wijkteam", ["--address", ADDRESS])):
        done = run("register", "--org", code, "--professional", f"{code}-1", "--purpose",
                   "protection", *identifiers)
        assert done.exit_code == 0, done.output

    refused = run("audit", "subject-access", "--address", ADDRESS, "--as", "fg-1")
    assert refused.exit_code == 1 and "never for an address" in refused.output
    assert "Anker" not in refused.output and "Wijkteam" not in refused.output
    for wrong in (["--bsn", MOTHER, "--bsn", CHILD, "--as", "fg-1"],
                  ["--bsn", MOTHER, "--address", ADDRESS, "--as", "fg-1"],
                  ["--bsn", MOTHER, "--as", "wijkteam-1"],
                  ["--bsn", "123456789", "--as", "fg-1"]):
        result = run("audit", "subject-access", *wrong)
        assert result.exit_code == 1, result.output
        assert result.stdout == "" and "error:" in result.output
    assert run("audit", "subject-access", "--bsn", MOTHER).exit_code == 2  # --as is required

    made = run("audit", "subject-access", "--bsn", MOTHER, "--as", "fg-1", "--format", "json")
    assert made.exit_code == 0, made.output
    report = json.loads(made.stdout)
    assert report["entries"] == [] and report["withheld_grounds"] == [SHELTER_GROUND]
    assert "Anker" not in made.stdout
    assert "opvang (Vrouwenopvang Het Anker" in made.stderr  # the officer's notes
    request_id = report["request_id"]
    assert f"broker audit release {request_id}" in made.stderr

    released = run("audit", "release", request_id, "--organisation", "opvang", "--reason",
                   REASON, "--as", "fg-1")
    assert released.exit_code == 0, released.output
    assert "  - Vrouwenopvang Het Anker (" in released.stdout  # --lang en: the type in English
    assert "Withheld" not in released.stdout and "nothing withheld" in released.stderr
    twice = run("audit", "release", request_id, "--organisation", "opvang", "--reason", REASON,
                "--as", "fg-1", "--format", "csv")
    assert twice.exit_code == 1 and "already" in twice.output
    unsafe = run("audit", "release", request_id, "--organisation", "opvang", "--reason",
                 f"Postcode {ADDRESS}", "--as", "fg-1")
    assert unsafe.exit_code == 1 and "postcode" in unsafe.output
    assert ADDRESS not in unsafe.output
