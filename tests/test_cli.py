"""The ``broker`` command end to end, on a temporary home: happy paths and refusals."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, func, select, text

from broker.audit.models import AuditEvent
from broker.cli import main
from broker.registry.models import Involvement
from tests.conftest import SHIPPED_POLICY, broker_cli

Run = Callable[..., Result]


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """Invoke ``broker`` with BROKER_HOME on a temporary directory, in English."""
    return broker_cli(monkeypatch, tmp_path)


def _rows(tmp_path: Path) -> tuple[int, int]:
    engine = create_engine(f"sqlite:///{tmp_path / 'instance' / 'broker.db'}")
    with engine.connect() as connection:
        counts = (connection.scalar(select(func.count()).select_from(Involvement)) or 0,
                  connection.scalar(select(func.count()).select_from(AuditEvent)) or 0)
    engine.dispose()
    return counts


def _setup(run: Run) -> None:
    assert run("init").exit_code == 0
    for code, org_type in (("school-a", "school"), ("vt-a", "veilig_thuis")):
        assert run("org", "add", "--identifier", code, "--name", code.upper(),
                   "--type", org_type).exit_code == 0
        assert run("professional", "add", "--org", code, "--username", f"{code}-p",
                   "--name", "P", "--role", "r", "--email", f"{code}@example.org").exit_code == 0


def test_register_and_lookup(run: Run, tmp_path: Path) -> None:
    _setup(run)
    out = run("register", "--org", "vt-a", "--professional", "vt-a-p", "--purpose", "protection",
              "--bsn", "123456782", "--address", "1011 AB 12 A", "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["key_count"] == 2
    found = run("lookup", "--org", "school-a", "--professional", "school-a-p", "--purpose",
                "care_coordination", "--basis", "legal_task",
                "--statute", "jeugdwet_7_1_1", "--address", "1011ab 12a",
                "--json")
    assert found.exit_code == 0, found.output
    matches = json.loads(found.output)["matches"]
    assert [(m["organisation"], m["matched_on"]) for m in matches] == [("VT-A", ["address"])]
    text = run("lookup", "--org", "school-a", "--professional", "school-a-p", "--purpose",
               "care_coordination", "--basis", "legal_task", "--statute", "jeugdwet_7_1_1",
               "--bsn", "123456782")
    assert "VT-A" in text.output and "matched on person" in text.output
    listed = run("org", "list", "--json")
    assert {o["identifier"] for o in json.loads(listed.output)} == {"school-a", "vt-a"}
    assert "vt-a-p" in run("professional", "list", "--org", "vt-a").output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bsn", "123456789"], "eleven-test"),
        (["--address", "0123 AB 1"], "postcode"),
        (["--address", "1234 SS 1"], "SS"),
        (["--person", "Vries;J;2999-01-01"], "future"),
        ([], "at least one"),
        (["--bsn", "123456782", "--org", "nope"], "no organisation"),
        (["--bsn", "123456782", "--purpose", "Bad Purpose"], "purpose"),
        (["--bsn", "123456782", "--ends-on", "2099-01-01"], "end date"),
    ],
)
def test_bad_register_input_exits_1_and_writes_nothing(
    run: Run, tmp_path: Path, args: list[str], message: str
) -> None:
    _setup(run)
    before = _rows(tmp_path)
    defaults = {"--org": "vt-a", "--professional": "vt-a-p", "--purpose": "protection"}
    for flag, value in defaults.items():
        if flag not in args:
            args = [*args, flag, value]
    result = run("register", *args)
    assert result.exit_code == 1
    assert message.lower() in result.output.lower()
    assert "Traceback" not in result.output
    assert "123456789" not in result.output
    # Input the registry refuses only after the household was pseudonymised (the purpose, the
    # end date) leaves that evaluation alone: charged to the organisation's daily quota and
    # audited, as an evaluation is whatever comes of it. Anything else writes nothing.
    evaluated = 1 if message in ("purpose", "end date") else 0
    assert _rows(tmp_path) == (before[0], before[1] + evaluated)
    assert _event_types(tmp_path)[before[1]:] == ["pseudonym:evaluated"] * evaluated


def _event_types(tmp_path: Path) -> list[str]:
    engine = create_engine(f"sqlite:///{tmp_path / 'instance' / 'broker.db'}")
    with engine.connect() as connection:
        types = list(connection.scalars(select(AuditEvent.event_type)
                                        .order_by(AuditEvent.seq)))
    engine.dispose()
    return types


def test_messages_in_dutch_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROKER_HOME", str(tmp_path))
    monkeypatch.setenv("BROKER_POLICY_DIR", str(SHIPPED_POLICY))
    monkeypatch.delenv("BROKER_LANG", raising=False)
    runner = CliRunner()
    assert runner.invoke(main, ["init"]).exit_code == 0
    result = runner.invoke(main, ["lookup", "--org", "x", "--professional", "y", "--purpose",
                                  "protection", "--basis", "legal_task", "--bsn", "123456789"])
    assert result.exit_code == 1
    assert "elfproef" in result.output


def test_keys_rotate_from_the_command_line(run: Run, tmp_path: Path) -> None:
    _setup(run)
    run("register", "--org", "vt-a", "--professional", "vt-a-p", "--purpose", "protection",
        "--bsn", "123456782")
    rotated = run("keys", "rotate", "--which", "broker", "--batch-size", "1")
    assert rotated.exit_code == 0, rotated.output
    assert "epoch 1 -> 2" in rotated.output and "done: 2 stored keys" in rotated.output
    found = run("lookup", "--org", "school-a", "--professional", "school-a-p", "--purpose",
                "care_coordination", "--basis", "legal_task", "--statute", "jeugdwet_7_1_1",
                "--bsn", "123456782", "--json")
    assert len(json.loads(found.output)["matches"]) == 1
    assert run("keys", "init").output.startswith("keys exist already")


def test_duplicate_organisation_and_unknown_professional(run: Run) -> None:
    _setup(run)
    dup = run("org", "add", "--identifier", "vt-a", "--name", "X", "--type", "veilig_thuis")
    assert dup.exit_code == 1 and "already exists" in dup.output
    missing = run("lookup", "--org", "vt-a", "--professional", "ghost", "--purpose", "protection",
                  "--basis", "legal_task", "--bsn", "123456782")
    assert missing.exit_code == 1 and "no professional" in missing.output


def test_purge_and_demo(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROKER_POLICY_DIR", str(SHIPPED_POLICY))  # the demo uses every type
    assert run("init").exit_code == 0
    demo = run("demo", "--households", "5")
    assert demo.exit_code == 0, demo.output
    assert "5 households" in demo.output
    assert run("purge").output.strip() == (
        "expired: 0, purged: 0, stored API answers removed: 0, "
        "audit events whose personal details were erased: 0, misuse counters removed: 0")
    again = run("init", "--demo")
    assert "demo not loaded" in again.output


def test_professional_password_comes_from_stdin(run: Run, tmp_path: Path) -> None:
    _setup(run)
    runner = CliRunner()
    result = runner.invoke(main, ["--lang", "en", "professional", "add", "--org", "vt-a",
                                  "--username", "vt-web", "--name", "W", "--role", "r",
                                  "--password-stdin"], input="correct horse battery\n")
    assert result.exit_code == 0, result.output
    engine = create_engine(f"sqlite:///{tmp_path / 'instance' / 'broker.db'}")
    with engine.connect() as connection:
        stored = connection.execute(text(
            "SELECT password_hash FROM professionals WHERE username = 'vt-web'")).scalar()
    engine.dispose()
    assert stored and stored.startswith("$argon2id$") and "correct horse" not in stored


def test_org_webhook_is_set_cleared_and_checked(run: Run, tmp_path: Path) -> None:
    _setup(run)
    assert run("org", "webhook", "vt-a", "https://case.example/hooks?secret=s3").exit_code == 0
    refused = run("org", "webhook", "vt-a", "http://case.example/hooks")
    assert refused.exit_code == 1 and "https://" in refused.output
    assert run("org", "webhook", "vt-a").exit_code == 1  # neither a URL nor --clear
    assert run("org", "webhook", "vt-a", "--clear").output.strip() == "webhook of vt-a: cleared"
    engine = create_engine(f"sqlite:///{tmp_path / 'instance' / 'broker.db'}")
    with engine.connect() as connection:
        details = connection.scalars(text(
            "SELECT details FROM audit_events WHERE event_type = 'organisation:webhook_set'"
        )).all()
    engine.dispose()
    assert len(details) == 2 and all("s3" not in str(d) for d in details)


def test_contact_and_consent_commands(run: Run) -> None:
    _setup(run)
    run("register", "--org", "vt-a", "--professional", "vt-a-p", "--purpose", "protection",
        "--bsn", "123456782")
    found = run("lookup", "--org", "school-a", "--professional", "school-a-p", "--purpose",
                "care_coordination", "--basis", "legal_task", "--statute", "jeugdwet_7_1_1",
                "--bsn", "123456782", "--json")
    answer = json.loads(found.output)
    consent = run("consent", "add", "--org", "school-a", "--professional", "school-a-p",
                  "--bsn", "123456782", "--given-by", "parent", "--given-on", "2026-01-01",
                  "--valid-until", "2099-01-01", "--purpose", "care_coordination")
    assert consent.exit_code == 0, consent.output
    asked = run("contact", "request", "--org", "school-a", "--professional", "school-a-p",
                "--lookup", answer["lookup_id"], "--match", answer["matches"][0]["match_id"],
                "--purpose", "care_coordination", "--basis", "legal_task",
                "--statute", "jeugdwet_7_1_1")
    assert asked.exit_code == 0, asked.output
    assert "approved (direct)" in asked.output  # the open test policy grants contact directly
    token = asked.output.split("(shown once): ")[1].split()[0]
    opened = run("contact", "open", "--org", "school-a", "--professional", "school-a-p", token)
    assert opened.exit_code == 0 and "name: P" in opened.output
    stolen = run("contact", "open", "--org", "vt-a", "--professional", "vt-a-p", token)
    assert stolen.exit_code == 1 and "name:" not in stolen.output
    # A link token is URL-safe base64: one in 64 starts with "-". It is read as the token, not
    # as an unknown option (click's usage error, exit 2): a made-up one is refused as unknown.
    # It differs from the real token in its second character too, so that it stays made-up when
    # the real one happens to start with "-" itself.
    made_up = "-" + ("A" if token[1] != "A" else "B") + token[2:]
    assert made_up != token
    for command in ("open", "revoke"):
        dashed = run("contact", command, "--org", "school-a", "--professional", "school-a-p",
                     made_up)
        assert dashed.exit_code == 1, dashed.output
