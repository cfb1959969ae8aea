"""``/healthz``, ``/readyz`` and ``/metrics``, and the request metrics of every answer.

Rules this module guarantees:

1. ``/healthz`` answers 200 while the process runs; it reads no database, store or file.
2. ``/readyz`` answers 200 when every part the broker needs is ready
   (:mod:`broker.ops.readiness`), else 503 ``application/problem+json`` (type
   ``urn:broker:problem:not-ready``, ``Retry-After``) naming the parts that are not and their
   state in fixed words; no personal data, no URL, no path.
3. ``/metrics`` is Prometheus text (:mod:`broker.metrics`) for whom the settings allow: with
   ``BROKER_METRICS_TOKEN`` set, a request with ``Authorization: Bearer <token>`` (compared in
   constant time); without it, only a client on this machine (a loopback address, after the
   trusted proxies' ``X-Forwarded-For``). Anyone else gets 404, as if there were nothing.
4. Every answer of the app is counted and timed by its URL rule (``(unrouted)`` for none), its
   method and its status (:func:`install`); with ``BROKER_LOG_FORMAT=json`` it is also logged by
   the same (broker.logs).
5. None of these endpoints is rate-limited, opens a web session or reloads the policy: a
   monitor polling them changes nothing.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import time
from collections.abc import Iterable

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from sqlalchemy import func, select

from broker.api.problems import problem
from broker.audit.models import AuditCheckpoint
from broker.core import Core
from broker.door import current_core
from broker.logs import log_request
from broker.metrics import LATENCY, REQUESTS, scrape_registry
from broker.notifications.models import OutboxMessage
from broker.ops.readiness import readiness

bp = Blueprint("ops", __name__)
BLUEPRINT = bp.name
UNROUTED = "(unrouted)"


@bp.get("/healthz")
def healthz() -> Response:
    """The process is up (rule 1)."""
    return Response('{"status":"ok"}', mimetype="application/json")


@bp.get("/readyz")
def readyz() -> Response:
    """Every part the broker needs is ready, or a 503 naming what is not (rule 2)."""
    state = readiness(current_core())
    if state.ready:
        return Response(json.dumps({"status": "ready", "checks": state.checks}),
                        mimetype="application/json")
    answer = problem(503, "not-ready", "Not ready: " + ", ".join(
        f"{part} {state.checks[part]}" for part in state.not_ready) + ".", title="Not ready")
    body = json.loads(answer.get_data())
    body["checks"] = state.checks
    answer.set_data(json.dumps(body))
    return answer


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text for whom the settings allow (rule 3)."""
    core = current_core()
    if not _may_read_metrics(core):
        return Response("Not Found\n", status=404, mimetype="text/plain")
    registry = scrape_registry(_StateCollector(core))
    return Response(generate_latest(registry), mimetype="text/plain; version=0.0.4")


def _may_read_metrics(core: Core) -> bool:
    token = core.settings.metrics_token
    if token:
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


class _StateCollector:
    """What the database knows, read at scrape time (broker.metrics rule 3)."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def collect(self) -> Iterable[Metric]:
        """The newest checkpoint's age and the outbox's depth per channel."""
        age = GaugeMetricFamily("broker_audit_checkpoint_age_seconds",
                                "Seconds since the newest audit checkpoint was signed "
                                "(-1: none yet).")
        depth = GaugeMetricFamily("broker_outbox_depth", "Messages waiting to be delivered, "
                                  "per channel.", labels=["channel"])
        with self.core.transaction() as connection:
            newest = connection.execute(select(func.max(AuditCheckpoint.signed_at))).scalar()
            waiting = connection.execute(
                select(OutboxMessage.channel, func.count())
                .where(OutboxMessage.delivered_at.is_(None), OutboxMessage.failed_at.is_(None))
                .group_by(OutboxMessage.channel)).all()
        age.add_metric([], -1.0 if newest is None
                       else max(0.0, (self.core.now() - newest).total_seconds()))
        counts = {"email": 0, "webhook": 0} | {channel: n for channel, n in waiting}
        for channel, count in sorted(counts.items()):
            depth.add_metric([channel], float(count))
        return [age, depth]


def is_ops_request() -> bool:
    """True for /healthz, /readyz and /metrics (rule 5)."""
    return request.blueprint == BLUEPRINT


def install(app: Flask) -> None:
    """Register the endpoints, and count and time every answer (rule 4). Call before the door
    installs its unit of work, so that the time includes the commit."""
    app.register_blueprint(bp)

    def started() -> None:
        g.ops_started = time.perf_counter()

    def answered(response: Response) -> Response:
        began = g.get("ops_started")
        if began is None:
            return response
        rule = request.url_rule.rule if request.url_rule is not None else UNROUTED
        status = str(response.status_code)
        elapsed = time.perf_counter() - began
        REQUESTS.labels(rule, request.method, status).inc()
        LATENCY.labels(rule, request.method, status).observe(elapsed)
        log_request(request_id=str(g.get("request_id", "")), method=request.method, endpoint=rule,
                    status=response.status_code, duration_ms=elapsed * 1000)
        return response

    app.before_request_funcs.setdefault(None, []).insert(0, started)
    app.after_request(answered)
