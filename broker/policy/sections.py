"""Reading the policy's sections from its parsed documents into the parts of a
:class:`~broker.policy.model.PolicySpec`, collecting every problem: a broken section does not
hide problems in the others, and a broken entry does not cascade into "unknown code" errors
elsewhere (its code still counts as declared)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from marshmallow import Schema

from broker.policy.documents import validate
from broker.policy.errors import PolicyProblem
from broker.policy.model import (
    Label,
    LegalBasis,
    Misuse,
    OrgType,
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
)
from broker.policy.schema_fields import (
    CODE_PATTERN,
    Vocabulary,
    unknown_message,
)
from broker.policy.yamlpos import LocatedDocument, NodePath

_SINGLE_SECTIONS = ("policy", "retention", "quotas", "subject_access", "misuse", "sign_in")


_T = TypeVar("_T")


class SectionReader:
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
                    rules.append(rule_of(rule_data, self.source(doc, node_path)))
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


def rule_of(data: dict[str, Any], source: Source) -> Rule:
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
