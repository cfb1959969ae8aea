"""``scripts/bench --only http`` records what failed, not only how many calls did.

A bench row with errors and no kind leaves a reader guessing (the README's bulk run once had 3
errors and no way to tell timeouts from refusals); each failed call is counted by its kind.
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
from broker_client.errors import BrokerAPIError, BrokerUnavailableError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from bench_http import Processes, error_kind, figures, format_row  # scripts/ is not a package


def test_a_failed_call_is_recorded_by_class_status_code_and_cause() -> None:
    refused = BrokerAPIError(429, "urn:broker:problem:rate-limited", "Too many requests")
    assert error_kind(refused) == "BrokerAPIError 429 rate-limited"
    try:
        try:
            raise httpx.ReadTimeout("timed out")
        except httpx.ReadTimeout as exc:
            raise BrokerUnavailableError("the broker did not answer") from exc
    except BrokerUnavailableError as unavailable:
        assert error_kind(unavailable) == "BrokerUnavailableError (ReadTimeout)"
    assert error_kind(ValueError("x")) == "ValueError"


def test_a_row_adds_up_the_kinds_of_every_client_and_prints_them() -> None:
    gathered = [(1, [0.01, 0.02], {"BrokerAPIError 429 rate-limited": 2}, 2),
                (2, [0.03], {"BrokerAPIError 429 rate-limited": 1,
                             "BrokerUnavailableError (ReadTimeout)": 1}, 1)]
    row = {"unit": "look-up", "idle_cpu_ms_per_s": {},
           **figures(1.0, gathered, Processes(), ({}, {}), ((0, 0), (0, 1)))}

    assert row["errors"] == 4
    assert row["error_kinds"] == {"BrokerAPIError 429 rate-limited": 3,
                                  "BrokerUnavailableError (ReadTimeout)": 1}
    assert ("errors 4 (BrokerAPIError 429 rate-limited: 3, BrokerUnavailableError "
            "(ReadTimeout): 1)") in format_row(row)
