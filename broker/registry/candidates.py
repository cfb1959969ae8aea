"""Who shares a key with a look-up, and whether the asker is registered on each match's household.

Rules this module guarantees:

- One statement, driven by the matching-key index, finds every active involvement sharing a key
  with the question, the asker's own among them. The asker's own are never candidates.
- Reciprocity is judged per household, never over the whole question: a candidate counts as
  *reciprocal* only when the asker's organisation holds an active involvement that shares a
  matching key with the candidate's involvement (issue 10: an organisation registered on one
  identifier could otherwise add it to a question about another household and unlock that
  household's holders).
- Whether a candidate is reciprocal is answered by the same statement: a variant with one
  correlated ``EXISTS`` (an index probe per key of the candidate's involvement) is used when
  the policy makes reciprocity apply to the asker, so a look-up costs no extra statement, and
  the extra work only where reciprocity applies. Which variant runs depends on the policy, never
  on what matched; within a variant the work is the same for every candidate, whatever the
  policy will disclose.
- Keys are compared as stored. During a key rotation the asker's and a holder's rows may sit at
  different epochs: a key of the question that both hold still counts (the question is searched
  at every live epoch), but a shared key outside the question counts only once both rows are
  re-keyed, so until the rotation finishes such a match is withheld (fail closed).
- ``covered``: the asker's organisation holds an active involvement on every identifier of the
  question; ``registered``: on at least one. Both are read from the asker's own rows only, so
  they tell nothing about anyone else.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from broker_primitives.identifiers import Category
from sqlalchemy import (
    ColumnElement,
    Connection,
    Dialect,
    LargeBinary,
    bindparam,
    exists,
    literal,
    literal_column,
    select,
    true,
)
from sqlalchemy.orm import aliased

from broker.db import Prepared
from broker.pseudonyms.matching import StoredKey
from broker.registry.models import INVOLVEMENT_ACTIVE, Involvement, MatchingKey, Organisation

_COLUMNS = (
    Involvement.id, MatchingKey.value, MatchingKey.category, Involvement.public_id,
    Involvement.organisation_id, Involvement.professional_id, Involvement.purpose,
    Organisation.org_type, Organisation.name,
)
_FROM_THE_KEY_INDEX = (
    MatchingKey.value.in_(bindparam("values", expanding=True)),
    Involvement.state == INVOLVEMENT_ACTIVE,
    Involvement.ends_on >= bindparam("today"),
)


def _statement(*extra: ColumnElement[Any]) -> Prepared:
    """SQLite's form: its planner starts from the index of the ``IN`` list."""
    return Prepared(
        select(*_COLUMNS, *extra)
        .join(Involvement, Involvement.id == MatchingKey.involvement_id)
        .join(Organisation, Organisation.id == Involvement.organisation_id)
        .where(*_FROM_THE_KEY_INDEX),
        expanding=["values"],
    )


def _shares_a_key_with_the_asker() -> ColumnElement[bool]:
    """EXISTS: an active involvement of the asker's organisation holds one of the row's
    involvement's keys (probes: the involvement's keys by ``involvement_id``, then each key's
    holders by ``value``)."""
    theirs, mine, own = aliased(MatchingKey), aliased(MatchingKey), aliased(Involvement)
    return exists().where(
        theirs.involvement_id == Involvement.id,
        mine.value == theirs.value,
        own.id == mine.involvement_id,
        # "+ 0" keeps the planner off the organisation index: started from there, the probe
        # would read every involvement of the asker's organisation (10⁵ for a large one) for
        # each match, instead of the match's few keys.
        own.organisation_id + 0 == bindparam("asker"),
        own.state == INVOLVEMENT_ACTIVE,
        own.ends_on >= bindparam("today"),
    ).label("reciprocal")


# PostgreSQL's form. Its planner chooses by statistics, and right after a bulk load it has none
# (or stale ones): it then estimated "active, not ended" involvements at one row and scanned
# them all, probing the keys of each (19-26 ms at 10⁴ keys). Here the plan has no choice: the
# question's keys come from the matching-key index, and each key's involvement (and, for
# reciprocity, each involvement the asker holds) is a LATERAL subquery fenced by OFFSET 0 —
# evaluated per row, so reachable only through its primary key.
_NO_PULL_UP: ColumnElement[int] = literal_column("0")


def _holder() -> Any:
    """The involvement (and its organisation) of the outer matching key, if active."""
    return (select(Involvement.id, Involvement.public_id, Involvement.organisation_id,
                   Involvement.professional_id, Involvement.purpose, Organisation.org_type,
                   Organisation.name)
            .join(Organisation, Organisation.id == Involvement.organisation_id)
            .where(Involvement.id == MatchingKey.involvement_id,
                   Involvement.state == INVOLVEMENT_ACTIVE,
                   Involvement.ends_on >= bindparam("today"))
            .offset(_NO_PULL_UP).lateral("holder"))


