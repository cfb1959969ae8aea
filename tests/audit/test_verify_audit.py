"""scripts/verify-audit: the auditor's offline verifier, against bundles built from the doc."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from importlib.machinery import SourceFileLoader
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from broker_primitives import merkle
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from tests.audit.bundles import (
    Bundle,
    canonical,
    checkpoint_text,
    signed_note,
    synthetic_events,
    tree_root,
    verifier_key,
    write_bundle,
)

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "verify-audit"


def load_script() -> ModuleType:
    """The script as a module (it has no .py suffix, so through SourceFileLoader)."""
    loader = SourceFileLoader("verify_audit", str(SCRIPT))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[loader.name] = module  # dataclasses look their module up while being built
    loader.exec_module(module)
    return module


verifier = load_script()
CHECKPOINTS = (5, 12, 20, 33)


@pytest.fixture(scope="module")
def originals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Bundle]:
    """Clean bundles, written once: the log of 40 events from seq 1, and seq 9–35 of it."""
    root = tmp_path_factory.mktemp("bundles")
    return {
        "from_1": write_bundle(root / "from_1", synthetic_events(40),
                               checkpoint_sizes=CHECKPOINTS),
        "from_9": write_bundle(root / "from_9", synthetic_events(40), first_seq=9, last_seq=35,
                               checkpoint_sizes=CHECKPOINTS),
    }


def copy_of(bundle: Bundle, directory: Path) -> Bundle:
    """An independent copy of ``bundle`` in ``directory`` (which must not exist)."""
    shutil.copytree(bundle.directory, directory)
    return Bundle(directory, bundle.origin, bundle.first_seq, bundle.last_seq, bundle.leaves,
                  bundle.checkpoint_sizes, bundle.key)


@pytest.fixture
def from_1(originals: dict[str, Bundle], tmp_path: Path) -> Bundle:
    """A copy of the seq 1–40 bundle to damage."""
    return copy_of(originals["from_1"], tmp_path / "bundle")


@pytest.fixture
def from_9(originals: dict[str, Bundle], tmp_path: Path) -> Bundle:
    """A copy of the seq 9–35 bundle to damage."""
    return copy_of(originals["from_9"], tmp_path / "bundle")


def verify(bundle: Bundle, key: str | None = "trusted") -> Any:
    """The verifier's outcome, with the bundle's real key unless told otherwise."""
    return verifier.verify(bundle.directory, bundle.verifier_key if key == "trusted" else key,
                           progress=False)


def problem(bundle: Bundle, key: str | None = "trusted") -> Any:
    """The problem the verifier names (failing the test when there is none)."""
    outcome = verify(bundle, key)
    assert outcome.status == "problem", (outcome.status, outcome.error)
    assert outcome.exit_code == 1
    return outcome.problem


def unreadable(bundle: Bundle) -> str:
    """The error of an unreadable bundle."""
    outcome = verify(bundle)
    assert outcome.status == "unreadable", (outcome.status, outcome.problem)
    assert outcome.exit_code == 2
    return str(outcome.error)


# --- the script's own RFC 9162 code agrees with broker_primitives.merkle ---

def test_the_scripts_proof_verification_agrees_with_the_broker() -> None:
    leaves = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(34)]
    for n in range(1, 34):
        root = merkle.root_of(leaves[:n])
        for m in range(n):
            proof = merkle.inclusion_proof(leaves, m, n)
            assert verifier.verify_inclusion(leaves[m], m, n, proof, root)
            assert not verifier.verify_inclusion(leaves[m], m, n, proof[:-1] or [root], root)
        for m in range(n + 1):
            proof = merkle.consistency_proof(leaves, m, n)
            first_root = merkle.root_of(leaves[:m])
            assert verifier.verify_consistency(m, n, first_root, root, proof), (m, n)
            assert not verifier.verify_consistency(m, n, first_root, root, [*proof, root])


def test_the_scripts_roots_agree_with_the_broker() -> None:
    leaves = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(70_000)]
    sizes = [0, 1, 2, 3, 5, 32_768, 32_769, 65_536, 69_999, 70_000]
    # Beyond 32,768 leaves a level is hashed in more than one block.
    assert verifier.roots_at(bytearray(b"".join(leaves)), sizes) == {
        n: merkle.root_of(leaves[:n]) for n in sizes}


# --- clean bundles ---

def test_a_clean_bundle_from_seq_1_verifies(from_1: Bundle) -> None:
    outcome = verify(from_1)
    assert outcome.status == "verified", outcome.problem or outcome.error
    assert outcome.exit_code == 0
    assert outcome.warnings == []
    summary = outcome.summary
    assert (summary["events"], summary["first_seq"], summary["last_seq"]) == (40, 1, 40)
    assert summary["checkpoints"] == 5
    # Each stored checkpoint's last leaf, and the last event in the final one (the same proof
    # when the final checkpoint ends at the last event).
    assert summary["inclusion_proofs"] == 6
    assert summary["consistency_proofs"] == 4
    assert summary["roots_recomputed"] == 5


def test_a_clean_bundle_from_a_later_seq_verifies_without_recomputing_roots(
        from_9: Bundle) -> None:
    outcome = verify(from_9)
    assert outcome.status == "verified", outcome.problem or outcome.error
    summary = outcome.summary
    assert (summary["events"], summary["first_seq"], summary["last_seq"]) == (27, 9, 35)
    assert summary["checkpoints"] == 4  # 12, 20 and 33, and the final one of 40
    assert summary["inclusion_proofs"] == 4
    assert summary["roots_recomputed"] == 0


def test_an_empty_range_verifies(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "b", synthetic_events(7), first_seq=8, last_seq=7,
                          checkpoint_sizes=(3,))
    assert bundle.path("events.jsonl").read_bytes() == b""
    outcome = verify(bundle)
    assert outcome.status == "verified", outcome.problem or outcome.error
    assert outcome.summary["events"] == 0


def test_an_empty_log_verifies(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "b", synthetic_events(0), first_seq=1, last_seq=0)
    outcome = verify(bundle)
    assert outcome.status == "verified", outcome.problem or outcome.error
    assert outcome.summary["roots_recomputed"] == 1  # SHA-256("") for the tree of size 0


def test_a_bundle_whose_final_checkpoint_is_later_than_its_last_event_verifies(
        tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "b", synthetic_events(50), last_seq=30,
                          checkpoint_sizes=(10, 30, 45))
    outcome = verify(bundle)
    assert outcome.status == "verified", outcome.problem or outcome.error
    assert outcome.summary["final_tree_size"] == 50
    assert outcome.summary["roots_recomputed"] == 2  # 10 and 30; 50 is beyond the events


def test_erased_personal_details_are_not_a_problem(from_1: Bundle) -> None:
    events = from_1.events()
    erased = [{k: v for k, v in event.items() if k != "personal"} for event in events]
    assert erased != events
    from_1.write_events(erased)
    assert verify(from_1).status == "verified"


def test_lines_written_in_another_valid_json_form_still_verify(from_1: Bundle) -> None:
    # Spaces, unsorted keys and escaped non-ASCII: the same content, so the same hash.
    events = from_1.events()
    from_1.write_lines(json.dumps(dict(reversed(list(event.items())))).encode()
                       for event in events)
    assert verify(from_1).status == "verified"


# --- the command line ---

def test_the_script_runs_as_a_program(originals: dict[str, Bundle]) -> None:
    bundle = originals["from_9"]
    result = subprocess.run([sys.executable, str(SCRIPT), str(bundle.directory)],
                            capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("verified: 27 events (seq 9–35), 4 signed checkpoints")
    assert "the key came with the bundle" in result.stderr
    trusted = subprocess.run(
        [sys.executable, str(SCRIPT), str(bundle.directory), "--key", bundle.verifier_key,
         "--json"], capture_output=True, text=True, check=False, timeout=60)
    assert trusted.returncode == 0, trusted.stderr
    assert "warning" not in trusted.stderr
    result_json = json.loads(trusted.stdout)
    assert result_json["status"] == "verified"
    assert result_json["summary"]["events"] == 27
    assert result_json["summary"]["key_from_bundle"] is False


def test_the_script_reports_a_problem_and_an_unreadable_bundle_as_a_program(
        from_1: Bundle) -> None:
    lines = from_1.lines()
    from_1.write_lines(lines[:6] + lines[7:])
    result = subprocess.run([sys.executable, str(SCRIPT), str(from_1.directory), "--json",
                             "--key", from_1.verifier_key], capture_output=True, text=True,
                            check=False, timeout=60)
    assert result.returncode == 1
    assert json.loads(result.stdout)["problem"]["kind"] == "removed"
    assert json.loads(result.stdout)["problem"]["seq"] == 7
    from_1.path("manifest.json").write_text("{not json")
    result = subprocess.run([sys.executable, str(SCRIPT), str(from_1.directory)],
                            capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 2
    assert "manifest.json is not JSON" in result.stderr
    assert "Traceback" not in result.stderr


def test_main_prints_a_person_readable_problem(from_1: Bundle,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    events = from_1.events()
    events[3]["actor"] = "professional:someone-else"
    from_1.write_events(events)
    assert verifier.main([str(from_1.directory), "--key", from_1.verifier_key]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"PROBLEM (altered, seq 4, event_id {events[3]['event_id']}): ")
    assert "hash does not recompute" in out


def test_the_key_can_come_from_a_file(from_1: Bundle, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    key_file = tmp_path / "broker.pub"
    key_file.write_text(from_1.verifier_key + "\n")
    assert verifier.main([str(from_1.directory), "--key", str(key_file), "--quiet"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_large_bundles_report_progress(from_1: Bundle, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verifier, "PROGRESS_EVERY", 10)
    assert verifier.main([str(from_1.directory), "--key", from_1.verifier_key]) == 0
    err = capsys.readouterr().err
    assert "10 events checked" in err
    assert "40 events checked" in err
    assert verifier.main([str(from_1.directory), "--key", from_1.verifier_key,
                          "--quiet"]) == 0
    assert capsys.readouterr().err == ""


# --- keys and signatures ---

def test_another_key_is_a_bad_signature(from_1: Bundle) -> None:
    other = verifier_key(from_1.origin, SigningKey(bytes(32)))
    found = problem(from_1, key=other)
    assert found.kind == "bad signature"
    assert "not signed by the trusted key" in found.message


def test_a_key_of_another_log_is_a_bad_signature(from_1: Bundle) -> None:
    found = problem(from_1, key=verifier_key("other.example/audit", from_1.key))
    assert found.kind == "bad signature"


def test_a_bundle_signed_by_another_key_fails_with_the_trusted_key(from_1: Bundle,
                                                                    tmp_path: Path) -> None:
    forged = write_bundle(tmp_path / "forged", synthetic_events(40),
                          checkpoint_sizes=CHECKPOINTS, key=SigningKey(bytes(32)))
    # Self-consistent, with its own audit-key.pub: only the trusted key tells it apart.
    assert verify(forged, key=None).status == "verified"
    assert problem(forged, key=from_1.verifier_key).kind == "bad signature"


def test_an_altered_checkpoint_text_is_a_bad_signature(from_1: Bundle) -> None:
    text = from_1.path("checkpoints.txt").read_text()
    from_1.path("checkpoints.txt").write_text(text.replace("\n12\n", "\n13\n", 1))
    found = problem(from_1)
    assert found.kind == "bad signature"
    assert "checkpoint 2" in found.message


@pytest.mark.parametrize("damage", ["flip", "truncate", "not base64"])
def test_a_damaged_signature_is_a_bad_signature(from_1: Bundle, damage: str) -> None:
    text = from_1.path("checkpoints.txt").read_text()
    line = [line for line in text.splitlines() if line.startswith("\u2014")][2]
    prefix, encoded = line.rsplit(" ", 1)
    raw = bytearray(base64.b64decode(encoded))
    if damage == "flip":
        raw[40] ^= 0x04
        new = base64.b64encode(bytes(raw)).decode()
    elif damage == "truncate":
        new = base64.b64encode(bytes(raw[:40])).decode()
    else:
        new = "!" + encoded[1:]
    from_1.path("checkpoints.txt").write_text(text.replace(line, f"{prefix} {new}"))
    found = problem(from_1)
    assert found.kind == "bad signature"
    assert "checkpoint 3" in found.message


def test_a_checkpoint_of_another_origin_is_a_bad_signature(from_1: Bundle) -> None:
    other = "other.example/audit"
    note = signed_note(checkpoint_text(other, 40, tree_root(from_1.leaves, 40), 1), other,
                       from_1.key)
    text = from_1.path("checkpoints.txt").read_text()
    from_1.path("checkpoints.txt").write_text(text + "\n" + note)
    assert problem(from_1).kind == "bad signature"


def test_a_key_from_the_bundle_is_used_with_a_warning(from_1: Bundle) -> None:
    outcome = verify(from_1, key=None)
    assert outcome.status == "verified"
    assert any("came with the bundle" in warning for warning in outcome.warnings)
    assert outcome.summary["key_from_bundle"] is True


@pytest.mark.parametrize("key", [
    "not a key", "a+b+c", "broker.example/audit+zzzzzzzz+AAAA",
    "broker.example/audit+00000000+" + base64.b64encode(b"\x01" + bytes(32)).decode(),
])
def test_a_malformed_key_is_unreadable(from_1: Bundle, key: str) -> None:
    outcome = verify(from_1, key=key)
    assert outcome.status == "unreadable"
    assert outcome.error.startswith("--key:")


# --- events: each kind of damage, named by seq and event_id ---

@pytest.mark.parametrize("name", ["from_1", "from_9"])
def test_an_altered_member_is_named(originals: dict[str, Bundle], tmp_path: Path,
                                    name: str) -> None:
    bundle = copy_of(originals[name], tmp_path / "b")
    events = bundle.events()
    events[10]["purpose"] = "something else"
    bundle.write_events(events)
    found = problem(bundle)
    assert (found.kind, found.seq, found.event_id) == ("altered", events[10]["seq"],
                                                       events[10]["event_id"])


def test_an_altered_hash_is_named(from_1: Bundle) -> None:
    events = from_1.events()
    events[4]["hash"] = "0" * 64
    from_1.write_events(events)
    found = problem(from_1)
    assert (found.kind, found.seq) == ("altered", 5)


def content_hash(event: dict[str, Any]) -> str:
    """The hash an event line should carry, recomputed as a forger would."""
    content = {k: v for k, v in event.items() if k not in ("hash", "personal")}
    return hashlib.sha256(b"\x00" + canonical(content)).hexdigest()


def test_a_rehashed_event_breaks_the_chain_at_the_next_one(from_1: Bundle) -> None:
    events = from_1.events()
    event = events[6]
    event["actor"] = "professional:mallory"
    event["hash"] = content_hash(event)
    from_1.write_events(events)
    found = problem(from_1)
    assert (found.kind, found.seq, found.event_id) == ("altered", 7, event["event_id"])
    assert "prev_hash that seq 8 records" in found.message


def rehash_from(events: list[dict[str, Any]], index: int) -> None:
    """Recompute the hashes (and prev_hash) of events[index:], as a forger would."""
    for position in range(index, len(events)):
        event = events[position]
        if position:
            event["prev_hash"] = events[position - 1]["hash"]
        event["hash"] = content_hash(event)


def test_a_rewritten_chain_is_not_in_the_checkpoints(from_1: Bundle) -> None:
    events = from_1.events()
    events[14]["outcome"] = "refused"
    rehash_from(events, 14)
    from_1.write_events(events)
    found = problem(from_1)
    # Event 15 changed: the first checkpoint that covers it (size 20) no longer matches.
    assert (found.kind, found.seq) == ("not in checkpoint", 20)


def test_a_rewritten_chain_in_a_later_bundle_is_not_in_the_checkpoints(from_9: Bundle) -> None:
    events = from_9.events()
    events[14]["outcome"] = "refused"  # seq 23
    rehash_from(events, 14)
    from_9.write_events(events)
    found = problem(from_9)
    assert (found.kind, found.seq) == ("not in checkpoint", 33)


def test_altered_personal_details_are_named(from_1: Bundle) -> None:
    events = from_1.events()
    index = next(i for i, event in enumerate(events) if "personal" in event)
    events[index]["personal"]["source_address"] = "198.51.100.0"
    from_1.write_events(events)
    found = problem(from_1)
    assert (found.kind, found.seq) == ("personal details altered", events[index]["seq"])


def test_personal_details_added_to_an_event_without_them_are_named(from_1: Bundle) -> None:
    events = from_1.events()
    index = next(i for i, event in enumerate(events) if event["personal_digest"] is None)
    events[index]["personal"] = {"justification": "x", "source_address": None,
                                 "salt": "00" * 16}
    from_1.write_events(events)
    found = problem(from_1)
    assert (found.kind, found.seq) == ("personal details altered", events[index]["seq"])
    assert "commits to no personal details" in found.message


def test_a_hash_member_moved_into_the_details_is_found(from_1: Bundle) -> None:
    # The content bytes stay the same, but a JSON reader now sees another event: the verifier
    # must not take the moved member for the top-level one. (Event 5 has a nested
    # "legal_basis" in its details, the place the hash member stands before at the top.)
    lines = from_1.lines()
    line = lines[4]
    start = line.index(b',"hash":"')
    member = line[start:start + 74]
    without = line[:start] + line[start + 74:]
    nested = without.index(b',"legal_basis":"x"')
    lines[4] = without[:nested] + member + without[nested:]
    assert json.loads(lines[4])["details"]["nested"]["hash"] == json.loads(line)["hash"]
    from_1.write_lines(lines)
    found = problem(from_1)
    assert (found.kind, found.seq) == ("altered", 5)


def test_a_member_given_twice_is_found_even_if_the_last_one_hashes(from_1: Bundle) -> None:
    # Readers that keep the first of two members see another actor than those keeping the
    # last one (which is the one the hash is over).
    lines = from_1.lines()
    lines[7] = lines[7].replace(b'{"action":', b'{"actor":"professional:mallory","action":', 1)
    from_1.write_lines(lines)
    found = problem(from_1)
    assert (found.kind, found.seq) == ("altered", 8)
    assert "actor more than once" in found.message


def test_a_member_smuggled_in_beside_the_personal_details_is_found(from_1: Bundle) -> None:
    lines = from_1.lines()
    line = lines[2]  # event 3 has personal details
    end = line.index(b',"personal_digest":')
    lines[2] = line[:end] + b',"actor":"professional:mallory"' + line[end:]
    assert json.loads(lines[2])["actor"] == "professional:mallory"
    from_1.write_lines(lines)
    found = problem(from_1)
    assert (found.kind, found.seq) == ("altered", 3)


@pytest.mark.parametrize(("index", "seq"), [(0, 1), (17, 18), (39, 40)])
def test_a_removed_line_is_named(from_1: Bundle, index: int, seq: int) -> None:
    lines = from_1.lines()
    from_1.write_lines(lines[:index] + lines[index + 1:])
    found = problem(from_1)
    assert (found.kind, found.seq) == ("removed", seq)


def test_removed_lines_are_named_as_a_range(from_1: Bundle) -> None:
    lines = from_1.lines()
    from_1.write_lines(lines[:10] + lines[13:])
    found = problem(from_1)
    assert (found.kind, found.seq) == ("removed", 11)
    assert "seq 11–13" in found.message


@pytest.mark.parametrize(("copied", "at"), [(3, 10), (10, 10), (10, 11), (20, 5), (0, 0),
                                            (39, 40), (5, 40)])
def test_an_inserted_copy_is_named(from_1: Bundle, copied: int, at: int) -> None:
    lines = from_1.lines()
    from_1.write_lines([*lines[:at], lines[copied], *lines[at:]])
    found = problem(from_1)
    assert (found.kind, found.seq) == ("inserted", copied + 1)


def test_an_inserted_forgery_that_chains_is_named(from_1: Bundle) -> None:
    # A made-up event claiming seq 12, chained to seq 11 and correctly hashed, before the
    # real seq 12: the log continues from the real one, so the forgery is the extra line.
    events = from_1.events()
    forged = dict(events[11], actor="professional:mallory", event_id="forged")
    forged.pop("personal", None)
    forged["hash"] = content_hash(forged)
    from_1.write_events([*events[:11], forged, *events[11:]])
    found = problem(from_1)
    assert (found.kind, found.seq, found.event_id) == ("inserted", 12, "forged")


@pytest.mark.parametrize(("i", "j"), [(4, 5), (4, 30), (0, 39), (38, 39)])
def test_swapped_lines_are_named(from_1: Bundle, i: int, j: int) -> None:
    lines = from_1.lines()
    lines[i], lines[j] = lines[j], lines[i]
    from_1.write_lines(lines)
    found = problem(from_1)
    assert (found.kind, found.seq) == ("reordered", j + 1)


def test_of_two_problems_the_first_is_named(from_1: Bundle) -> None:
    lines = from_1.lines()
    lines[4], lines[5] = lines[5], lines[4]
    del lines[30]
    from_1.write_lines(lines)
    found = problem(from_1)
    assert (found.kind, found.seq) == ("reordered", 6)


def test_a_line_beyond_the_manifest_is_inserted(from_9: Bundle) -> None:
    lines = from_9.lines()
    from_9.write_lines([*lines, lines[-1]])
    found = problem(from_9)
    assert (found.kind, found.seq) == ("inserted", 35)


# --- proofs ---

def test_a_flipped_byte_in_a_proof_that_another_checkpoint_backs_is_a_bad_proof(
        from_9: Bundle) -> None:
    proofs = from_9.proofs()
    entry = next(e for e in proofs["inclusion"] if e["tree_size"] == 20)
    entry["path"][1] = ("0" if entry["path"][1][0] != "0" else "1") + entry["path"][1][1:]
    from_9.write_proofs(proofs)
    found = problem(from_9)
    assert (found.kind, found.seq) == ("bad proof", 20)


def test_a_flipped_byte_in_the_last_proof_of_a_later_bundle_is_not_in_checkpoint(
        from_9: Bundle) -> None:
    # Nothing else proves event 35 to be in the log: the verifier cannot tell a damaged
    # proof from a damaged event, and says so.
    proofs = from_9.proofs()
    entry = next(e for e in proofs["inclusion"] if e["tree_size"] == 40)
    entry["path"][0] = ("0" if entry["path"][0][0] != "0" else "1") + entry["path"][0][1:]
    from_9.write_proofs(proofs)
    found = problem(from_9)
    assert (found.kind, found.seq) == ("not in checkpoint", 35)


def test_a_flipped_byte_in_a_proof_of_a_bundle_from_seq_1_is_a_bad_proof(
        from_1: Bundle) -> None:
    proofs = from_1.proofs()
    proofs["inclusion"][-1]["path"][0] = "ab" * 32
    from_1.write_proofs(proofs)
    found = problem(from_1)
    assert (found.kind, found.seq) == ("bad proof", 40)  # the recomputed roots back event 40


def test_a_damaged_consistency_proof_is_a_bad_proof(from_1: Bundle) -> None:
    proofs = from_1.proofs()
    proofs["consistency"][1]["path"][-1] = "cd" * 32
    from_1.write_proofs(proofs)
    found = problem(from_1)
    assert found.kind == "bad proof"
    assert "from tree size 12 to 20" in found.message


Damage = Callable[[dict[str, Any]], None]


def _set(kind: str, index: int, member: str, value: object) -> Damage:
    def damage(proofs: dict[str, Any]) -> None:
        proofs[kind][index][member] = value
    return damage


def _path(kind: str, index: int, change: Callable[[list[str]], object]) -> Damage:
    def damage(proofs: dict[str, Any]) -> None:
        proofs[kind][index]["path"] = change(proofs[kind][index]["path"])
    return damage


def _drop(kind: str, index: int) -> Damage:
    def damage(proofs: dict[str, Any]) -> None:
        del proofs[kind][index]
    return damage


MALFORMED_PROOFS: dict[str, Damage] = {
    "bad hex": _path("inclusion", 1, lambda p: ["zz" * 32, *p[1:]]),
    "upper-case hex": _path("inclusion", 1, lambda p: [p[0].upper(), *p[1:]]),
    "short hash": _path("inclusion", 1, lambda p: [p[0][:62], *p[1:]]),
    "path not a list": _path("inclusion", 1, "".join),
    "path missing": lambda proofs: proofs["inclusion"][1].pop("path"),
    "path too short": _path("inclusion", 1, lambda p: p[:-1]),
    "path too long": _path("inclusion", 1, lambda p: [*p, p[0]]),
    "empty consistency path": _path("consistency", 0, lambda p: []),
    "consistency too long": _path("consistency", 0, lambda p: [*p, p[0]]),
    "leaf of another event": _set("inclusion", 1, "leaf_index", 12),
    "leaf beyond the tree": _set("inclusion", 1, "leaf_index", 20),
    "negative leaf": _set("inclusion", 1, "leaf_index", -1),
    "leaf as text": _set("inclusion", 1, "leaf_index", "11"),
    "leaf as boolean": _set("inclusion", 0, "leaf_index", True),
    "size of no checkpoint": _set("inclusion", 1, "tree_size", 13),
    "leaf outside the bundle": _set("inclusion", 1, "leaf_index", 0),
    "first after second": _set("consistency", 1, "first", 34),
    "first of no checkpoint": _set("consistency", 1, "first", 11),
    "second as float": _set("consistency", 1, "second", 33.0),
    "sizes missing": lambda proofs: proofs["consistency"].__setitem__(1, {"path": []}),
    "entry not an object": lambda proofs: proofs["inclusion"].__setitem__(0, [1, 2]),
    "inclusion proof missing": _drop("inclusion", 2),
    "consistency proof missing": _drop("consistency", 2),
}


@pytest.mark.parametrize("name", MALFORMED_PROOFS)
def test_malformed_proofs_are_failures_not_crashes(from_9: Bundle, name: str) -> None:
    proofs = from_9.proofs()
    MALFORMED_PROOFS[name](proofs)
    from_9.write_proofs(proofs)
    # The final checkpoint's proof still anchors every event, so whatever fails is the proof.
    found = problem(from_9)
    assert found.kind == "bad proof", found


def test_a_final_checkpoint_before_the_last_event_leaves_events_out(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "b", synthetic_events(30), checkpoint_sizes=(10,),
                          final_size=25)
    found = problem(bundle)
    assert (found.kind, found.seq) == ("not in checkpoint", 26)


def test_checkpoints_with_one_size_and_two_roots_are_a_fork(from_1: Bundle) -> None:
    other_root = tree_root([b"\x07" * 32] * 40, 40)
    note = signed_note(checkpoint_text(from_1.origin, 40, other_root, 1), from_1.origin,
                       from_1.key)
    text = from_1.path("checkpoints.txt").read_text()
    from_1.path("checkpoints.txt").write_text(text + "\n" + note)
    proofs = from_1.proofs()
    proofs["consistency"].append({"first": 40, "second": 40, "path": []})
    from_1.write_proofs(proofs)
    found = problem(from_1)
    assert found.kind == "bad proof"
    assert "from tree size 40 to 40" in found.message


# --- unreadable bundles ---

@pytest.mark.parametrize(("name", "content", "message"), [
    ("manifest.json", b"[]", "not a JSON object"),
    ("manifest.json", b'{"format": "other/1"}', "format"),
    ("manifest.json", None, "manifest.json is missing"),
    ("events.jsonl", b"garbage\n", "line 1 is not JSON"),
    ("events.jsonl", b"[1, 2]\n", "line 1 is not a JSON object"),
    ("events.jsonl", b"\xff\xfe\n", "line 1 is not JSON"),
    ("events.jsonl", b"[" * 100_000 + b"\n", "line 1 is not JSON"),
    ("checkpoints.txt", b"garbage", "does not end with a newline"),
    ("checkpoints.txt", b"garbage\n", "not a sequence of signed notes"),
    ("checkpoints.txt", b"", "does not end with a newline"),
    ("checkpoints.txt", b"o\n1\nroot\ntime x\n\n- o sig\n", "root hash"),
    ("proofs.json", b'{"inclusion": {}}', "lists inclusion and consistency"),
    ("proofs.json", b"\x00", "proofs.json is not JSON"),
    ("audit-key.pub", b"garbage\n", "verifier key"),
])
def test_garbage_is_unreadable(from_1: Bundle, name: str, content: bytes | None,
                               message: str) -> None:
    if content is None:
        from_1.path(name).unlink()
    else:
        from_1.path(name).write_bytes(content)
    outcome = verifier.verify(from_1.directory, None, progress=False)
    assert outcome.status == "unreadable", outcome.problem
    assert outcome.exit_code == 2
    assert message in outcome.error


def test_manifest_arithmetic_is_checked(from_1: Bundle) -> None:
    manifest = json.loads(from_1.path("manifest.json").read_text())
    manifest["event_count"] = 39
    from_1.path("manifest.json").write_text(json.dumps(manifest))
    assert "event_count" in unreadable(from_1)


def test_checkpoints_out_of_order_are_unreadable(from_1: Bundle) -> None:
    chunks = from_1.path("checkpoints.txt").read_text().rstrip("\n").split("\n\n")
    notes = [f"{chunks[k]}\n\n{chunks[k + 1]}\n" for k in range(0, len(chunks), 2)]
    assert len(notes) == 5
    notes[1], notes[2] = notes[2], notes[1]
    from_1.path("checkpoints.txt").write_text("\n".join(notes))
    assert "not ordered by tree size" in unreadable(from_1)


def test_a_missing_directory_is_unreadable(tmp_path: Path) -> None:
    outcome = verifier.verify(tmp_path / "nowhere", None, progress=False)
    assert (outcome.status, outcome.exit_code) == ("unreadable", 2)


# --- properties: every single change is found, and named where it can be ---

MEMBERS = sorted(verifier.CONTENT_MEMBERS)


def changed_value(data: st.DataObject, value: object) -> object:
    """A JSON value that differs from ``value``."""
    new = data.draw(st.one_of(
        st.none(), st.booleans(), st.integers(-10, 10**9), st.text(max_size=5),
        st.lists(st.text(max_size=3), max_size=2),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)))
    if canonical(new) == canonical(value):  # (canonical: True and 1 are different JSON)
        new = [new, "changed"]
    return new


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    """A directory for the property tests' copies (function-scoped tmp_path does not mix
    with hypothesis)."""
    with tempfile.TemporaryDirectory() as directory:
        yield Path(directory)


@settings(max_examples=400, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_single_change_is_detected_and_named(originals: dict[str, Bundle], scratch: Path,
                                                 data: st.DataObject) -> None:
    original = originals[data.draw(st.sampled_from(["from_1", "from_9"]), label="bundle")]
    target = scratch / "copy"
    shutil.rmtree(target, ignore_errors=True)
    bundle = copy_of(original, target)
    lines = bundle.lines()
    events = [json.loads(line) for line in lines]
    count, first = len(events), bundle.first_seq
    change = data.draw(st.sampled_from([
        "member", "remove member", "add member", "hash", "personal", "delete", "insert copy",
        "insert forged", "swap"]), label="change")
    i = data.draw(st.integers(0, count - 1), label="line")
    expected: tuple[str, int]
    if change in ("member", "remove member", "add member", "hash"):
        event = events[i]
        if change == "member":
            member = data.draw(st.sampled_from(MEMBERS), label="member")
            event[member] = changed_value(data, event[member])
        elif change == "remove member":
            del event[data.draw(st.sampled_from(MEMBERS), label="member")]
        elif change == "add member":
            event[data.draw(st.text(min_size=1).filter(
                lambda name: name not in event and name not in ("hash", "personal")),
                label="name")] = 1
        else:
            event["hash"] = data.draw(st.one_of(
                st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
                st.text(max_size=70)).filter(lambda h: h != event["hash"]), label="hash")
        lines[i] = canonical(event)
        expected = ("altered", first + i)
    elif change == "personal":
        with_personal = [n for n, event in enumerate(events) if "personal" in event]
        i = data.draw(st.sampled_from(with_personal), label="line")
        personal = events[i]["personal"]
        member = data.draw(st.sampled_from(["justification", "source_address", "salt"]))
        if member == "salt" and data.draw(st.booleans(), label="well-formed salt"):
            personal["salt"] = data.draw(st.text(alphabet="0123456789abcdef", min_size=32,
                                                 max_size=32).filter(
                                                     lambda salt: salt != personal["salt"]))
        else:
            personal[member] = changed_value(data, personal[member])
        lines[i] = canonical(events[i])
        expected = ("personal details altered", first + i)
    elif change == "delete":
        del lines[i]
        expected = ("removed", first + i)
    elif change in ("insert copy", "insert forged"):
        at = data.draw(st.integers(0, count), label="at")
        extra, member = dict(events[i]), None
        if change == "insert forged":
            member = data.draw(st.sampled_from(MEMBERS), label="forged member")
            extra[member] = "forged"
        lines.insert(at, canonical(extra))
        # Named by the seq it claims, or by its place when it claims none.
        expected = ("inserted", first + at if member == "seq" else first + i)
    else:
        j = data.draw(st.integers(0, count - 1).filter(lambda j: j != i), label="other")
        i, j = min(i, j), max(i, j)
        lines[i], lines[j] = lines[j], lines[i]
        expected = ("reordered", first + j)
    bundle.write_lines(lines)
    found = problem(bundle)
    assert (found.kind, found.seq) == expected, found.message


@settings(max_examples=150, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture])
@given(data=st.data(), name=st.sampled_from(["manifest.json", "events.jsonl",
                                             "checkpoints.txt", "proofs.json",
                                             "audit-key.pub"]))
def test_random_bytes_in_any_file_never_crash(originals: dict[str, Bundle], scratch: Path,
                                              data: st.DataObject, name: str) -> None:
    target = scratch / "garbage"
    shutil.rmtree(target, ignore_errors=True)
    bundle = copy_of(originals["from_9"], target)
    content = bundle.path(name).read_bytes()
    original_content = content
    if data.draw(st.booleans(), label="replace"):
        content = data.draw(st.binary(max_size=300), label="content")
    else:  # one byte changed
        position = data.draw(st.integers(0, max(len(content) - 1, 0)), label="position")
        byte = (content[position] + data.draw(st.integers(1, 255), label="delta")) % 256
        content = content[:position] + bytes([byte]) + content[position + 1:]
    bundle.path(name).write_bytes(content)
    outcome = verifier.verify(bundle.directory, None, progress=False)
    assert outcome.status in ("problem", "unreadable", "verified")
    if outcome.status == "verified":
        # Only a change that leaves the meaning alone may pass (JSON whitespace, the key
        # file's trailing newline, the manifest's informative dates).
        assert name != "checkpoints.txt"
        if name == "events.jsonl":
            assert [json.loads(line) for line in content.splitlines()] == [
                json.loads(line) for line in original_content.splitlines()]
        elif name == "audit-key.pub":
            assert content.strip() == original_content.strip()
        else:
            informative = {"from", "to", "created_at"}
            new, old = json.loads(content), json.loads(original_content)
            assert {k: v for k, v in new.items() if k not in informative} == {
                k: v for k, v in old.items() if k not in informative}
