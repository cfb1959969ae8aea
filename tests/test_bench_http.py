"""``scripts/bench --only http``: what failed is recorded, not only how many calls did; and
the servers it compares are started as described.

A bench row with errors and no kind leaves a reader guessing (the README's bulk run once had 3
errors and no way to tell timeouts from refusals); each failed call is counted by its kind.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import httpx
import pytest
from broker_client.errors import BrokerAPIError, BrokerUnavailableError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import bench_http  # scripts/ is not a package
from bench_floor import FloorKeys
from bench_http import Processes, error_kind, figures, format_row, server_command

from broker import gunicorn_conf


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


def bench_args(server: str) -> argparse.Namespace:
    return argparse.Namespace(server=server, workers=2, threads=None,
                              redis_url="redis://127.0.0.1:6379/0")


def test_granian_serves_with_as_many_workers_and_threads_as_gunicorn(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    granian = tmp_path / "granian"  # beside the bench's Python, as the bench extra installs it
    granian.touch()
    monkeypatch.setattr(bench_http.sys, "executable", str(tmp_path / "python"))
    command, env = server_command(bench_args("granian"), 8123, {"A": "1"}, None, "lookup", None)

    assert command == [str(granian), "--interface", "wsgi", "--host", "127.0.0.1", "--port",
                       "8123", "--workers", "2", "--blocking-threads",
                       str(gunicorn_conf.threads), "--log-level", "warning", "broker.wsgi:app"]
    assert env == {"A": "1"}
    gunicorn, _ = server_command(bench_args("gunicorn"), 8123, {}, None, "lookup", None)
    assert gunicorn[1:3] == ["-m", "gunicorn"] and gunicorn[-1] == "broker.wsgi:app"


def test_the_floor_app_is_served_from_scripts_with_its_keys(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_http.shutil, "which", lambda name: None)
    keys = FloorKeys.generate()
    command, env = server_command(bench_args("gunicorn"), 8123, {"PYTHONPATH": "/x"},
                                  "postgresql+psycopg://u@h:5432/db", "floor", keys)

    assert command[-1] == "bench_floor:app"
    assert env["PYTHONPATH"].split(":") == [str(bench_http.ROOT / "scripts"), "/x"]
    assert env["FLOOR_DATABASE"] == "postgresql://u@h:5432/db"
    assert FloorKeys.from_env(env) == keys


def test_granian_missing_is_refused_with_how_to_install_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_http.shutil, "which", lambda name: None)
    monkeypatch.setattr(bench_http.sys, "executable", "/nowhere/bin/python")
    with pytest.raises(SystemExit, match=r"pip install -e '\.\[bench\]'"):
        server_command(bench_args("granian"), 8123, {}, None, "lookup", None)
