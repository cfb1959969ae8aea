"""The second factor and sessions below the door: stored sealed, codes once even at once, ids
only hashed, who needs a factor."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from broker.audit.services import Actor
from broker.core import Core
from broker.demo import load_demo
from broker.policy import load_policy
from broker.signin import totp
from broker.signin.keys import SignInKey
from broker.signin.models import SecondFactor, WebSession
from broker.signin.second_factor import SecondFactorService, requires_second_factor
from broker.signin.services import BadCredentials, SignInService
from tests.conftest import SHIPPED_POLICY, FakeClock
from tests.factories import Member

HERE = "192.0.2.10"


def test_the_secret_is_stored_sealed_and_bound_to_its_account(
        core: Core, key: SignInKey, factors: SecondFactorService, school: Member) -> None:
    secret_text = factors.enrol_directly(Actor.operator(), school.username)
    secret = totp.from_base32(secret_text)
    with core.session() as session:
        stored = session.scalars(select(SecondFactor)).one()
        assert secret not in stored.sealed_secret
        assert key.open(stored.sealed_secret, stored.professional_id) == secret
        with pytest.raises(ValueError, match="does not open"):
            key.open(stored.sealed_secret, stored.professional_id + 1)
        dump = repr(session.execute(text("SELECT * FROM second_factors")).all())
    assert secret_text not in dump


def test_one_code_sent_twice_at_once_signs_in_once(
        core: Core, signin: SignInService, factors: SecondFactorService, school: Member) -> None:
    secret = totp.from_base32(factors.enrol_directly(Actor.operator(), school.username))
    pending = [signin.with_password(school.username, "correct horse", HERE).token
               for _ in range(2)]
    code = totp.code_at(secret, totp.step_at(core.now()))
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def send(token: str) -> None:
        start.wait()
        try:
            signin.with_code(token, code, HERE)
            outcomes.append("signed in")
        except BadCredentials:
            outcomes.append("refused")

    threads = [threading.Thread(target=send, args=(token,)) for token in pending]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused", "signed in"]


def test_the_browser_holds_the_id_and_the_table_only_its_hash(
        core: Core, signin: SignInService, school: Member, clock: FakeClock) -> None:
    signed = signin.with_password(school.username, "correct horse", HERE)
    with core.session() as session:
        rows = session.scalars(select(WebSession)).all()
        dump = repr(session.execute(text("SELECT * FROM web_sessions")).all())
    assert len(rows) == 1 and signed.token not in dump
    assert signin.current(signed.token) is not None
    for forged in ("", "x", signed.token[:-1], signed.token + "A", "A" * 10_000):
        assert signin.current(forged) is None
    # An ended session's row goes when it is next shown, and others' at the next sign-in.
    clock.now += timedelta(minutes=31)
    other = signin.with_password(school.username, "correct horse", HERE)
    with core.session() as session:
        assert len(session.scalars(select(WebSession)).all()) == 1
    assert signin.current(signed.token) is None and signin.current(other.token) is not None


def test_a_new_second_factor_ends_every_session(
        core: Core, signin: SignInService, factors: SecondFactorService, school: Member) -> None:
    signed = signin.with_password(school.username, "correct horse", HERE)
    factors.enrol_directly(Actor.operator(), school.username)
    assert signin.current(signed.token) is None


def test_a_pending_id_is_not_a_signed_in_one(
        core: Core, signin: SignInService, factors: SecondFactorService, school: Member) -> None:
    secret = totp.from_base32(factors.enrol_directly(Actor.operator(), school.username))
    pending = signin.with_password(school.username, "correct horse", HERE)
    assert pending.stage == "second_factor" and signin.current(pending.token) is None
    signed = signin.with_code(pending.token, totp.code_at(secret, totp.step_at(core.now())), HERE)
    assert signed.token != pending.token and signin.current(signed.token) is not None
    assert signin.current(pending.token, "second_factor") is None  # used up


def test_who_needs_a_second_factor() -> None:
    shipped = load_policy(SHIPPED_POLICY)
    assert shipped.sign_in.second_factor == {"veilig_thuis", "politie", "raad_kinderbescherming",
                                             "gecertificeerde_instelling"}
    assert requires_second_factor(shipped, "politie", "professional")
    assert not requires_second_factor(shipped, "school", "professional")
    for role in ("privacy_officer", "auditor"):
        assert requires_second_factor(shipped, "school", role)


@pytest.fixture
def policy_path() -> Path:
    """The shipped policy, whose second-factor types the demo enrols."""
    return SHIPPED_POLICY


def test_the_demo_enrols_and_prints_the_second_factor_accounts(
        core: Core, signin: SignInService) -> None:
    summary = load_demo(core, households=2)
    assert sorted(summary.second_factor_keys) == [
        "demo-auditor", "demo-privacy-officer",  # staff always have one
        "jeugdbescherming-regio-1", "jeugdbescherming-regio-2", "politie-basisteam-1",
        "politie-basisteam-2", "raad-kinderbescherming-1", "raad-kinderbescherming-2",
        "veilig-thuis-regio-1", "veilig-thuis-regio-2"]
    described = summary.describe()
    key_text = summary.second_factor_keys["veilig-thuis-regio-1"]
    assert key_text in described and "python -m broker.signin.totp" in described
    pending = signin.with_password("veilig-thuis-regio-1", "demo-wachtwoord", HERE)
    code = totp.code_at(totp.from_base32(key_text), totp.step_at(core.now()))
    assert signin.with_code(pending.token, code, HERE).stage == "signed_in"
    assert signin.with_password("wijkteam-noord-1", "demo-wachtwoord", HERE).stage == (
        "signed_in")
