"""Fixtures for the policy tests: the shipped policy, and small policies written on the fly."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from broker.policy import Policy, load_policy

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "policies"
DATA = Path(__file__).resolve().parent / "data"

BASE = """\
policy:
  name: Test policy
  reciprocity: true
organisation_types:
  school: {nl: School, en: School}
  wijkteam: {nl: Wijkteam, en: Neighbourhood team}
  veilig_thuis: {nl: Veilig Thuis, en: Veilig Thuis}
legal_bases:
  consent: {nl: Toestemming, en: Consent}
  legal_task: {nl: Wettelijke taak, en: Legal task}
  vital_interest: {nl: Zwaarwegend belang, en: Vital interest, min_justification_length: 20}
purposes:
  care_coordination: {nl: Afstemming, en: Coordination, accepted_bases: [consent, legal_task], statutes: [wmo]}
  protection: {nl: Bescherming, en: Protection, accepted_bases: [legal_task, vital_interest], statutes: [wmo]}
"""  # noqa: E501 - one purpose per line keeps the line numbers the tests assert

# Written after the rules, so that the line numbers of BASE and RULES stay as the tests assert.
STATUTES = """
statutes:
  wmo: {nl: Wmo 2015 art. 5.2.6, en: Social Support Act 2015 art. 5.2.6}
"""

RULES = """\
rules:
  - id: anyone-finds-wijkteam
    ground: test ground A
    effect: allow
    requester: any
    holder: wijkteam
    purpose: any
    basis: any
    reveal: organisation
    contact: direct
    link_fields: [name, phone]
  - id: school-finds-wijkteam
    ground: test ground B
    effect: allow
    requester: school
    holder: wijkteam
    purpose: care_coordination
    basis: consent
    reveal: nothing
    contact: approval
    link_fields: [name]
    obligations: [notify_holder]
    reciprocity: false
  - id: school-learns-presence
    ground: test ground C
    effect: allow
    requester: school
    holder: [school, veilig_thuis]
    purpose: care_coordination
    basis: [consent, legal_task]
    reveal: organisation_type
    contact: none
  - id: no-school-to-veilig-thuis
    ground: test ground D
    effect: forbid
    requester: school
    holder: veilig_thuis
    purpose: any
    basis: any
"""

WritePolicy = Callable[..., Path]


@pytest.fixture(scope="session")
def shipped() -> Policy:
    """The policy shipped in ``policies/``."""
    return load_policy(SHIPPED)


@pytest.fixture
def write_policy(tmp_path: Path) -> WritePolicy:
    """Write a one-file policy (BASE + rules) and return its path."""

    def write(rules: str = RULES, base: str = BASE, name: str = "policy.yaml") -> Path:
        path = tmp_path / name
        path.write_text(base + textwrap.dedent(rules) + STATUTES, encoding="utf-8")
        return path

    return write


@pytest.fixture
def small(write_policy: WritePolicy) -> Policy:
    """The small test policy (BASE + RULES)."""
    return load_policy(write_policy())
