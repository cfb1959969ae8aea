"""``broker --lang nl``: what the command line says (successes, progress, ``policy explain``,
refusals) comes from the one message catalogue, in the chosen language."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from broker.cli import main
from tests.conftest import SHIPPED_POLICY


@pytest.fixture
def dutch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("BROKER_HOME", str(tmp_path))
    monkeypatch.setenv("BROKER_POLICY_DIR", str(SHIPPED_POLICY))
    monkeypatch.delenv("BROKER_DATABASE_URL", raising=False)
    monkeypatch.delenv("BROKER_LANG", raising=False)
    return CliRunner()


def _run(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(main, list(args), catch_exceptions=False)


def test_successes_and_progress_are_dutch_under_lang_nl(dutch: CliRunner) -> None:
    init = _run(dutch, "--lang", "nl", "init")
    assert init.exit_code == 0, init.output
    assert "sleutel" in init.output and "created" not in init.output
    added = _run(dutch, "--lang", "nl", "org", "add", "--identifier", "school-a",
                 "--name", "School A", "--type", "school")
    assert added.output.strip() == "organisatie school-a toegevoegd"
    person = _run(dutch, "--lang", "nl", "professional", "add", "--org", "school-a",
                  "--username", "jan", "--name", "Jan", "--role", "mentor",
                  "--email", "jan@example.org")
    assert person.output.strip() == "professional jan toegevoegd"


def test_dutch_is_the_default_and_english_is_chosen(dutch: CliRunner) -> None:
    assert _run(dutch, "init").exit_code == 0
    english = _run(dutch, "--lang", "en", "org", "add", "--identifier", "school-a",
                   "--name", "School A", "--type", "school")
    assert english.output.strip() == "added organisation school-a"
    default = _run(dutch, "org", "add", "--identifier", "school-b", "--name", "School B",
                   "--type", "school")
    assert default.output.strip() == "organisatie school-b toegevoegd"


def test_policy_explain_follows_the_root_language(dutch: CliRunner) -> None:
    result = _run(dutch, "--lang", "nl", "policy", "explain", "--requester", "school",
                  "--holder", "wijkteam", "--purpose", "protection", "--basis", "legal_task")
    assert result.exit_code == 0, result.output
    assert "ontdekken" in result.output and "discover" not in result.output
    assert 'doel "protection" staat niet bij zijn doelen' in result.output
    checked = _run(dutch, "--lang", "nl", "policy", "check")
    assert "regels" in checked.output and "rules" not in checked.output


def test_a_service_refusal_is_dutch_from_the_catalogue(dutch: CliRunner) -> None:
    assert _run(dutch, "init").exit_code == 0
    refused = _run(dutch, "--lang", "nl", "professional", "add", "--org", "nope",
                   "--username", "jan", "--name", "Jan", "--role", "mentor",
                   "--email", "jan@example.org")
    assert refused.exit_code == 1
    assert "organisatie" in refused.output.lower() and "organisation" not in refused.output
