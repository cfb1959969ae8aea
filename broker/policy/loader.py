"""Loading a policy from YAML files: every mistake reported, each at ``file:line:column``.

``load_policy(path)`` reads one file, or every ``*.yaml`` / ``*.yml`` file directly in a directory
(sorted by name; sub-directories such as ``tests/`` are not read), merges them and compiles the
result. Merging: ``organisation_types``, ``purposes`` and ``legal_bases`` are combined (a code
defined twice is an error), ``rules`` are concatenated in file order (a rule id used twice is an
error), and ``policy``, ``retention``, ``quotas``, ``subject_access``, ``misuse`` and
``sign_in`` may each be written in one file only. ``statutes`` are combined like the other codes.

Guarantees:
- default deny: a policy without organisation types, purposes, legal bases or at least one allow
  rule is rejected, never loaded;
- all problems of one run are reported together in :class:`PolicyLoadError`; a broken section does
  not hide problems in the others, and a broken entry does not cascade into "unknown code" errors
  elsewhere (its code still counts as declared);
- two rules that both apply to the same request with different outcomes, where neither is
  narrower than the other, are rejected with both positions (see :mod:`broker.policy.engine`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from broker.policy.documents import read_documents
from broker.policy.engine import Policy
from broker.policy.errors import PolicyLoadError, PolicyProblem
from broker.policy.model import (
    KNOWN_BASES,
    PolicySpec,
)
from broker.policy.schema_fields import (
    Vocabulary,
)
from broker.policy.scopes import find_conflicts
from broker.policy.sections import SectionReader


def load_policy(path: Path) -> Policy:
    """Load, validate and compile the policy at ``path`` (a directory or one YAML file).

    Raises :class:`PolicyLoadError` listing every problem found.
    """
    return Policy(read_spec(policy_files(path)))


def policy_files(path: Path) -> list[Path]:
    """The YAML files that make up the policy at ``path``; raises if there are none."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise PolicyLoadError([PolicyProblem(str(path), 1, 1, "no such file or directory")])
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml"))
    if not files:
        raise PolicyLoadError([PolicyProblem(str(path), 1, 1, "no policy files (*.yaml) here")])
    return files


def read_spec(files: Sequence[Path]) -> PolicySpec:
    """Parse, validate and merge ``files`` into one :class:`PolicySpec`.

    Raises :class:`PolicyLoadError` with every problem found, including conflicting rules.
    """
    docs, problems = read_documents(files)
    reader = SectionReader(docs)
    reader.problems.extend(problems)
    reader.check_files()
    name, reciprocity = reader.settings()
    org_types, type_codes = reader.entries("organisation_types", reader.build_org_type)
    bases, basis_codes = reader.entries(
        "legal_bases", reader.build_basis, ("legal basis", KNOWN_BASES)
    )
    statutes, statute_codes = reader.entries("statutes", reader.build_statute)
    vocab = Vocabulary(org_types=tuple(type_codes), bases=tuple(basis_codes),
                       statutes=tuple(statute_codes))
    purposes, purpose_codes = reader.entries("purposes", reader.purpose_builder(vocab))
    accepted = {code: frozenset(p.accepted_bases) for code, p in purposes.items()}
    for code in purpose_codes:
        accepted.setdefault(code, frozenset(basis_codes))  # broken entry: do not cascade
    vocab = Vocabulary(tuple(type_codes), tuple(purpose_codes), tuple(basis_codes), accepted,
                       tuple(statute_codes))
    rules = reader.rules(vocab)
    for section, built, hint in (
        ("organisation_types", type_codes, "with one code: entry per type"),
        ("legal_bases", basis_codes, "with consent, legal_task and/or vital_interest"),
        ("purposes", purpose_codes, "with one code: entry per purpose"),
    ):
        if not built:
            reader.missing(section, hint)
    written = sum(len(data) for _, data in reader.sections("rules") if isinstance(data, list))
    if docs and written == len(rules) and not any(r.effect == "allow" for r in rules):
        reader.missing("rules", "with at least one allow rule (the policy denies by default)")
    spec = PolicySpec(
        name=name,
        reciprocity=reciprocity,
        org_types=org_types,
        purposes=purposes,
        bases=bases,
        rules=tuple(rules),
        retention=reader.retention(),
        quotas=reader.quotas(type_codes),
        files=tuple(str(f) for f in files),
        statutes=statutes,
        subject_access=reader.subject_access(type_codes),
        misuse=reader.misuse(),
        sign_in=reader.sign_in(vocab),
    )
    complete = (
        len(statutes) == len(statute_codes)
        and len(org_types) == len(type_codes)
        and len(purposes) == len(purpose_codes)
        and len(bases) == len(basis_codes)
    )
    if complete and rules:
        reader.problems.extend(find_conflicts(spec))
    if reader.problems:
        raise PolicyLoadError(reader.problems)
    return spec
