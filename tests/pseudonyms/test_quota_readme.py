"""The README's figures for the daily evaluation quota are the shipped policy's."""

from __future__ import annotations

import math
from pathlib import Path

from broker.policy import load_policy
from tests.conftest import SHIPPED_POLICY

README = Path(__file__).resolve().parents[2] / "README.md"
VALID_BSNS = 9 * 10**7  # about one in eleven 9-digit numbers passes the 11-test
DAYS_PER_YEAR = 365.25


def _needs(per_day: int) -> str:
    """"{per_day} a day needs {days} days, about {years} years", as the README words it."""
    days = math.ceil(VALID_BSNS / per_day)
    return f"{days:,} days, about {round(days / DAYS_PER_YEAR):,} years"


def test_the_readme_states_the_years_to_enumerate_every_bsn() -> None:
    policy = load_policy(SHIPPED_POLICY)
    text = " ".join(README.read_text(encoding="utf-8").split())  # line breaks as spaces
    default = policy.quotas.pseudonym_evaluations_per_day
    assert (f"one organisation at the default quota of {default:,} a day needs "
            f"{_needs(default)}") in text
    assert policy.quotas.per_organisation_type  # the shipped policy has a per-type limit
    shipped = [f"shipped: {default:,} a day"]
    for org_type, per_day in policy.quotas.per_organisation_type.items():
        label = policy.org_types[org_type].label.en.lower()
        assert f"a {label} ({per_day:,} a day): {_needs(per_day)}" in text
        shipped.append(f"a {label} {per_day:,}")
    assert f"({'; '.join(shipped)})" in text
