"""The subject access report (AVG art. 15) on the demo population: exactly the organisations
that registered on or looked up the person, across key rotations, without identifiers."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from broker.audit.models import AuditSubject
from broker.audit.search import write_csv
from broker.audit.services import Actor
from broker.audit.subject_access import (
    AccessEntry,
    SubjectAccessReport,
    render_text,
    subject_access_report,
    write_report_json,
)
from broker.cli import main
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
from broker.identifiers import Identifier
from broker.pseudonyms.rotation import run_rotation, start_or_resume
from broker.registry.lookups import Evidence, LookupService
from broker.registry.models import Involvement, MatchingKey, Organisation
from broker.registry.services import RegistryService
from tests.audit.test_search import AUDITOR, assert_no_raw, audit_text, last_event
from tests.conftest import SHIPPED_POLICY, FakeClock

OPERATOR = Actor.operator("test")  # evaluations charged to no organisation

HOUSEHOLDS = 8
A, B = SHOWCASE
NAMES = {code: name for code, name, _ in ORGANISATIONS}
STATUTE = Evidence(statute="wmo2015_5_2_6")
SECRET_REASON = ("Moeder belde in paniek; de vader dreigt het kind mee te nemen naar het "
                 "buitenland en niemand weet waar het gezin nu verblijft. Uniek-kenmerk-XYZ.")


@pytest.fixture
def policy_path() -> Path:
    """The demo uses every organisation type of the shipped policy."""
    return SHIPPED_POLICY


def professional(registry: RegistryService, code: str) -> Actor:
    """The demo organisation ``code``'s first professional, signed in on the web."""
    org = registry.get_organisation(code)
    return Actor(actor=f"professional:{code}-1", channel="web", organisation_id=org.id)


def ids(household: Household, *indices: int) -> list[Identifier]:
    """Some of a household's identifiers (BSNs, people without BSN, address, in that order)."""
    every = household.identifiers()
    return [every[i] for i in indices] if indices else every


@pytest.fixture
def demo(core: Core, registry: RegistryService) -> dict[str, set[str]]:
    """The demo population, and look-ups: the neighbourhood team of A's address, GGZ of A's
    child, the police of B; a refused look-up of A by probation (no statute). Returns the
    organisation codes that looked up each of A-all, A-child and B."""
    load_demo(core, households=HOUSEHOLDS)
    service = LookupService(core)
    for code, identifiers in (("wijkteam-noord", ids(A, 2)), ("ggz-centraal", ids(A, 1)),
                              ("politie-basisteam", ids(B))):
        service.lookup(professional(registry, code),
                       pseudonyms=core.pseudonymise(OPERATOR, identifiers),
                       purpose="safety_assessment", basis="legal_task", evidence=STATUTE)
    with pytest.raises(ValidationError):
        service.lookup(professional(registry, "reclassering-midden"),
                       pseudonyms=core.pseudonymise(OPERATOR, ids(A)),
                       purpose="safety_assessment", basis="legal_task")
    return {"A": {"wijkteam-noord", "ggz-centraal"}, "A-child": {"ggz-centraal"},
            "B": {"politie-basisteam"}}


def registered_on(core: Core, identifiers: list[Identifier]) -> set[str]:
    """Codes of organisations with a registration sharing a key, read from the registry."""
    values = [k.value for k in
              core.matching.to_stored_many(core.pseudonymise(OPERATOR, identifiers))]
    with core.unit_of_work() as session:
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
    return subject_access_report(core, AUDITOR, core.pseudonymise(OPERATOR, identifiers), lang)


def names(report: SubjectAccessReport) -> set[str]:
    return {name for name, _ in report.organisations}


def digest(report: SubjectAccessReport) -> list[tuple[object, ...]]:
    return [(e.occurred_at, e.organisation, e.event_type, e.concerning) for e in report.entries]


@pytest.mark.parametrize(("case", "number", "indices"), [
    ("A", 0, (0, 1, 2)), ("A-child", 0, (1,)), ("B", 1, (0, 1, 2))])
