"""Bundles carry the witnesses' cosignatures, and ``scripts/verify-audit`` refuses a log that was
cut back or rewritten behind the witness's back, given the witness's key or its copy."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from broker.audit.chain import to_millisecond
from broker.audit.checkpoints import sign_checkpoint
from broker.audit.export import export_bundle
from broker.audit.services import Actor, record_event
from broker.audit.witnessing import hand_to_witnesses
from broker.clock import utcnow
from broker.core import Core
from tests.audit.attacks import cut_back
from tests.audit.test_export import ALWAYS, AUDITOR, verify_audit
from tests.witness.running import RunningWitness

WEB = Actor(actor="professional:anna", channel="web", organisation_id=1)


@pytest.fixture
def witness(core: Core, tmp_path: Path) -> Iterator[RunningWitness]:
    running = RunningWitness(tmp_path / "witness", core)
    running.start()
    running.configure(core)
    yield running
    running.stop()


def append(core: Core, count: int) -> None:
    for _ in range(count):
        with core.transaction() as connection:
            record_event(connection, WEB, "lookup:performed")


def export(core: Core, out: Path) -> Path:
    export_bundle(core, AUDITOR, out, *ALWAYS)
    return out


def check(core: Core, bundle: Path, witness: RunningWitness | None = None,
          copies: tuple[str, ...] = ()) -> tuple[str, str | None, dict[str, object] | None]:
    keys = (witness.verifier,) if witness else ()
    outcome = verify_audit.verify(bundle, core.audit_key().verifier(), progress=False,
                                  witness_keys=keys, witness_checkpoints=copies)
    kind = outcome.problem.kind if outcome.problem else None
    return outcome.status, kind or outcome.error, outcome.summary


def copy_of(witness: RunningWitness, core: Core, path: Path) -> str:
    path.write_text(httpx.get(f"{witness.url}/checkpoint/{core.audit_key().name}").text,
                    encoding="utf-8")
    return str(path)


def test_a_witnessed_bundle_verifies_with_the_witness_key_and_its_copy(
        core: Core, witness: RunningWitness, tmp_path: Path) -> None:
    append(core, 4)
    sign_checkpoint(core)
    hand_to_witnesses(core)
    bundle = export(core, tmp_path / "bundle")
    checkpoints = (bundle / "checkpoints.txt").read_text()
    assert checkpoints.count("\u2014 witness.example/w1 ") == 2  # on both checkpoints
    url = f"{witness.url}/checkpoint/{core.audit_key().name}"
    status, problem, summary = check(core, bundle, witness, (url,))
    assert (status, problem) == ("verified", None)
    assert summary is not None and summary["cosigned_by"] == ["witness.example/w1"]
    assert summary["witness_copies"] == [{"source": url, "tree_size": summary["final_tree_size"],
                                          "shown_by": "same checkpoint"}]
    # A reader without the witness's key still verifies it, and says what it did not check.
    unchecked = verify_audit.verify(bundle, core.audit_key().verifier(), progress=False)
    assert unchecked.status == "verified"
    assert [w for w in unchecked.warnings if "witness.example/w1 that were not checked" in w]


def test_a_bundle_of_a_log_cut_back_to_an_old_checkpoint_is_refused(
        core: Core, witness: RunningWitness, tmp_path: Path) -> None:
    """The attack as seen, offline: the events, checkpoints and state row rewound; the
    witness's copy holds the larger tree."""
    append(core, 4)
    old = sign_checkpoint(core)
    assert old is not None
    hand_to_witnesses(core)
    append(core, 5)
    sign_checkpoint(core)
    hand_to_witnesses(core)
    copy = copy_of(witness, core, tmp_path / "witness-copy.txt")
    cut_back(core, old.tree_size)
    bundle = export(core, tmp_path / "bundle")  # the witness refuses its final checkpoint
    assert check(core, bundle)[:2] == ("verified", None)  # without the witness: unnoticed
    assert check(core, bundle, witness, (copy,))[:2] == ("problem", "cut back")
    assert check(core, bundle, witness)[:2] == ("problem", "not witnessed")


