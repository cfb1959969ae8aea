"""``broker-client lookup`` against the real broker under the shipped policy: it never says
that no one is involved, and reads the same whether the policy withheld someone or no one is
there."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from broker_client.cli import main as client_cli
from click.testing import CliRunner

from broker.app import create_app
from broker.callers.keys import response_key_path
from broker.core import Core
from broker.registry.services import RegistryService
from tests.api.live import Organisation, enrol, serve
from tests.conftest import SHIPPED_POLICY
from tests.factories import ADDRESS, household, register
from tests.registry.world import add_member

NONE_SHOWN = ("You see no organisations that the policy lets you see; the policy may hide "
              "others who are involved from you.")
HIDDEN = "The policy may hide others who are involved from you."


@pytest.fixture
def policy_path() -> Path:
    """The policy we ship: a school never learns of a women's shelter (shelter-stays-hidden)."""
    return SHIPPED_POLICY


@dataclass(frozen=True)
class Live:
    """A live broker with a shelter and a youth care provider on ADDRESS, and two enrolled
    organisations to ask: a school and a neighbourhood team."""

    core: Core
    base: str
    school: Organisation
    wijkteam: Organisation

    def lookup(self, tmp_path: Path, org: Organisation, address: str,
               register: bool = False) -> str:
        """``broker-client lookup`` as ``org``; its output, the look-up's id left out."""
        key_file = tmp_path / f"{org.code}.key"
        key_file.write_text(bytes(org.key).hex() + "\n")
        key_file.chmod(0o600)
        public = response_key_path(self.core.settings.keys_dir).with_suffix(".pub")
        args = ["--url", self.base, "--key-id", org.key_id, "--key-file", str(key_file),
                "--broker-public-key", public.read_text().strip(), "lookup",
                "--address", address, "--purpose", "care_coordination", "--basis",
                "legal_task", "--statute", "jeugdwet_7_4_0"]
        if register:
            args += ["--register-as", org.professional]
        result = CliRunner().invoke(client_cli, args)
        assert result.exit_code == 0, result.output
        return re.sub(r"look-up [0-9a-f-]{36}", "look-up <id>", result.stdout)


@pytest.fixture
def live(core: Core, registry: RegistryService) -> Iterator[Live]:
    """See :class:`Live`."""
    for code, org_type in (("opvang", "vrouwenopvang"), ("jh", "jeugdhulp")):
        register(registry, add_member(registry, code, org_type),
                 household(core, address=(ADDRESS,)))
    school, wijkteam = enrol(core, "school-a", "school"), enrol(core, "wt-a", "wijkteam")
    with serve(create_app(core=core)) as base:
        yield Live(core, base, school, wijkteam)


def test_withheld_and_empty_read_the_same(live: Live, tmp_path: Path) -> None:
    withheld = live.lookup(tmp_path, live.school, ADDRESS)
    empty = live.lookup(tmp_path, live.school, "9999 ZZ 1")
    assert withheld == empty
    assert NONE_SHOWN in withheld and "0 match(es)" in withheld


def test_shown_matches_say_that_others_may_be_hidden(live: Live, tmp_path: Path) -> None:
    shown = live.lookup(tmp_path, live.wijkteam, ADDRESS, register=True)
    assert "jeugdhulp" in shown and "OPVANG" not in shown
    assert HIDDEN in shown and NONE_SHOWN not in shown
