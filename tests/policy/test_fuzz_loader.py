"""Fuzzing the policy loader (hypothesis): any file either loads or is refused with a
:class:`PolicyLoadError` — never another exception, never a crash of the broker's reload.

Inputs: arbitrary text, arbitrary YAML structures built from the policy's own vocabulary, and
the shipped policy and the open test policy with a few characters inserted, deleted or replaced.
Example counts are bounded (a load of the shipped policy takes a fifth of a second).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.policy.engine import Policy
from broker.policy.errors import PolicyLoadError
from broker.policy.loader import load_policy
from tests.conftest import OPEN_POLICY, SHIPPED_POLICY

FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                       HealthCheck.function_scoped_fixture])
VOCABULARY = ["policy", "name", "reciprocity", "organisation_types", "legal_bases", "statutes",
              "purposes", "rules", "retention", "quotas", "subject_access", "misuse", "sign_in",
              "id", "effect", "allow", "deny", "requester", "holder", "purpose", "basis", "any",
              "reveal", "contact", "direct", "approval", "link_fields", "accepted_bases",
              "obligations", "nl", "en", "school", "wijkteam", "consent", "legal_task",
              "vital_interest", "protection", "ground", "min_justification_length", "when"]
_scalars = (st.none() | st.booleans() | st.integers() | st.floats()
            | st.sampled_from(VOCABULARY) | st.text(max_size=20))
_structures = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=5)
    | st.dictionaries(st.sampled_from(VOCABULARY) | st.text(max_size=8), inner, max_size=6),
    max_leaves=40)
_edit_text = st.text(alphabet=st.characters() | st.sampled_from(
    [":", "-", " ", "\n", "\t", "{", "}", "[", "]", "&", "*", "!", "|", ">", "'", '"', "#", "%",
     "\x00", "\ufeff", "?"]), max_size=4)


def loads_or_refuses(path: Path) -> None:
    """The one promise: a Policy, or a PolicyLoadError (with at least one problem)."""
    try:
        policy = load_policy(path)
    except PolicyLoadError as error:
        assert error.problems
        return
    assert isinstance(policy, Policy)


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A scratch directory reused by the examples of one test."""
    with tempfile.TemporaryDirectory() as directory:
        yield Path(directory)


@settings(FUZZ, max_examples=150)
@given(text=st.text(max_size=300) | st.binary(max_size=300).map(
    lambda raw: raw.decode("latin-1")))
def test_arbitrary_text_loads_or_is_refused(workdir: Path, text: str) -> None:
    path = workdir / "policy.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    loads_or_refuses(path)


@settings(FUZZ, max_examples=150)
@given(document=st.dictionaries(st.sampled_from(VOCABULARY), _structures, max_size=8))
def test_arbitrary_structures_load_or_are_refused(workdir: Path,
                                                   document: dict[str, Any]) -> None:
    path = workdir / "policy.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    loads_or_refuses(path)


def _edited(text: str, edits: list[tuple[int, int, str]]) -> str:
    for position, cut, insert in edits:
        at = position % (len(text) + 1)
        text = text[:at] + insert + text[at + cut:]
    return text


_edits = st.lists(st.tuples(st.integers(0, 20_000), st.integers(0, 6), _edit_text),
                  min_size=1, max_size=3)


@settings(FUZZ, max_examples=150)
@given(edits=_edits)
def test_the_open_policy_edited_loads_or_is_refused(workdir: Path,
                                                     edits: list[tuple[int, int, str]]) -> None:
    path = workdir / "policy.yaml"
    path.write_text(_edited(OPEN_POLICY.read_text(), edits), encoding="utf-8",
                    errors="surrogatepass")
    loads_or_refuses(path)


@settings(FUZZ, max_examples=40)
@given(file=st.sampled_from(sorted(p.name for p in SHIPPED_POLICY.glob("*.yaml"))),
       edits=_edits)
def test_the_shipped_policy_edited_loads_or_is_refused(workdir: Path, file: str,
                                                        edits: list[tuple[int, int, str]]) -> None:
    directory = workdir / "policies"
    if not directory.exists():
        shutil.copytree(SHIPPED_POLICY, directory,
                        ignore=shutil.ignore_patterns("tests", "*.md"))
    original = (SHIPPED_POLICY / file).read_text()
    try:
        (directory / file).write_text(_edited(original, edits), encoding="utf-8",
                                      errors="surrogatepass")
        loads_or_refuses(directory)
    finally:
        (directory / file).write_text(original)


def test_a_character_yaml_forbids_is_a_problem_at_its_position(workdir: Path) -> None:
    """Found by the fuzzer: PyYAML's ReaderError escaped the loader."""
    path = workdir / "policy.yaml"
    path.write_text("policy:\n  name: a\x08b\n")
    with pytest.raises(PolicyLoadError) as caught:
        load_policy(path)
    problem = caught.value.problems[0]
    assert (problem.line, problem.column) == (2, 10)
    assert "U+0008" in problem.message
