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

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from marshmallow import Schema, ValidationError

from broker.policy.engine import Policy, find_conflicts
from broker.policy.errors import PolicyLoadError, PolicyProblem
from broker.policy.model import (
    KNOWN_BASES,
    Label,
    LegalBasis,
    Misuse,
    OrgType,
    PolicySpec,
    Purpose,
    Quotas,
    Retention,
    Rule,
    SignIn,
    Source,
    Statute,
    SubjectAccess,
)
from broker.policy.schema import (
    CODE_PATTERN,
    FileSchema,
    LabelSchema,
    LegalBasisSchema,
    MisuseSchema,
    PurposeSchema,
    QuotasSchema,
    RetentionSchema,
    RuleSchema,
    SettingsSchema,
    SignInSchema,
    SubjectAccessSchema,
    Vocabulary,
    did_you_mean,
    unknown_message,
)
from broker.policy.yamlpos import LocatedDocument, NodePath, parse_located

_UNKNOWN = "Unknown field."
_REQUIRED = "Missing data for required field."
_SINGLE_SECTIONS = ("policy", "retention", "quotas", "subject_access", "misuse", "sign_in")
_T = TypeVar("_T")


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


class _Reader:
    """Builds a :class:`PolicySpec` from parsed documents, collecting every problem."""

    def __init__(self, docs: list[LocatedDocument]):
        self.docs = docs
        self.problems: list[PolicyProblem] = []
        self.single: dict[str, tuple[LocatedDocument, Any]] = {}

    def source(self, doc: LocatedDocument, node_path: NodePath) -> Source:
        pos = (
            doc.key_position(node_path) if node_path in doc.keys else doc.value_position(node_path)
        )
        return Source(doc.path, pos.line, pos.column)

    def sections(self, name: str) -> Iterator[tuple[LocatedDocument, Any]]:
        for doc in self.docs:
            if isinstance(doc.data, dict) and name in doc.data:
                yield doc, doc.data[name]

    def check_files(self) -> None:
        for doc in self.docs:
            if not isinstance(doc.data, dict):
                self.problems.append(doc.problem((), "a policy file is a mapping of sections"))
                continue
            _, found = validate(doc, (), doc.data, FileSchema())
            self.problems.extend(found)
        for name in _SINGLE_SECTIONS:
            for doc, data in self.sections(name):
                if name in self.single:
                    first = self.single[name][0]
                    where = self.source(first, (name,))
                    self.problems.append(
                        doc.problem(
                            (name,), f'section "{name}" is already written in {where}', at_key=True
                        )
                    )
                else:
                    self.single[name] = (doc, data)

    def entries(
        self,
        section: str,
        build: Callable[[LocatedDocument, NodePath, str, Any], _T | None],
        fixed: tuple[str, Sequence[str]] | None = None,
    ) -> tuple[dict[str, _T], list[str]]:
        """Validate every ``code: {...}`` entry of ``section`` across files.

        ``fixed`` is ``(kind, codes)`` when only those codes may be defined. Returns the entries
        that validated and every code defined (valid or not, so that a broken entry does not
        cascade into "unknown code" problems elsewhere).
        """
        built: dict[str, _T] = {}
        codes: list[str] = []
        first: dict[str, Source] = {}
        for doc, data in self.sections(section):
            if not isinstance(data, dict):
                continue  # reported by FileSchema
            for code, body in data.items():
                node_path = (section, code)
                if fixed is not None and code not in fixed[1]:
                    msg = unknown_message(fixed[0], code, fixed[1])
                    self.problems.append(doc.problem(node_path, msg, at_key=True))
                    continue
                if not CODE_PATTERN.match(code):
                    msg = f'code "{code}" must use lowercase letters, digits and _ only'
                    self.problems.append(doc.problem(node_path, msg, at_key=True))
                    continue
                if code in first:
                    msg = f'"{code}" is already defined in {first[code]}'
                    self.problems.append(doc.problem(node_path, msg, at_key=True))
                    continue
                first[code] = self.source(doc, node_path)
                codes.append(code)
                item = build(doc, node_path, code, body)
                if item is not None:
                    built[code] = item
        return built, codes

    def checked(self, doc: LocatedDocument, node_path: NodePath, body: Any, schema: Schema) -> Any:
        data, found = validate(doc, node_path, body, schema)
        self.problems.extend(found)
        return data

    def build_org_type(
        self, doc: LocatedDocument, node_path: NodePath, code: str, body: Any
    ) -> OrgType | None:
        data = self.checked(doc, node_path, body, LabelSchema())
        if data is None:
            return None
        return OrgType(code, Label(data["nl"], data["en"]), self.source(doc, node_path))

    def build_statute(
        self, doc: LocatedDocument, node_path: NodePath, code: str, body: Any
    ) -> Statute | None:
        data = self.checked(doc, node_path, body, LabelSchema())
        if data is None:
            return None
        return Statute(code, Label(data["nl"], data["en"]), self.source(doc, node_path))

    def build_basis(
        self, doc: LocatedDocument, node_path: NodePath, code: str, body: Any
    ) -> LegalBasis | None:
        data = self.checked(doc, node_path, body, LegalBasisSchema(code))
        if data is None:
            return None
        label = Label(data["nl"], data["en"])
        length = data.get("min_justification_length")
        return LegalBasis(code, label, length, self.source(doc, node_path))

    def purpose_builder(
        self, vocab: Vocabulary
    ) -> Callable[[LocatedDocument, NodePath, str, Any], Purpose | None]:
        def build(
            doc: LocatedDocument, node_path: NodePath, code: str, body: Any
        ) -> Purpose | None:
            data = self.checked(doc, node_path, body, PurposeSchema(vocab))
            if data is None:
                return None
            label = Label(data["nl"], data["en"])
            return Purpose(code, label, data["accepted_bases"], self.source(doc, node_path),
                           tuple(data.get("statutes", ())))

        return build

    def rules(self, vocab: Vocabulary) -> list[Rule]:
        rules: list[Rule] = []
        first: dict[str, Source] = {}
        for doc, data in self.sections("rules"):
            if not isinstance(data, list):
                continue  # reported by FileSchema
            for index, body in enumerate(data):
                node_path: NodePath = ("rules", index)
                rule_data = self.checked(doc, node_path, body, RuleSchema(vocab))
                rule_id = body.get("id") if isinstance(body, dict) else None
                if isinstance(rule_id, str) and rule_id in first:
                    msg = f'rule id "{rule_id}" is already used in {first[rule_id]}'
                    self.problems.append(doc.problem((*node_path, "id"), msg))
                    continue
                if isinstance(rule_id, str):
                    first[rule_id] = self.source(doc, node_path)
                if rule_data is not None:
                    rules.append(_rule(rule_data, self.source(doc, node_path)))
        return rules

    def settings(self) -> tuple[str, bool]:
        if "policy" not in self.single:
            self.missing("policy", "with name: and reciprocity:")
            return "", True
        doc, body = self.single["policy"]
        data = self.checked(doc, ("policy",), body, SettingsSchema())
        return (data["name"], data["reciprocity"]) if data else ("", True)

    def retention(self) -> Retention:
        if "retention" not in self.single:
            return Retention()
        doc, body = self.single["retention"]
        data = self.checked(doc, ("retention",), body, RetentionSchema())
        return Retention(**data) if data else Retention()

    def quotas(self, org_types: Sequence[str]) -> Quotas:
        if "quotas" not in self.single:
            return Quotas()
        doc, body = self.single["quotas"]
        data = self.checked(doc, ("quotas",), body, QuotasSchema())
        # The per-type limits are checked even when another quota key is wrong.
        raw = body.get("per_organisation_type") if isinstance(body, dict) else None
        per_type: dict[str, int] = {}
        for code, limit in (raw if isinstance(raw, dict) else {}).items():
            node_path = ("quotas", "per_organisation_type", code)
            if code not in org_types:
                msg = unknown_message("organisation type", code, org_types)
                self.problems.append(doc.problem(node_path, msg, at_key=True))
            elif isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                msg = "expected a whole number of at least 1"
                self.problems.append(doc.problem(node_path, msg))
            else:
                per_type[code] = limit
        if data is None:
            return Quotas()
        return Quotas(data["pseudonym_evaluations_per_day"], per_type,
                      data["web_identifiers_per_check"])

    def subject_access(self, org_types: Sequence[str]) -> SubjectAccess:
        if "subject_access" not in self.single:
            return SubjectAccess()
        doc, body = self.single["subject_access"]
        data = self.checked(doc, ("subject_access",), body, SubjectAccessSchema())
        raw = body.get("withhold") if isinstance(body, dict) else None
        withhold: dict[str, str] = {}
        for code, ground in (raw if isinstance(raw, dict) else {}).items():
            node_path = ("subject_access", "withhold", code)
            if code not in org_types:
                msg = unknown_message("organisation type", code, org_types)
                self.problems.append(doc.problem(node_path, msg, at_key=True))
            elif not isinstance(ground, str) or not ground.strip():
                msg = "expected the ground for withholding this type (UAVG art. 41), as text"
                self.problems.append(doc.problem(node_path, msg))
            else:
                withhold[code] = ground.strip()
        return SubjectAccess(withhold) if data is not None else SubjectAccess()

    def misuse(self) -> Misuse:
        if "misuse" not in self.single:
            return Misuse()
        doc, body = self.single["misuse"]
        data = self.checked(doc, ("misuse",), body, MisuseSchema())
        return Misuse(**data) if data else Misuse()

    def sign_in(self, vocab: Vocabulary) -> SignIn:
        if "sign_in" not in self.single:
            return SignIn()
        doc, body = self.single["sign_in"]
        data = self.checked(doc, ("sign_in",), body, SignInSchema(vocab))
        return SignIn(frozenset(data["second_factor"])) if data else SignIn()

    def missing(self, section: str, hint: str) -> None:
        where = self.docs[0].path if self.docs else "<policy>"
        msg = f'no "{section}" section in any policy file: add one {hint}'
        self.problems.append(PolicyProblem(where, 1, 1, msg))


def _rule(data: dict[str, Any], source: Source) -> Rule:
    contact = data.get("contact", "none")
    direction = data.get("link_direction", "mutual") if contact != "none" else None
    return Rule(
        id=data["id"],
        effect=data["effect"],
        ground=data["ground"],
        requester=data["requester"],
        holder=data["holder"],
        purpose=data["purpose"],
        basis=data["basis"],
        reveal=data.get("reveal", "nothing"),
        contact=contact,
        link_fields=frozenset(data.get("link_fields", ())),
        link_direction=direction,
        obligations=tuple(data.get("obligations", ())),
        reciprocity=data.get("reciprocity"),
        source=source,
    )


def read_spec(files: Sequence[Path]) -> PolicySpec:
    """Parse, validate and merge ``files`` into one :class:`PolicySpec`.

    Raises :class:`PolicyLoadError` with every problem found, including conflicting rules.
    """
    docs, problems = read_documents(files)
    reader = _Reader(docs)
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
