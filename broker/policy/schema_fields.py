"""The building blocks of the policy's schemas: field types whose messages a privacy officer can
act on (a word not known, with "did you mean"), the policy's own :class:`Vocabulary` the codes are
checked against, and the base :class:`PolicySchema` that refuses unknown keys.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields

CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
RULE_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
ANY = "any"
# Keys a forbid rule must not carry: they describe what an allow rule discloses.
ALLOW_ONLY_KEYS = (
    "reveal",
    "contact",
    "link_fields",
    "link_direction",
    "obligations",
    "reciprocity",
)
# NEN 7513 asks that access logs be kept at least five years.
MIN_AUDIT_YEARS = 5


def did_you_mean(word: object, choices: Iterable[str]) -> str:
    """`` (did you mean "x"?)`` for the closest of ``choices``, or an empty string."""
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if not close:
        close = difflib.get_close_matches(word.lower().replace("-", "_"), list(choices), n=1)
    return f' (did you mean "{close[0]}"?)' if close else ""


def unknown_message(kind: str, word: object, choices: Sequence[str]) -> str:
    """``unknown <kind> "word" (did you mean ...?)``, listing the choices when they are few."""
    hint = did_you_mean(word, choices)
    if not hint and len(choices) <= 8:
        hint = "; choose from: " + ", ".join(choices)
    return f'unknown {kind} "{word}"{hint}'


@dataclass(frozen=True)
class Vocabulary:
    """The codes a policy declares, which rules, quotas and tests may refer to."""

    org_types: tuple[str, ...] = ()
    purposes: tuple[str, ...] = ()
    bases: tuple[str, ...] = ()
    accepted_bases: Mapping[str, frozenset[str]] | None = None
    statutes: tuple[str, ...] = ()

    def choices(self, kind: str) -> tuple[str, ...]:
        """The codes for ``kind``: "organisation type", "purpose", "legal basis" or "statute"."""
        by_kind = {
            "organisation type": self.org_types,
            "purpose": self.purposes,
            "legal basis": self.bases,
            "statute": self.statutes,
        }
        return by_kind[kind]


class PolicySchema(Schema):
    """Base schema: unknown keys raise; the vocabulary is available to the fields."""

    class Meta:
        unknown = RAISE

    def __init__(self, vocabulary: Vocabulary | None = None, **kwargs: Any):
        self.vocabulary = vocabulary or Vocabulary()
        super().__init__(**kwargs)


def _vocabulary(field: fields.Field[Any]) -> Vocabulary:
    root = field.root
    return root.vocabulary if isinstance(root, PolicySchema) else Vocabulary()


class Text(fields.Field[str]):
    """Non-empty text (surrounding whitespace removed)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise ValidationError(f"expected text, got {_describe(value)}")
        if not value.strip():
            raise ValidationError("must not be empty")
        return value.strip()


class Flag(fields.Field[bool]):
    """``true`` or ``false``, nothing else."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError(f"expected true or false, got {_describe(value)}")
        return value


class Count(fields.Field[int]):
    """A whole number of at least ``minimum``."""

    def __init__(self, minimum: int = 1, **kwargs: Any):
        super().__init__(**kwargs)
        self.minimum = minimum

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(f"expected a whole number, got {_describe(value)}")
        if value < self.minimum:
            raise ValidationError(f"must be at least {self.minimum}")
        return value


class Choice(fields.Field[str]):
    """One word from a fixed list (or, without ``choices``, from the policy's vocabulary)."""

    def __init__(self, kind: str, choices: Sequence[str] | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.kind, self.options = kind, choices

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        options = self.options or _vocabulary(self).choices(self.kind)
        if value not in options:
            raise ValidationError(unknown_message(self.kind, value, options))
        return str(value)


class CodeList(fields.Field[tuple[str, ...]]):
    """A list of words from a fixed list (or from the policy's vocabulary), each at most once."""

    def __init__(
        self,
        kind: str,
        choices: Sequence[str] | None = None,
        *,
        non_empty: bool = False,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.kind, self.options, self.non_empty = kind, choices, non_empty

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> tuple[str, ...]:
        options = self.options or _vocabulary(self).choices(self.kind)
        example = f"[{options[0]}]" if options else "[...]"
        if not isinstance(value, list):
            raise ValidationError(f"expected a list of {self.kind} codes, e.g. {example}")
        if self.non_empty and not value:
            raise ValidationError(f"list at least one {self.kind}, e.g. {example}")
        return _check_items(value, self.kind, options)


class Axis(fields.Field[frozenset[str] | None]):
    """One of Mitz's axes in a rule: ``any``, one code, or a list of codes (``None`` = any)."""

    def __init__(self, kind: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.kind = kind

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> frozenset[str] | None:
        options = _vocabulary(self).choices(self.kind)
        if value == ANY:
            return None
        if isinstance(value, str):
            if value not in options:
                raise ValidationError(unknown_message(self.kind, value, options))
            return frozenset([value])
        if not isinstance(value, list) or not value:
            raise ValidationError(f'expected "any", one {self.kind} code or a list of them')
        if ANY in value:
            raise ValidationError(f'write "{ANY}" on its own, not inside a list')
        return frozenset(_check_items(value, self.kind, options))


def _check_items(value: list[Any], kind: str, options: Sequence[str]) -> tuple[str, ...]:
    errors: dict[int, list[str]] = {}
    seen: set[str] = set()
    for index, item in enumerate(value):
        if item not in options:
            errors[index] = [unknown_message(kind, item, options)]
        elif item in seen:
            errors[index] = [f'{kind} "{item}" is listed twice']
        else:
            seen.add(item)
    if errors:
        raise ValidationError(errors)  # per-index messages
    return tuple(value)


def _describe(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f'"{value}"'
