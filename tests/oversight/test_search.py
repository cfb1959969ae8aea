"""``broker audit search``: filters, household search across key rotations, writers, the CLI.

The helpers at the top are shared with the report and subject-access tests.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from broker_primitives.blinding import Pseudonym
from click.testing import Result
from sqlalchemy import func, select

from broker.audit.models import AuditEvent, AuditSubject
from broker.audit.services import Actor
from broker.core import Core
from broker.demo import Household
from broker.errors import NotFound, ValidationError
from broker.oversight.search import AuditQuery, AuditRow, search_events, write_csv, write_json
from broker.registry.lookups import Evidence, LookupService
from broker.registry.rotation import run_rotation, start_or_resume
from broker.registry.services import RegistryService
from tests.conftest import FakeClock, broker_cli
from tests.factories import (
    ADDRESS,
    CHILD_BSN,
    MOTHER_BSN,
    STATUTE,
    Member,
    household,
    make_member,
    register,
)
from tests.uow import committed, in_uow

AUDITOR = Actor.operator()
B_BSN, B_ADDRESS = "999999990", "3512 JE 7"
HOUSEHOLD_A = Household([MOTHER_BSN, CHILD_BSN], [], ADDRESS)
HOUSEHOLD_B = Household([B_BSN], ["van der Horst;J;2015-02-03"], B_ADDRESS)
JUSTIFICATION = "Acuut gevaar voor het kind, het gezin is onvindbaar en de melder is bang."
Run = Callable[..., Result]


def raw_strings(*households: Household) -> set[str]:
    """Every raw identifier of ``households`` in typed and canonical forms."""
    values: set[str] = set()
    for h in households:
        values.update(h.bsns, h.people_without_bsn, [h.address, h.address.replace(" ", "")])
        values.update(p.split(";")[0] for p in h.people_without_bsn)
        values.update(i.canonical for i in h.identifiers())
    return values


def assert_no_raw(text: str, *households: Household) -> None:
    """``text`` holds no raw identifier of ``households``."""
    leaked = sorted(v for v in raw_strings(*households) if v in text)
    assert leaked == []


def audit_text(core: Core) -> str:
    """Every text and JSON column of the audit tables, as one string."""
    with core.session() as session:
        rows = [*session.execute(select(AuditEvent)).scalars(),
                *session.execute(select(AuditSubject)).scalars()]
        return "\n".join(json.dumps(v, default=str) for row in rows for v in vars(row).values()
                         if isinstance(v, str | dict | list))


def follow_clock(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> FakeClock:
    """Time-stamp audit events with the test's clock, so a test can place them in time."""
    monkeypatch.setattr("broker.audit.services.utcnow", clock)
    return clock


def look_up(core: Core, member: Member, pseudonyms: Sequence[Pseudonym], *,
            purpose: str = "care_coordination", basis: str = "legal_task",
            evidence: Evidence = STATUTE) -> str:
    """A look-up by ``member``; returns its audit event id."""
    return committed(core, LookupService).lookup(
            member.actor, pseudonyms=pseudonyms, purpose=purpose,
                                      basis=basis, evidence=evidence).lookup_id


def pairs(rows: Iterable[AuditRow]) -> list[tuple[str, str | None]]:
    """(event type, organisation code) of each row."""
    return [(r.event_type, r.organisation) for r in rows]


def audit_count(core: Core) -> int:
    """How many events the log holds."""
    with core.session() as session:
        return session.scalar(select(func.count()).select_from(AuditEvent)) or 0


def last_event(core: Core) -> AuditEvent:
    """The newest audit event (detached)."""
    with core.session() as session:
        event = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
        assert event is not None
        session.expunge(event)
        return event


def of_a(core: Core) -> tuple[Pseudonym, ...]:
    """Household A's pseudonyms as a search takes them."""
    return tuple(household(core, bsn=(MOTHER_BSN, CHILD_BSN), address=(ADDRESS,)))


@pytest.fixture
def world(core: Core, registry: RegistryService) -> dict[str, Member]:
    """VT registered on A, the school on B; the neighbourhood team looked up both."""
    members = {key: make_member(registry, key) for key in ("vt", "school", "wijkteam")}
    register(registry, members["vt"], household(core, bsn=(MOTHER_BSN,), address=(ADDRESS,)))
    register(registry, members["school"], household(core, bsn=(B_BSN,)))
    look_up(core, members["wijkteam"], household(core, address=(ADDRESS,)))
    look_up(core, members["wijkteam"], household(core, bsn=(B_BSN,), address=(B_ADDRESS,)))
    return members


