"""The tamper-evident log: sequence, chain, append-only tables, checkpoints, retention."""

from __future__ import annotations

import base64
import itertools
from datetime import timedelta

import pytest
from broker_primitives.merkle import root_of
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError

from broker.audit.chain import GENESIS, content_of, entry_hash
from broker.audit.checkpoints import NoteKey, parse_checkpoint, sign_checkpoint
from broker.audit.models import AuditCheckpoint, AuditEvent
from broker.audit.services import Actor, record_event, truncate_address
from broker.audit.verification import verify_log
from broker.core import Core
from broker.oversight.retention import erase_personal_details
from tests.audit.attacks import drop_guards
from tests.conftest import FakeClock
from tests.uow import in_uow

WEB = Actor(actor="professional:anna", channel="web", organisation_id=1, role="wijkcoach",
            source_address="192.168.17.0/24")


def append(core: Core, count: int, **fields: object) -> None:
    for _ in range(count):
        with core.transaction() as connection:
            record_event(connection, WEB, "lookup:performed", **fields)  # type: ignore[arg-type]


def events(core: Core) -> list[AuditEvent]:
    with core.session() as session:
        rows = list(session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
        session.expunge_all()
    return rows


def verify(core: Core) -> str | None:
    with core.transaction() as connection:
        report = verify_log(connection, core.audit_key())
    return None if report.ok else f"{report.problem.kind}: {report.problem}"  # type: ignore[union-attr]


def test_events_form_one_chain_without_gaps(core: Core) -> None:
    append(core, 5, purpose="safety_assessment", justification="acute zorg om het kind")
    rows = events(core)
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
    assert rows[0].prev_hash == GENESIS
    for before, after in itertools.pairwise(rows):
        assert after.prev_hash == before.entry_hash
    for row in rows:
        assert entry_hash(content_of(vars(row))) == row.entry_hash
    assert verify(core) is None


def test_a_rolled_back_transaction_takes_its_number_back(core: Core) -> None:
    append(core, 1)
    size = len(events(core))
    with pytest.raises(RuntimeError), core.transaction() as connection:
        record_event(connection, WEB, "lookup:performed")
        raise RuntimeError("the change failed")
    append(core, 1)
    assert [r.seq for r in events(core)][-2:] == [size, size + 1]
    assert verify(core) is None


def test_hashed_columns_cannot_be_changed_or_deleted(core: Core) -> None:
    append(core, 1)
    for statement in (
        "UPDATE audit_events SET outcome = 'refused'",
        "UPDATE audit_events SET seq = seq + 100",
        "DELETE FROM audit_events",
        "UPDATE audit_events SET justification = 'rewritten' WHERE personal_salt IS NOT NULL",
    ):
        with pytest.raises(DBAPIError, match=r"append-only|only be erased"), \
                core.transaction() as connection:
            connection.execute(text(statement))
    assert verify(core) is None


def test_checkpoints_cannot_be_changed_or_deleted(core: Core) -> None:
    append(core, 1)
    sign_checkpoint(core)
    for statement in ("UPDATE audit_checkpoints SET tree_size = 0",
                      "DELETE FROM audit_checkpoints"):
        with pytest.raises(DBAPIError, match="append-only"), core.transaction() as connection:
            connection.execute(text(statement))


@pytest.mark.parametrize(("statement", "kind", "seq"), [
    ("UPDATE audit_events SET outcome = 'refused' WHERE seq = 3", "altered", 3),
    ("UPDATE audit_events SET justification = 'x' WHERE seq = 2", "personal", 2),
    ("DELETE FROM audit_events WHERE seq = 4", "removed", 5),
    ("UPDATE audit_events SET seq = 99 WHERE seq = 6", "removed", 7),
])
def test_verify_names_the_first_altered_or_removed_event(
        core: Core, statement: str, kind: str, seq: int) -> None:
    append(core, 6, justification="zwaarwegend belang: acuut gevaar")
    drop_guards(core)
    with core.transaction() as connection:
        connection.execute(text(statement))
    problem = verify(core)
    assert problem is not None and problem.startswith(kind) and f"event {seq} " in problem


def test_verify_catches_a_rewritten_chain_through_the_signed_checkpoint(core: Core) -> None:
    append(core, 4)
    sign_checkpoint(core)
    drop_guards(core)
    rows = events(core)
    # Rewrite event 2 and re-hash everything after it, as a careful forger would.
    previous = rows[0].entry_hash
    with core.transaction() as connection:
        for row in rows[1:]:
            fields = vars(row) | {"prev_hash": previous}
            if row.seq == 2:
                fields["outcome"] = "refused"
            digest = entry_hash(content_of(fields))
            connection.execute(update(AuditEvent).where(AuditEvent.seq == row.seq).values(
                outcome=fields["outcome"], prev_hash=previous, entry_hash=digest))
            previous = digest
    problem = verify(core)
    assert problem is not None and problem.startswith("checkpoint")


def test_checkpoints_are_signed_notes_over_the_merkle_root(core: Core) -> None:
    append(core, 3)
    checkpoint = sign_checkpoint(core)
    assert checkpoint is not None
    assert sign_checkpoint(core) is None  # nothing new to sign
    key = core.audit_key()
    opened = NoteKey(key.name, key.verify_key).open(checkpoint.note)
    assert opened is not None
    origin, size, root = parse_checkpoint(opened)
    leaves = [r.entry_hash for r in events(core)]
    assert (origin, size) == ("broker.local/audit", len(leaves))
    assert root == root_of(leaves)
    assert checkpoint.note.splitlines()[-1].startswith("\u2014 broker.local/audit ")
    name, key_id, encoded = key.verifier().split("+", 2)
    assert (name, key_id) == ("broker.local/audit", key.key_id.hex())
    assert base64.b64decode(encoded) == b"\x01" + bytes(key.verify_key)
    forged = checkpoint.note.replace(f"\n{size}\n", f"\n{size + 1}\n")
    assert key.open(forged) is None


def test_a_checkpoint_is_refused_when_its_signature_does_not_verify(core: Core) -> None:
    append(core, 2)
    sign_checkpoint(core)
    with core.transaction() as connection:
        if core.settings.is_sqlite:
            connection.execute(text("DROP TRIGGER audit_checkpoints_no_update"))
        else:
            connection.execute(text("ALTER TABLE audit_checkpoints DISABLE TRIGGER USER"))
        note = connection.scalar(select(AuditCheckpoint.note))
        assert note is not None
        lines = note.split("\n")
        lines[2] = base64.b64encode(bytes(32)).decode()  # another root
        connection.execute(update(AuditCheckpoint).values(note="\n".join(lines)))
    problem = verify(core)
    assert problem is not None and problem.startswith("signature")


def test_retention_erases_personal_details_and_every_hash_stays_valid(
        core: Core, clock: FakeClock) -> None:
    append(core, 3, justification="moeder meldt geweld door partner")
    looked_up = [r for r in events(core) if r.event_type == "lookup:performed"]
    assert len(looked_up) == 3
    assert all(r.source_address == "192.168.17.0/24" for r in looked_up)
    assert in_uow(core, erase_personal_details, Actor.system("purge")) == 0  # not old enough
    clock.now += timedelta(days=2 * 365)
    assert in_uow(core, erase_personal_details, Actor.system("purge")) == 3
    erased = [r for r in events(core) if r.event_type == "lookup:performed"]
    assert all(r.justification is None and r.source_address is None and r.personal_salt is None
               for r in erased)
    assert all(r.personal_digest for r in erased)  # the commitment stays
    assert events(core)[-1].event_type == "audit:details_erased"
    assert verify(core) is None


def test_source_addresses_are_truncated_to_their_network() -> None:
    assert truncate_address("192.168.17.45") == "192.168.17.0/24"
    assert truncate_address("2001:db8:1234:5678::1") == "2001:db8:1234::/48"
    assert truncate_address("not an address") is None
    assert truncate_address(None) is None


def test_details_that_cannot_be_hashed_exactly_are_refused(core: Core) -> None:
    with pytest.raises(TypeError, match="float"), core.transaction() as connection:
        record_event(connection, WEB, "lookup:performed", details={"score": 0.5})
    assert verify(core) is None


def test_a_note_with_anything_but_signatures_after_the_blank_line_is_refused(core: Core) -> None:
    append(core, 1)
    checkpoint = sign_checkpoint(core)
    assert checkpoint is not None
    key = core.audit_key()
    assert key.open(checkpoint.note) is not None
    assert key.open(checkpoint.note + "tampered\n") is None
    assert key.open(checkpoint.note.rstrip("\n")) is None


def test_removing_the_newest_events_and_rewinding_the_head_is_caught(core: Core) -> None:
    """A careful attacker deletes the last events and sets the state row back as it was;
    the signed checkpoint that covered them still says how large the log was."""
    append(core, 3)
    sign_checkpoint(core)
    rows = events(core)
    keep = rows[:-2]
    drop_guards(core)
    from broker_primitives.merkle import Frontier  # noqa: PLC0415

    from broker.audit.models import AuditLogState  # noqa: PLC0415

    frontier = Frontier.empty()
    frontier.extend(r.entry_hash for r in keep)
    with core.transaction() as connection:
        connection.execute(text("DELETE FROM audit_events WHERE seq > :n"), {"n": len(keep)})
        connection.execute(update(AuditLogState).values(
            size=len(keep), head=keep[-1].entry_hash, frontier=frontier.to_bytes()))
    problem = verify(core)
    assert problem is not None and problem.startswith("removed")
