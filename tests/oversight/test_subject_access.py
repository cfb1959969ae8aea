"""The subject access report (AVG art. 15) on the demo population under the shipped policy:
exactly the organisations that registered on or looked up the person, across key rotations,
without identifiers, the ones the policy withholds (UAVG art. 41) left out and named only to
the privacy officer."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from broker_primitives.identifiers import Identifier
from sqlalchemy import select

from broker.audit.models import AuditEvent, AuditSubject, SubjectAccessRequest
from broker.audit.services import Actor
from broker.core import Core
from broker.demo import (
    ORGANISATIONS,
    SHOWCASE,
    SHOWCASE_INVOLVEMENTS,
    Household,
    load_demo,
    population,
)
from broker.errors import ValidationError
from broker.oversight.subject_access import SubjectAccessReport
from broker.oversight.subject_access_render import render_text, write_report_csv, write_report_json
from broker.oversight.subject_requests import as_privacy_officer, release, request_access
from broker.registry.lookups import Evidence, LookupService
from broker.registry.models import ACCESS_PRIVACY_OFFICER, Involvement, MatchingKey, Organisation
from broker.registry.rotation import run_rotation, start_or_resume
from broker.registry.services import RegistryService
from tests.conftest import SHIPPED_POLICY, FakeClock
from tests.oversight.test_search import assert_no_raw, audit_text
from tests.uow import committed, in_uow

OPERATOR = Actor.operator("test")  # evaluations charged to no organisation

HOUSEHOLDS = 8
A, B = SHOWCASE
NAMES = {code: name for code, name, _ in ORGANISATIONS}
TYPES = {code: org_type for code, _, org_type in ORGANISATIONS}
WITHHELD_TYPES = {"vrouwenopvang", "veilig_thuis", "politie"}  # the shipped policy's
STATUTE = Evidence(statute="wmo2015_5_2_6")
SECRET_REASON = ("Moeder belde in paniek; de vader dreigt het kind mee te nemen naar het "
                 "buitenland en niemand weet waar het gezin nu verblijft. Uniek-kenmerk-XYZ.")
OFFICER = as_privacy_officer("privacy-officer-1")


@pytest.fixture
def policy_path() -> Path:
    """The demo uses every organisation type of the shipped policy."""
    return SHIPPED_POLICY


def professional(registry: RegistryService, code: str) -> Actor:
    """The demo organisation ``code``'s first professional, signed in on the web."""
    org = registry.get_organisation(code)
    return Actor(actor=f"professional:{code}-1", channel="web", organisation_id=org.id)


def ids(household: Household, *indices: int) -> list[Identifier]:
    """Some of a household's identifiers (BSNs, address, people without BSN, in that order)."""
    every = household.identifiers()
    return [every[i] for i in indices] if indices else every


@pytest.fixture
def demo(core: Core, registry: RegistryService) -> dict[str, set[str]]:
    """The demo population, a privacy officer, and look-ups: the neighbourhood team of A's
    address, GGZ of A's child, the police of B's BSN; a refused look-up of A by probation (no
    statute). Returns the codes of the organisations that looked up each person."""
    load_demo(core, households=HOUSEHOLDS)
    registry.add_professional(Actor.operator(), organisation="wijkteam-noord",
                              username="privacy-officer-1", name="Functionaris", role="FG",
                              access_role=ACCESS_PRIVACY_OFFICER)
    service = committed(core, LookupService)
    for code, identifiers in (("wijkteam-noord", ids(A, 2)), ("ggz-centraal", ids(A, 1)),
                              ("politie-basisteam", ids(B, 0))):
        service.lookup(professional(registry, code),
                       pseudonyms=core.pseudonymise(OPERATOR, identifiers),
                       purpose="safety_assessment", basis="legal_task", evidence=STATUTE)
    with pytest.raises(ValidationError):
        service.lookup(professional(registry, "reclassering-midden"),
                       pseudonyms=core.pseudonymise(OPERATOR, ids(A)), purpose="safety_assessment",
                       basis="legal_task")
    return {"A-mother": set(), "A-child": {"ggz-centraal"}, "B": {"politie-basisteam"}}


def registered_on(core: Core, identifiers: list[Identifier]) -> set[str]:
    """Codes of organisations with a registration sharing a key, read from the registry."""
    values = [k.value for k in
              core.matching.to_stored_many(core.pseudonymise(OPERATOR, identifiers))]
    with core.session() as session:
        return set(session.scalars(
            select(Organisation.identifier)
            .join(Involvement, Involvement.organisation_id == Organisation.id)
            .join(MatchingKey, MatchingKey.involvement_id == Involvement.id)
            .where(MatchingKey.value.in_(values))))


