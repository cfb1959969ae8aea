"""The broker's Prometheus metrics (issue 15 item 2), defined once for every layer to count in.

Rules this module guarantees:

1. No label holds personal data or anything a client chose freely: an endpoint is its URL rule
   (``/contact/open/<token>``, never the path), a status and a method are HTTP's, a policy
   outcome is ``allow`` or ``deny``, a channel is ``email`` or ``webhook``. Nothing is labelled
   by organisation, professional, household or key.
2. Several gunicorn workers report as one: with ``PROMETHEUS_MULTIPROC_DIR`` set (as
   ``broker serve --production`` does, before any worker starts) each process writes its
   counts to files there and a scrape adds them up (prometheus_client's multiprocess mode); a
   dead worker's files are marked by the gunicorn config module's ``child_exit``. Without it,
   the process's own counts are served.
3. What the database knows (the age of the newest audit checkpoint, the outbox's depth) is read
   at scrape time (:class:`broker.ops.views` adds the collector), so every worker answers the
   same and no worker has to keep it up to date.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY, Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

if os.environ.get(MULTIPROC_ENV):
    # In multiprocess mode prometheus_client opens this process's files as the metrics below
    # are defined: the directory must exist first.
    Path(os.environ[MULTIPROC_ENV]).mkdir(mode=0o700, parents=True, exist_ok=True)

REQUESTS = Counter("broker_http_requests", "Requests answered, per endpoint (URL rule), "
                   "method and status.", ["endpoint", "method", "status"])
LATENCY = Histogram("broker_http_request_duration_seconds", "Time to answer a request, per "
                    "endpoint (URL rule), method and status.", ["endpoint", "method", "status"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
POLICY_DECISIONS = Counter("broker_policy_decisions", "Decisions of the sharing policy, per "
                           "outcome (allow, deny).", ["outcome"])
AUDIT_APPEND = Histogram("broker_audit_append_duration_seconds", "Time to append one audit "
                         "event (chain, Merkle state, row) in its transaction.",
                         buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5))
QUOTA_REFUSALS = Counter("broker_quota_refusals", "Pseudonym evaluations refused because the "
                         "organisation's daily quota could not take the batch.")


def multiprocess() -> bool:
    """True when the processes' counts are kept in PROMETHEUS_MULTIPROC_DIR (rule 2)."""
    return bool(os.environ.get(MULTIPROC_ENV))


def scrape_registry(*collectors: Collector) -> CollectorRegistry:
    """A registry for one scrape: every process's counts (rule 2) and ``collectors``."""
    registry = CollectorRegistry(auto_describe=True)
    if multiprocess():
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped upstream
    else:
        registry.register(_ThisProcess())
    for collector in collectors:
        registry.register(collector)
    return registry


class _ThisProcess:
    """The counts of this process (the default registry's), for a scrape's registry."""

    def collect(self) -> Iterable[Metric]:
        """Everything the default registry holds."""
        return REGISTRY.collect()
