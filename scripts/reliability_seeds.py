"""The real data the schemathesis part (scripts/reliability_fuzz.py) seeds its requests with, and
the signing it sends them with.

:func:`build_seeds` makes, through the API itself, what a valid request refers to: pseudonyms
finalised by the shipped client (:class:`broker_client.BrokerClient`: blinded here, evaluated by
the pseudonym service, finalised here), blinded elements of real identifiers, involvements of the
signing organisation, a second organisation registered on the same households (so look-ups
match), look-ups and their matches, contact requests both ways, link tokens and consents.
:class:`SignedAuth` signs each request as the shipped client does (RFC 9421, the ``@target-uri``
httpx sends), and :func:`verify_answer` checks the broker's signature on each answer, bound to
its request.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml
from broker_client import BrokerClient
from broker_client.client import matching_key
from broker_client.codec import b64url_encode
from broker_client.transport import SIGNATURE_LABEL, sent_target
from broker_primitives import oprf
from broker_primitives.httpsig.signatures import (
    RequestMessage,
    SignatureError,
    sign_request,
    verify_response,
)
from broker_primitives.identifiers import parse_address, parse_bsn
from nacl.signing import SigningKey, VerifyKey

BROKER_KEY_ID = "broker-api-1"
HOUSEHOLDS = 6


class SignedAuth(httpx.Auth):
    """Signs every request as the shipped client does: ``Content-Type`` and ``Content-Digest``
    on every request (an empty body too), ``@target-uri`` as httpx sends it, label ``sig1``."""

    requires_request_body = True

    def __init__(self, key_id: str, key: SigningKey) -> None:
        self.key_id = key_id
        self.key = key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Sign ``request`` once and send it."""
        request.headers["Content-Type"] = "application/json"
        request.headers["Accept-Encoding"] = "identity"  # the digest is over the bytes as sent
        request.headers.update(sign_request(
            method=request.method, target_uri=sent_target(request), headers=request.headers,
            key_id=self.key_id, private_key=self.key, body=request.content,
            label=SIGNATURE_LABEL))
        yield request


def verify_answer(response: httpx.Response, broker_key: VerifyKey) -> str:
    """'' when the answer carries the broker's valid signature bound to its request, else why
    not (the signature error's code)."""
    request = response.request
    try:
        verify_response(status=response.status_code, headers=response.headers,
                        body=response.content,
                        resolve_key=lambda k: broker_key if k == BROKER_KEY_ID else None,
                        request=RequestMessage(request.method, sent_target(request),
                                               request.headers),
                        request_label=SIGNATURE_LABEL)
    except SignatureError as exc:
        return str(exc.code)
    return ""


@dataclass(frozen=True)
class Signer:
    """One organisation's signing key and its contact professional."""

    code: str
    key_id: str
    key: SigningKey
    professional: str


@dataclass(frozen=True)
class Policy:
    """What the policy in force accepts: purposes with their bases and statutes."""

    purposes: dict[str, tuple[list[str], list[str]]]  # purpose → (bases, statutes)
    min_justification: dict[str, int]
    org_types: list[str]

    @classmethod
    def read(cls, path: Path) -> Policy:
        """The policy file's purposes, bases, statutes and organisation types."""
        data = yaml.safe_load(path.read_text())
        return cls({name: (list(rule.get("accepted_bases", [])), list(rule.get("statutes", [])))
                    for name, rule in data["purposes"].items()},
                   {name: int(rule.get("min_justification_length", 1))
                    for name, rule in data["legal_bases"].items()},
                   list(data["organisation_types"]))


@dataclass
class Seeds:
    """Values a valid request can name: each exists on the broker under test."""

    signer: Signer
    policy: Policy
    households: list[list[dict[str, Any]]]  # matching keys, finalised by the shipped client
    blinded: list[str]  # blinded elements of real identifiers
    today: date  # the broker's day
    involvements: list[str] = field(default_factory=list)
    matches: list[tuple[str, str]] = field(default_factory=list)  # (lookup id, match id)
    own_requests: list[str] = field(default_factory=list)  # contact requests the signer made
    requests_to: list[str] = field(default_factory=list)  # contact requests made to the signer
    link_tokens: list[str] = field(default_factory=list)
    consents: list[str] = field(default_factory=list)
    identifiers: list[str] = field(default_factory=list)  # raw (for the privacy scan)


def valid_bsns(count: int, seed: int) -> list[str]:
    """``count`` distinct BSNs that pass the eleven-test, from a seeded generator."""
    rng, found = random.Random(seed), list[str]()
    while len(found) < count:
        digits = [rng.randrange(10) for _ in range(8)]
        total = sum(d * w for d, w in zip(digits, range(9, 1, -1), strict=True))
        last = total % 11
        if last < 10 and digits[0] != 0:
            bsn = "".join(map(str, digits)) + str(last)
            if bsn not in found:
                found.append(bsn)
    return found


