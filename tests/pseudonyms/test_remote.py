"""The pseudonym service as its own process (issue 15, item 1): the broker's remote evaluator
against a live service gives the pseudonyms the in-process evaluator gives; the service charges
its own quota and the broker records its refusals; a stopped service is a 503 with nothing
written, and the broker recovers when it is back; an answer under another key, or signed by
another key, is refused; the broker in production mode refuses to start where it can read k."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from broker_primitives import dleq, oprf
from broker_primitives.blinding import pseudonymise
from broker_primitives.identifiers import parse_household
from nacl.signing import SigningKey
from sqlalchemy import func, select

from broker.api.schemas import b64url
from broker.app import create_app
from broker.audit.models import AuditEvent
from broker.audit.services import Actor
from broker.callers.keys import OrganisationKeys
from broker.clock import local_date, utcnow
from broker.config import Settings
from broker.core import Core
from broker.errors import ConfigurationError
from broker.notifications.notices import InboxNotices
from broker.outages import PseudonymServiceUnavailable
from broker.pseudonym_service import home
from broker.pseudonym_service.store import day_totals
from broker.pseudonyms.interfaces import Requester
from broker.pseudonyms.models import EvaluationCount
from broker.pseudonyms.quota import QuotaExceeded
from broker.pseudonyms.remote import RemoteEvaluator, client_dir
from broker.pseudonyms.service import PseudonymService
from broker.registry.models import Involvement
from broker.registry.services import RegistryService
from broker.setup import initialise
from broker.signing import load_signing_key
from tests.api.live import Organisation, call, serve
from tests.factories import make_member
from tests.pseudonyms.conftest import SCHOOL_QUOTA
from tests.pseudonyms.service_process import ROOT, ServiceProcess
from tests.uow import committed
from tests.web.forms import household_fields
from tests.web.test_views import csrf, sign_in

pytestmark = pytest.mark.slow
HOUSEHOLD = {"bsn": ("123456782", "111222333"), "address": ("1011 AB 12 A",),
             "person": ("van der Horst;J;2015-02-03",)}


def test_the_remote_evaluator_gives_the_pseudonyms_of_the_in_process_one(
        remote_core: Core, service_dir: Path) -> None:
    assert not list((remote_core.settings.keys_dir / "oprf").glob("*.key"))  # b only
    member = make_member(committed(remote_core, RegistryService), "vt")
    identifiers = parse_household(**HOUSEHOLD)
    embedded = PseudonymService(home.keystore(service_dir))
    expected = pseudonymise(identifiers, lambda b: embedded.evaluate(b).evaluation)
    remote = remote_core.pseudonymise(member.actor, identifiers)
    assert [(p.category, p.element, p.oprf_epoch) for p in remote] == \
        [(p.category, p.element, p.oprf_epoch) for p in expected]
    # The service counted them for the organisation (counts only); the broker audited them and
    # charged nothing in its own database.
    with home.open_service(service_dir).engine.connect() as connection:
        assert day_totals(connection, local_date(utcnow()))["veilig-thuis"] == (4, 0)
    with remote_core.session() as session:
        assert session.scalar(select(func.count()).select_from(EvaluationCount)) == 0
        details = session.scalars(select(AuditEvent.details).where(
            AuditEvent.event_type == "pseudonym:evaluated")).all()
    assert [(d["count"], d["used"]) for d in details] == [(4, 4)]


def test_the_service_enforces_its_quota_and_the_broker_records_the_refusal(
        remote_core: Core, service_dir: Path) -> None:
    member = make_member(committed(remote_core, RegistryService), "school")
    remote_core.pseudonymise(member.actor, parse_household(bsn=("123456782", "111222333")))
    with pytest.raises(QuotaExceeded) as refused:
        remote_core.pseudonymise(member.actor, parse_household(bsn=("999999990", "100000009")))
    assert (refused.value.use.limit, refused.value.use.used) == (SCHOOL_QUOTA, 2)
    with home.open_service(service_dir).engine.connect() as connection:
        assert day_totals(connection, local_date(utcnow()))["basisschool"] == (2, 2)
    with remote_core.session() as session:
        refusals = session.scalars(select(AuditEvent.details).where(
            AuditEvent.event_type == "pseudonym:quota_refused")).all()
    assert [(d["count"], d["quota"]) for d in refusals] == [(2, SCHOOL_QUOTA)]


def _counts(core: Core) -> tuple[int, int]:
    with core.session() as session:
        return (session.scalar(select(func.count()).select_from(AuditEvent)) or 0,
                session.scalar(select(func.count()).select_from(Involvement)) or 0)


def test_a_stopped_service_is_a_503_with_nothing_written_and_the_broker_recovers(
        remote_core: Core, service: ServiceProcess) -> None:
    member = make_member(committed(remote_core, RegistryService), "vt")
    key = SigningKey.generate()
    committed(remote_core, OrganisationKeys).add(
        Actor.operator("test"), organisation=member.org, key_id="vt-key-1",
        public_key=bytes(key.verify_key).hex())
    org = Organisation(member.org, "vt-key-1", key, member.username)
    element = b64url(oprf.blind(b"bsn|123456782")[1])
    app = create_app(core=remote_core, TESTING=True)
    browser = app.test_client()
    sign_in(browser, member.username)
    token = csrf(browser, "/check")
    with serve(app) as url:
        assert call(url, org, "POST", "/v1/pseudonyms/evaluate",
                    {"blinded_elements": [element]}).status_code == 200
        service.stop()
        before = _counts(remote_core)
        answer = call(url, org, "POST", "/v1/pseudonyms/evaluate",
                      {"blinded_elements": [element]})
        assert answer.status_code == 503
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"] == "urn:broker:problem:service-unavailable"
        assert int(answer.headers["retry-after"]) > 0
        page = browser.post("/check", data={
            **household_fields(["123456782"]), "purpose": "care_coordination",
            "basis": "legal_task", "statute": "jeugdwet_7_1_1", "csrf": token})
        assert page.status_code == 503 and int(page.headers["retry-after"]) > 0
        assert _counts(remote_core) == before  # no event, no involvement: nothing half-written
        service.start()
        assert call(url, org, "POST", "/v1/pseudonyms/evaluate",
                    {"blinded_elements": [element]}).status_code == 200


def test_an_answer_under_another_key_or_signed_by_another_key_is_refused(
        remote_core: Core, service: ServiceProcess) -> None:
    mine = client_dir(remote_core.settings.keys_dir)
    blinded = [oprf.blind(b"bsn|123456782")[1]]
    someone = Requester("veilig-thuis", "veilig_thuis")

    def evaluator(**changes: object) -> RemoteEvaluator:
        options: dict[str, object] = {
            "key_id": "broker-1", "key": load_signing_key(mine / "client.key"),
            "service_key": load_signing_key(service.directory / "signing.key").verify_key,
            "public_key": remote_core.keystore.public_key} | changes
        return RemoteEvaluator(service.base, **options)  # type: ignore[arg-type]

    assert evaluator().evaluate(blinded, someone).evaluation.key_epoch == 1
    other_k = dleq.public_key(oprf.generate_key())
    with pytest.raises(PseudonymServiceUnavailable, match="proof"):
        evaluator(public_key=lambda _epoch: other_k).evaluate(blinded, someone)
    with pytest.raises(PseudonymServiceUnavailable, match="signed"):
        evaluator(service_key=SigningKey.generate().verify_key).evaluate(blinded, someone)


def test_production_refuses_a_broker_that_can_read_k(core: Core) -> None:
    assert list((core.settings.keys_dir / "oprf").glob("*.key"))  # the embedded default's k
    env = {**os.environ, "BROKER_HOME": str(core.settings.home),
           "BROKER_DATABASE_URL": core.settings.database_url,
           "BROKER_POLICY_DIR": str(core.settings.policy_dir), "BROKER_PRODUCTION": "1",
           "BROKER_PSEUDONYM_SERVICE_URL": "http://127.0.0.1:9", "BROKER_LANG": "en"}
    started = subprocess.run(
        [sys.executable, "-c", "from broker.cli import main; main()", "serve", "--port", "0"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert started.returncode == 1
    assert "Production mode: the broker can read the OPRF key k" in started.stderr
    assert str(core.settings.keys_dir / "oprf" / "0001.key") in started.stderr
    with pytest.raises(ConfigurationError, match="needs the pseudonym service"):
        Core(core.settings.with_overrides(production=True))


def test_production_starts_a_broker_that_holds_only_b(broker_settings: Settings,
                                                       service: ServiceProcess) -> None:
    settings = broker_settings.with_overrides(pseudonym_service_url=service.base,
                                              production=True)
    core = Core(settings, notices=InboxNotices())
    try:
        initialise(core, Actor.operator("test"))
        assert create_app(core=core, TESTING=True).test_client().get("/login").status_code == 200
        assert core.keystore.current_epoch("oprf") == 1
        with pytest.raises(ConfigurationError, match="lives with the pseudonym service"):
            core.keystore.load("oprf", 1)
    finally:
        core.dispose()


def test_counts_are_kept_per_organisation_per_day_and_never_elements(
        service_dir: Path, service: ServiceProcess, remote_core: Core) -> None:
    member = make_member(committed(remote_core, RegistryService), "vt")
    remote_core.pseudonymise(member.actor, parse_household(bsn=("123456782",)))
    engine = home.open_service(service_dir).engine
    with engine.connect() as connection:
        totals = day_totals(connection, local_date(utcnow()))
        rows = connection.exec_driver_sql("SELECT * FROM evaluation_trail").all()
    assert totals == {"veilig-thuis": (1, 0)}
    assert [tuple(row)[2:] for row in rows] == [("veilig-thuis", "broker-1", 1, 1, True)]
    dump = b"".join(path.read_bytes() for path in service_dir.glob("service.db*"))
    element = remote_core.pseudonymise(member.actor, parse_household(bsn=("123456782",)))[0]
    assert element.element not in dump
