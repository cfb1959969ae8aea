"""After ``scripts/run`` loads the demo and a professional uses the web form, no raw identifier
of the demo population is in the database, the keys directory or any log or output."""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

import pytest
from broker_primitives.identifiers import Identifier

from broker.app import create_app
from broker.config import Settings
from broker.demo import DEMO_PASSWORD, population
from tests.web.forms import household_fields
from tests.web.test_views import csrf

ROOT = Path(__file__).resolve().parents[1]


def raw_values() -> set[str]:
    """Every raw identifier of the default demo population, in typed and canonical forms."""
    values: set[str] = set()
    for household in population(300, 2026):
        values.update(household.bsns)
        for raw in household.people_without_bsn:
            values.add(raw)
            values.add(raw.split(";")[0])  # the family name alone
        postcode = household.address[:7]
        values.update({household.address, postcode, postcode.replace(" ", "")})
        values.update(i.canonical for i in household.identifiers())
        values.update(str(i.tagged_bytes) for i in household.identifiers())
    return {v for v in values if len(v) >= 6}  # shorter strings occur in binary data by chance


def files_under(*roots: Path) -> list[Path]:
    """Every file below ``roots``."""
    return [p for root in roots for p in root.rglob("*") if p.is_file()]


@pytest.mark.slow
def test_demo_and_use_leave_no_raw_identifier(tmp_path: Path, caplog: pytest.LogCaptureFixture
                                              ) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BROKER_")}
    env |= {"BROKER_HOME": str(tmp_path), "BROKER_LOG_LEVEL": "DEBUG"}
    setup = subprocess.run(["bash", "scripts/run", "--setup-only"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=600, check=False)
    assert setup.returncode == 0, setup.stderr
    assert "300 households" in setup.stdout

    caplog.set_level(logging.DEBUG)
    app = create_app(Settings.from_env({"BROKER_HOME": str(tmp_path),
                                        "BROKER_POLICY_DIR": str(ROOT / "policies")}))
    client = app.test_client()
    client.post("/login", data={"username": "wijkteam-noord-1", "password": DEMO_PASSWORD,
                                "csrf": csrf(client, "/login")})
    page = client.post("/check", data={
        **household_fields(["111222333", "123456782"], "1011 AB 12 A",
                           ["van der Horst;J;2015-02-03"]),
        "purpose": "safety_assessment", "basis": "legal_task", "statute": "wmo2015_5_2_6",
        "csrf": csrf(client, "/check")}, follow_redirects=True)
    assert "Veilig Thuis Regio Midden" in page.get_data(as_text=True)
    app.extensions["broker.core"].dispose()

    haystacks = {path: path.read_bytes() for path in files_under(tmp_path)}
    haystacks[Path("<scripts/run output>")] = (setup.stdout + setup.stderr).encode()
    haystacks[Path("<log records>")] = caplog.text.encode()
    assert any(p.name == "broker.db" for p in haystacks)
    leaks = [(str(path), value) for value in raw_values() for path, data in haystacks.items()
             if value.encode() in data]
    assert leaks == []


def test_identifier_repr_is_redacted() -> None:
    identifier: Identifier = population(1, 2026)[0].identifiers()[0]
    assert "111222333" not in repr(identifier) and "111222333" not in str(identifier)
