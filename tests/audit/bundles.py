"""Synthetic audit bundles, written exactly as ``docs/audit-bundle.md`` describes them.

Not a test module: the verifier's tests (and a hand-run timing check) build bundles with
:func:`write_bundle` from events that :func:`synthetic_events` makes up, then damage them.
Everything follows the document, not the broker's code, so that the verifier is tested
against the contract itself.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import random
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from broker_primitives.merkle import (
    SubtreeCache,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_of,
)
from nacl.signing import SigningKey

FORMAT = "broker-audit-bundle/1"
ORIGIN = "broker.example/audit"
KEY_SEED = bytes(range(32))
GENESIS = "0" * 64
EM_DASH = "\u2014"
EPOCH = datetime(2026, 11, 24, tzinfo=UTC)
# The members a caller gives per event; write_bundle adds seq, prev_hash and personal_digest.
GIVEN_MEMBERS = (
    "event_id", "occurred_at", "event_type", "action", "outcome", "reason", "actor",
    "actor_role", "on_behalf_of", "organisation_id", "channel", "request_id", "purpose",
    "legal_basis", "statute", "consent_reference", "policy_version", "rule_id", "obligations",
    "vital_interest", "subjects", "details",
)


def canonical(value: Any) -> bytes:
    """The document's canonical bytes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def timestamp(seconds: int) -> str:
    """A UTC time with milliseconds, about ``seconds`` after 2026-11-24 00:00:00."""
    moment = EPOCH + timedelta(seconds=seconds, milliseconds=seconds * 37 % 1000)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def synthetic_events(count: int, *, seed: int = 0) -> Iterator[dict[str, Any]]:
    """``count`` made-up events (without seq, prev_hash and personal_digest); every third one
    has personal details (``"personal": {"justification", "source_address"}``), and some
    ``details`` hold keys and strings that look like the event's own members."""
    rng = random.Random(seed)
    types = [("lookup:performed", "R"), ("lookup:refused", "R"), ("involvement:registered", "C"),
             ("involvement:ended", "U"), ("involvement:purged", "D"), ("policy:loaded", "E")]
    for n in range(1, count + 1):
        event_type, action = types[rng.randrange(len(types))]
        refused = event_type == "lookup:refused"
        basis = rng.choice([None, "consent", "legal_task", "vital_interest"])
        details: dict[str, Any] = {"matches": rng.randrange(5), "organisations": [3, 7]}
        if n % 5 == 0:
            # Nested members named like the top-level ones, and quotes in strings: the
            # verifier must find the top-level members, not these.
            details["nested"] = {"hash": "f" * 64, "seq": 1, "prev_hash": GENESIS,
                                 "legal_basis": "x", "personal": {"salt": "0" * 32},
                                 "personal_digest": None}
            details["note"] = 'quoted ","hash":"' + "a" * 64 + '", café ✓'
        event: dict[str, Any] = {
            "event_id": f"0193{n >> 16 & 0xffff:04x}-{n & 0xffff:04x}-7{rng.getrandbits(12):03x}"
                        f"-8{rng.getrandbits(12):03x}-{rng.getrandbits(48):012x}",
            "occurred_at": timestamp(n),
            "event_type": event_type,
            "action": action,
            "outcome": "refused" if refused else "success",
            "reason": "no_legal_basis" if refused else None,
            "actor": f"professional:user-{rng.randrange(40)}",
            "actor_role": rng.choice([None, "social_worker", "police_officer"]),
            "on_behalf_of": rng.choice([None, "professional:user-7"]),
            "organisation_id": rng.choice([None, rng.randrange(1, 13)]),
            "channel": rng.choice(["web", "api", "cli", "system"]),
            "request_id": rng.choice([None, f"req-{rng.getrandbits(32):08x}"]),
            "purpose": rng.choice([None, "safety_assessment", "care_coordination"]),
            "legal_basis": basis,
            "statute": "wmo2015_5_2_6" if basis == "legal_task" else None,
            "consent_reference": f"consent-{n}" if basis == "consent" else None,
            "policy_version": hashlib.sha256(b"policy").hexdigest(),
            "rule_id": rng.choice([None, "r1", "r1,r4"]),
            "obligations": sorted(rng.sample(["log_reason", "notify_owner"], rng.randrange(3))),
            "vital_interest": basis == "vital_interest",
            "subjects": sorted(rng.sample(["address", "person"], rng.randrange(3))),
            "details": details,
        }
        if n % 3 == 0:
            event["personal"] = {"justification": rng.choice(["zorg om kind", "verzoek ✓"]),
                                 "source_address": rng.choice([None, "192.0.2.0", "2001:db8::"])}
        yield event


