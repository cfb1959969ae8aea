"""The words of a decision, in English and Dutch, from the one message catalogue.

The engine decides; this module only phrases (:mod:`broker.catalogue`: English message ids
with named places, the Dutch in ``broker/web/translations``). Every explanation names the
deciding rule and where it is written, and a denial names the closest rule and each condition
that failed, so a privacy officer (or a regulator) can follow the reasoning without reading code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

from broker.catalogue import Joined, Message, Phrase, message_id
from broker.policy.model import Rule

Axis = Literal["requester", "holder", "purpose", "basis"]


class Text(NamedTuple):
    """One sentence in English and in Dutch."""

    en: str
    nl: str


class Subject(NamedTuple):
    """The request being explained (codes only, never anything about a household)."""

    requester: str
    holder: str
    purpose: str
    basis: str


_REVEAL = {
    "nothing": Message("only that another organisation is involved"),
    "organisation_type": Message("the type of organisation"),
    "organisation": Message("the organisation"),
}
_CONTACT = {
    "direct": Message("is granted directly"),
    "approval": Message("needs the holder's approval"),
    "none": Message("is not possible through the broker"),
}
_FIELDS = {
    "name": Message("name"),
    "role": Message("role"),
    "phone": Message("phone"),
    "email": Message("e-mail"),
    "organisation": Message("organisation"),
}
_FIELD_ORDER = ("name", "role", "organisation", "phone", "email")
_DIRECTION = {
    "mutual": Message("both ways"),
    "one_way": Message("to the requester only"),
}
_FAILED = {
    "requester": message_id('requester type "%(value)s" is not among its requester types'),
    "holder": message_id('holder type "%(value)s" is not among its holder types'),
    "purpose": message_id('purpose "%(value)s" is not among its purposes'),
    "basis": message_id('legal basis "%(value)s" is not among its legal bases'),
}
_NO_TYPE = message_id('"%(code)s" is not an organisation type in this policy, so it is denied.')
_UNKNOWN = {
    "requester": _NO_TYPE,
    "holder": _NO_TYPE,
    "purpose": message_id('"%(code)s" is not a purpose in this policy, so it is denied.'),
    "basis": message_id('"%(code)s" is not a legal basis in use in this policy, so it is denied.'),
}


def _both(phrase: Phrase) -> Text:
    """``phrase`` in both languages, from the catalogue."""
    return Text(phrase.translate("en"), phrase.translate("nl"))


def _what(s: Subject) -> Message:
    return Message('"%(requester)s" to discover "%(holder)s" for purpose "%(purpose)s" on legal '
                   'basis "%(basis)s"', requester=s.requester, holder=s.holder,
                   purpose=s.purpose, basis=s.basis)


def _ids(rules: Sequence[Rule]) -> str:
    return ", ".join(f'"{r.id}" ({r.source})' for r in rules)


def allowed(
    s: Subject, rules: Sequence[Rule], obligations: Sequence[str], registration: bool
) -> Text:
    """Why an allow rule lets this request through, and what it discloses."""
    rule = rules[0]
    parts: list[Phrase] = [Message(
        "rule %(rules)s allows %(what)s: the match reveals %(reveal)s; contact %(contact)s",
        rules=_ids(rules), what=_what(s), reveal=_REVEAL[rule.reveal],
        contact=_CONTACT[rule.contact])]
    if rule.link_fields and rule.link_direction:
        ordered = [_FIELDS[f] for f in _FIELD_ORDER if f in rule.link_fields]
        parts.append(Message("; a contact link shows %(fields)s (%(direction)s)",
                             fields=Joined(", ", ordered),
                             direction=_DIRECTION[rule.link_direction]))
    if obligations:
        parts.append(Message("; obligations: %(obligations)s", obligations=", ".join(obligations)))
    if registration:
        parts.append(Message("; the requester must register its own involvement at the same "
                             "time (reciprocity)"))
    parts.append(Message(". Legal ground: %(ground)s.", ground=rule.ground))
    return _both(Joined("", parts))


def forbidden(s: Subject, rules: Sequence[Rule]) -> Text:
    """Why a forbid rule stops this request."""
    return _both(Message(
        "rules %(rules)s forbid %(what)s; a forbid beats every allow. Legal ground: %(ground)s."
        if len(rules) > 1 else
        "rule %(rules)s forbids %(what)s; a forbid beats every allow. Legal ground: %(ground)s.",
        rules=_ids(rules), what=_what(s), ground=rules[0].ground))


def default_denied(s: Subject, closest: Rule | None, failed: Sequence[Axis]) -> Text:
    """Why nothing allows this request, naming the closest rule and what it lacks."""
    if closest is None:
        return _both(Message("no rule allows %(what)s, so it is denied (default deny).",
                             what=_what(s)))
    values = {"requester": s.requester, "holder": s.holder, "purpose": s.purpose, "basis": s.basis}
    reasons = [Message(_FAILED[a], value=values[a]) for a in failed]
    return _both(Message(
        'no rule allows %(what)s, so it is denied (default deny); the closest rule "%(rule)s" '
        "(%(source)s) would apply but %(reasons)s.", what=_what(s), rule=closest.id,
        source=closest.source, reasons=Joined(Message(" and "), reasons)))


def basis_not_accepted(s: Subject, accepted: Sequence[str]) -> Text:
    """Why a basis that the purpose does not accept is refused before any rule is consulted."""
    listed: Phrase | str = ", ".join(accepted) or Message("none")
    return _both(Message(
        'legal basis "%(basis)s" is not accepted for purpose "%(purpose)s" (accepted: '
        "%(listed)s), so it is denied.", basis=s.basis, purpose=s.purpose, listed=listed))


def unknown_code(axis: Axis, code: str) -> Text:
    """Why a request naming a code this policy does not declare is refused."""
    return _both(Message(_UNKNOWN[axis], code=code))


def unknown_obligation(rules: Sequence[Rule], obligation: str) -> Text:
    """Why a rule carrying an obligation the broker cannot carry out denies instead of allowing."""
    return _both(Message(
        'rule %(rules)s would allow this, but it carries obligation "%(obligation)s" that the '
        "broker cannot carry out, so it is denied.", rules=_ids(rules), obligation=obligation))
