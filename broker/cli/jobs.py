"""The background jobs of ``broker worker`` and their schedule (issue 12 item 3).

None of this runs in a web or API process: ``create_app`` starts no thread. One ``broker worker``
process (the embedded ``scripts/run`` starts it beside the web server) runs every job on this
schedule:

- ``housekeeping``, every 10 s: the counted refusals of finished minutes to the audit log;
  expired replay nonces, old quota days and ended web sessions (with the check results they
  kept) deleted;
- ``notifications``, every ``BROKER_NOTIFY_INTERVAL`` (2 s): due e-mails and webhooks from the
  outbox delivered (:mod:`broker.notifications.delivery`);
- ``contact-expiry``, every 60 s: unanswered contact requests past the policy's time expired;
- ``inform-reminders``, every hour: professionals reminded whose postponed duty to inform has
  come due;
- ``retention``, every hour: what ``broker purge`` does — expired involvements to the history,
  history past its retention deleted, stored API answers, audit events' personal details and
  misuse counters past theirs removed;
- ``sqlite-wal``, every 0.5 s, on a SQLite file only: the write-ahead log copied into the
  database file (a PASSIVE checkpoint: it never blocks);
- ``audit-checkpoint``, every ``BROKER_AUDIT_CHECKPOINT_INTERVAL`` (60 s): a checkpoint of the
  audit log signed when the log grew, and the newest handed to the witnesses.

Rules this module guarantees:

1. Each job is its own unit of work: a job that acts through services opens one
   :meth:`~broker.core.Core.unit_of_work` and commits it once; delivery and checkpoints keep
   their own documented transactions (a claim, a send and its outcome each commit).
2. Every job may run in several processes at once, and again after a crash: each takes its rows
   in one transaction, so nothing is done twice (see the modules named above).
3. A job answers with counts only (:data:`Counts`): what a worker logs holds no personal data.
4. At stop, the housekeeping and the audit checkpoint run once more (``at_stop``), so the last
   checkpoint covers what the worker wrote.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from broker.audit.checkpoints import sign_checkpoint
from broker.audit.services import Actor
from broker.audit.witnessing import configured_witnesses, hand_to_witnesses, quorum
from broker.callers.idempotency import purge_records
from broker.callers.replay import purge_expired
from broker.contact.inform import InformService
from broker.contact.services import ContactService
from broker.core import Core
from broker.notifications.delivery import DeliveryReport, deliver_due
from broker.notifications.services import NotificationSettings
from broker.oversight.refusals import flush_tallies
from broker.oversight.retention import erase_personal_details
from broker.pseudonyms.quota import purge_days
from broker.registry.misuse import prune_counts
from broker.registry.services import RegistryService
from broker.signin.sessions import forget_ended

Counts = Mapping[str, int]
HOUSEKEEPING_INTERVAL = 10.0
_DELIVERY_BATCH = 100


@dataclass(frozen=True)
class Job:
    """One background job: its name, how many seconds between runs, and what it does."""

    name: str
    every: float
    run: Callable[[Core], Counts]
    at_stop: bool = False  # run once more when the worker stops (rule 4)
    quiet: bool = False  # its counts are logged at DEBUG only (it runs twice a second)


def housekeep(core: Core) -> Counts:
    """Refusal counts to the audit log; expired nonces, old quota days and ended web sessions
    (with the results they kept) deleted."""
    with core.transaction() as connection:
        sessions_ended = forget_ended(connection, core.now())
    return {"refusal_events": flush_tallies(core),
            "nonces_purged": purge_expired(core.engine, int(time.time())),
            "quota_days_purged": purge_days(core.engine, core.today()),
            "web_sessions_ended": sessions_ended}


def deliver(core: Core) -> Counts:
    """Deliver what is due, batch after batch while batches come full."""
    settings = NotificationSettings.from_env()
    total = DeliveryReport()
    while True:
        report = deliver_due(core, limit=_DELIVERY_BATCH, settings=settings)
        total += report
        if report.claimed < _DELIVERY_BATCH:
            break
    return {"delivered": total.delivered, "retried": total.retried, "given_up": total.given_up}


def checkpoint(core: Core) -> Counts:
    """Sign a checkpoint when the log grew; hand the newest to the witnesses."""
    signed = sign_checkpoint(core)
    handed = hand_to_witnesses(core)
    return {"signed": int(signed is not None),
            "cosigned": sum(1 for h in handed if h.status == "cosigned"),
            "witnesses_unreachable": sum(1 for h in handed if h.status == "unreachable"),
            "witnesses_refused": sum(1 for h in handed if h.status == "refused")}


def expire_requests(core: Core) -> Counts:
    """Expire unanswered contact requests past their time (one unit of work)."""
    with core.unit_of_work() as uow:
        return {"expired": ContactService(uow).expire(Actor.system("expire"))}


def remind(core: Core) -> Counts:
    """Send the reminders of postponed duties to inform that came due (one unit of work)."""
    with core.unit_of_work() as uow:
        return {"reminded": InformService(uow).remind_due(Actor.system("inform-reminder"))}


def retain(core: Core) -> Counts:
    """What ``broker purge`` does, in one unit of work."""
    actor = Actor.system("purge")
    with core.unit_of_work() as uow:
        counts = dict(RegistryService(uow).purge(actor))
        counts["api_answers_removed"] = purge_records(uow, actor)
        counts["audit_details_erased"] = erase_personal_details(uow, actor)
        counts["misuse_counters_removed"] = prune_counts(uow, actor)
    return counts


def checkpoint_wal(core: Core) -> Counts:
    """A PASSIVE checkpoint of SQLite's write-ahead log (it never blocks readers or writers);
    the web processes leave the log to this job (``broker.db.make_engine``)."""
    with core.engine.connect() as connection:
        busy, pages, copied = connection.exec_driver_sql(
            "PRAGMA wal_checkpoint(PASSIVE)").one()
    return {"busy": int(busy), "pages_copied": int(copied) if pages >= 0 else 0}


def uses_wal(core: Core) -> bool:
    """True for a file-based SQLite database (the embedded default)."""
    url = core.engine.url
    return url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")


def schedule(core: Core) -> list[Job]:
    """The worker's jobs in the order a tick runs them (the table above). Witness settings that
    do not fit together stop the start here, not each later run."""
    configured_witnesses(core.settings)
    quorum(core.settings)
    core.audit_key()  # a missing or exposed audit key stops the start, not each checkpoint
    wal = [Job("sqlite-wal", 0.5, checkpoint_wal, quiet=True)] if uses_wal(core) else []
    # The checkpoint last, so that it covers what the jobs before it wrote in the same tick.
    return [
        Job("housekeeping", HOUSEKEEPING_INTERVAL, housekeep, at_stop=True),
        Job("notifications", NotificationSettings.from_env().interval, deliver),
        Job("contact-expiry", 60.0, expire_requests),
        Job("inform-reminders", 3600.0, remind),
        Job("retention", 3600.0, retain),
        *wal,
        Job("audit-checkpoint", core.settings.audit_checkpoint_interval, checkpoint,
            at_stop=True),
    ]
