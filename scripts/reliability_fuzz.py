"""Part 6 of the reliability suite (scripts/reliability.py): schemathesis against every operation
of the broker's own OpenAPI document (``/v1/openapi.json``, as served), every request signed as
a registered organisation (scripts/reliability_seeds.py), most of them seeded with real
pseudonyms and ids so that they are valid (scripts/reliability_cases.py).

Every answer must: not be a 5xx; keep to the document (schemathesis' checks: a documented status,
the documented content type and headers, a body that fits the documented schema); carry the
broker's valid signature bound to its request; never be a 401 (the signing is right). The share
of answers that were accepted (2xx) or refused on their merits (403, 404, 409, a 422 that is not
a field error) against those refused as invalid (400, a 422 naming fields, an invalid
pseudonym or blinded element) is printed, and must reach :data:`MIN_VALID_SHARE` (the 2xx alone
:data:`MIN_ACCEPTED_SHARE`); no seeded request may be refused as invalid.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from nacl.signing import VerifyKey
from reliability_cases import AnyCase, Operation, seeded_cases
from reliability_load import expect, figure
from reliability_seeds import Policy, Seeds, SignedAuth, Signer, build_seeds, verify_answer
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from broker.core import Core
from tests.api.live import Organisation, enrol

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
MIN_VALID_SHARE = 0.6
MIN_ACCEPTED_SHARE = 0.5
SEEDED_SHARE = 0.85
INVALID_TYPES = {f"urn:broker:problem:{code}"
                 for code in ("malformed-request", "invalid-pseudonym", "invalid-element")}


@dataclass
class Tally:
    """What came back for the generated requests."""

    verdicts: Counter[str] = field(default_factory=Counter)
    per_operation: dict[str, Counter[str]] = field(default_factory=dict)
    seeded: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)  # "status problem-code"
    nonconforming: list[str] = field(default_factory=list)
    unsigned: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        """How many requests were sent."""
        return sum(self.verdicts.values())

    def share(self, *verdicts: str, of: Counter[str] | None = None) -> float:
        """The share of requests (of ``of``: a subset's verdicts) with one of ``verdicts``."""
        counts = self.verdicts if of is None else of
        return sum(counts[v] for v in verdicts) / max(sum(counts.values()), 1)


def problem_type(response: httpx.Response) -> tuple[str, bool]:
    """The problem's type and whether it names invalid fields ('' and False: not a problem)."""
    try:
        problem = response.json()
    except ValueError:
        return "", False
    if not isinstance(problem, dict):
        return "", False
    return str(problem.get("type", "")), "errors" in problem


def verdict(response: httpx.Response) -> str:
    """accepted, refused (on its merits), invalid, unauthorised, rate-limited or server-error."""
    status = response.status_code
    if 200 <= status < 300:
        return "accepted"
    if status >= 500:
        return "server-error"
    if status in (401, 429):
        return {401: "unauthorised", 429: "rate-limited"}[status]
    kind, fields = problem_type(response)
    if status == 400 or kind in INVALID_TYPES or (
            kind == "urn:broker:problem:validation" and fields):
        return "invalid"
    return "refused"


def load_document(base: str, verify: Any) -> dict[str, Any]:
    """The OpenAPI document the broker serves."""
    answer = httpx.get(f"{base}/v1/openapi.json", verify=verify, timeout=30)
    answer.raise_for_status()
    document: dict[str, Any] = answer.json()
    return document


def label(operation: Operation) -> str:
    """``METHOD /path`` of an operation."""
    return f"{operation.method.upper()} {operation.path}"


@dataclass
class Fuzzer:
    """Sends schemathesis' cases, signed, and judges each answer."""

    base: str
    http: httpx.Client
    broker_key: VerifyKey
    tally: Tally = field(default_factory=Tally)

    def send(self, case: AnyCase, seeded: bool) -> None:
        """One case: sent, verified, checked against the document, counted."""
        sent = case.as_transport_kwargs(base_url=self.base)
        content = None if "json" not in sent else json.dumps(sent["json"]).encode()
        name = label(case.operation)
        try:
            response = self.http.request(sent["method"], sent["url"], params=sent.get("params"),
                                         headers=sent.get("headers"), content=content)
        except httpx.TransportError as exc:
            self.tally.server_errors.append(f"{name}: no answer ({type(exc).__name__})")
            self.count(name, "server-error", seeded)
            return
        what = verdict(response)
        self.count(name, what, seeded)
        if what in ("refused", "invalid"):
            kind = problem_type(response)[0].removeprefix("urn:broker:problem:")
            self.tally.refusals[f"{response.status_code} {kind or '-'}"] += 1
        where = f"{name} -> {response.status_code} ({'seeded' if seeded else 'generated'})"
        if what == "server-error":
            self.tally.server_errors.append(f"{where}: {response.text[:200]}")
        problem = verify_answer(response, self.broker_key)
        if problem:
            self.tally.unsigned.append(f"{where}: {problem}")
        try:
            case.validate_response(response, checks=CHECKS)
        except Exception as exc:
            first = str(exc).strip().splitlines()[:3]
            self.tally.nonconforming.append(f"{where}: {' / '.join(first)}")

    def count(self, name: str, what: str, seeded: bool) -> None:
        """Count one verdict, per operation and for seeded or generated requests."""
        self.tally.verdicts[what] += 1
        self.tally.per_operation.setdefault(name, Counter())[what] += 1
        self.tally.seeded[f"{'seeded' if seeded else 'generated'} {what}"] += 1

    def operation(self, operation: Operation, seeds: Seeds, examples: int) -> None:
        """``examples`` cases of one operation."""

        @given(pair=seeded_cases(operation, seeds, SEEDED_SHARE))
        @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                  phases=[Phase.generate], suppress_health_check=list(HealthCheck))
        def run(pair: tuple[AnyCase, bool]) -> None:
            self.send(*pair)

        run()