def seal(events: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Event lines: each given event with seq (from 1), prev_hash, personal_digest and hash;
    personal details get a salt (derived from seq, so runs repeat)."""
    previous = GENESIS
    for seq, given in enumerate(events, start=1):
        content = {name: given[name] for name in GIVEN_MEMBERS}
        content.update(seq=seq, prev_hash=previous, personal_digest=None)
        personal = given.get("personal")
        if personal is not None:
            salt = hashlib.sha256(b"salt" + seq.to_bytes(8, "big")).digest()[:16]
            body = canonical({"justification": personal["justification"],
                              "source_address": personal["source_address"]})
            content["personal_digest"] = hashlib.sha256(salt + body).hexdigest()
        line = dict(content, hash=leaf_hash(canonical(content)).hex())
        if personal is not None:
            line["personal"] = {**personal, "salt": salt.hex()}
        previous = line["hash"]
        yield line


def key_id(origin: str, key: SigningKey) -> bytes:
    """The C2SP key ID of an Ed25519 key named ``origin``."""
    return hashlib.sha256(origin.encode() + b"\n\x01" + bytes(key.verify_key)).digest()[:4]


def verifier_key(origin: str, key: SigningKey) -> str:
    """``<origin>+<key id hex>+<base64(0x01 || public key)>``."""
    encoded = base64.b64encode(b"\x01" + bytes(key.verify_key)).decode()
    return f"{origin}+{key_id(origin, key).hex()}+{encoded}"


def signed_note(text: str, origin: str, key: SigningKey) -> str:
    """``text`` (ending in a newline) as a C2SP signed note of ``key`` named ``origin``."""
    signature = key.sign(text.encode()).signature
    encoded = base64.b64encode(key_id(origin, key) + signature).decode()
    return f"{text}\n{EM_DASH} {origin} {encoded}\n"


def checkpoint_text(origin: str, size: int, root: bytes, seconds: int) -> str:
    """The checkpoint body: origin, size, base64 root and time."""
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\ntime {timestamp(seconds)}\n"


def tree_root(leaves: Sequence[bytes], size: int) -> bytes:
    """The root of the first ``size`` leaves."""
    return root_of(leaves[:size])


@dataclass
class Bundle:
    """A bundle on disk and what the tests need to damage it knowingly."""

    directory: Path
    origin: str
    first_seq: int
    last_seq: int
    leaves: list[bytes]  # of the whole log, from seq 1
    checkpoint_sizes: list[int]  # stored ones in the range, then the final one
    key: SigningKey

    @property
    def verifier_key(self) -> str:
        """The trusted key, as an auditor would pass it."""
        return verifier_key(self.origin, self.key)

    def path(self, name: str) -> Path:
        """A file of the bundle."""
        return self.directory / name

    def lines(self) -> list[bytes]:
        """events.jsonl's lines, without their newlines."""
        return self.path("events.jsonl").read_bytes().splitlines()

    def write_lines(self, lines: Iterable[bytes]) -> None:
        """Replace events.jsonl."""
        self.path("events.jsonl").write_bytes(b"".join(line + b"\n" for line in lines))

    def events(self) -> list[dict[str, Any]]:
        """events.jsonl parsed."""
        return [json.loads(line) for line in self.lines()]

    def write_events(self, events: Iterable[dict[str, Any]]) -> None:
        """Replace events.jsonl with ``events``, written canonically."""
        self.write_lines(canonical(event) for event in events)

    def proofs(self) -> dict[str, Any]:
        """proofs.json parsed."""
        return dict(json.loads(self.path("proofs.json").read_text()))

    def write_proofs(self, proofs: dict[str, Any]) -> None:
        """Replace proofs.json."""
        self.path("proofs.json").write_text(json.dumps(proofs, indent=1))


def write_bundle(directory: Path, events: Iterable[dict[str, Any]], *, first_seq: int = 1,
                 last_seq: int | None = None, checkpoint_sizes: Iterable[int] = (),
                 final_size: int | None = None, key: SigningKey | None = None,
                 origin: str = ORIGIN) -> Bundle:
    """Write a valid bundle of events ``first_seq … last_seq`` of the log ``events``.

    ``events`` is the whole log from seq 1, as :func:`synthetic_events` makes them; it is
    streamed. ``checkpoint_sizes`` are the stored checkpoints (those in the range are written);
    the final checkpoint has ``final_size`` (default: the whole log). ``last_seq`` defaults to
    the last event; ``first_seq = last_seq + 1`` gives an empty range.
    """
    key = key or SigningKey(KEY_SEED)
    directory.mkdir(parents=True, exist_ok=True)
    leaves: list[bytes] = []
    with (directory / "events.jsonl").open("wb") as handle:
        for line in seal(events):
            leaves.append(bytes.fromhex(line["hash"]))
            if line["seq"] >= first_seq and (last_seq is None or line["seq"] <= last_seq):
                handle.write(canonical(line) + b"\n")
    last = len(leaves) if last_seq is None else last_seq
    final = len(leaves) if final_size is None else final_size
    sizes = [*sorted(n for n in set(checkpoint_sizes) if first_seq <= n <= last), final]
    notes = [signed_note(checkpoint_text(origin, n, tree_root(leaves, n), 100_000 + n),
                         origin, key) for n in sizes]
    (directory / "checkpoints.txt").write_text("\n".join(notes), encoding="utf-8")
    cache = SubtreeCache()

    def inclusion(index: int, size: int) -> dict[str, Any]:
        return {"leaf_index": index, "tree_size": size,
                "path": [h.hex() for h in inclusion_proof(leaves, index, size, cache=cache)]}

    proofs = {
        "inclusion": [inclusion(n - 1, n) for n in sizes if first_seq <= n <= last]
        + ([inclusion(last - 1, final)] if first_seq <= last <= final else []),
        "consistency": [{"first": m, "second": n,
                         "path": [h.hex() for h in consistency_proof(leaves, m, n, cache=cache)]}
                        for m, n in itertools.pairwise(sizes)],
    }
    (directory / "proofs.json").write_text(json.dumps(proofs, indent=1))
    manifest = {"format": FORMAT, "origin": origin, "first_seq": first_seq, "last_seq": last,
                "event_count": last - first_seq + 1, "from": "2026-11-24", "to": "2026-11-25",
                "created_at": timestamp(200_000)}
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=1))
    (directory / "audit-key.pub").write_text(verifier_key(origin, key) + "\n")
    return Bundle(directory, origin, first_seq, last, leaves, sizes, key)


def _timing_check() -> None:
    """By hand, not in the suite: ``python -m tests.audit.bundles DIR [EVENTS]`` writes a
    synthetic bundle of EVENTS (default 1,000,000) from seq 1 into DIR, times the verifier on
    it, and times ``root_of`` on ten million leaves."""
    directory, count = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    started = time.perf_counter()
    write_bundle(directory, synthetic_events(count),
                 checkpoint_sizes=range(count // 10, count, count // 10))
    print(f"wrote {count:,} events in {time.perf_counter() - started:.1f} s")
    script = Path(__file__).resolve().parents[2] / "scripts" / "verify-audit"
    started = time.perf_counter()
    subprocess.run([sys.executable, str(script), str(directory), "--quiet"], check=True)
    seconds = time.perf_counter() - started
    print(f"verify-audit: {seconds:.1f} s wall, {count / seconds:,.0f} events/s")
    leaves = [hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(10_000_000)]
    started = time.perf_counter()
    root_of(leaves)
    seconds = time.perf_counter() - started
    print(f"root_of(10,000,000 leaves): {seconds:.1f} s, {seconds / 1e7 * 1e6:.2f} µs per leaf")


if __name__ == "__main__":
    _timing_check()