def test_household_search_finds_its_events_and_not_others(core: Core, world: object) -> None:
    found = in_uow(core, search_events, AUDITOR, AuditQuery(household=of_a(core)))
    assert pairs(found) == [("involvement:registered", "veilig-thuis"),
                            ("lookup:performed", "wijkteam")]
    b = in_uow(core, search_events, AUDITOR,
               AuditQuery(household=tuple(household(core, bsn=(B_BSN,)))))
    assert pairs(b) == [("involvement:registered", "basisschool"),
                        ("lookup:performed", "wijkteam")]
    # No organisation's event had the child's BSN: only the auditor's search of A, which did.
    assert pairs(in_uow(core, search_events, AUDITOR, AuditQuery(
        household=tuple(household(core, bsn=(CHILD_BSN,)))))) == [("audit:searched", None)]
    assert in_uow(core, search_events, AUDITOR, AuditQuery(
        household=tuple(household(core, address=("9999 ZZ 1",))))) == []
    # Searches record the household's keys: the searches that concerned A show up for A only.
    again = in_uow(core, search_events, AUDITOR, AuditQuery(household=of_a(core)))
    assert [r.event_type for r in again].count("audit:searched") == 2
    assert [r.event_type for r in in_uow(core, search_events, AUDITOR, AuditQuery(
        household=tuple(household(core, bsn=(B_BSN,)))))].count("audit:searched") == 1


def test_a_search_is_audited_without_raw_identifiers(core: Core, world: object) -> None:
    before = audit_count(core)
    in_uow(core, search_events, AUDITOR, AuditQuery(organisation="wijkteam", household=of_a(core)),
                  limit=5)
    assert audit_count(core) == before + 1
    event = last_event(core)
    assert (event.event_type, event.actor, event.channel) == ("audit:searched", "cli:operator",
                                                              "cli")
    assert event.details["organisation"] == "wijkteam"
    assert event.details["household_keys"] == 3 and event.details["results"] == 1
    assert event.details["limit"] == 5
    assert event.subject_categories == ["address", "person", "person"]
    with core.session() as session:
        stored = set(session.scalars(select(AuditSubject.value).where(
            AuditSubject.event_id == event.id)))
    current = {k.value for k in core.matching.to_stored_many(list(of_a(core)))}
    assert stored == current
    assert_no_raw(audit_text(core), HOUSEHOLD_A, HOUSEHOLD_B)


def test_rows_carry_no_key_bytes(core: Core, world: object) -> None:
    for row in in_uow(core, search_events, AUDITOR, AuditQuery()):
        assert not any(isinstance(v, bytes) for v in vars(row).values())