def fuzz(base: str, verify: Any, seeds: Seeds, broker_key: VerifyKey,
         examples: int) -> tuple[Tally, list[str], float]:
    """Every operation of the served document, ``examples`` cases each: the tally, the
    operations and the seconds it took."""
    schema = schemathesis.openapi.from_dict(load_document(base, verify))
    operations = []
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            raise SystemExit(f"schemathesis: the served document has a broken operation: "
                             f"{result.err()}")
        operations.append(result.ok())
    started = time.monotonic()
    with httpx.Client(auth=SignedAuth(seeds.signer.key_id, seeds.signer.key), verify=verify,
                      timeout=60) as http:
        fuzzer = Fuzzer(base, http, broker_key)
        for operation in operations:
            fuzzer.operation(operation, seeds, examples)
    return fuzzer.tally, [label(o) for o in operations], time.monotonic() - started


def figures(tally: Tally, operations: list[str], seconds: float) -> dict[str, Any]:
    """The part's figures."""
    seeded = Counter({k.split(" ", 1)[1]: v for k, v in tally.seeded.items()
                      if k.startswith("seeded ")})
    return {
        "operations": len(operations),
        "operations_answered": sum(1 for o in operations if tally.per_operation.get(o)),
        "requests": tally.requests, "seconds": round(seconds, 1),
        "seeded_requests": sum(seeded.values()),
        "share_valid": round(tally.share("accepted", "refused"), 3),
        "share_accepted_2xx": round(tally.share("accepted"), 3),
        "share_valid_of_seeded": round(tally.share("accepted", "refused", of=seeded), 3),
        "verdicts": dict(tally.verdicts), "refusals": dict(tally.refusals),
        "server_errors_5xx": len(tally.server_errors),
        "nonconforming": len(tally.nonconforming), "unsigned_answers": len(tally.unsigned),
        "per_operation": {o: dict(tally.per_operation.get(o, {})) for o in operations},
    }


def check(part: str, tally: Tally, operations: list[str], seconds: float) -> None:
    """Print the figures and the failures; record each expectation."""
    figure(part, **figures(tally, operations, seconds))
    for problem in (tally.server_errors + tally.nonconforming + tally.unsigned)[:20]:
        print(f"[{part}]      {problem}", flush=True)
    expect(part, all(tally.per_operation.get(o) for o in operations),
           f"every operation of the document exercised ({len(operations)})")
    expect(part, not tally.server_errors, "no 5xx")
    expect(part, not tally.nonconforming, "every answer keeps to the document")
    expect(part, not tally.unsigned, "every answer signed by the broker and bound to its request")
    expect(part, not tally.verdicts["unauthorised"], "no 401: every request correctly signed")
    expect(part, not tally.seeded["seeded invalid"],
           "no seeded request refused as invalid (the seeds are valid)")
    expect(part, tally.share("accepted", "refused") >= MIN_VALID_SHARE,
           f"at least {MIN_VALID_SHARE:.0%} valid (accepted or refused on the merits)")
    expect(part, tally.share("accepted") >= MIN_ACCEPTED_SHARE,
           f"at least {MIN_ACCEPTED_SHARE:.0%} accepted (2xx)")


def schemathesis_part(base: str, verify: Any, core: Core, signer: Organisation,
                      broker_key: VerifyKey, policy: Path, examples: int) -> Seeds:
    """Part 6: seed, then ``examples`` schemathesis cases per operation; the seeds (whose
    identifiers the privacy scan looks for)."""
    other = enrol(core, "wt-fuzz", "wijkteam")
    seeds = build_seeds(base, signer_of(signer), signer_of(other), broker_key, verify,
                        Policy.read(policy), datetime.now(UTC).date())
    check("schemathesis", *fuzz(base, verify, seeds, broker_key, examples))
    return seeds


def signer_of(org: Organisation) -> Signer:
    """The signing part of a test organisation."""
    return Signer(org.code, org.key_id, org.key, org.professional)