def test_lists_exactly_the_organisations_that_touched_the_person(
        core: Core, demo: dict[str, set[str]], case: str, number: int,
        indices: tuple[int, ...]) -> None:
    identifiers = ids(SHOWCASE[number], *indices)
    registrants = registered_on(core, identifiers)
    assert registrants == showcase_registrants(number, set(indices))  # two independent sources
    expected = {NAMES[code] for code in registrants | demo[case]}
    report = report_of(core, identifiers)
    assert names(report) == expected
    assert "Reclassering Midden" not in names(report)  # its look-up was refused: nothing read


def test_entries_say_what_when_why_and_under_which_rule(core: Core,
                                                        demo: dict[str, set[str]]) -> None:
    report = report_of(core, ids(A))
    assert [e.occurred_at for e in report.entries] == sorted(e.occurred_at for e in report.entries)
    lookups = [e for e in report.entries if e.event_type == "lookup:performed"]
    assert {(e.organisation, e.concerning) for e in lookups} == {
        ("Wijkteam Noord", ("adres",)), ("GGZ Centraal", ("persoon",))}
    ggz = next(e for e in lookups if e.organisation == "GGZ Centraal")
    assert (ggz.what, ggz.purpose, ggz.legal_basis, ggz.statute, ggz.organisation_type) == (
        "raadpleegde of andere organisaties betrokken zijn", "Veiligheidstaxatie",
        "Wettelijke taak", "wmo2015_5_2_6", "GGZ (geestelijke gezondheidszorg)")
    vt = next(e for e in report.entries if e.organisation == "Veilig Thuis Regio Midden")
    assert (vt.event_type, vt.what, vt.concerning) == (
        "involvement:registered", "registreerde dat zij betrokken is", ("persoon", "adres"))
    english = report_of(core, ids(A), "en")
    assert {e.what for e in english.entries} == {
        "registered that it is involved", "looked up whether other organisations are involved"}
    text = render_text(english)
    assert "Subject access report (GDPR art. 15)" in text and "Safety assessment" in text
    dutch = render_text(report)
    assert "Inzageoverzicht (AVG art. 15)" in dutch
    for name in names(report):
        assert f"  - {name} (" in dutch


def test_registrations_are_followed_until_they_end_and_expire(
        core: Core, registry: RegistryService, demo: dict[str, set[str]],
        clock: FakeClock) -> None:
    def involvement_of(code: str, household: Household) -> str:
        keys = core.matching.to_stored_many(core.pseudonymise(OPERATOR, ids(household)))
        with core.unit_of_work() as session:
            return session.scalars(
                select(Involvement.public_id).distinct().join(MatchingKey).join(Organisation)
                .where(Organisation.identifier == code,
                       MatchingKey.value.in_([k.value for k in keys]))).one()

    for code, household in (("veilig-thuis-regio", A), ("politie-basisteam", B)):
        registry.end_involvement(professional(registry, code), involvement_of(code, household))
    clock.now += timedelta(days=3 * 365)  # every other involvement expires
    registry.purge(Actor.system("purge"))
    report = report_of(core, ids(A))
    later = [(e.organisation, e.event_type) for e in report.entries
             if e.event_type in ("involvement:ended", "involvement:expired")]
    assert sorted(later) == [("Basisschool De Linde", "involvement:expired"),
                             ("Veilig Thuis Regio Midden", "involvement:ended"),
                             ("Wijkteam Noord", "involvement:expired")]
    ended = next(e for e in report.entries if e.event_type == "involvement:ended")
    assert ended.concerning == ("persoon", "adres")  # the registration's keys of A
    assert "Politie Basisteam Centrum" not in names(report)


