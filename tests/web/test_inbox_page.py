"""The inbox says who registered on a household, as far as the policy lets the reader learn it
(issue 14 item 2): the organisation's name where the rule reveals it, never more."""

from __future__ import annotations

from flask.testing import FlaskClient

from broker.core import Core
from broker.registry.services import RegistryService
from tests.factories import ADDRESS, CHILD_BSN, MOTHER_BSN, household, make_member, register
from tests.web.test_views import sign_in


def test_a_new_match_names_who_registered(client: FlaskClient, core: Core,
                                          registry: RegistryService) -> None:
    school = make_member(registry, "school")
    register(registry, school, household(core, bsn=(CHILD_BSN,), address=(ADDRESS,)))
    register(registry, make_member(registry, "vt"),
             household(core, bsn=(MOTHER_BSN,), address=(ADDRESS,)))
    sign_in(client, school.username)
    page = client.get("/inbox").get_data(as_text=True)
    # The test policy reveals the organisation: its name and its kind, by the policy's label.
    assert "geregistreerd door Veilig Thuis Midden (Veilig Thuis)" in page
    assert MOTHER_BSN not in page and CHILD_BSN not in page