def showcase_registrants(number: int, indices: set[int]) -> set[str]:
    """Codes of the organisations the demo registers on showcase ``number`` with any of the
    identifiers at ``indices`` (straight from the demo's fixed table)."""
    return {code for code, chosen in SHOWCASE_INVOLVEMENTS[number] if indices & set(chosen)}


def report_of(core: Core, identifiers: list[Identifier], lang: str = "nl"
              ) -> SubjectAccessReport:
    return in_uow(core, request_access, OFFICER, core.pseudonymise(OPERATOR, identifiers), lang)


def names(report: SubjectAccessReport) -> set[str]:
    return {name for name, _ in report.organisations}


def outputs(report: SubjectAccessReport) -> str:
    """The report in every form the person may receive, as one string."""
    as_csv, as_json = io.StringIO(), io.StringIO()
    write_report_csv(as_csv, report)
    write_report_json(as_json, report)
    return render_text(report) + as_csv.getvalue() + as_json.getvalue()


def digest(report: SubjectAccessReport) -> list[tuple[object, ...]]:
    return [(e.occurred_at, e.organisation, e.event_type, e.concerning) for e in report.entries]


@pytest.mark.parametrize(("case", "number", "indices"), [
    ("A-mother", 0, (0,)), ("A-child", 0, (1,)), ("B", 1, (0, 2))])
def test_lists_exactly_the_organisations_that_touched_the_person_but_the_withheld(
        core: Core, demo: dict[str, set[str]], case: str, number: int,
        indices: tuple[int, ...]) -> None:
    identifiers = ids(SHOWCASE[number], *indices)
    registrants = registered_on(core, identifiers)
    assert registrants == showcase_registrants(number, set(indices))  # two independent sources
    touched = registrants | demo[case]
    report = report_of(core, identifiers)
    assert names(report) == {NAMES[c] for c in touched if TYPES[c] not in WITHHELD_TYPES}
    assert {w.code for w in report.withheld} == {c for c in touched
                                                 if TYPES[c] in WITHHELD_TYPES}
    assert bool(report.withheld_grounds) == bool(report.withheld)
    assert "Reclassering Midden" not in names(report)  # its look-up was refused: nothing read
    assert "Wijkteam Noord" not in names(report)  # it looked up the address only


def test_entries_say_what_when_why_and_under_which_rule(core: Core,
                                                        demo: dict[str, set[str]]) -> None:
    report = report_of(core, ids(A, 1))
    assert [e.occurred_at for e in report.entries] == sorted(e.occurred_at for e in report.entries)
    (ggz,) = [e for e in report.entries if e.event_type == "lookup:performed"]
    assert (ggz.organisation, ggz.what, ggz.purpose, ggz.legal_basis, ggz.statute,
            ggz.organisation_type, ggz.concerning) == (
        "GGZ Centraal", "raadpleegde of andere organisaties betrokken zijn",
        "Veiligheidstaxatie", "Wettelijke taak", "wmo2015_5_2_6",
        "GGZ (geestelijke gezondheidszorg)", ("persoon",))
    school = next(e for e in report.entries if e.organisation == "Basisschool De Linde")
    assert (school.event_type, school.what, school.concerning) == (
        "involvement:registered", "registreerde dat zij betrokken is", ("persoon",))
    english = report_of(core, ids(A, 1), "en")
    assert {e.what for e in english.entries} == {
        "registered that it is involved", "looked up whether other organisations are involved"}
    text = render_text(english)
    assert "Subject access report (GDPR art. 15)" in text and "Safety assessment" in text
    assert f"Request: {english.request_id}" in text and "Withheld" not in text
    dutch = render_text(report)
    assert "Inzageoverzicht (AVG art. 15)" in dutch and "Achtergehouden" not in dutch
    for name in names(report):
        assert f"  - {name} (" in dutch


