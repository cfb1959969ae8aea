"""The reliability suite's schemathesis part (scripts/reliability_fuzz.py) against a live
in-process broker: its signing is the broker's, its seeded cases are valid and accepted, and the
API keeps to its document under them — without the whole deployment."""

from __future__ import annotations

import secrets
import sys
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest
import schemathesis
from nacl.signing import SigningKey

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from reliability_fuzz import (  # scripts/ is not a package
    MIN_ACCEPTED_SHARE,
    MIN_VALID_SHARE,
    Fuzzer,
    fuzz,
    signer_of,
    verdict,
)
from reliability_seeds import (
    Policy,
    Seeds,
    SignedAuth,
    Signer,
    build_seeds,
    valid_bsns,
    verify_answer,
)

from broker.api.schemas import b64url
from broker.api.views import openapi_document
from broker.app import create_app
from broker.config import Settings
from broker.core import Core
from tests.api.live import Organisation, broker_public_key, enrol, serve
from tests.conftest import OPEN_POLICY, FakeClock


@pytest.fixture
def policy_path(tmp_path: Path) -> Path:
    """The open test policy with a quota generated evaluations cannot exhaust."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(OPEN_POLICY.read_text()
                      + "quotas:\n  pseudonym_evaluations_per_day: 10000000\n")
    return policy


@pytest.fixture
def settings(tmp_path: Path, database_url: str, policy_path: Path) -> Settings:
    """Settings on a temporary home, with rate limits generated requests cannot reach."""
    home = tmp_path / "home"
    home.mkdir()
    return Settings.from_env({"BROKER_HOME": str(home), "BROKER_DATABASE_URL": database_url,
                              "BROKER_POLICY_DIR": str(policy_path),
                              "BROKER_API_IP_RATE": "1000000/minute",
                              "BROKER_API_ORG_RATE": "1000000/minute"})


@pytest.fixture
def live(core: Core) -> Iterator[tuple[str, Organisation, Organisation]]:
    """A live broker and two organisations."""
    signer, other = enrol(core, "vt-a", "veilig_thuis"), enrol(core, "wt-b", "wijkteam")
    with serve(create_app(core=core)) as base:
        yield base, signer, other


@pytest.fixture
def seeds(core: Core, clock: FakeClock, policy_path: Path,
          live: tuple[str, Organisation, Organisation]) -> Seeds:
    """The part's seeds, made through the live broker."""
    base, signer, other = live
    return build_seeds(base, signer_of(signer), signer_of(other), broker_public_key(core), True,
                       Policy.read(policy_path), clock.now.date())


def test_signed_auth_signs_as_the_broker_checks(
        core: Core, live: tuple[str, Organisation, Organisation]) -> None:
    base, signer, _ = live
    url = f"{base}/v1/inbox?professional={signer.professional}"
    with httpx.Client(auth=SignedAuth(signer.key_id, signer.key)) as http:
        answer = http.get(url)
    assert answer.status_code == 200, answer.text
    assert verify_answer(answer, broker_public_key(core)) == ""
    with httpx.Client(auth=SignedAuth(signer.key_id, SigningKey.generate())) as http:
        forged = http.get(url)
    assert forged.status_code == 401
    assert verify_answer(forged, broker_public_key(core)) == ""  # the refusal is signed too
    # Another key's signature does not pass as the broker's.
    assert verify_answer(answer, SigningKey.generate().verify_key) != ""


def test_the_seeds_exist_on_the_broker(seeds: Seeds) -> None:
    assert len(seeds.households) == 6 and all(len(h) == 3 for h in seeds.households)
    elements = [key["element"] for household in seeds.households for key in household]
    assert len(set(elements)) == 18 and all(len(e) == 43 for e in elements)
    assert len(seeds.blinded) == 12 and all(len(e) == 43 for e in seeds.blinded)
    assert len(seeds.involvements) == 30 and seeds.matches and seeds.consents
    assert seeds.own_requests and seeds.requests_to and seeds.link_tokens
    assert seeds.identifiers[:12] == valid_bsns(12, 15)
    assert seeds.identifiers[12:] == [f"{1011 + n} AB {n + 1}" for n in range(6)] + [
        f"address|{1011 + n}AB|{n + 1}|" for n in range(6)]


