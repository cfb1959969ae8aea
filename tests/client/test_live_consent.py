"""A case system records consent about a household with raw identifiers that the client
blinds; the broker receives matching keys only, and the consent carries look-ups on that
household and no other."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from broker_client import BrokerAPIError, BrokerClient
from flask import request

from broker.app import create_app
from broker.callers.keys import response_key_path
from broker.core import Core
from tests.api.live import Organisation, enrol, serve


@pytest.fixture
def live(core: Core) -> Iterator[tuple[str, list[bytes], Organisation, Organisation]]:
    """A live broker recording every request, Veilig Thuis and a school."""
    vt, school = enrol(core, "vt-a", "veilig_thuis"), enrol(core, "school-a", "school")
    app = create_app(core=core)
    received: list[bytes] = []

    @app.before_request
    def _record() -> None:
        received.append(request.url.encode() + b"\n" + request.get_data(cache=True))

    with serve(app) as base:
        yield base, received, vt, school


def _client(core: Core, base: str, org: Organisation) -> BrokerClient:
    public = response_key_path(core.settings.keys_dir).with_suffix(".pub").read_text()
    return BrokerClient(base, org.key_id, org.key, broker_public_key=public.strip())


def test_record_consent_with_raw_identifiers_the_client_blinds(
        core: Core, live: tuple[str, list[bytes], Organisation, Organisation]) -> None:
    base, received, vt, school = live
    with _client(core, base, vt) as client:
        client.register(professional=vt.professional, purpose="protection", bsn="123456782")
    today = core.today()
    with _client(core, base, school) as client:
        consent = client.record_consent(
            professional=school.professional, given_by="parent", given_on=today,
            valid_until=today + timedelta(days=30), purposes=["care_coordination"],
            bsn="123456782", address="1011 AB 12 A")
        assert (consent["given_by"], consent["purposes"]) == ("parent", ["care_coordination"])
        found = client.lookup(purpose="care_coordination", basis="consent",
                              consent_reference=consent["id"], bsn="123456782")
        assert [m["organisation"] for m in found["matches"]] == ["VT-A"]
        # Another household: the consent does not carry the look-up.
        with pytest.raises(BrokerAPIError) as refused:
            client.lookup(purpose="care_coordination", basis="consent",
                          consent_reference=consent["id"], bsn="999999990")
        assert refused.value.status == 422 and "household" in str(refused.value)
        assert client.withdraw_consent(consent["id"], professional=school.professional) == 0
        with pytest.raises(BrokerAPIError, match="withdrawn"):
            client.lookup(purpose="care_coordination", basis="consent",
                          consent_reference=consent["id"], bsn="123456782")
    sent = b"\n".join(received)
    assert b"/v1/consents" in sent
    for raw in ("123456782", "999999990", "1011 AB", "1011AB", "bsn|", "address|"):
        assert raw.encode() not in sent, raw


def test_a_consent_needs_the_households_matching_keys(
        core: Core, live: tuple[str, list[bytes], Organisation, Organisation]) -> None:
    from tests.api.live import call  # noqa: PLC0415

    base, _, _, school = live
    today = core.today()
    answer = call(base, school, "POST", "/v1/consents", {
        "professional": school.professional, "given_by": "parent",
        "given_on": today.isoformat(), "valid_until": (today + timedelta(days=3)).isoformat(),
        "purposes": ["care_coordination"]})
    assert answer.status_code == 422
    assert "matching_keys" in answer.json()["errors"]