def test_filters_by_organisation_professional_type_and_period(
    core: Core, registry: RegistryService, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    follow_clock(monkeypatch, clock)
    vt, school = make_member(registry, "vt"), make_member(registry, "school")
    start = clock.now
    register(registry, vt, household(core, bsn=(MOTHER_BSN,)))
    clock.now += timedelta(days=2)
    # A case system's key acting for the school's professional (NEN 7513: on behalf of).
    system = Actor(actor="key:school-cms", channel="api", organisation_id=school.actor.
                   organisation_id).acting_for(school.username)
    committed(core, LookupService).lookup(system, pseudonyms=household(core, bsn=(MOTHER_BSN,)),
                               purpose="care_coordination", basis="legal_task", evidence=STATUTE)
    look_up(core, vt, household(core, bsn=(B_BSN,)))

    def search(**filters: object) -> list[tuple[str, str | None]]:
        filters.setdefault("event_types", ("involvement:registered", "lookup:performed"))
        return pairs(in_uow(
                core, search_events, AUDITOR, AuditQuery(**filters)))  # type: ignore[arg-type]

    assert search(organisation="basisschool") == [("lookup:performed", "basisschool")]
    assert {org for _, org in search(organisation="basisschool", event_types=())} == {
        "basisschool"}
    assert search(professional=school.username) == [("lookup:performed", "basisschool")]
    assert search(professional=vt.username) == [("involvement:registered", "veilig-thuis"),
                                                ("lookup:performed", "veilig-thuis")]
    assert search(event_types=("involvement:registered",)) == [
        ("involvement:registered", "veilig-thuis")]
    later = start + timedelta(days=1)
    assert search(start=later) == [("lookup:performed", "basisschool"),
                                   ("lookup:performed", "veilig-thuis")]
    assert ("involvement:registered", "veilig-thuis") in search(start=start, end=later)
    assert ("lookup:performed", "basisschool") not in search(start=start, end=later)
    row = in_uow(core, search_events, AUDITOR, AuditQuery(organisation="basisschool"))[-1]
    assert (row.actor, row.on_behalf_of, row.channel) == (
        "key:school-cms", "professional:basisschool-1", "api")
    assert (row.purpose, row.legal_basis, row.statute, row.rule_id) == (
        "care_coordination", "legal_task", "jeugdwet_7_1_1", "everyone-sees-everyone")
    assert row.organisation_name == "Basisschool De Linde"


def test_flags(core: Core, registry: RegistryService) -> None:
    vt = make_member(registry, "vt")
    keys = household(core, bsn=(MOTHER_BSN,))
    look_up(core, vt, keys)
    vital = look_up(core, vt, keys, purpose="protection", basis="vital_interest",
                    evidence=Evidence(justification=JUSTIFICATION))
    for evidence, basis in ((Evidence(), "legal_task"), (Evidence(justification="kort"),
                                                          "vital_interest")):
        with pytest.raises(ValidationError):
            look_up(core, vt, keys, purpose="protection", basis=basis, evidence=evidence)

    def flagged(*flags: str) -> list[tuple[str, str, str | None]]:
        rows = in_uow(
                core, search_events, AUDITOR, AuditQuery(flags=flags))  # type: ignore[arg-type]
        return [(r.event_type, r.outcome, r.legal_basis) for r in rows]

    vital_refused = ("lookup:refused", "refused", "vital_interest")
    assert flagged("vital_interest") == [("lookup:performed", "success", "vital_interest"),
                                         vital_refused]
    assert flagged("review") == flagged("vital_interest")
    assert flagged("refused") == [("lookup:refused", "refused", "legal_task"), vital_refused]
    assert len(flagged("refused", "vital_interest")) == 3  # any of the flags
    row = in_uow(core, search_events, AUDITOR, AuditQuery(flags=("vital_interest",)))[0]
    assert row.event_id == vital and row.vital_interest and row.flagged_for_review


def test_bad_queries_are_refused_and_not_audited(core: Core, world: object) -> None:
    before = audit_count(core)
    for query, error in (
        (AuditQuery(organisation="nope"), NotFound),
        (AuditQuery(professional="ghost"), NotFound),
        (AuditQuery(event_types=("lookup:made",)), ValidationError),
        (AuditQuery(flags=("odd",)), ValidationError),  # type: ignore[arg-type]
        (AuditQuery(start=core.now(), end=core.now()), ValidationError),
    ):
        with pytest.raises(error):
            in_uow(core, search_events, AUDITOR, query)
    with pytest.raises(ValidationError):
        in_uow(core, search_events, AUDITOR, AuditQuery(), limit=0)
    assert audit_count(core) == before
    # A type a later issue adds is no typing error.
    assert in_uow(
            core, search_events, AUDITOR, AuditQuery(event_types=("contact:requested",))) == []


def test_limit_keeps_the_oldest_in_log_order(core: Core, world: object) -> None:
    rows = in_uow(core, search_events, AUDITOR, AuditQuery(), limit=3)
    assert [r.seq for r in rows] == sorted(r.seq for r in rows) and len(rows) == 3
    assert rows[0].seq == 1


@pytest.mark.parametrize("which", ["oprf", "broker"])
def test_household_search_across_key_rotation(core: Core, world: object, which: str) -> None:
    expected = pairs(in_uow(core, search_events, AUDITOR, AuditQuery(household=of_a(core))))
    rotation, _ = start_or_resume(core, AUDITOR, which, grace=0)  # type: ignore[arg-type]
    run_rotation(core, AUDITOR, rotation, batch_size=1, max_batches=5)  # halfway
    column = AuditSubject.oprf_epoch if which == "oprf" else AuditSubject.broker_epoch
    with core.session() as session:
        assert set(session.scalars(select(column))) == {1, 2}  # subjects at two epochs
    mid = pairs(in_uow(core, search_events, AUDITOR, AuditQuery(household=of_a(core))))
    assert mid == [*expected, ("audit:searched", None)]
    run_rotation(core, AUDITOR, rotation)
    after = pairs(in_uow(core, search_events, AUDITOR, AuditQuery(household=of_a(core))))
    assert after == [*expected, ("audit:searched", None), ("audit:searched", None)]
    b = pairs(in_uow(core, search_events, AUDITOR, AuditQuery(
        household=tuple(household(core, bsn=(B_BSN,))))))
    assert ("involvement:registered", "veilig-thuis") not in b


def test_csv_and_json_writers(core: Core, world: object) -> None:
    rows = in_uow(core, search_events, AUDITOR, AuditQuery(household=of_a(core)))
    buffer = io.StringIO()
    write_csv(buffer, rows)
    parsed = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    assert [(r["event_type"], r["organisation"]) for r in parsed] == pairs(rows)
    assert parsed[0]["occurred_at"].endswith("Z") and parsed[1]["subject_categories"] == "address"
    out = io.StringIO()
    write_json(out, rows)
    loaded = json.loads(out.getvalue())
    assert [r["seq"] for r in loaded] == [r.seq for r in rows]
    assert loaded[1]["subject_categories"] == ["address"]
    empty = io.StringIO()
    write_csv(empty, [])
    assert empty.getvalue().startswith("seq,event_id,occurred_at,")


def test_csv_cells_cannot_become_spreadsheet_formulas() -> None:
    row = AuditRow(1, "e", datetime(2026, 1, 1, tzinfo=UTC), "lookup:refused", "R", "refused",
                   '=HYPERLINK("x")', "system", None, None, None, "+31 org", "cli", None, None,
                   None, None, False, False, ())
    buffer = io.StringIO()
    write_csv(buffer, [row])
    (line,) = csv.DictReader(io.StringIO(buffer.getvalue()))
    assert line["reason"].startswith("'=") and line["organisation_name"] == "'+31 org"


# -- the command line --------------------------------------------------------------------------


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """``broker`` on a temporary home with the open policy, in English, with two
    organisations, a registration on A and a look-up of it."""
    invoke = broker_cli(monkeypatch, tmp_path)
    assert invoke("init").exit_code == 0
    for code, org_type in (("school-a", "school"), ("vt-a", "veilig_thuis")):
        assert invoke("org", "add", "--identifier", code, "--name", code.upper(),
                      "--type", org_type).exit_code == 0
        assert invoke("professional", "add", "--org", code, "--username", f"{code}-p",
                      "--name", "P", "--role", "r").exit_code == 0
    assert invoke("register", "--org", "vt-a", "--professional", "vt-a-p", "--purpose",
                  "protection", "--bsn", MOTHER_BSN, "--address", ADDRESS).exit_code == 0
    assert invoke("register", "--org", "school-a", "--professional", "school-a-p", "--purpose",
                  "protection", "--bsn", B_BSN).exit_code == 0
    assert invoke("lookup", "--org", "school-a", "--professional", "school-a-p", "--purpose",
                  "care_coordination", "--basis", "legal_task", "--statute", "jeugdwet_7_1_1",
                  "--address", ADDRESS).exit_code == 0
    return invoke


def test_cli_search(run: Run) -> None:
    found = run("audit", "search", "--bsn", MOTHER_BSN, "--address", ADDRESS, "--format", "json")
    assert found.exit_code == 0, found.output
    assert [(r["event_type"], r["organisation"]) for r in json.loads(found.stdout)] == [
        ("involvement:registered", "vt-a"), ("lookup:performed", "school-a")]
    table = run("audit", "search", "--org", "school-a", "--type", "lookup:performed")
    assert table.exit_code == 0 and "lookup:performed" in table.stdout
    assert "involvement:registered" not in table.stdout
    as_csv = run("audit", "search", "--professional", "vt-a-p", "--format", "csv", "--from",
                 "2000-01-01", "--to", "2999-12-31")
    assert as_csv.stdout.splitlines()[0].startswith("seq,event_id,")
    # The professional's registration, and the evaluation of its household charged to vt-a.
    assert [line.split(",")[3] for line in as_csv.stdout.splitlines()[1:]] == [
        "pseudonym:evaluated", "involvement:registered"]
    limited = run("audit", "search", "--limit", "1")
    assert "limit of 1 events was reached" in limited.output
    flagged = run("audit", "search", "--flag", "refused", "--format", "json")
    assert json.loads(flagged.stdout) == []
    for result in (found, table, as_csv, limited):
        assert_no_raw(result.output, HOUSEHOLD_A, HOUSEHOLD_B)


def test_cli_search_refuses_bad_input_without_echoing_it(run: Run) -> None:
    bad = run("audit", "search", "--bsn", "123456789")
    assert bad.exit_code == 1 and "eleven-test" in bad.output and "123456789" not in bad.output
    unknown = run("audit", "search", "--org", "nope")
    assert unknown.exit_code == 1 and "no organisation" in unknown.output
    reversed_period = run("audit", "search", "--from", "2026-02-01", "--to", "2026-01-01")
    assert reversed_period.exit_code == 1 and "after its start" in reversed_period.output
