"""Exported bundles of the live log verify offline, and any tampering with them is caught."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from importlib.machinery import SourceFileLoader
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.audit.checkpoints import sign_checkpoint
from broker.audit.export import export_bundle
from broker.audit.services import Actor
from broker.core import Core
from broker.errors import ValidationError
from broker.oversight.retention import erase_personal_details
from broker.registry.lookups import Evidence, LookupService
from broker.registry.services import RegistryService
from tests.conftest import FakeClock
from tests.factories import ADDRESS, CHILD_BSN, MOTHER_BSN, household, make_member, register
from tests.uow import committed, in_uow

VERIFIER = Path(__file__).resolve().parents[2] / "scripts" / "verify-audit"
AUDITOR = Actor.operator("auditor")
ALWAYS = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


def _verifier() -> ModuleType:
    loader = SourceFileLoader("verify_audit", str(VERIFIER))
    module = ModuleType(loader.name)
    sys.modules[loader.name] = module  # dataclasses look their module up
    loader.exec_module(module)
    return module


verify_audit = _verifier()


def _story(core: Core, registry: RegistryService) -> None:
    """Registrations, look-ups (one under vital interest, with a written justification)."""
    school, vt = make_member(registry, "school"), make_member(registry, "vt")
    child = household(core, bsn=(CHILD_BSN,), address=(ADDRESS,))
    register(registry, school, child)
    register(registry, vt, household(core, bsn=(MOTHER_BSN,), address=(ADDRESS,)))
    service = committed(core, LookupService)
    for _ in range(3):
        service.lookup(school.actor, pseudonyms=child, purpose="care_coordination",
                       basis="legal_task", evidence=Evidence(statute="jeugdwet_7_1_1"))
        sign_checkpoint(core)  # several checkpoints, so consistency proofs are exercised
    why = "Acuut gevaar voor het kind: zwaarwegend belang, overlegd met de aandachtsfunctionaris."
    service.lookup(vt.actor, pseudonyms=child, purpose="safety_assessment",
                   basis="vital_interest", evidence=Evidence(justification=why))


def _verify(bundle: Path, key: str) -> tuple[str, object]:
    outcome = verify_audit.verify(bundle, key, progress=False)
    return outcome.status, outcome.problem


@pytest.fixture
def bundle(core: Core, registry: RegistryService, tmp_path: Path) -> Path:
    _story(core, registry)
    out = tmp_path / "bundle"
    report = export_bundle(core, AUDITOR, out, *ALWAYS)
    assert report.first_seq == 1 and report.event_count == report.tree_size
    return out


def test_an_export_verifies_offline_with_the_broker_key(core: Core, bundle: Path) -> None:
    status, problem = _verify(bundle, core.audit_key().verifier())
    assert (status, problem) == ("verified", None)
    lines = (bundle / "events.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["event_type"] == "audit:exported"
    vital = [json.loads(x) for x in lines if '"vital_interest":true' in x]
    assert len(vital) == 1 and vital[0]["personal"]["justification"].startswith("Acuut")


def test_a_period_that_starts_later_verifies_through_its_proofs(
        core: Core, registry: RegistryService, tmp_path: Path, clock: FakeClock) -> None:
    _story(core, registry)
    later = datetime.now(UTC) + timedelta(milliseconds=5)
    while datetime.now(UTC) < later:
        pass
    make_member(registry, "wijkteam")  # events after the cut
    out = tmp_path / "later"
    report = export_bundle(core, AUDITOR, out, later, ALWAYS[1])
    assert report.first_seq > 1 and report.last_seq == report.tree_size
    assert _verify(out, core.audit_key().verifier()) == ("verified", None)


def test_erased_personal_details_leave_the_bundle_verifiable(
        core: Core, registry: RegistryService, tmp_path: Path, clock: FakeClock) -> None:
    _story(core, registry)
    clock.now += timedelta(days=3 * 365)
    assert in_uow(core, erase_personal_details, Actor.system("purge")) > 0
    out = tmp_path / "erased"
    export_bundle(core, AUDITOR, out, *ALWAYS)
    text = (out / "events.jsonl").read_text()
    assert "Acuut gevaar" not in text and '"personal"' not in text
    assert _verify(out, core.audit_key().verifier()) == ("verified", None)


def test_a_bundle_signed_by_another_key_is_refused(core: Core, bundle: Path) -> None:
    from nacl.signing import SigningKey  # noqa: PLC0415

    from broker.audit.checkpoints import NoteKey  # noqa: PLC0415

    other = SigningKey.generate()
    status, problem = _verify(bundle, NoteKey(core.audit_key().name, other.verify_key).verifier())
    assert status == "problem" and problem is not None


def test_an_export_never_overwrites_an_earlier_bundle(core: Core, bundle: Path) -> None:
    with pytest.raises(ValidationError, match="not an empty directory"):
        export_bundle(core, AUDITOR, bundle, *ALWAYS)
    with pytest.raises(ValidationError, match="after its start"):
        export_bundle(core, AUDITOR, bundle.parent / "new", ALWAYS[1], ALWAYS[0])
    assert not (bundle.parent / "new").exists()


# -- tampering with a real export -------------------------------------------------------------

MUTATIONS = st.sampled_from(["change", "delete", "insert", "swap"])


def _tamper(lines: list[str], how: str, index: int, other: int, member: str) -> list[str]:
    lines = list(lines)
    if how == "delete":
        del lines[index]
    elif how == "insert":
        lines.insert(index, lines[other])
    elif how == "swap":
        lines[index], lines[other] = lines[other], lines[index]
    else:
        event = json.loads(lines[index])
        value = event[member]
        event[member] = (not value if isinstance(value, bool) else
                         value + 1 if isinstance(value, int) else
                         "x" if value is None else
                         {**value, "forged": True} if isinstance(value, dict) else
                         [*value, "forged"] if isinstance(value, list) else value + "x")
        lines[index] = json.dumps(event, sort_keys=True, separators=(",", ":"),
                                  ensure_ascii=False)
    return lines


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(how=MUTATIONS, data=st.data())
def test_any_single_change_deletion_insertion_or_swap_is_detected(
        core: Core, bundle: Path, tmp_path_factory: pytest.TempPathFactory, how: str,
        data: st.DataObject) -> None:
    lines = (bundle / "events.jsonl").read_text(encoding="utf-8").splitlines()
    index = data.draw(st.integers(0, len(lines) - 1), label="index")
    other = data.draw(st.integers(0, len(lines) - 1).filter(lambda i: i != index), label="other")
    member = data.draw(st.sampled_from(sorted(json.loads(lines[index]))), label="member")
    tampered = _tamper(lines, how, index, other, member)
    if tampered == lines:
        return  # swapping two identical lines changes nothing
    copy = tmp_path_factory.mktemp("tampered")
    shutil.copytree(bundle, copy, dirs_exist_ok=True)
    (copy / "events.jsonl").write_text("\n".join(tampered) + "\n", encoding="utf-8")
    status, problem = _verify(copy, core.audit_key().verifier())
    assert status == "problem", (how, index, other, member)
    assert problem is not None and problem.seq is not None


def test_the_command_line_round_trip(core: Core, registry: RegistryService,
                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``broker audit export`` and ``scripts/verify-audit`` as an auditor runs them."""
    from click.testing import CliRunner  # noqa: PLC0415

    from broker.cli import main  # noqa: PLC0415

    _story(core, registry)
    for name, value in (("BROKER_HOME", core.settings.home),
                        ("BROKER_DATABASE_URL", core.settings.database_url),
                        ("BROKER_POLICY_DIR", core.settings.policy_dir)):
        monkeypatch.setenv(name, str(value))
    runner = CliRunner()
    verified = runner.invoke(main, ["--lang", "en", "audit", "verify"], catch_exceptions=False)
    out = tmp_path / "cli-bundle"
    exported = runner.invoke(main, ["--lang", "en", "audit", "export", "--out", str(out)],
                             catch_exceptions=False)
    assert exported.exit_code == 0, exported.output
    key = core.audit_key().verifier()
    result = subprocess.run([sys.executable, str(VERIFIER), str(out), "--key", key, "--json"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["status"] == "verified"
    assert verified.exit_code == 0 and verified.stdout.startswith("verified: ")
