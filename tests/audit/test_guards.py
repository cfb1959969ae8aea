"""Subject rows and personal details are bound to their event: the database refuses to delete or
change them (but for a rotation's re-keying and retention's erasure), and ``broker audit verify``
catches whoever switched the triggers off first."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from broker.audit.erasures import ERASED
from broker.audit.models import AuditEvent
from broker.audit.services import Actor, Subject, record_event
from broker.audit.verification import verify_log
from broker.core import Core
from broker.oversight.retention import erase_personal_details
from broker.registry.rotation import run_rotation, start_or_resume
from tests.audit.attacks import drop_guards
from tests.conftest import FakeClock
from tests.uow import in_uow

WEB = Actor(actor="professional:anna", channel="web", organisation_id=1,
            source_address="192.168.17.0/24")
# Valid ristretto255 encodings (a rotation multiplies them): the base point and its double.
PERSON = Subject("person", bytes.fromhex(
    "e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76"), 1, 1)
ADDRESS = Subject("address", bytes.fromhex(
    "6a493210f7499cd17fecb510ae0cea23a110e8d5b901f8acadd3095c73a3b919"), 1, 1)


def lookup(core: Core, *, justification: str | None = None) -> int:
    with core.transaction() as connection:
        return record_event(connection, WEB, "lookup:performed", subjects=[PERSON, ADDRESS],
                            justification=justification).seq


def problem(core: Core) -> tuple[str, int | None] | None:
    with core.transaction() as connection:
        report = verify_log(connection, core.audit_key())
    return None if report.problem is None else (report.problem.kind, report.problem.seq)


ERASE = ("UPDATE audit_events SET justification = NULL, source_address = NULL, "
         "personal_salt = NULL WHERE seq = :seq")


def run(core: Core, statement: str, **params: object) -> None:
    with core.transaction() as connection:
        connection.execute(text(statement), params)


@pytest.mark.parametrize("statement", [
    "DELETE FROM audit_subjects",
    "UPDATE audit_subjects SET category = 'address' WHERE category = 'person'",
    "UPDATE audit_subjects SET value = :other",
    "UPDATE audit_subjects SET oprf_epoch = oprf_epoch + 2",
    "UPDATE audit_subjects SET oprf_epoch = oprf_epoch + 1, broker_epoch = broker_epoch + 1",
    "UPDATE audit_subjects SET event_id = event_id - 1",
])
def test_subject_rows_cannot_be_deleted_or_changed(core: Core, statement: str) -> None:
    lookup(core)
    with pytest.raises(DBAPIError, match=r"append-only|re-keys"), \
            core.transaction() as connection:
        connection.execute(text(statement), {"other": bytes(32)})
    assert problem(core) is None


def test_deleted_subject_rows_are_caught(core: Core) -> None:
    """The attack as seen: subject rows deleted (not hashed, no trigger then)."""
    seq = lookup(core)
    lookup(core)
    drop_guards(core)
    run(core, "DELETE FROM audit_subjects WHERE event_id = "
              "(SELECT id FROM audit_events WHERE seq = :seq) AND category = 'address'", seq=seq)
    assert problem(core) == ("subjects", seq)


@pytest.mark.parametrize("statement", [
    "UPDATE audit_subjects SET category = 'address'",
    "INSERT INTO audit_subjects (event_id, category, value, oprf_epoch, broker_epoch) "
    "SELECT event_id, category, value, oprf_epoch, broker_epoch FROM audit_subjects",
    "UPDATE audit_subjects SET event_id = (SELECT min(id) FROM audit_events)",
])
def test_changed_added_or_moved_subject_rows_are_caught(core: Core, statement: str) -> None:
    seq = lookup(core)
    drop_guards(core)
    run(core, statement)
    found = problem(core)
    assert found is not None and found[0] == "subjects" and found[1] is not None
    assert found[1] <= seq


def test_a_key_rotation_still_re_keys_the_subject_rows(core: Core) -> None:
    lookup(core)
    for which in ("oprf", "broker"):
        rotation, _resumed = start_or_resume(core, Actor.system("rotation"), which, grace=0)
        run_rotation(core, Actor.system("rotation"), rotation)
    with core.transaction() as connection:
        epochs = connection.execute(text(
            "SELECT DISTINCT oprf_epoch, broker_epoch FROM audit_subjects")).all()
    assert [tuple(row) for row in epochs] == [(2, 2)]
    assert problem(core) is None


def test_an_early_erased_justification_is_caught(core: Core) -> None:
    """The attack as seen: a justification blanked long before its retention, as retention
    would (salt and all), which the triggers allow; no erasure event names it."""
    seq = lookup(core, justification="zwaarwegend belang: acuut gevaar voor het kind")
    lookup(core)
    run(core, ERASE, seq=seq)
    assert problem(core) == ("personal", seq)


@pytest.mark.parametrize("statement", [
    "UPDATE audit_events SET justification = NULL",
    "UPDATE audit_events SET personal_salt = NULL",
    "UPDATE audit_events SET justification = ''",
])
def test_personal_details_are_erased_whole_or_not_at_all(core: Core, statement: str) -> None:
    lookup(core, justification="acuut")
    with pytest.raises(DBAPIError, match=r"erased|append-only"), \
            core.transaction() as connection:
        connection.execute(text(statement + " WHERE personal_salt IS NOT NULL"))
    assert problem(core) is None


def test_details_without_their_salt_are_caught(core: Core) -> None:
    seq = lookup(core)
    drop_guards(core)
    run(core, "UPDATE audit_events SET source_address = '10.0.0.0/24', personal_salt = NULL "
              "WHERE seq = :seq", seq=seq)
    assert problem(core) == ("personal", seq)


def test_retention_names_what_it_erased_and_only_that(core: Core, clock: FakeClock) -> None:
    old = [lookup(core, justification="moeder meldt geweld") for _ in range(3)]
    clock.now += timedelta(days=2 * 365)
    assert in_uow(core, erase_personal_details, Actor.system("purge")) == 3
    recent = lookup(core, justification="acuut")
    with core.transaction() as connection:
        details = connection.execute(select(AuditEvent.details).where(
            AuditEvent.event_type == ERASED)).scalar_one()
    assert details["events"] == 3
    assert (details["first_seq"], details["last_seq"]) == (old[0], old[-1])
    assert details["occurred_before"] < "2028"
    assert problem(core) is None
    # The erasure names the events before it only: a later one blanked afterwards is caught.
    run(core, ERASE, seq=recent)
    assert problem(core) == ("personal", recent)


def test_an_erasure_recorded_before_its_range_was_named_still_counts(core: Core) -> None:
    """Erasure events of the first release name only the cut-off time."""
    seq = lookup(core, justification="acuut")
    run(core, ERASE, seq=seq)
    with core.transaction() as connection:
        record_event(connection, Actor.system("purge"), ERASED,
                     details={"events": 1, "occurred_before": "2999-01-01T00:00:00.000Z"})
    assert problem(core) is None
