"""What each legal basis needs before a look-up may rest on it.

- ``consent`` (AVG art. 6(1)(a), 9(2)(a)): the id of a consent record (who consented, when, to
  what, about which household), kept by the professional's organisation: a UUID, never free
  text (:func:`consent_record_id`);
- ``legal_task`` (AVG art. 6(1)(c)/(e)): the statute that grants the task, as one of the codes
  the policy lists for the purpose (``purposes: ... statutes:``), never free text;
- ``vital_interest`` ("zwaarwegend belang", conflict of duties, AVG art. 6(1)(d)): a written
  justification of at least the policy's ``min_justification_length`` characters and at most
  :data:`MAX_JUSTIFICATION_LENGTH`, free of anything shaped like an identifier
  (:mod:`broker.freetext`). The engine flags every such request for auditor review.

Whether a consent reference names a consent record in force for the household is for the
services to check (they can read the records, :mod:`broker.registry.consents`); here only that
one is given, in the shape of a record's id.

In every case the purpose must accept the basis (``purposes: ... accepted_bases``). Problems come
in English and Dutch.
"""

from __future__ import annotations

import re

from broker.catalogue import Message, Phrase
from broker.errors import ValidationError
from broker.freetext import check_free_text
from broker.policy.model import LEGAL_TASK, VITAL_INTEREST, PolicySpec

# A justification is read by an auditor; two pages is more than enough.
MAX_JUSTIFICATION_LENGTH = 4000


class BasisProblem(str):
    """A reason the evidence for a legal basis is not enough: a message from the catalogue,
    shown in the reader's language; the ``str`` itself is the English."""

    text: Phrase

    def __new__(cls, message_id: str | Phrase, /, **values: object) -> BasisProblem:
        """The problem ``message_id`` (with the values of its places), or a phrase as it is."""
        text = Message(message_id, **values) if isinstance(message_id, str) else message_id
        problem = super().__new__(cls, text.translate("en"))
        problem.text = text
        return problem

    @property
    def en(self) -> str:
        """The English text."""
        return str(self)

    @property
    def nl(self) -> str:
        """The Dutch text."""
        return self.text.translate("nl")

    def message(self, lang: str = "nl") -> str:
        """The message in ``lang``; Dutch unless "en" is asked."""
        return self.text.translate(lang)


# A consent record's public id: a lower-case UUID, as the broker hands it out.
_RECORD_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def recordable_justification(justification: str | None) -> str | None:
    """``justification`` when it may be kept in the audit log (as an erasable personal detail),
    else None: a justification refused for what it holds (an identifier, a control character,
    its length) is never stored, not even in the event that records the refusal."""
    try:
        return check_free_text(justification, field="The justification",
                               max_length=MAX_JUSTIFICATION_LENGTH)
    except ValidationError:
        return None


def _filled(value: str | None) -> bool:
    return bool(value and value.strip())


def consent_record_id(reference: str | None) -> str | None:
    """``reference`` when it has the shape of a consent record's id, else None: only an id may
    be written to the audit log (free text there could hold an identifier, for ever)."""
    return reference if reference is not None and _RECORD_ID.fullmatch(reference) else None


def check_basis(
    spec: PolicySpec,
    purpose: str,
    basis: str,
    *,
    justification: str | None = None,
    statute: str | None = None,
    consent_reference: str | None = None,
) -> list[BasisProblem]:
    """Every reason ``basis`` cannot carry a look-up for ``purpose`` under ``spec`` (empty: ok)."""
    if purpose not in spec.purposes:
        return [BasisProblem('unknown purpose "%(purpose)s"', purpose=purpose)]
    if basis not in spec.bases:
        return [
            BasisProblem('legal basis "%(basis)s" is not in use in this policy', basis=basis)
        ]
    problems: list[BasisProblem] = []
    accepted = spec.purposes[purpose].accepted_bases
    if basis not in accepted:
        listed = ", ".join(accepted)
        problems.append(
            BasisProblem(
                'legal basis "%(basis)s" is not accepted for purpose "%(purpose)s" (accepted: '
                "%(listed)s)",
                basis=basis, purpose=purpose, listed=listed)
        )
    if basis == "consent" and not _filled(consent_reference):
        problems.append(
            BasisProblem(
                "consent needs a consent record: give its reference (who consented, when, to what)")
        )
    elif basis == "consent" and consent_record_id(consent_reference) is None:
        problems.append(
            BasisProblem(
                "the consent reference must be the id of a consent record, such as "
                "0b9c1b7e-2f7a-4f59-9d7e-2d1c3a4b5c6d; record the consent first")
        )
    if basis == LEGAL_TASK:
        statutes = spec.purposes[purpose].statutes
        choices = ", ".join(statutes) or "-"
        if not _filled(statute):
            problems.append(
                BasisProblem(
                    "a legal task needs the statute that grants it: one of %(choices)s",
                    choices=choices)
            )
        elif statute not in statutes:
            problems.append(
                BasisProblem(
                    "the statute must be one of the codes the policy lists for purpose "
                    '"%(purpose)s": %(choices)s',
                    purpose=purpose, choices=choices)
            )
    if basis == VITAL_INTEREST:
        minimum = spec.bases[basis].min_justification_length or 1
        written = len((justification or "").strip())
        try:
            check_free_text(justification, field="The justification",
                            max_length=MAX_JUSTIFICATION_LENGTH)
        except ValidationError as refused:
            problems.append(BasisProblem(refused.text))
        if written < minimum:
            problems.append(
                BasisProblem(
                    "vital interest needs a written justification of at least %(minimum)s "
                    "characters (now %(written)s)",
                    minimum=minimum, written=written)
            )
    return problems
