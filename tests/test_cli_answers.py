"""``broker lookup`` never says that no one is involved, and its answer reads the same whether
the policy withheld someone or no one is there."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import Result

from tests.conftest import SHIPPED_POLICY, broker_cli

NONE_SHOWN = {
    "nl": "U ziet geen organisaties die u volgens het beleid mag zien; het beleid kan andere "
          "betrokkenen voor u verbergen.",
    "en": "You see no organisations that the policy lets you see; the policy may hide others "
          "who are involved from you.",
}
HIDDEN = {"nl": "Het beleid kan andere betrokkenen voor u verbergen.",
          "en": "The policy may hide others who are involved from you."}


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    """``broker`` under the shipped policy, with a shelter and a youth care provider on one
    address, and a school and a neighbourhood team to ask."""
    invoke = broker_cli(monkeypatch, tmp_path, SHIPPED_POLICY)
    assert invoke("init").exit_code == 0
    for code, org_type in (("opvang", "vrouwenopvang"), ("jh", "jeugdhulp"),
                           ("school", "school"), ("wt", "wijkteam")):
        assert invoke("org", "add", "--identifier", code, "--name", code.upper(),
                      "--type", org_type).exit_code == 0
        assert invoke("professional", "add", "--org", code, "--username", f"{code}-p",
                      "--name", "P", "--role", "r").exit_code == 0
    for code in ("opvang", "jh", "wt"):
        assert invoke("register", "--org", code, "--professional", f"{code}-p", "--purpose",
                      "care_coordination", "--address", "1011 AB 12 A").exit_code == 0
    return invoke


def _lookup(run: object, lang: str, org: str, address: str) -> Result:
    result: Result = run("--lang", lang, "lookup", "--org", org,  # type: ignore[operator]
                         "--professional", f"{org}-p", "--purpose", "care_coordination",
                         "--basis", "legal_task", "--statute", "jeugdwet_7_4_0",
                         "--address", address)
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_withheld_and_empty_read_the_same(run: object, lang: str) -> None:
    # The school may not learn of the shelter (shelter-stays-hidden); it is not registered on
    # either address (reciprocity), and no one is on the second.
    withheld = _lookup(run, lang, "school", "1011 AB 12 A").output
    empty = _lookup(run, lang, "school", "9999 ZZ 1").output
    assert withheld == empty
    assert NONE_SHOWN[lang] in withheld
    assert "no other organisation" not in withheld.lower()


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_shown_matches_say_that_others_may_be_hidden(run: object, lang: str) -> None:
    shown = _lookup(run, lang, "wt", "1011 AB 12 A").output
    assert "jeugdhulp" in shown and "OPVANG" not in shown
    assert HIDDEN[lang] in shown and NONE_SHOWN[lang] not in shown
