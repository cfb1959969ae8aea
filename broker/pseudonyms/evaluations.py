"""Evaluations for organisations' systems: every batch is an audit event (each evaluation is a
possible guess at an identifier, so the log shows who asked for how many, and when)."""

from __future__ import annotations

from collections.abc import Sequence

from broker.audit.services import Actor, record_event
from broker.core import Core
from broker.pseudonyms.service import Evaluation


def evaluate_and_record(core: Core, actor: Actor, blinded_elements: Sequence[bytes]
                        ) -> Evaluation:
    """Evaluate a batch and record ``pseudonym:evaluated`` before the answer leaves."""
    result = core.pseudonym_service.evaluate(blinded_elements)
    with core.transaction() as connection:
        record_event(connection, actor, "pseudonym:evaluated",
                     details={"count": len(blinded_elements), "key_epoch": result.key_epoch})
    return result
