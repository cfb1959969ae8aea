"""The command line acting for an organisation is charged to its daily evaluation quota, like
the API and the web form; an operator's or auditor's command is charged to no organisation."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from broker.audit.models import AuditEvent
from broker.pseudonyms.models import EvaluationCount
from broker.registry.models import Involvement
from tests.conftest import OPEN_POLICY, broker_cli

QUOTA = 3
ASK = ("--purpose", "care_coordination", "--basis", "legal_task", "--statute", "jeugdwet_7_1_1")


def _database(home: Path) -> list[tuple[str, str, str]]:
    """(event type, channel, organisation id) of every audit event, and the counts."""
    engine = create_engine(f"sqlite:///{home / 'instance' / 'broker.db'}")
    with engine.connect() as connection:
        rows = [("event", t, c) for t, c in connection.execute(
            select(AuditEvent.event_type, AuditEvent.channel).order_by(AuditEvent.seq))]
        rows += [("count", str(o), str(n)) for o, n in connection.execute(
            select(EvaluationCount.organisation_id, EvaluationCount.evaluations)
            .order_by(EvaluationCount.organisation_id))]
        rows += [("involvement", str(o), "") for (o,) in connection.execute(
            select(Involvement.organisation_id))]
    engine.dispose()
    return rows


def test_lookup_and_register_are_charged_to_the_organisation(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    policy = tmp_path / "quota-policy.yaml"
    policy.write_text(OPEN_POLICY.read_text()
                      + f"quotas:\n  pseudonym_evaluations_per_day: {QUOTA}\n")
    run = broker_cli(monkeypatch, tmp_path / "home", policy)
    assert run("init").exit_code == 0
    for code, org_type in (("school-a", "school"), ("vt-a", "veilig_thuis")):
        assert run("org", "add", "--identifier", code, "--name", code.upper(),
                   "--type", org_type).exit_code == 0
        assert run("professional", "add", "--org", code, "--username", f"{code}-p",
                   "--name", "P", "--role", "r").exit_code == 0
    school = ("--org", "school-a", "--professional", "school-a-p")

    # Every command is a new process: the count lives in the database, not in one of them.
    assert run("lookup", *school, *ASK, "--bsn", "123456782", "--bsn", "111222333"
               ).exit_code == 0  # 2 of 3
    refused = run("register", *school, "--purpose", "care_coordination",
                  "--bsn", "222222220", "--bsn", "222222232")
    assert refused.exit_code == 1
    assert refused.output == (
        "error: Your organisation's daily quota of 3 pseudonym evaluations cannot take 2 more "
        "(1 left today; every identifier checked counts). Try again after midnight (Dutch "
        "time).\n")
    assert "222222220" not in refused.output
    assert run("lookup", *school, *ASK, "--bsn", "123456782").exit_code == 0  # 3 of 3
    assert run("lookup", *school, *ASK, "--bsn", "123456782").exit_code == 1
    # Another organisation has its own quota.
    assert run("register", "--org", "vt-a", "--professional", "vt-a-p", "--purpose",
               "protection", "--bsn", "123456782").exit_code == 0
    # The auditor's search by household and a subject access report act for no organisation:
    # charged to none.
    assert run("audit", "search", "--bsn", "123456782").exit_code == 0
    assert run("professional", "add", "--org", "vt-a", "--username", "fg-1", "--name", "FG",
               "--role", "FG", "--access", "privacy_officer").exit_code == 0
    assert run("audit", "subject-access", "--bsn", "123456782", "--as", "fg-1").exit_code == 0

    rows = _database(tmp_path / "home")
    charges = [(kind, a, b) for kind, a, b in rows if a.startswith("pseudonym:")]
    assert charges == [("event", "pseudonym:evaluated", "cli"),
                       ("event", "pseudonym:quota_refused", "cli"),
                       ("event", "pseudonym:evaluated", "cli"),
                       ("event", "pseudonym:quota_refused", "cli"),
                       ("event", "pseudonym:evaluated", "cli")]
    assert [(a, b) for kind, a, b in rows if kind == "count"] == [("1", "3"), ("2", "1")]
    assert [a for kind, a, _ in rows if kind == "involvement"] == ["2"]
