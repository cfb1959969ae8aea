"""The obligations carried out at a look-up: telling the holders, and flagging for review.

:mod:`broker.policy.obligations` names these functions as the look-up stage's executors.

Rules this module guarantees:

- Each executor runs inside the look-up's transaction, before the look-up's audit event is
  written: it hands its messages to the core's notices (:class:`broker.interfaces.Notices`,
  which :mod:`broker.notifications` writes on the look-up's connection) and returns what it
  did; the event lists an obligation only when it was carried out, and says in its details
  what was done. A rolled-back look-up tells no one.
- :func:`notify_holders` (``notify_holder``): the contact professional of each disclosed holder
  involvement whose deciding rule carries the obligation gets one inbox message of kind
  ``lookup_notice``, whose reference is the holder's *own* involvement id, announced by e-mail
  and webhook through the outbox. Of the asker, the webhook reveals no more than the policy
  lets the holder learn (:func:`holder_may_learn`); nothing else of the look-up (no purpose, no
  identifier, no name of a person, not the asker's look-up id) leaves the broker.
- :func:`flag_for_review` (``flag_for_review``): the look-up's event carries the review flag
  (the caller writes it) and every active auditor is told at once (``review_flag``, with the
  event's id as reference). With no auditor the flag still stands in the log and its reports.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, select

from broker.interfaces import Notices
from broker.policy import Policy
from broker.policy.model import Reveal
from broker.registry.candidates import Candidate
from broker.registry.models import Organisation


def holder_may_learn(policy: Policy, holder_type: str, asker_type: str, purpose: str) -> Reveal:
    """How much an organisation of ``holder_type``, involved for ``purpose``, may learn of an
    asker of ``asker_type``: what it could learn without asking (:meth:`Policy.unasked_reveal`)."""
    return policy.unasked_reveal(holder_type, asker_type, purpose)


def notify_holders(notices: Notices, connection: Connection, policy: Policy,
                   asker_organisation_id: int, asker_type: str, holders: Sequence[Candidate]
                   ) -> list[str]:
    """Tell the contact professional of each of ``holders`` (disclosed matches whose rule
    carries ``notify_holder``) that an organisation looked up their household.

    The webhook's data says how much the holder may learn of the asker (``asker_reveal``) and,
    as far as that allows, the asker's organisation type (``asker_type``) and organisation
    code (``asker_organisation``). Returns the public ids of the notified involvements, in
    order (empty: nothing was done).
    """
    asker_code: str | None = None
    notified = []
    for holder in holders:
        reveal = holder_may_learn(policy, holder.org_type, asker_type, holder.purpose)
        data: dict[str, object] = {"asker_reveal": reveal}
        if reveal in ("organisation_type", "organisation"):
            data["asker_type"] = asker_type
        if reveal == "organisation":
            if asker_code is None:
                asker_code = connection.execute(
                    select(Organisation.identifier)
                    .where(Organisation.id == asker_organisation_id)).scalar_one()
            data["asker_organisation"] = asker_code
        notices.notify(connection, professional_id=holder.professional_id,
                       kind="lookup_notice", reference=holder.involvement_id,
                       organisation_id=holder.organisation_id, webhook_event=data)
        notified.append(holder.involvement_id)
    return notified


def flag_for_review(notices: Notices, connection: Connection, event_id: str) -> list[int]:
    """Tell every active auditor at once that event ``event_id`` is flagged for review (the
    caller's event carries the flag). Returns the ids of the auditors told."""
    return notices.notify_auditors(connection, kind="review_flag", reference=event_id)
