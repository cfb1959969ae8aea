"""/healthz, /readyz and /metrics (broker.ops), JSON log lines (broker.logs), and that neither
metrics nor log lines carry personal data after a look-up with a known BSN."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from broker.app import create_app
from broker.core import Core
from broker.logs import JsonFormatter
from broker.registry.services import RegistryService
from tests.factories import ADDRESS, CHILD_BSN, household, make_member, register
from tests.notifications.helpers import free_port
from tests.test_outages import database_gone
from tests.web.forms import household_fields
from tests.web.test_views import csrf, sign_in
from tests.witness.running import RunningWitness

STRANGER = {"REMOTE_ADDR": "203.0.113.7"}


def test_healthz_answers_without_the_database(core: Core, client: FlaskClient) -> None:
    with database_gone(core):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_names_every_part_when_ready(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "checks": {
        "database": "ok", "redis": "not configured", "keys": "ok",
        "witnesses": "not configured", "pseudonym-service": "not configured"}}


def test_readyz_is_503_while_the_pseudonym_service_is_away(core: Core) -> None:
    # Production's broker needs the service for every look-up: not ready without it.
    client = create_app(core=core).test_client()
    core.settings = core.settings.with_overrides(
        pseudonym_service_url=f"http://127.0.0.1:{free_port()}")
    body = client.get("/readyz").get_json()
    assert body["status"] == 503
    assert body["checks"]["pseudonym-service"].startswith("unavailable (")
    assert "127.0.0.1" not in json.dumps(body)


def test_readyz_is_503_naming_the_database_when_it_is_unreachable(
        core: Core, client: FlaskClient) -> None:
    with database_gone(core):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.headers["Retry-After"]
    body = response.get_json()
    assert body["type"] == "urn:broker:problem:not-ready"
    assert body["checks"]["database"].startswith("unavailable (")
    assert body["checks"]["keys"] == "ok"
    assert "database" in body["detail"] and "postgresql" not in json.dumps(body)
    assert client.get("/readyz").status_code == 200  # back without a restart


def test_readyz_is_503_for_an_unreachable_redis_and_an_exposed_key(core: Core) -> None:
    core.settings = core.settings.with_overrides(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    client = create_app(core=core).test_client()
    key = core.settings.keys_dir / "audit" / "signing.key"
    key.chmod(0o644)
    try:
        body = client.get("/readyz").get_json()
    finally:
        key.chmod(0o600)
    assert body["status"] == 503
    assert body["checks"]["redis"].startswith("unavailable (")
    assert body["checks"]["keys"].startswith("unavailable (")
    assert str(core.settings.keys_dir) not in json.dumps(body)


def test_readyz_counts_the_witnesses_it_can_reach(core: Core, client: FlaskClient,
                                                  tmp_path: Path) -> None:
    witness = RunningWitness(tmp_path / "witness", core)
    witness.start()
    witness.configure(core)
    assert client.get("/readyz").get_json()["checks"]["witnesses"] == "ok"
    witness.stop()
    body = client.get("/readyz").get_json()
    assert body["checks"]["witnesses"] == "0 of 1 needed reachable"
    assert witness.url not in json.dumps(body)


def test_metrics_only_from_this_machine_without_a_token(client: FlaskClient) -> None:
    client.get("/healthz")
    response = client.get("/metrics")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert 'broker_http_requests_total{endpoint="/healthz",method="GET",status="200"}' in text
    assert "broker_audit_checkpoint_age_seconds" in text
    assert 'broker_outbox_depth{channel="webhook"} 0.0' in text
    assert client.get("/metrics", environ_base=STRANGER).status_code == 404


def test_metrics_with_a_token_need_the_token(core: Core) -> None:
    core.settings = core.settings.with_overrides(metrics_token="s3cret-scrape")
    client = create_app(core=core).test_client()
    assert client.get("/metrics").status_code == 404  # loopback is not enough any more
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
    assert client.get("/metrics", environ_base=STRANGER,
                      headers={"Authorization": "Bearer s3cret-scrape"}).status_code == 200


def test_no_personal_data_in_metrics_or_log_lines_after_a_lookup(
        core: Core, registry: RegistryService, capfd: pytest.CaptureFixture[str]) -> None:
    make_member(registry, "school")
    register(registry, make_member(registry, "vt"), household(core, bsn=(CHILD_BSN,)))
    core.settings = core.settings.with_overrides(log_format="json")
    app: Flask = create_app(core=core, TESTING=True)
    client = app.test_client()
    sign_in(client, "basisschool-1")
    page = client.post("/check", data={
        **household_fields([CHILD_BSN], ADDRESS), "purpose": "care_coordination",
        "basis": "legal_task", "statute": "jeugdwet_7_1_1", "csrf": csrf(client, "/check")},
        follow_redirects=True)
    assert page.status_code == 200 and "Veilig Thuis Midden" in page.get_data(as_text=True)
    metrics = client.get("/metrics").get_data(as_text=True)
    lines = capfd.readouterr().err.splitlines()
    assert any('"endpoint":"/check"' in line and '"status":303' in line for line in lines)
    assert 'broker_http_requests_total{endpoint="/check",method="POST",status="303"}' in metrics
    assert 'broker_policy_decisions_total{outcome="allow"}' in metrics
    assert "broker_audit_append_duration_seconds_count" in metrics
    for text in (metrics, *lines):
        for secret in (CHILD_BSN, "1234.56.782", "1011 AB", "1011AB", "basisschool-1"):
            assert secret not in text
    assert all(json.loads(line)["message"] for line in lines)  # one JSON object per line
    logging.getLogger().handlers[:] = [handler for handler in logging.getLogger().handlers
                                       if handler.get_name() != "broker-json"]


def test_a_json_line_names_an_exception_by_its_type_only() -> None:
    try:
        raise ValueError(f"BSN {CHILD_BSN}")
    except ValueError:
        record = logging.LogRecord("broker.x", logging.ERROR, __file__, 1, "failed", (),
                                   exc_info=__import__("sys").exc_info())
    line = json.loads(JsonFormatter().format(record))
    assert line["exception"] == "ValueError" and CHILD_BSN not in json.dumps(line)
