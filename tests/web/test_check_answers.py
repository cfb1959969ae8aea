"""The check page never says that no one is involved, and reads the same whether the policy
withheld someone or no one is there (issue 10, item 6: "Er is geen andere organisatie bij dit
huishouden geregistreerd" was shown while the policy withheld a registered shelter)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from broker.core import Core
from broker.registry.services import RegistryService
from tests.conftest import SHIPPED_POLICY
from tests.factories import ADDRESS, household, register
from tests.registry.world import add_member
from tests.web.test_views import csrf, sign_in

HIDDEN = "Het beleid kan andere betrokkenen voor u verbergen."
NONE_SHOWN = ("U ziet geen organisaties die u volgens het beleid mag zien; het beleid kan andere "
              "betrokkenen voor u verbergen.")
EMPTY_ADDRESS = "9999 ZZ 1"


@pytest.fixture
def policy_path() -> Path:
    """The policy we ship: a school never learns of a women's shelter (shelter-stays-hidden)."""
    return SHIPPED_POLICY


@pytest.fixture
def world(core: Core, registry: RegistryService) -> None:
    """A shelter on ADDRESS, a neighbourhood team on a third address; a school that may sign in."""
    shelter = add_member(registry, "opvang", "vrouwenopvang")
    register(registry, shelter, household(core, address=(ADDRESS,)))
    register(registry, add_member(registry, "wt", "wijkteam"),
             household(core, address=("3512 JE 7",)))
    add_member(registry, "school", "school", password="correct horse")


def _check(client: FlaskClient, address: str) -> str:
    """The answer page of a check on ``address``, without what differs per request (the
    look-up's reference and the form's token)."""
    html = client.post("/check", data={
        "address": address, "purpose": "care_coordination", "basis": "legal_task",
        "statute": "jeugdwet_7_4_0", "csrf": csrf(client, "/check")}).get_data(as_text=True)
    html = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<id>", html)
    return re.sub(r'name="csrf" value="[^"]+"', 'name="csrf"', html)


@pytest.mark.usefixtures("world")
@pytest.mark.parametrize("registered", [False, True])
def test_withheld_and_empty_read_the_same(client: FlaskClient, core: Core,
                                          registry: RegistryService, registered: bool) -> None:
    if registered:  # the school on both households: reciprocity is not what withholds
        school = add_member(registry, "school-2", "school", password="correct horse")
        register(registry, school, household(core, address=(ADDRESS, EMPTY_ADDRESS)))
    sign_in(client, "school-2-1" if registered else "school-1")
    withheld, empty = _check(client, ADDRESS), _check(client, EMPTY_ADDRESS)
    assert withheld == empty
    assert NONE_SHOWN in withheld
    assert "geen andere organisatie" not in withheld.lower()
    client.get("/lang/en")
    withheld, empty = _check(client, ADDRESS), _check(client, EMPTY_ADDRESS)
    assert withheld == empty
    assert "the policy may hide others who are involved from you" in withheld
    assert "No other organisation" not in withheld


@pytest.mark.usefixtures("world")
def test_shown_matches_say_that_others_may_be_hidden(client: FlaskClient, core: Core,
                                                     registry: RegistryService) -> None:
    wijkteam = add_member(registry, "wt-2", "wijkteam", password="correct horse")
    register(registry, wijkteam, household(core, address=(ADDRESS,)))
    register(registry, add_member(registry, "jh", "jeugdhulp"), household(core, address=(ADDRESS,)))
    sign_in(client, "wt-2-1")
    html = _check(client, ADDRESS)
    # wijkteam-coordinates-youth-care shows the youth care provider's type; the shelter, on the
    # consent basis only, stays hidden.
    assert "Jeugdhulpaanbieder" in html and "OPVANG" not in html  # the type's label, not its code
    assert HIDDEN in html and NONE_SHOWN not in html
