"""The obligations a rule can carry, where each is carried out, and by which function.

Rules this module guarantees:

- The policy language knows exactly the obligations in :data:`OBLIGATIONS` (the schema's
  vocabulary, ``KNOWN_OBLIGATIONS``, is the same list, which the tests check), so a policy naming
  an obligation without an executor does not load.
- Each obligation names the moments (:data:`Stage`) at which it applies and, for each, the one
  function that carries it out there (``module:function``). That function runs inside the
  transaction of the service that reached the moment and returns whether it did anything; the
  service's audit event lists an obligation only when its executor carried it out.
- ``tests/policy/test_obligations.py`` walks this table: every executor must resolve to a
  function, and every obligation must be exercised by a test named after it. A new word here
  without both fails the suite.

The policy layer names the executors by path, never imports them: the executors live in the
domains above it (registry, contact), which import the policy, not the other way round.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from broker.policy.model import (
    FLAG_FOR_REVIEW,
    NOTIFY_HOLDER,
    REQUIRE_SECOND_APPROVER,
)

# The moments at which an obligation can be carried out:
# - "lookup": a look-up disclosed a match under the rule;
# - "contact_request": a contact request was decided under the rule;
# - "contact_decision": the holder answers a contact request made under the rule.
Stage = Literal["lookup", "contact_request", "contact_decision"]
STAGES: tuple[Stage, ...] = ("lookup", "contact_request", "contact_decision")


@dataclass(frozen=True)
class Obligation:
    """One obligation: what it means, and the function that carries it out at each stage."""

    code: str
    meaning: str
    executors: Mapping[Stage, str]


OBLIGATIONS: Mapping[str, Obligation] = {
    NOTIFY_HOLDER: Obligation(
        NOTIFY_HOLDER,
        "the holder's contact professional is told (inbox and outbox) that an organisation "
        "looked up or asked about the household, revealing of the asker no more than the policy "
        "lets the holder learn",
        {"lookup": "broker.registry.obligations:notify_holders",
         "contact_request": "broker.contact.obligations:notify_holder_of_request"},
    ),
    REQUIRE_SECOND_APPROVER: Obligation(
        REQUIRE_SECOND_APPROVER,
        "contact is granted only after two different professionals of the holding organisation "
        "approve; the first approval leaves the request pending",
        {"contact_decision": "broker.contact.obligations:require_second_approver"},
    ),
    FLAG_FOR_REVIEW: Obligation(
        FLAG_FOR_REVIEW,
        "the event is put in the auditors' review queue and the auditors are told at once",
        {"lookup": "broker.registry.obligations:flag_for_review",
         "contact_request": "broker.contact.obligations:flag_request_for_review"},
    ),
}

def applies_at(code: str, stage: Stage) -> bool:
    """True when obligation ``code`` is carried out at ``stage``."""
    obligation = OBLIGATIONS.get(code)
    return obligation is not None and stage in obligation.executors