def build_seeds(base: str, signer: Signer, other: Signer, broker_key: VerifyKey,
                verify: Any, policy: Policy, today: date, seed: int = 15) -> Seeds:
    """Make the seeds on the broker at ``base`` (``verify``: httpx's TLS verification), whose
    day is ``today``."""
    bsns = valid_bsns(2 * HOUSEHOLDS, seed)
    addresses = [f"{1011 + n} AB {n + 1}" for n in range(HOUSEHOLDS)]
    with BrokerClient(base, signer.key_id, signer.key, broker_public_key=bytes(broker_key),
                      transport=httpx.HTTPTransport(verify=verify), timeout=30) as client:
        pseudonyms = client.pseudonymise(bsn=bsns, address=addresses)
    keys = [matching_key(p) for p in pseudonyms]
    households = [[keys[2 * n], keys[2 * n + 1], keys[2 * HOUSEHOLDS + n]]
                  for n in range(HOUSEHOLDS)]
    blinded = [b64url_encode(oprf.blind(parse_bsn(bsn).tagged_bytes)[1]) for bsn in bsns]
    raw = [*bsns, *addresses, *(parse_address(a).canonical for a in addresses)]
    seeds = Seeds(signer, policy, households, blinded, today, identifiers=raw)
    with Caller(base, signer, broker_key, verify) as mine, \
            Caller(base, other, broker_key, verify) as theirs:
        for household in households:
            theirs.register(household)
            seeds.involvements += [mine.register(household) for _ in range(5)]
            lookup_id, match_ids = mine.lookup(household)
            seeds.matches += [(lookup_id, match) for match in match_ids]
            seeds.consents.append(mine.consent(household, today))
        for lookup_id, match_id in seeds.matches[:HOUSEHOLDS]:
            request_id = mine.contact(lookup_id, match_id)
            seeds.own_requests.append(request_id)
            seeds.link_tokens += mine.tokens(request_id)
        for household in households:
            lookup_id, match_ids = theirs.lookup(household)
            seeds.requests_to += [theirs.contact(lookup_id, m) for m in match_ids[:2]]
    return seeds


class Caller:
    """Signed, verified set-up calls as one organisation (each must succeed)."""

    def __init__(self, base: str, signer: Signer, broker_key: VerifyKey, verify: Any) -> None:
        self.base, self.signer, self.broker_key = base, signer, broker_key
        self.http = httpx.Client(base_url=base, auth=SignedAuth(signer.key_id, signer.key),
                                 verify=verify, timeout=30)

    def __enter__(self) -> Caller:
        """The caller itself."""
        return self

    def __exit__(self, *_: object) -> None:
        """Close the connections."""
        self.http.close()

    def call(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        """The verified answer's JSON; SystemExit when the broker refuses the set-up."""
        headers = {"Idempotency-Key": str(uuid.uuid4())} if method == "POST" else {}
        response = self.http.request(method, path, json=body, headers=headers)
        problem = verify_answer(response, self.broker_key)
        if response.status_code != status or problem:
            raise SystemExit(f"seeding: {method} {path} answered {response.status_code} "
                             f"({problem or 'signed'}): {response.text[:300]}")
        return response.json()

    def register(self, household: list[dict[str, Any]]) -> str:
        """A new involvement on ``household``; its id."""
        answer = self.call("POST", "/v1/involvements", {"involvements": [{
            "professional": self.signer.professional, "purpose": "protection",
            "matching_keys": household}]}, 201)
        return str(answer["involvements"][0]["id"])

    def lookup(self, household: list[dict[str, Any]]) -> tuple[str, list[str]]:
        """A look-up of ``household``: its id and its matches' ids."""
        answer = self.call("POST", "/v1/lookups", {
            "matching_keys": household, "purpose": "protection", "basis": "legal_task",
            "statute": "jeugdwet_7_1_1", "professional": self.signer.professional})
        return answer["lookup_id"], [m["match_id"] for m in answer["matches"]]

    def contact(self, lookup_id: str, match_id: str) -> str:
        """A contact request for one match; its id."""
        answer = self.call("POST", "/v1/contact-requests", {
            "lookup_id": lookup_id, "match_id": match_id, "purpose": "protection",
            "basis": "legal_task", "statute": "jeugdwet_7_1_1",
            "professional": self.signer.professional}, 201)
        return str(answer["id"])

    def tokens(self, request_id: str) -> list[str]:
        """The link tokens a contact request shows its requester."""
        return list(self.call("GET", f"/v1/contact-requests/{request_id}")["link_tokens"])

    def consent(self, household: list[dict[str, Any]], today: date) -> str:
        """Consent recorded on ``household``; its id."""
        answer = self.call("POST", "/v1/consents", {
            "professional": self.signer.professional, "matching_keys": household[:1],
            "given_by": "parent", "given_on": (today - timedelta(days=3)).isoformat(),
            "valid_until": (today + timedelta(days=90)).isoformat(),
            "purposes": ["care_coordination", "protection"]}, 201)
        return str(answer["id"])