def _shares_a_key_with_the_asker_fenced(holder: Any) -> ColumnElement[bool]:
    """:func:`_shares_a_key_with_the_asker` as a chain the planner cannot reorder: the match's
    keys (``involvement_id`` with a range on ``value``: the unique index's two columns), each
    key's holders by ``value``, their involvement by primary key."""
    theirs, mine, own = aliased(MatchingKey), aliased(MatchingKey), aliased(Involvement)
    keys = (select(theirs.value)
            .where(theirs.involvement_id == holder.c.id, theirs.value >= literal(b"", LargeBinary))
            .correlate(holder).offset(_NO_PULL_UP).lateral("theirs"))
    holders = (select(mine.involvement_id)
               .where(mine.value == keys.c.value)
               .offset(_NO_PULL_UP).lateral("mine"))
    asker = (select(own.id)
             .where(own.id == holders.c.involvement_id,
                    own.organisation_id + 0 == bindparam("asker"),
                    own.state == INVOLVEMENT_ACTIVE,
                    own.ends_on >= bindparam("today"))
             .offset(_NO_PULL_UP).lateral("own"))
    return (select(literal_column("1")).select_from(keys).join(holders, true())
            .join(asker, true()).correlate(holder).exists().label("reciprocal"))


def _statement_fenced(reciprocity: bool) -> Prepared:
    holder = _holder()
    extra = (_shares_a_key_with_the_asker_fenced(holder),) if reciprocity else ()
    return Prepared(
        select(holder.c.id, MatchingKey.value, MatchingKey.category, holder.c.public_id,
               holder.c.organisation_id, holder.c.professional_id, holder.c.purpose,
               holder.c.org_type, holder.c.name, *extra)
        .select_from(MatchingKey)
        .join(holder, true())
        .where(MatchingKey.value.in_(bindparam("values", expanding=True))),
        expanding=["values"],
    )


class PerDialect:
    """One statement per database dialect (each planner gets the form it cannot misplan)."""

    def __init__(self, **statements: Prepared) -> None:
        self.statements = statements

    def on(self, dialect: Dialect) -> Prepared:
        """The statement for ``dialect``."""
        return self.statements[dialect.name]

    def all(self, connection: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run it on ``connection``: every row."""
        return self.on(connection.dialect).all(connection, params)


# Built once (see Prepared): every look-up runs one of these.
MATCHES = PerDialect(sqlite=_statement(), postgresql=_statement_fenced(False))
MATCHES_WITH_RECIPROCITY = PerDialect(sqlite=_statement(_shares_a_key_with_the_asker()),
                                      postgresql=_statement_fenced(True))


@dataclass(frozen=True)
class Candidate:
    """Another organisation's active involvement sharing a key with the question."""

    involvement_id: str  # the public id
    matched_on: tuple[Category, ...]
    org_type: str
    organisation: str
    organisation_id: int
    professional_id: int
    purpose: str
    reciprocal: bool


@dataclass(frozen=True)
class Found:
    """What the statement found: the candidates, and whether the asker's organisation is
    registered on every identifier of the question."""

    candidates: list[Candidate]
    covered: bool
    registered: bool  # on at least one identifier of the question (same-day fishing counts)


@dataclass
class _Row:
    organisation_id: int
    professional_id: int
    public_id: str
    purpose: str
    org_type: str
    name: str
    categories: set[Category]
    groups: set[int]
    reciprocal: bool


def find_candidates(connection: Connection, variants: Sequence[Sequence[StoredKey]],
                    asker_organisation_id: int, today: date, reciprocity: bool) -> Found:
    """Other organisations' active involvements sharing a key with the question.

    ``variants`` holds, per identifier of the question, every stored form it can have now
    (:meth:`~broker.pseudonyms.matching.MatchingKeys.search_values`). With ``reciprocity``
    each candidate says whether the asker's organisation shares a key with it; without, none
    is reciprocal (the caller does not ask).
    """
    group_of: dict[bytes, set[int]] = defaultdict(set)
    for group, forms in enumerate(variants):
        for form in forms:
            group_of[form.value].add(group)
    params = {"values": list(group_of), "today": today}
    if reciprocity:
        params["asker"] = asker_organisation_id
    statement = MATCHES_WITH_RECIPROCITY if reciprocity else MATCHES
    own_groups: set[int] = set()
    found: dict[int, _Row] = {}
    for row in statement.all(connection, params):
        involvement_id, value, category, public_id, organisation_id, professional_id, \
            purpose, org_type, name = row[:9]
        groups = group_of[bytes(value)]
        if organisation_id == asker_organisation_id:
            own_groups |= groups  # never a candidate: the asker's own organisation
            continue
        entry = found.setdefault(involvement_id, _Row(
            organisation_id, professional_id, public_id, purpose, org_type, name, set(), set(),
            False))
        entry.categories.add(cast(Category, category))
        entry.groups |= groups
        entry.reciprocal = entry.reciprocal or bool(row[9:] and row[9])
    candidates = [
        Candidate(e.public_id, tuple(sorted(e.categories, reverse=True)), e.org_type, e.name,
                  e.organisation_id, e.professional_id, e.purpose,
                  # A key of the question the asker holds too: shared at any epoch.
                  reciprocity and (e.reciprocal or bool(e.groups & own_groups)))
        for _, e in sorted(found.items())
    ]
    return Found(candidates, own_groups >= set(range(len(variants))), bool(own_groups))
