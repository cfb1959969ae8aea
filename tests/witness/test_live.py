"""A real witness process beside the broker, end to end through the command line: co-signing,
an outage the broker rides out, the catch-up, and a log cut back behind the witness's back,
caught by ``broker audit verify`` and by ``scripts/verify-audit`` given the witness's copy."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from click.testing import Result

from broker.config import Settings
from broker.core import Core
from tests.audit.attacks import cut_back
from tests.audit.test_export import VERIFIER
from tests.conftest import broker_cli
from tests.notifications.helpers import free_port

BROKER = Path(sys.executable).with_name("broker")


@contextmanager
def witness_process(directory: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """``broker witness serve`` in its own process, until the block ends (SIGTERM)."""
    errors = directory.parent / f"witness-{port}.log"
    with errors.open("ab") as sink:
        process = subprocess.Popen([str(BROKER), "--lang", "en", "witness", "serve", "--dir",
                                    str(directory), "--port", str(port)],
                                   stdout=subprocess.DEVNULL, stderr=sink)
    try:
        deadline = time.monotonic() + 30
        while True:  # wait until it listens (or fails to start)
            assert process.poll() is None, errors.read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the witness did not start"
                time.sleep(0.05)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_witness_process_beside_the_broker(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    run: Callable[..., Result] = broker_cli(monkeypatch, home)
    assert run("init").exit_code == 0
    log_key = run("audit", "key").stdout.strip()
    directory, port = tmp_path / "witness", free_port()
    created = run("witness", "init", "--dir", str(directory), "--name", "getuige.example/w1",
                  "--log", log_key)
    assert created.exit_code == 0, created.output
    witness_key = created.stdout.strip()
    assert run("witness", "key", "--dir", str(directory)).stdout.strip() == witness_key
    assert stat.S_IMODE(os.stat(directory / "witness.key").st_mode) == 0o600
    monkeypatch.setenv("BROKER_WITNESS_URLS", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("BROKER_WITNESS_KEYS", witness_key)
    origin = log_key.split("+")[0]
    copy_url = f"http://127.0.0.1:{port}/checkpoint/{origin}"

    def grow(code: str) -> None:
        added = run("org", "add", "--identifier", code, "--name", code, "--type", "school")
        assert added.exit_code == 0, added.output

    with witness_process(directory, port):
        grow("school-a")
        handed = run("audit", "checkpoint")
        assert "witness getuige.example/w1: cosigned" in handed.stderr
        verified = run("audit", "verify")
        assert verified.exit_code == 0, verified.output
        assert "witnesses' copies: getuige.example/w1 at size" in verified.stdout
        first_copy = tmp_path / "copy-1.txt"
        first_copy.write_text(httpx.get(copy_url).text, encoding="utf-8")
        cosigned_size = int(first_copy.read_text().split("\n")[1])

    # The witness is down: the broker goes on, and says what it could not do.
    for code in ("school-b", "school-c", "school-d"):
        grow(code)
    assert "unreachable" in run("audit", "checkpoint").stderr
    unchecked = run("audit", "verify")
    assert unchecked.exit_code == 2 and "NOT CHECKED" in unchecked.stdout
    assert "lacks the cosignatures of 1 witness(es)" in unchecked.stderr
    skipped = run("audit", "verify", "--no-witness")
    assert skipped.exit_code == 0 and "the witnesses were not asked" in skipped.stderr
    with_copy = run("audit", "verify", "--witness-checkpoint", str(first_copy))
    assert with_copy.exit_code == 0, with_copy.output
    # An auditor elsewhere, without the broker's witness settings, trusts the key by hand.
    monkeypatch.delenv("BROKER_WITNESS_URLS")
    monkeypatch.delenv("BROKER_WITNESS_KEYS")
    untrusted = run("audit", "verify", "--witness-checkpoint", str(first_copy))
    assert untrusted.exit_code == 1 and "no valid cosignature of a trusted witness" in \
        untrusted.stdout
    trusted = run("audit", "verify", "--witness-checkpoint", str(first_copy),
                  "--witness-key", witness_key)
    assert trusted.exit_code == 0, trusted.output
    monkeypatch.setenv("BROKER_WITNESS_URLS", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("BROKER_WITNESS_KEYS", witness_key)

    with witness_process(directory, port):
        assert "cosigned" in run("audit", "checkpoint").stderr  # caught up
        assert run("audit", "verify").exit_code == 0
        held = int(httpx.get(copy_url).text.split("\n")[1])
        assert held > cosigned_size

        # The log cut back to the first cosigned checkpoint, with the triggers off.
        core = Core(Settings.from_env())
        cut_back(core, cosigned_size)
        core.dispose()
        caught = run("audit", "verify")
        assert caught.exit_code == 1
        assert "NOT VERIFIED" in caught.stdout and "the log was cut back" in caught.stdout
        out = tmp_path / "bundle"
        assert run("audit", "export", "--out", str(out)).exit_code == 0
        offline = subprocess.run(
            [sys.executable, str(VERIFIER), str(out), "--key", log_key, "--json",
             "--witness-key", witness_key, "--witness-checkpoint", copy_url],
            capture_output=True, text=True, check=False)
    assert offline.returncode == 1, offline.stdout + offline.stderr
    problem = json.loads(offline.stdout)["problem"]
    assert problem["kind"] == "cut back" and f"holds {held:,} events" in problem["message"]
