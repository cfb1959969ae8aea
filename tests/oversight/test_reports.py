"""The auditor's reports: each finds what it should and nothing more; review is audited."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from broker.audit.models import AuditSubject
from broker.audit.services import Actor, record_event
from broker.core import Core
from broker.errors import Conflict, NotFound, ValidationError
from broker.oversight import reports
from broker.registry.lookups import Evidence
from broker.registry.rotation import remaining_rows, run_rotation, start_or_resume
from broker.registry.services import RegistryService
from tests.conftest import FakeClock
from tests.factories import ADDRESS, CHILD_BSN, MOTHER_BSN, Member, household, make_member, register
from tests.oversight.test_search import (
    AUDITOR,
    B_BSN,
    HOUSEHOLD_A,
    HOUSEHOLD_B,
    JUSTIFICATION,
    Run,
    assert_no_raw,
    audit_count,
    audit_text,
    follow_clock,
    last_event,
    look_up,
    run,  # noqa: F401 - the command-line fixture
)
from tests.uow import in_uow

VITAL = {"purpose": "protection", "basis": "vital_interest",
         "evidence": Evidence(justification=JUSTIFICATION)}


def police(registry: RegistryService) -> Member:
    """A fourth organisation (the open policy knows the police type)."""
    org = registry.create_organisation(AUDITOR, identifier="politie", name="Politie Centrum",
                                       org_type="politie")
    registry.add_professional(AUDITOR, organisation="politie", username="politie-1",
                              name="Agent", role="wijkagent")
    return Member("politie", "politie-1", Actor(actor="professional:politie-1", channel="web",
                                                organisation_id=org.id))


# -- vital interest and review -----------------------------------------------------------------


def test_vital_interest_uses_await_review_until_reviewed(core: Core,
                                                         registry: RegistryService) -> None:
    vt = make_member(registry, "vt")
    keys = household(core, bsn=(MOTHER_BSN,), address=(ADDRESS,))
    look_up(core, vt, keys)  # an ordinary look-up: never pending
    first = look_up(core, vt, keys, **VITAL)  # type: ignore[arg-type]
    second = look_up(core, vt, household(core, bsn=(B_BSN,)), **VITAL)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):  # too short a justification: refused, still flagged
        look_up(core, vt, keys, purpose="protection", basis="vital_interest",
                evidence=Evidence(justification="te kort"))
    pending = in_uow(core, reports.vital_interest_pending, AUDITOR)
    assert [(p.event_type, p.outcome) for p in pending] == [
        ("lookup:performed", "success"), ("lookup:performed", "success"),
        ("lookup:refused", "refused")]
    assert [p.event_id for p in pending][:2] == [first, second]
    assert pending[0].justification == JUSTIFICATION and pending[2].justification == "te kort"
    assert (last_event(core).event_type, last_event(core).details["report"]) == (
        "audit:reported", "vital_interest")

    review_id = in_uow(
            core, reports.review, AUDITOR, first, "justified", "Acuut gevaar, goed onderbouwd.")
    event = last_event(core)
    assert (event.event_id, event.event_type, event.action, event.actor) == (
        review_id, "audit:reviewed", "E", "cli:operator")
    assert event.details == {"reviewed_event": first, "verdict": "justified"}
    # The note is free text: kept outside the hash, erasable by retention.
    assert event.justification == "Acuut gevaar, goed onderbouwd." and event.personal_digest
    assert event.subject_categories == ["address", "person"]  # the reviewed event's subjects
    assert [p.event_id for p in in_uow(core, reports.vital_interest_pending, AUDITOR)] == [
        p.event_id for p in pending[1:]]


def test_review_refuses_bad_input_and_writes_nothing(core: Core,
                                                     registry: RegistryService) -> None:
    vt = make_member(registry, "vt")
    keys = household(core, bsn=(MOTHER_BSN,))
    ordinary = look_up(core, vt, keys)
    vital = look_up(core, vt, keys, **VITAL)  # type: ignore[arg-type]
    in_uow(core, reports.review, AUDITOR, vital, "unjustified", "Geen acuut gevaar beschreven.")
    before = audit_count(core)
    for args, error in (
        (("00000000-0000-7000-8000-000000000000", "justified", "note"), NotFound),
        ((ordinary, "justified", "note"), ValidationError),
        ((vital, "justified", "Toch terecht."), Conflict),
        ((vital, "maybe", "note"), ValidationError),
        ((vital, "justified", "   "), ValidationError),
        ((vital, "justified", "x" * 2001), ValidationError),
    ):
        with pytest.raises(error) as refused:
            in_uow(core, reports.review, AUDITOR, *args)
        assert refused.value.message("nl") != refused.value.message("en")
    assert audit_count(core) == before


# -- look-ups never followed up ---------------------------------------------------------------


def test_unfollowed_finds_lookups_never_followed_up(core: Core, registry: RegistryService,
                                                 clock: FakeClock,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    follow_clock(monkeypatch, clock)
    vt, school, wijkteam = (make_member(registry, k) for k in ("vt", "school", "wijkteam"))
    politie = police(registry)
    a = household(core, bsn=(MOTHER_BSN, CHILD_BSN), address=(ADDRESS,))
    b = household(core, bsn=(B_BSN,))
    register(registry, vt, a[:1])  # ten days before its look-up: VT is involved
    clock.now += timedelta(days=10)
    start = clock.now
    expected = {
        look_up(core, wijkteam, a),  # never registers: fishing
        look_up(core, politie, a),  # registers on another household only: fishing
    }
    # The rule compares keys: VT's look-up of the address alone shares none with VT's
    # registration (the mother), so it is listed; its look-up with her BSN is not.
    expected.add(look_up(core, vt, a[2:]))
    followed = look_up(core, vt, a)
    followed_school = look_up(core, school, b)
    clock.now += timedelta(days=5)
    register(registry, school, b)  # five days later: followed up
    register(registry, politie, household(core, bsn=(B_BSN,), address=("2000 AB 1",))[1:])
    clock.now += timedelta(days=4)
    late = look_up(core, school, a)
    clock.now += timedelta(days=15)
    register(registry, school, a[1:2])  # 15 days after: too late, still fishing
    expected.add(late)
    recent = look_up(core, wijkteam, b)  # younger than 14 days: not judged yet

    found = in_uow(core, reports.unfollowed_lookups, AUDITOR)
    assert {row.event_id for row in found} == expected
    assert {followed, followed_school, recent}.isdisjoint(expected)
    assert all(row.event_type == "lookup:performed" and row.match_count is not None
               for row in found)
    assert [r.seq for r in found] == sorted(r.seq for r in found)
    assert (last_event(core).details["report"], last_event(core).details["rows"]) == (
        "unfollowed", 4)
    # A period starting later leaves the earlier look-ups out.
    assert {r.event_id for r in in_uow(core, reports.unfollowed_lookups, AUDITOR,
                                       start=start + timedelta(days=1))} == {late}
    # Weeks later, with a longer window, the late registration counts as a follow-up, and the
    # recent look-up is judged too.
    clock.now += timedelta(days=30)
    assert {r.event_id for r in in_uow(core, reports.unfollowed_lookups, AUDITOR, days=20)} == (
        expected - {late}) | {recent}
    with pytest.raises(ValidationError):
        in_uow(core, reports.unfollowed_lookups, AUDITOR, days=0)


def test_unfollowed_compares_keys_at_one_epoch_during_a_rotation(
        core: Core, registry: RegistryService, clock: FakeClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    follow_clock(monkeypatch, clock)
    school, wijkteam = make_member(registry, "school"), make_member(registry, "wijkteam")
    b = household(core, bsn=(B_BSN,))
    followed = look_up(core, school, b)
    fishing = look_up(core, wijkteam, b)
    clock.now += timedelta(days=3)
    register(registry, school, b)
    clock.now += timedelta(days=30)
    assert {r.event_id for r in in_uow(core, reports.unfollowed_lookups, AUDITOR)} == {fishing}
    rotation, _ = start_or_resume(core, AUDITOR, "broker", grace=0)
    # Re-key the registry's row and the first look-up's subject only: the follow-up's subject
    # stays at the old epoch while the look-up it follows is at the new one.
    run_rotation(core, AUDITOR, rotation, batch_size=1, max_batches=2)
    with core.session() as session:
        assert set(session.scalars(select(AuditSubject.broker_epoch))) == {1, 2}
    assert remaining_rows(core, rotation) > 0
    assert {r.event_id for r in in_uow(core, reports.unfollowed_lookups, AUDITOR)} == {fishing}
    run_rotation(core, AUDITOR, rotation)
    assert {r.event_id for r in in_uow(core, reports.unfollowed_lookups, AUDITOR)} == {fishing}
    assert followed != fishing


# -- refused requests --------------------------------------------------------------------------


def test_refused_requests_grouped(core: Core, registry: RegistryService) -> None:
    vt, school = make_member(registry, "vt"), make_member(registry, "school")
    keys = household(core, bsn=(MOTHER_BSN,))
    for _ in range(3):
        with pytest.raises(ValidationError):
            look_up(core, vt, keys, evidence=Evidence())
    with pytest.raises(ValidationError):
        look_up(core, school, keys, evidence=Evidence())
    look_up(core, school, keys)  # allowed: not listed
    key = Actor(actor="key:unverified", channel="api")
    for _ in range(2):
        with core.transaction() as connection:
            record_event(connection, key, "auth:signature_rejected", outcome="refused",
                         reason="unknown key")
    found = in_uow(core, reports.refused_requests, AUDITOR)
    assert [(g.organisation, g.event_type, g.count) for g in found] == [
        ("veilig-thuis", "lookup:refused", 3), (None, "auth:signature_rejected", 2),
        ("basisschool", "lookup:refused", 1)]
    assert found[1].reason == "unknown key" and found[0].reason
    assert found[0].first_at <= found[0].last_at
    assert found[0].organisation_name == "Veilig Thuis Midden"
    assert last_event(core).details["rows"] == 3
    later = in_uow(core, reports.refused_requests, AUDITOR, start=core.now() + timedelta(days=1000))
    assert later == []


# -- the command line --------------------------------------------------------------------------


def test_cli_reports_and_review(run: Run) -> None:  # noqa: F811 - the imported fixture
    vital = run("lookup", "--org", "vt-a", "--professional", "vt-a-p", "--purpose", "protection",
                "--basis", "vital_interest", "--justification", JUSTIFICATION, "--bsn", B_BSN)
    assert vital.exit_code == 0, vital.output
    pending = run("audit", "report", "vital-interest", "--format", "json")
    assert pending.exit_code == 0, pending.output
    (event,) = json.loads(pending.stdout)
    assert event["justification"] == JUSTIFICATION
    table = run("audit", "report", "vital-interest")
    assert event["event_id"] in table.stdout
    reviewed = run("audit", "review", event["event_id"], "--verdict", "justified", "--note",
                   "Goed onderbouwd.")
    assert reviewed.exit_code == 0 and "justified" in reviewed.output
    assert json.loads(run("audit", "report", "vital-interest", "--format", "json").stdout) == []
    twice = run("audit", "review", event["event_id"], "--verdict", "justified", "--note", "x")
    assert twice.exit_code == 1 and "reviewed already" in twice.output
    unknown = run("audit", "review", "nope", "--verdict", "justified", "--note", "x")
    assert unknown.exit_code == 1 and "no audit event" in unknown.output
    assert run("audit", "review", "x", "--verdict", "maybe", "--note", "x").exit_code == 2
    for name in ("fishing", "volumes", "unfollowed", "refused"):
        result = run("audit", "report", name, "--format", "csv")
        assert result.exit_code == 0, result.output
        assert result.stdout.count("\n") == 1  # the header: nothing to report here
        assert run("audit", "report", name).exit_code == 0
    refused = run("audit", "report", "refused", "--format", "json", "--from", "2000-01-01")
    assert json.loads(refused.stdout) == []
    assert_no_raw(pending.output + table.output, HOUSEHOLD_A, HOUSEHOLD_B)


def test_reports_leave_no_raw_identifier_in_the_log(core: Core,
                                                    registry: RegistryService) -> None:
    vt = make_member(registry, "vt")
    keys = household(core, bsn=(MOTHER_BSN,), address=(ADDRESS,))
    look_up(core, vt, keys, **VITAL)  # type: ignore[arg-type]
    for run_report in (reports.vital_interest_pending, reports.unfollowed_lookups,
                       reports.refused_requests):
        in_uow(core, run_report, AUDITOR)
    assert_no_raw(audit_text(core), HOUSEHOLD_A, HOUSEHOLD_B)