def test_seeded_cases_are_valid_and_the_api_keeps_to_its_document(
        core: Core, seeds: Seeds, live: tuple[str, Organisation, Organisation]) -> None:
    base = live[0]
    tally, operations, _ = fuzz(base, True, seeds, broker_public_key(core), examples=8)
    assert len(operations) == 15
    assert all(tally.per_operation[o] for o in operations)
    assert tally.server_errors == []
    assert tally.nonconforming == []
    assert tally.unsigned == []
    assert tally.verdicts["unauthorised"] == 0
    assert tally.share("accepted", "refused") >= MIN_VALID_SHARE
    assert tally.share("accepted") >= MIN_ACCEPTED_SHARE
    seeded = {k.split(" ", 1)[1]: v for k, v in tally.seeded.items() if k.startswith("seeded")}
    assert seeded.get("invalid", 0) == 0, tally.seeded
    # Real pseudonyms and blinded elements: the seeded evaluations and look-ups are accepted.
    for operation in ("POST /v1/pseudonyms/evaluate", "POST /v1/lookups"):
        assert tally.per_operation[operation]["accepted"] >= 5, tally.per_operation[operation]


@pytest.fixture
def seeds_offline() -> Seeds:
    """Seeds that name nothing real (for a broker that is not there)."""
    def element() -> str:
        return b64url(secrets.token_bytes(32))

    signer = Signer("vt-a", "vt-a-key-1", SigningKey.generate(), "vt-a-p")
    ids = [str(uuid.uuid4()) for _ in range(3)]
    return Seeds(signer, Policy.read(OPEN_POLICY),
                 [[{"category": "person", "element": element(), "key_epoch": 1}]],
                 [element()], date(2026, 3, 2), ids, [(ids[0], "m" * 20)], ids, ids, [], ids)


def test_a_bad_answer_is_counted_against_the_part(seeds_offline: Seeds) -> None:
    """An answer off the document, unsigned, or a 5xx is recorded (the checks bite)."""

    def answer(request: httpx.Request) -> httpx.Response:
        status = 500 if request.method == "GET" else 418
        return httpx.Response(status, text="no", headers={"Content-Type": "text/plain"})

    with httpx.Client(transport=httpx.MockTransport(answer)) as http:
        fuzzer = Fuzzer("http://broker.test", http, SigningKey.generate().verify_key)
        schema = schemathesis.openapi.from_dict(openapi_document())
        fuzzer.operation(schema["/v1/inbox"]["GET"], seeds_offline, 2)
        fuzzer.operation(schema["/v1/lookups"]["POST"], seeds_offline, 2)
    tally = fuzzer.tally
    assert tally.requests == 4
    assert len(tally.server_errors) == 2 and len(tally.unsigned) == 4
    assert len(tally.nonconforming) == 4
    assert tally.verdicts == {"server-error": 2, "refused": 2}


@pytest.mark.parametrize(("status", "problem", "expected"), [
    (201, {}, "accepted"),
    (400, {"type": "urn:broker:problem:malformed-request"}, "invalid"),
    (422, {"type": "urn:broker:problem:validation", "errors": {"purpose": ["x"]}}, "invalid"),
    (422, {"type": "urn:broker:problem:invalid-element"}, "invalid"),
    (422, {"type": "urn:broker:problem:invalid-pseudonym"}, "invalid"),
    (422, {"type": "urn:broker:problem:validation"}, "refused"),  # the domain's, on the merits
    (409, {"type": "urn:broker:problem:conflict"}, "refused"),
    (404, {"type": "urn:broker:problem:not-found"}, "refused"),
    (401, {"type": "urn:broker:problem:signature-invalid"}, "unauthorised"),
    (429, {"type": "urn:broker:problem:rate-limited"}, "rate-limited"),
    (502, {}, "server-error"),
])
def test_each_answer_is_judged_by_its_status_and_problem(status: int, problem: dict[str, object],
                                                         expected: str) -> None:
    assert verdict(httpx.Response(status, json=problem)) == expected
