"""broker.errors: what the broker's rules guarantee is checked explicitly, never by ``assert``
(which ``python -O`` removes)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from broker.errors import BrokenInvariant, required

BROKER = Path(__file__).resolve().parent.parent / "broker"


def test_required_returns_what_exists_and_names_what_is_missing() -> None:
    assert required(0, "a count") == 0
    with pytest.raises(BrokenInvariant, match="the holder's organisation is missing"):
        required(None, "the holder's organisation")


def test_no_production_module_asserts() -> None:
    found = [f"{path.relative_to(BROKER.parent)}:{node.lineno}"
             for path in sorted(BROKER.rglob("*.py"))
             for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
             if isinstance(node, ast.Assert)]
    assert found == []
