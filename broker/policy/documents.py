"""The policy's YAML documents, and their problems located at ``file:line:column``: reading the
files, and validating one node with a schema so that every marshmallow error path becomes a
position in the YAML (an unknown key with its closest known one)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from marshmallow import Schema, ValidationError

from broker.policy.errors import PolicyProblem
from broker.policy.schema_fields import (
    did_you_mean,
)
from broker.policy.yamlpos import LocatedDocument, NodePath, parse_located

_UNKNOWN = "Unknown field."


_REQUIRED = "Missing data for required field."


def read_documents(files: Sequence[Path]) -> tuple[list[LocatedDocument], list[PolicyProblem]]:
    """Parse each file, keeping positions; unreadable files become problems."""
    docs: list[LocatedDocument] = []
    problems: list[PolicyProblem] = []
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(PolicyProblem(str(file), 1, 1, f"cannot read the file: {exc}"))
            continue
        doc, found = parse_located(text, str(file))
        problems.extend(found)
        if doc is not None:
            docs.append(doc)
    return docs, problems


def problems_from_errors(
    doc: LocatedDocument, base: NodePath, messages: Any, schema: Schema
) -> list[PolicyProblem]:
    """Turn marshmallow's nested error messages for the node at ``base`` into located problems."""
    found: list[PolicyProblem] = []

    def walk(node_path: NodePath, msgs: Any) -> None:
        if isinstance(msgs, dict):
            for key, sub in msgs.items():
                walk((*node_path, key), sub)
            return
        for msg in msgs if isinstance(msgs, list) else [msgs]:
            if isinstance(msg, (dict, list)):
                walk(node_path, msg)
                continue
            key = node_path[-1] if len(node_path) > len(base) else None
            if key == "_schema":
                found.append(doc.problem(node_path[:-1], str(msg), at_key=True))
            elif msg == _UNKNOWN and len(node_path) == len(base) + 1:
                hint = did_you_mean(key, schema.fields) or "; keys here: " + ", ".join(
                    schema.fields
                )
                found.append(doc.problem(node_path, f'unknown key "{key}"{hint}', at_key=True))
            elif msg == _REQUIRED:
                found.append(doc.problem(node_path[:-1], f'missing key "{key}"', at_key=True))
            else:
                found.append(doc.problem(node_path, str(msg)))

    walk(base, messages)
    return found


def validate(
    doc: LocatedDocument, base: NodePath, data: Any, schema: Schema
) -> tuple[dict[str, Any] | None, list[PolicyProblem]]:
    """Load ``data`` (the node at ``base``) with ``schema``; the result or the problems."""
    if not isinstance(data, dict):
        return None, [doc.problem(base, "expected a mapping of 'key: value' lines here")]
    try:
        return schema.load(data), []
    except ValidationError as exc:
        return None, problems_from_errors(doc, base, exc.messages, schema)
