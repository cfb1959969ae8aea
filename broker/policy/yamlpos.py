"""Reading YAML while keeping the line and column of every node.

PyYAML's composer gives a node tree in which every mapping, sequence and scalar carries a
``start_mark``. :func:`parse_located` turns that tree into plain Python values and two position
maps (one for values, one for mapping keys), both keyed by the *path* to the node, e.g.
``("rules", 3, "purpose", 1)``. Marshmallow reports errors by the same paths, so every error can
be pinned to ``file:line:column``.

Guarantees:
- a syntax error is a :class:`PolicyProblem` at the position PyYAML reports, never a traceback;
- a key that appears twice in one mapping is a problem (PyYAML silently keeps the last one);
- mapping keys are always text exactly as written (``no:`` stays the string ``"no"``);
- aliases and merge keys (``*name``, ``<<``) are refused: policy files are read by people, and an
  alias both hides content and can blow up in size;
- positions are 1-based, as editors show them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from broker.policy.errors import PolicyProblem

NodePath = tuple[str | int, ...]


@dataclass(frozen=True)
class Position:
    """A 1-based line and column."""

    line: int
    column: int


@dataclass
class LocatedDocument:
    """The plain data of one YAML file and where each part of it was written."""

    path: str
    data: Any
    values: dict[NodePath, Position] = field(default_factory=dict)
    keys: dict[NodePath, Position] = field(default_factory=dict)

    def value_position(self, node_path: NodePath) -> Position:
        """Where the value at ``node_path`` starts; the nearest written ancestor if it is absent."""
        for prefix in _prefixes(node_path):
            if prefix in self.values:
                return self.values[prefix]
        return Position(1, 1)

    def key_position(self, node_path: NodePath) -> Position:
        """Where the key naming ``node_path`` is written (falls back to the value's position)."""
        if node_path in self.keys:
            return self.keys[node_path]
        return self.value_position(node_path)

    def problem(self, node_path: NodePath, message: str, *, at_key: bool = False) -> PolicyProblem:
        """A problem located at the value (or, with ``at_key``, the key) of ``node_path``."""
        pos = self.key_position(node_path) if at_key else self.value_position(node_path)
        return PolicyProblem(self.path, pos.line, pos.column, message)


def _prefixes(node_path: NodePath) -> Iterator[NodePath]:
    for end in range(len(node_path), -1, -1):
        yield node_path[:end]


def _position(mark: yaml.Mark) -> Position:
    return Position(mark.line + 1, mark.column + 1)


class _Builder:
    """Walks a composed node tree once, building values and recording positions and problems."""

    def __init__(self, loader: yaml.SafeLoader, doc: LocatedDocument):
        self.loader = loader
        self.doc = doc
        self.problems: list[PolicyProblem] = []
        self.seen: set[int] = set()

    def _problem(self, mark: yaml.Mark, message: str) -> None:
        pos = _position(mark)
        self.problems.append(PolicyProblem(self.doc.path, pos.line, pos.column, message))

    def build(self, node: yaml.Node, node_path: NodePath) -> Any:
        if id(node) in self.seen:
            # An alias node is the anchored node itself, so its own mark points at the anchor;
            # the key that uses the alias is the place to show.
            pos = self.doc.key_position(node_path)
            self.problems.append(
                PolicyProblem(
                    self.doc.path,
                    pos.line,
                    pos.column,
                    "aliases (*name) are not supported: write the value out",
                )
            )
            return None
        self.doc.values[node_path] = _position(node.start_mark)
        self.seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, node_path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*node_path, i)) for i, item in enumerate(node.value)]
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self._problem(node.start_mark, f"unreadable value: {getattr(exc, 'problem', exc)}")
            return None

    def _mapping(self, node: yaml.MappingNode, node_path: NodePath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_seen: dict[str, Position] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self._problem(key_node.start_mark, "a key must be a plain word, not a list or map")
                continue
            key = str(key_node.value)
            key_pos = _position(key_node.start_mark)
            if key == "<<":
                self._problem(key_node.start_mark, "merge keys (<<) are not supported")
                continue
            if key in first_seen:
                first = first_seen[key]
                self._problem(
                    key_node.start_mark,
                    f'duplicate key "{key}" (first written at line {first.line}, '
                    f"column {first.column})",
                )
                continue
            first_seen[key] = key_pos
            child = (*node_path, key)
            self.doc.keys[child] = key_pos
            result[key] = self.build(value_node, child)
        return result


def parse_located(text: str, path: str) -> tuple[LocatedDocument | None, list[PolicyProblem]]:
    """Parse one YAML document from ``text``; ``path`` names the file in problems.

    Returns the document (``None`` when the text cannot be parsed at all or is empty) and every
    problem found. A document with problems may still be returned, so that later checks can
    report their own problems in the same run.
    """
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (YAML 1.1 §5.1)
        before = text[: exc.position]
        line, column = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
        return None, [PolicyProblem(
            path, line, column, f"YAML syntax error: the character U+{exc.character:04X} is "
            "not allowed in a YAML file")]
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            pos = _position(mark) if mark is not None else Position(1, 1)
            reason = ", ".join(part for part in (exc.context, exc.problem) if part)
            return None, [
                PolicyProblem(
                    path, pos.line, pos.column, f"YAML syntax error: {reason or 'unreadable'}"
                )
            ]
        if node is None:
            return None, [PolicyProblem(path, 1, 1, "the file is empty")]
        doc = LocatedDocument(path=path, data=None)
        builder = _Builder(loader, doc)
        doc.data = builder.build(node, ())
        return doc, builder.problems
    finally:
        loader.dispose()
