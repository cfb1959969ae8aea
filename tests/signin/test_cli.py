"""``broker professional unlock|enrol-totp|password`` end to end, on a temporary home."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from broker.audit.models import AuditEvent
from broker.cli import main
from broker.config import Settings
from broker.core import Core
from broker.keyfiles import UnsafeKeyError
from broker.signin.keys import SignInKey
from broker.signin.services import BadCredentials, SignInService
from broker.signin.throttle import Throttled
from tests.conftest import OPEN_POLICY
from tests.uow import committed


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An initialised home with a school and its professional ``school-a-p``."""
    monkeypatch.setenv("BROKER_HOME", str(tmp_path))
    monkeypatch.setenv("BROKER_POLICY_DIR", str(OPEN_POLICY))
    monkeypatch.setenv("BROKER_BASE_URL", "https://broker.example/")
    monkeypatch.delenv("BROKER_DATABASE_URL", raising=False)
    assert _run("init").exit_code == 0
    assert _run("org", "add", "--identifier", "school-a", "--name", "School A",
                "--type", "school").exit_code == 0
    added = _run("professional", "add", "--org", "school-a", "--username", "school-a-p",
                 "--name", "P", "--role", "r", "--password-stdin", stdin="correct horse\n")
    assert added.exit_code == 0, added.output
    return tmp_path


def _run(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, ["--lang", "en", *args], input=stdin,
                              catch_exceptions=False)


def _service(home: Path) -> tuple[Core, SignInService]:
    core = Core(Settings.from_env())
    return core, committed(core, SignInService, SignInKey.load(home / "keys"))


def _events(core: Core, event_type: str) -> list[AuditEvent]:
    with core.session() as session:
        return list(session.scalars(select(AuditEvent).where(
            AuditEvent.event_type == event_type)))


def test_unlock_lifts_a_lock_and_is_audited(home: Path) -> None:
    core, service = _service(home)
    try:
        for _ in range(5):
            with pytest.raises(BadCredentials):
                service.with_password("school-a-p", "wrong password", "192.0.2.1")
        with pytest.raises(Throttled):
            service.with_password("school-a-p", "correct horse", "192.0.2.1")
        out = _run("professional", "unlock", "school-a-p")
        assert out.exit_code == 0 and "was not locked; failed attempts counted: 5" in out.output
        service.with_password("school-a-p", "correct horse", "192.0.2.1")
        [unlocked] = _events(core, "signin:unlocked")
        assert unlocked.actor == "cli:operator" and unlocked.details["failures"] == 5
        assert "0 (now 0)" in _run("professional", "unlock", "school-a-p").output
        missing = _run("professional", "unlock", "nobody")
        assert missing.exit_code == 1 and "no professional" in missing.output
    finally:
        core.dispose()


def test_enrol_totp_prints_a_one_time_link_on_the_base_url(home: Path) -> None:
    out = _run("professional", "enrol-totp", "school-a-p")
    assert out.exit_code == 0, out.output
    assert re.search(r"^https://broker\.example/enrol/[A-Za-z0-9_-]{43}$", out.output, re.M)
    core = Core(Settings.from_env())
    try:
        [issued] = _events(core, "signin:totp_link_issued")
        assert "enrol/" not in repr(issued.details)  # the token is not in the log
    finally:
        core.dispose()
    assert _run("professional", "enrol-totp", "nobody").exit_code == 1


def test_password_is_read_from_stdin_and_ends_every_session(home: Path) -> None:
    core, service = _service(home)
    try:
        token = service.with_password("school-a-p", "correct horse", "192.0.2.1").token
        assert service.current(token) is not None
        refused = _run("professional", "password", "school-a-p")
        assert refused.exit_code == 1 and "--password-stdin" in refused.output
        short = _run("professional", "password", "school-a-p", "--password-stdin",
                     stdin="short\n")
        assert short.exit_code == 1 and "8 to 1000 characters" in short.output
        out = _run("professional", "password", "school-a-p", "--password-stdin",
                   stdin="battery staple\n")
        assert out.exit_code == 0 and "sessions ended: 1" in out.output
        assert service.current(token) is None
        with pytest.raises(BadCredentials):
            service.with_password("school-a-p", "correct horse", "192.0.2.1")
        service.with_password("school-a-p", "battery staple", "192.0.2.1")
        [changed] = _events(core, "signin:password_changed")
        assert changed.details["by"] == "operator" and "battery" not in repr(changed.details)
    finally:
        core.dispose()


def test_an_unsafe_sign_in_key_stops_the_service(home: Path) -> None:
    (home / "keys" / "signin" / "signin.key").chmod(0o644)
    out = _run("professional", "unlock", "school-a-p")
    assert out.exit_code == 1 and "chmod 600" in out.output
    with pytest.raises(UnsafeKeyError, match="chmod 600"):
        SignInKey.load(home / "keys")