def test_never_shows_the_justification_or_an_identifier(
        core: Core, registry: RegistryService, demo: dict[str, set[str]]) -> None:
    LookupService(core).lookup(
        professional(registry, "veilig-thuis-regio"),
        pseudonyms=core.pseudonymise(OPERATOR, ids(A)),
        purpose="safety_assessment", basis="vital_interest",
        evidence=Evidence(justification=SECRET_REASON))
    report = report_of(core, ids(A))
    assert "Zwaarwegend belang" in {e.legal_basis for e in report.entries}
    as_csv, as_json = io.StringIO(), io.StringIO()
    write_csv(as_csv, report.entries, AccessEntry)
    write_report_json(as_json, report)
    outputs = render_text(report) + as_csv.getvalue() + as_json.getvalue()
    assert "Uniek-kenmerk-XYZ" not in outputs
    assert_no_raw(outputs, *population(HOUSEHOLDS, 2026))
    assert_no_raw(audit_text(core), *population(HOUSEHOLDS, 2026))
    parsed = json.loads(as_json.getvalue())
    assert {o["name"] for o in parsed["organisations"]} == names(report)
    assert len(list(csv.DictReader(io.StringIO(as_csv.getvalue())))) == len(report.entries)


def test_unknown_person_gets_an_empty_report(core: Core, demo: dict[str, set[str]]) -> None:
    stranger = Household(["123456782"], [], "9999 ZZ 1")  # the child's BSN, another address
    report = report_of(core, ids(stranger, 1))
    assert report.entries == []
    assert "geen: geen organisatie" in render_text(report)


def test_the_report_is_audited_with_the_persons_keys(core: Core,
                                                     demo: dict[str, set[str]]) -> None:
    report = report_of(core, ids(A))
    event = last_event(core)
    assert (event.event_type, event.actor) == ("audit:reported", "cli:operator")
    assert event.details == {"report": "subject_access", "entries": len(report.entries),
                             "organisations": 4, "language": "nl"}
    with core.unit_of_work() as session:
        stored = set(session.scalars(select(AuditSubject.value).where(
            AuditSubject.event_id == event.id)))
    assert stored == {k.value for k in
                      core.matching.to_stored_many(core.pseudonymise(OPERATOR, ids(A)))}
    # The auditor's report is no organisation's processing: a second report is unchanged.
    assert digest(report_of(core, ids(A))) == digest(report)


@pytest.mark.parametrize("which", ["oprf", "broker"])
def test_survives_key_rotation(core: Core, demo: dict[str, set[str]], which: str) -> None:
    before = digest(report_of(core, ids(A)))
    child = digest(report_of(core, ids(A, 1)))
    rotation, _ = start_or_resume(core, AUDITOR, which, grace=0)  # type: ignore[arg-type]
    run_rotation(core, AUDITOR, rotation, batch_size=7, max_batches=5)  # unfinished
    assert digest(report_of(core, ids(A))) == before
    run_rotation(core, AUDITOR, rotation)
    assert digest(report_of(core, ids(A))) == before
    assert digest(report_of(core, ids(A, 1))) == child


def test_cli_subject_access(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROKER_HOME", str(tmp_path))
    monkeypatch.setenv("BROKER_POLICY_DIR", str(SHIPPED_POLICY))
    monkeypatch.delenv("BROKER_DATABASE_URL", raising=False)
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert_no_raw(result.output, *population(3, 2026))
        return result.stdout

    run("init")
    run("demo", "--households", "3")
    household = ["--bsn", A.bsns[0], "--bsn", A.bsns[1], "--address", A.address]
    expected = {NAMES[c] for c, _ in SHOWCASE_INVOLVEMENTS[0]}
    text = run("audit", "subject-access", *household)
    assert "Inzageoverzicht" in text and all(name in text for name in expected)
    as_json = json.loads(run("audit", "subject-access", *household, "--format", "json"))
    assert {o["name"] for o in as_json["organisations"]} == expected
    as_csv = run("--lang", "en", "audit", "subject-access", "--bsn", A.bsns[1], "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(as_csv)))
    assert [(r["organisation"], r["what"]) for r in rows] == [
        ("Basisschool De Linde", "registered that it is involved")]
    english = run("--lang", "en", "audit", "subject-access", "--address", A.address)
    assert "Subject access report" in english
    missing = runner.invoke(main, ["--lang", "en", "audit", "subject-access"])
    assert missing.exit_code == 1 and "at least one" in missing.output