def test_registrations_are_followed_until_they_end_and_expire(
        core: Core, registry: RegistryService, demo: dict[str, set[str]],
        clock: FakeClock) -> None:
    def involvement_of(code: str, household: Household) -> str:
        keys = core.matching.to_stored_many(core.pseudonymise(OPERATOR, ids(household)))
        with core.session() as session:
            return session.scalars(
                select(Involvement.public_id).distinct().join(MatchingKey).join(Organisation)
                .where(Organisation.identifier == code,
                       MatchingKey.value.in_([k.value for k in keys]))).one()

    school = "basisschool-de-linde"
    registry.end_involvement(professional(registry, school), involvement_of(school, A))
    clock.now += timedelta(days=3 * 365)  # every other involvement expires
    registry.purge(Actor.system("purge"))
    child = report_of(core, ids(A, 1))
    assert [(e.organisation, e.event_type) for e in child.entries
            if e.event_type.startswith("involvement:")] == [
        ("Basisschool De Linde", "involvement:registered"),
        ("Basisschool De Linde", "involvement:ended")]
    mother = report_of(core, ids(A, 0))
    released = in_uow(core, release, OFFICER, mother.request_id, "veilig-thuis-regio",
                       "De betrokkene wist al van de melding; geen gevaar meer.")
    later = [(e.organisation, e.event_type, e.concerning) for e in released.entries]
    assert later == [("Veilig Thuis Regio Midden", "involvement:registered", ("persoon",)),
                     ("Veilig Thuis Regio Midden", "involvement:expired", ("persoon",))]


def test_never_shows_the_justification_or_an_identifier(
        core: Core, registry: RegistryService, demo: dict[str, set[str]]) -> None:
    committed(core, LookupService).lookup(
        professional(registry, "jeugdhulp-de-brug"), pseudonyms=core.pseudonymise(OPERATOR, ids(A)),
        purpose="safety_assessment", basis="vital_interest",
        evidence=Evidence(justification=SECRET_REASON))
    report = report_of(core, ids(A, 1))
    assert "Zwaarwegend belang" in {e.legal_basis for e in report.entries}
    text = outputs(report)
    assert "Uniek-kenmerk-XYZ" not in text
    assert_no_raw(text, *population(HOUSEHOLDS, 2026))
    assert_no_raw(audit_text(core), *population(HOUSEHOLDS, 2026))


def test_unknown_person_gets_an_empty_report(core: Core, demo: dict[str, set[str]]) -> None:
    report = report_of(core, ids(Household(["111111110"], [], "9999 ZZ 1"), 0))
    assert report.entries == [] and report.withheld == ()
    assert "geen: geen organisatie" in render_text(report)


def test_a_request_and_its_report_are_audited_with_the_persons_keys(
        core: Core, demo: dict[str, set[str]]) -> None:
    report = report_of(core, ids(A, 0))
    keys = {k.value for k in core.matching.to_stored_many(core.pseudonymise(OPERATOR, ids(A, 0)))}
    with core.session() as session:
        request = session.scalars(select(SubjectAccessRequest)).one()
        events = session.scalars(select(AuditEvent).where(
            AuditEvent.seq >= request.covers_seq).order_by(AuditEvent.seq)).all()
        assert [(e.event_type, e.actor, e.actor_role) for e in events] == [
            ("audit:subject_access_requested", "privacy_officer:privacy-officer-1",
             "privacy_officer"),
            ("audit:reported", "privacy_officer:privacy-officer-1", "privacy_officer")]
        assert events[0].event_id == request.event_id
        assert events[0].details == {"request_id": report.request_id}
        assert events[1].details == {
            "report": "subject_access", "request_id": report.request_id, "entries": 0,
            "organisations": 0, "language": "nl",
            "withheld": [{"organisation": "veilig-thuis-regio",
                          "ground": report.withheld[0].ground}]}
        for event in events:
            assert set(session.scalars(select(AuditSubject.value).where(
                AuditSubject.event_id == event.id))) == keys
    # The auditor's report is no organisation's processing: a second report is unchanged.
    assert digest(report_of(core, ids(A, 0))) == digest(report)


@pytest.mark.parametrize("which", ["oprf", "broker"])
def test_survives_key_rotation(core: Core, demo: dict[str, set[str]], which: str) -> None:
    before = digest(report_of(core, ids(B, 0, 2)))
    pending = report_of(core, ids(B, 0))
    rotation, _ = start_or_resume(core, OFFICER, which, grace=0)  # type: ignore[arg-type]
    run_rotation(core, OFFICER, rotation, batch_size=7, max_batches=5)  # unfinished
    assert digest(report_of(core, ids(B, 0, 2))) == before
    # A release in the middle of the rotation finds the request's events by its stored keys.
    middle = in_uow(core, release, OFFICER, pending.request_id, "politie-basisteam",
                     "Het onderzoek is afgesloten; de politie stemt in.")
    assert {e.organisation for e in middle.entries} >= {"Politie Basisteam Centrum"}
    run_rotation(core, OFFICER, rotation)
    assert digest(report_of(core, ids(B, 0, 2))) == before
    released = report_of(core, ids(B, 0))
    assert [e.organisation for e in released.entries] == [
        e.organisation for e in pending.entries]  # a new request withholds the police again
