"""Every obligation the policy language knows is carried out by code and proven by a test.

Walks the table of obligations (broker.policy.obligations), which is the schema's vocabulary: an
obligation without an executor, with an executor that does not resolve to a function, or that no
test exercises by name fails here, so a policy word the code cannot carry out cannot be added
without this suite noticing.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

from broker.policy import load_policy
from broker.policy.errors import PolicyLoadError
from broker.policy.model import KNOWN_OBLIGATIONS
from broker.policy.obligations import OBLIGATIONS, STAGES, applies_at
from broker.policy.schema import RuleSchema
from tests.policy.conftest import WritePolicy

TESTS = Path(__file__).resolve().parents[1]


def test_the_schema_knows_exactly_the_obligations_of_the_table() -> None:
    assert tuple(OBLIGATIONS) == KNOWN_OBLIGATIONS
    field = RuleSchema().fields["obligations"]
    assert tuple(field.options) == KNOWN_OBLIGATIONS  # type: ignore[attr-defined]


@pytest.mark.parametrize("code", KNOWN_OBLIGATIONS)
def test_every_obligation_has_an_executor_at_each_of_its_stages(code: str) -> None:
    obligation = OBLIGATIONS[code]
    assert obligation.executors, f"{code} names no executor"
    for stage, path in obligation.executors.items():
        assert stage in STAGES
        assert applies_at(code, stage)
        module_name, _, name = path.partition(":")
        executor = getattr(importlib.import_module(module_name), name, None)
        assert inspect.isfunction(executor), f"{code} at {stage}: {path} is not a function"
    for stage in STAGES:
        assert applies_at(code, stage) == (stage in obligation.executors)


def _test_names() -> set[str]:
    names: set[str] = set()
    for path in TESTS.rglob("test_*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names |= {node.name for node in ast.walk(tree)
                  if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}
    return names


@pytest.mark.parametrize("code", KNOWN_OBLIGATIONS)
def test_every_obligation_is_exercised_by_a_test_named_after_it(code: str) -> None:
    assert any(code in name for name in _test_names()), (
        f"no test function names {code!r}: write one that shows it is carried out")


def test_an_unknown_obligation_does_not_load(write_policy: WritePolicy) -> None:
    rules = """\
    rules:
      - id: anyone-finds-wijkteam
        ground: test
        effect: allow
        requester: any
        holder: wijkteam
        purpose: any
        basis: any
        reveal: organisation
        contact: direct
        link_fields: [name]
        obligations: [inform_parents]
    """
    with pytest.raises(PolicyLoadError) as refused:
        load_policy(write_policy(rules))
    assert 'unknown obligation "inform_parents"' in str(refused.value)
