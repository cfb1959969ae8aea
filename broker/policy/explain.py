"""The words of a decision, in English and Dutch.

The engine decides; this module only phrases. Every explanation names the deciding rule and where
it is written, and a denial names the closest rule and each condition that failed, so a privacy
officer (or a regulator) can follow the reasoning without reading code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

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
    "nothing": Text(
        "only that another organisation is involved",
        "alleen dat een andere organisatie betrokken is",
    ),
    "organisation_type": Text("the type of organisation", "het soort organisatie"),
    "organisation": Text("the organisation", "de organisatie"),
}
_CONTACT = {
    "direct": Text("is granted directly", "wordt direct gegeven"),
    "approval": Text("needs the holder's approval", "vraagt goedkeuring van de houder"),
    "none": Text("is not possible through the broker", "is via de broker niet mogelijk"),
}
_FIELD_NL = {
    "name": "naam",
    "role": "rol",
    "phone": "telefoon",
    "email": "e-mail",
    "organisation": "organisatie",
}
_FIELD_ORDER = ("name", "role", "organisation", "phone", "email")
_DIRECTION = {
    "mutual": Text("both ways", "in beide richtingen"),
    "one_way": Text("to the requester only", "alleen aan de aanvrager"),
}
_FAILED = {
    "requester": Text(
        'requester type "{}" is not among its requester types',
        'soort aanvrager "{}" staat niet bij zijn aanvragers',
    ),
    "holder": Text(
        'holder type "{}" is not among its holder types',
        'soort houder "{}" staat niet bij zijn houders',
    ),
    "purpose": Text(
        'purpose "{}" is not among its purposes', 'doel "{}" staat niet bij zijn doelen'
    ),
    "basis": Text(
        'legal basis "{}" is not among its legal bases',
        'grondslag "{}" staat niet bij zijn grondslagen',
    ),
}
_UNKNOWN_KIND = {
    "requester": Text("an organisation type", "een soort organisatie"),
    "holder": Text("an organisation type", "een soort organisatie"),
    "purpose": Text("a purpose", "een doel"),
    "basis": Text("a legal basis in use", "een gebruikte grondslag"),
}


def _what(s: Subject) -> Text:
    return Text(
        f'"{s.requester}" to discover "{s.holder}" for purpose "{s.purpose}" '
        f'on legal basis "{s.basis}"',
        f'"{s.requester}" de betrokkenheid van "{s.holder}" ziet, voor doel "{s.purpose}" '
        f'op grondslag "{s.basis}"',
    )


def _ids(rules: Sequence[Rule]) -> str:
    return ", ".join(f'"{r.id}" ({r.source})' for r in rules)


def allowed(
    s: Subject, rules: Sequence[Rule], obligations: Sequence[str], registration: bool
) -> Text:
    """Why an allow rule lets this request through, and what it discloses."""
    rule = rules[0]
    what, reveal, contact = _what(s), _REVEAL[rule.reveal], _CONTACT[rule.contact]
    en = f"rule {_ids(rules)} allows {what.en}: the match reveals {reveal.en}; contact {contact.en}"
    nl = (
        f"regel {_ids(rules)} staat toe dat {what.nl}: de match toont {reveal.nl}; "
        f"contact {contact.nl}"
    )
    if rule.link_fields and rule.link_direction:
        ordered = [f for f in _FIELD_ORDER if f in rule.link_fields]
        direction = _DIRECTION[rule.link_direction]
        en += f"; a contact link shows {', '.join(ordered)} ({direction.en})"
        nl += f"; een contactlink toont {', '.join(_FIELD_NL[f] for f in ordered)} ({direction.nl})"
    if obligations:
        en += f"; obligations: {', '.join(obligations)}"
        nl += f"; verplichtingen: {', '.join(obligations)}"
    if registration:
        en += "; the requester must register its own involvement at the same time (reciprocity)"
        nl += "; de aanvrager moet tegelijk de eigen betrokkenheid registreren (wederkerigheid)"
    return Text(f"{en}. Legal ground: {rule.ground}.", f"{nl}. Wettelijke grond: {rule.ground}.")


def forbidden(s: Subject, rules: Sequence[Rule]) -> Text:
    """Why a forbid rule stops this request."""
    what, word = _what(s), ("rules" if len(rules) > 1 else "rule")
    word_nl = "regels" if len(rules) > 1 else "regel"
    verb, verb_nl = ("forbid", "verbieden") if len(rules) > 1 else ("forbids", "verbiedt")
    return Text(
        f"{word} {_ids(rules)} {verb} {what.en}; a forbid beats every allow. "
        f"Legal ground: {rules[0].ground}.",
        f"{word_nl} {_ids(rules)} {verb_nl} dat {what.nl}; een verbod gaat voor elke toestemming. "
        f"Wettelijke grond: {rules[0].ground}.",
    )


def default_denied(s: Subject, closest: Rule | None, failed: Sequence[Axis]) -> Text:
    """Why nothing allows this request, naming the closest rule and what it lacks."""
    what = _what(s)
    en = f"no rule allows {what.en}, so it is denied (default deny)"
    nl = f"geen regel staat toe dat {what.nl}, dus dit wordt geweigerd (standaard weigeren)"
    if closest is None:
        return Text(en + ".", nl + ".")
    values = {"requester": s.requester, "holder": s.holder, "purpose": s.purpose, "basis": s.basis}
    reasons = [(_FAILED[a].en.format(values[a]), _FAILED[a].nl.format(values[a])) for a in failed]
    return Text(
        f'{en}; the closest rule "{closest.id}" ({closest.source}) would apply but '
        + " and ".join(r[0] for r in reasons)
        + ".",
        f'{nl}; de dichtstbijzijnde regel "{closest.id}" ({closest.source}) zou gelden, maar '
        + " en ".join(r[1] for r in reasons)
        + ".",
    )


def basis_not_accepted(s: Subject, accepted: Sequence[str]) -> Text:
    """Why a basis that the purpose does not accept is refused before any rule is consulted."""
    listed = ", ".join(accepted) or "none"
    return Text(
        f'legal basis "{s.basis}" is not accepted for purpose "{s.purpose}" '
        f"(accepted: {listed}), so it is denied.",
        f'grondslag "{s.basis}" is niet toegestaan voor doel "{s.purpose}" '
        f"(toegestaan: {listed}), dus dit wordt geweigerd.",
    )


def unknown_code(axis: Axis, code: str) -> Text:
    """Why a request naming a code this policy does not declare is refused."""
    kind = _UNKNOWN_KIND[axis]
    return Text(
        f'"{code}" is not {kind.en} in this policy, so it is denied.',
        f'"{code}" is geen {kind.nl.removeprefix("een ")} in dit beleid, dus dit wordt geweigerd.',
    )


def unknown_obligation(rules: Sequence[Rule], obligation: str) -> Text:
    """Why a rule carrying an obligation the broker cannot carry out denies instead of allowing."""
    return Text(
        f'rule {_ids(rules)} would allow this, but it carries obligation "{obligation}" that the '
        "broker cannot carry out, so it is denied.",
        f'regel {_ids(rules)} zou dit toestaan, maar bevat verplichting "{obligation}" die de '
        "broker niet kan uitvoeren, dus dit wordt geweigerd.",
    )
