"""The shipped client evaluating at the pseudonym service itself (issue 15): an organisation's
case system, allowed at a running service with its own key, has its blinded identifiers
evaluated there (signed under the service's tags, the answer's signature and DLEQ proof
checked) and looks up at the broker with the result — matching what another organisation
registered through the broker. The service charges the organisation's quota; an answer signed
by another key, or proved under another k, is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from broker_client import BrokerAPIError, BrokerClient, ResponseVerificationError
from broker_primitives import dleq, oprf
from broker_primitives.blinding import pseudonymise
from broker_primitives.identifiers import parse_household
from nacl.signing import SigningKey

from broker.app import create_app
from broker.callers.keys import response_key_path
from broker.clock import local_date, utcnow
from broker.config import Settings
from broker.core import Core
from broker.pseudonym_service import home
from broker.pseudonym_service.store import day_totals
from broker.pseudonyms.service import PseudonymService
from tests.api.live import Organisation, enrol, serve
from tests.pseudonyms.conftest import paired

pytestmark = pytest.mark.slow


def _client(core: Core, base: str, org: Organisation, **service: object) -> BrokerClient:
    public = response_key_path(core.settings.keys_dir).with_suffix(".pub").read_text()
    return BrokerClient(base, org.key_id, org.key, broker_public_key=public.strip(),
                        retries=0, **service)  # type: ignore[arg-type]


def test_the_client_evaluates_at_the_service_and_matches_at_the_broker(
        settings: Settings, tmp_path: Path) -> None:
    service_dir = tmp_path / "service"
    home.initialise(service_dir, default_quota=100, per_type={"school": 4})
    with paired(settings, service_dir, tmp_path / "service.log") as (core, service):
        vt, school = enrol(core, "vt-a", "veilig_thuis"), enrol(core, "school-a", "school")
        home.add_client(service_dir, school.key_id, bytes(school.key.verify_key).hex(),
                        organisation="school-a", organisation_type="school")
        service.stop()
        service.start()  # the service reads its clients when it starts
        at_service = {
            "pseudonym_service_url": service.base,
            "pseudonym_service_public_key": (service_dir / "signing.pub").read_text().strip(),
            "oprf_public_keys": {1: home.public_keys(service_dir)[1].hex()}}
        with serve(create_app(core=core)) as base:
            with _client(core, base, vt) as client:  # through the broker
                client.register(professional=vt.professional, purpose="protection",
                                bsn="123456782")
            # An answer the service did not sign, or one proved under another k, is refused
            # (each was charged at the service: it evaluated).
            stranger = {**at_service,
                        "pseudonym_service_public_key": bytes(SigningKey.generate().verify_key)}
            with _client(core, base, school, **stranger) as client, \
                    pytest.raises(ResponseVerificationError, match="not signed"):
                client.pseudonymise(bsn="123456782")
            other_k = {**at_service, "oprf_public_keys": {1: dleq.public_key(oprf.generate_key())}}
            with _client(core, base, school, **other_k) as client, \
                    pytest.raises(ResponseVerificationError, match="proof"):
                client.pseudonymise(bsn="123456782")
            with _client(core, base, school, **at_service) as client:
                pseudonym = client.pseudonymise(bsn="123456782")[0]
                found = client.lookup(purpose="care_coordination", basis="legal_task",
                                      statute="jeugdwet_7_1_1", bsn="123456782")
                assert [m["organisation"] for m in found["matches"]] == ["VT-A"]
                with pytest.raises(BrokerAPIError) as refused:
                    client.pseudonymise(bsn=("999999990", "100000009"))
                assert refused.value.status == 429  # the service's quota of 4 a day
        embedded = PseudonymService(home.keystore(service_dir))
        expected = pseudonymise(parse_household(bsn=("123456782",)),
                                lambda blinded: embedded.evaluate(blinded).evaluation)[0]
        assert (pseudonym.element, pseudonym.oprf_epoch) == (expected.element, 1)
        with home.open_service(service_dir).engine.connect() as connection:
            assert day_totals(connection, local_date(utcnow()))["school-a"] == (4, 2)