def test_a_bundle_of_a_rewritten_log_is_refused(core: Core, witness: RunningWitness,
                                                tmp_path: Path) -> None:
    append(core, 4)
    old = sign_checkpoint(core)
    assert old is not None
    append(core, 5)
    sign_checkpoint(core)
    hand_to_witnesses(core)
    copy = copy_of(witness, core, tmp_path / "witness-copy.txt")
    cut_back(core, old.tree_size)
    append(core, 10)  # other events, past the size the witness holds
    bundle = export(core, tmp_path / "bundle")
    assert check(core, bundle, witness, (copy,))[:2] == ("problem", "forked")


def test_an_altered_cosignature_in_a_bundle_is_caught(core: Core, witness: RunningWitness,
                                                      tmp_path: Path) -> None:
    append(core, 3)
    bundle = export(core, tmp_path / "bundle")
    path = bundle / "checkpoints.txt"
    lines = path.read_text().split("\n")
    index = next(i for i, line in enumerate(lines) if "witness.example/w1" in line)
    signature = lines[index].rsplit(" ", 1)[1]
    lines[index] = lines[index].replace(signature, signature[:-8] + "AAAAAAA=")
    path.write_text("\n".join(lines))
    assert check(core, bundle, witness)[:2] == ("problem", "bad cosignature")


def test_a_copy_not_signed_by_the_log_or_without_the_witness_key_is_refused(
        core: Core, witness: RunningWitness, tmp_path: Path) -> None:
    append(core, 3)
    bundle = export(core, tmp_path / "bundle")
    copy = Path(copy_of(witness, core, tmp_path / "copy.txt"))
    assert check(core, bundle, None, (str(copy),))[0] == "unreadable"  # needs --witness-key
    lines = copy.read_text().split("\n")
    lines[1] = str(int(lines[1]) + 1)  # another size under the same signatures
    copy.write_text("\n".join(lines))
    assert check(core, bundle, witness, (str(copy),))[:2] == ("problem", "bad signature")


def test_the_witness_key_option_and_json_on_the_command_line(
        core: Core, witness: RunningWitness, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    append(core, 2)
    bundle = export(core, tmp_path / "bundle")
    status = verify_audit.main([str(bundle), "--key", core.audit_key().verifier(),
                                "--witness-key", witness.verifier, "--quorum", "1", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert (status, result["status"], result["warnings"]) == (0, "verified", [])
    assert verify_audit.main([str(bundle), "--key", core.audit_key().verifier(),
                              "--witness-key", witness.verifier, "--quorum", "2"]) == 2


def test_a_copy_outside_a_later_bundle_is_shown_by_the_witness_s_later_cosignature(
        core: Core, witness: RunningWitness, tmp_path: Path) -> None:
    """A bundle from a later start holds neither the copy's checkpoint nor the events up to it:
    the witness's cosignature on the final checkpoint, made after the copy, vouches for it."""
    append(core, 4)
    sign_checkpoint(core)
    hand_to_witnesses(core)
    copy = copy_of(witness, core, tmp_path / "copy.txt")
    start = to_millisecond(utcnow()) + timedelta(milliseconds=1)
    time.sleep(0.002)  # the next events occur after ``start``
    append(core, 3)
    bundle = tmp_path / "later"
    export_bundle(core, AUDITOR, bundle, start, ALWAYS[1])
    status, problem, summary = check(core, bundle, witness, (copy,))
    assert (status, problem) == ("verified", None)
    assert summary is not None
    assert summary["witness_copies"][0]["shown_by"] == "co-signed later by witness.example/w1"
    witness.stop()  # the next export's final checkpoint gets no cosignature
    append(core, 1)
    again = tmp_path / "unwitnessed"
    export_bundle(core, AUDITOR, again, start, ALWAYS[1])
    assert check(core, again, witness, (copy,))[0] == "unreadable"
    witness.start()
