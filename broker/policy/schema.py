"""Marshmallow schemas for the policy files, with messages written for a privacy officer (their
field types in :mod:`broker.policy.schema_fields`).

Each schema validates one level of one section; the loader walks the sections and calls them, so
every marshmallow error path is a path into the YAML document and can be given a line and column.

Guarantees:
- unknown keys are errors (``unknown = RAISE``) and the loader suggests the closest known key;
- codes that refer to something else in the policy (organisation types, purposes, legal bases) are
  checked against the policy's own :class:`~broker.policy.schema_fields.Vocabulary`, with a
  "did you mean" suggestion;
- obligations must be ones the broker knows (:data:`~broker.policy.model.KNOWN_OBLIGATIONS`);
- a rule's fields are checked together: a forbid rule carries no contact fields, contact ``none``
  carries no link fields, ``require_second_approver`` needs contact via approval.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import ValidationError, fields, validates_schema

from broker.policy.model import (
    CONTACT_MODES,
    DEFAULT_RULE,
    EFFECTS,
    KNOWN_OBLIGATIONS,
    LEGAL_TASK,
    LINK_DIRECTIONS,
    LINK_FIELDS,
    REQUIRE_SECOND_APPROVER,
    REVEAL_LEVELS,
    VITAL_INTEREST,
)
from broker.policy.schema_fields import (
    ALLOW_ONLY_KEYS,
    MIN_AUDIT_YEARS,
    RULE_ID_PATTERN,
    Axis,
    Choice,
    CodeList,
    Count,
    Flag,
    PolicySchema,
    Text,
)


class FileSchema(PolicySchema):
    """The top level of one policy file: which sections it contains."""

    policy = fields.Dict(error_messages={"invalid": "expected name: and reciprocity: below it"})
    organisation_types = fields.Dict(
        error_messages={"invalid": "expected one 'code:' entry per type, with nl: and en: labels"}
    )
    purposes = fields.Dict(
        error_messages={"invalid": "expected one 'code:' entry per purpose, with labels and bases"}
    )
    legal_bases = fields.Dict(
        error_messages={"invalid": "expected one entry per basis: consent, legal_task, ..."}
    )
    rules = fields.List(
        fields.Raw(), error_messages={"invalid": "expected a list of rules, each starting '- id:'"}
    )
    retention = fields.Dict(error_messages={"invalid": "expected a mapping of retention periods"})
    quotas = fields.Dict(error_messages={"invalid": "expected a mapping of quotas"})
    statutes = fields.Dict(
        error_messages={"invalid": "expected one 'code:' entry per statute, with nl: and en:"}
    )
    subject_access = fields.Dict(error_messages={"invalid": "expected withhold: below it"})
    misuse = fields.Dict(error_messages={"invalid": "expected a mapping of misuse thresholds"})
    sign_in = fields.Dict(error_messages={"invalid": "expected second_factor: below it"})


class SettingsSchema(PolicySchema):
    """``policy:`` the policy's name and its reciprocity default (Verwijsindex: required)."""

    name = Text(required=True)
    reciprocity = Flag(load_default=True)


class LabelSchema(PolicySchema):
    """A Dutch and an English label."""

    nl = Text(required=True)
    en = Text(required=True)


class PurposeSchema(LabelSchema):
    """A purpose: labels, the legal bases accepted for it and, when ``legal_task`` is among
    them, the statutes a professional may name for it (codes of ``statutes:``)."""

    accepted_bases = CodeList("legal basis", required=True, non_empty=True)
    statutes = CodeList("statute")

    @validates_schema(skip_on_field_errors=True)
    def _check_statutes(self, data: dict[str, Any], **kwargs: Any) -> None:
        legal_task = LEGAL_TASK in data.get("accepted_bases", ())
        if legal_task and not data.get("statutes"):
            raise ValidationError(
                "a purpose that accepts legal_task must list the statutes that can carry it "
                "(statutes: [code, ...], codes of the statutes: section)"
            )
        if not legal_task and "statutes" in data:
            raise ValidationError(
                "statutes carry the legal_task basis only, which this purpose does not accept",
                field_name="statutes",
            )


class LegalBasisSchema(LabelSchema):
    """A legal basis; ``vital_interest`` must set the minimum length of its justification."""

    min_justification_length = Count(minimum=1)

    def __init__(self, code: str, **kwargs: Any):
        self.code = code
        super().__init__(**kwargs)

    @validates_schema(skip_on_field_errors=False)
    def _check_length(self, data: dict[str, Any], **kwargs: Any) -> None:
        has_length = "min_justification_length" in data
        if self.code == VITAL_INTEREST and not has_length and "nl" in data:
            raise ValidationError(
                "vital_interest needs min_justification_length: the minimum number of characters"
                " of the written justification"
            )
        if self.code != VITAL_INTEREST and has_length:
            raise ValidationError(
                "only vital_interest takes a justification", field_name="min_justification_length"
            )


class RetentionSchema(PolicySchema):
    """``retention:`` periods; defaults follow the Verwijsindex (1 year, at most 2, history 5)."""

    involvement_default_months = Count(load_default=12)
    involvement_max_months = Count(load_default=24)
    contact_request_days = Count(load_default=30)
    contact_link_days = Count(load_default=14)
    history_years = Count(load_default=5)
    audit_years = Count(load_default=MIN_AUDIT_YEARS)
    audit_details_months = Count(load_default=12)

    @validates_schema(skip_on_field_errors=False)
    def _check_order(self, data: dict[str, Any], **kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        default = data.get("involvement_default_months")
        maximum = data.get("involvement_max_months")
        if isinstance(default, int) and isinstance(maximum, int) and default > maximum:
            errors["involvement_default_months"] = [
                f"the default period ({default} months) is longer than the maximum "
                f"({maximum} months)"
            ]
        audit = data.get("audit_years")
        if isinstance(audit, int) and audit < MIN_AUDIT_YEARS:
            errors["audit_years"] = [
                f"NEN 7513 asks to keep access logs at least {MIN_AUDIT_YEARS} years"
            ]
        details = data.get("audit_details_months")
        if isinstance(audit, int) and isinstance(details, int) and details > audit * 12:
            errors["audit_details_months"] = [
                f"personal details of audit events ({details} months) cannot outlive the log "
                f"itself ({audit} years)"
            ]
        if errors:
            raise ValidationError(errors)  # per-key messages


class QuotasSchema(PolicySchema):
    """``quotas:`` pseudonym evaluations per organisation per day, optionally per type, and the
    identifiers one check on the web form may hold."""

    pseudonym_evaluations_per_day = Count(load_default=1000)
    per_organisation_type = fields.Dict(
        load_default=dict, error_messages={"invalid": "expected 'type: number' entries"}
    )
    web_identifiers_per_check = Count(load_default=10)


class SubjectAccessSchema(PolicySchema):
    """``subject_access:`` ``withhold:`` organisation type -> ground (UAVG art. 41)."""

    withhold = fields.Dict(
        load_default=dict,
        error_messages={"invalid": "expected 'type: ground' entries (UAVG art. 41)"},
    )


class MisuseSchema(PolicySchema):
    """``misuse:`` sliding windows and thresholds for fishing and unusual volumes."""

    fishing_window_minutes = Count(load_default=60)
    fishing_lookups = Count(minimum=2, load_default=10)
    volume_window_minutes = Count(load_default=60)
    volume_lookups_per_professional = Count(minimum=2, load_default=20)
    volume_lookups_per_organisation = Count(minimum=2, load_default=500)


class SignInSchema(PolicySchema):
    """``sign_in:`` ``second_factor:`` the organisation types whose professionals need TOTP."""

    second_factor = CodeList("organisation type", load_default=tuple)


_Add = Callable[[str, str], None]


class RuleSchema(PolicySchema):
    """One rule. Axes accept ``any``, one code, or a list of codes."""

    id = Text(required=True)
    effect = Choice("effect", EFFECTS, required=True)
    ground = Text(required=True)
    requester = Axis("organisation type", required=True)
    holder = Axis("organisation type", required=True)
    purpose = Axis("purpose", required=True)
    basis = Axis("legal basis", required=True)
    reveal = Choice("reveal level", REVEAL_LEVELS)
    contact = Choice("contact mode", CONTACT_MODES)
    link_fields = CodeList("link field", LINK_FIELDS)
    link_direction = Choice("link direction", LINK_DIRECTIONS)
    obligations = CodeList("obligation", KNOWN_OBLIGATIONS)
    reciprocity = Flag()

    @validates_schema(skip_on_field_errors=False, pass_original=True)
    def _check_together(self, data: dict[str, Any], original: Any, **kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}

        def add(key: str, message: str) -> None:
            errors.setdefault(key, []).append(message)

        written = original if isinstance(original, dict) else {}
        rule_id = data.get("id")
        if isinstance(rule_id, str) and not RULE_ID_PATTERN.match(rule_id):
            add("id", "a rule id uses lowercase letters, digits, - and _ only")
        if rule_id == DEFAULT_RULE:
            add("id", f'"{DEFAULT_RULE}" is reserved for the default deny; pick another id')
        if data.get("effect") == "forbid":
            for key in ALLOW_ONLY_KEYS:
                if key in written:
                    add(key, f"{key} has no meaning on a forbid rule: remove it")
        elif data.get("effect") == "allow":
            self._check_allow(data, written, add)
        self._check_bases(data, add)
        if errors:
            raise ValidationError(errors)  # per-key messages

    @staticmethod
    def _check_allow(data: dict[str, Any], written: dict[str, Any], add: _Add) -> None:
        for key in ("reveal", "contact"):
            if key not in written:
                add("_schema", f'an allow rule must say "{key}:"')
        contact = data.get("contact")
        if contact == "none":
            for key in ("link_fields", "link_direction"):
                if key in written:
                    add(key, f"{key} has no meaning when contact is none: remove it")
        elif contact in ("direct", "approval") and "link_fields" not in written:
            add("_schema", "a rule that allows contact must list link_fields")
        elif contact in ("direct", "approval") and written.get("link_fields") == []:
            add("link_fields", "list at least one field the contact link reveals")
        second = REQUIRE_SECOND_APPROVER in data.get("obligations", ())
        if second and "contact" in data and contact != "approval":
            add("obligations", f"{REQUIRE_SECOND_APPROVER} needs contact: approval")

    def _check_bases(self, data: dict[str, Any], add: _Add) -> None:
        accepted = self.vocabulary.accepted_bases
        bases, purposes = data.get("basis"), data.get("purpose")
        if accepted is None or not bases:
            return
        purpose_codes = purposes if purposes is not None else accepted.keys()
        usable = set().union(*(accepted.get(p, frozenset()) for p in purpose_codes))
        for basis in sorted(bases - usable):
            add("basis", f'legal basis "{basis}" is accepted by none of this rule\'s purposes')


class CaseFileSchema(PolicySchema):
    """The top level of a policy-test file."""

    cases = fields.List(
        fields.Raw(), required=True, error_messages={"invalid": "expected a list of cases"}
    )


class GivenSchema(PolicySchema):
    """``given:`` one request."""

    requester = Choice("organisation type", required=True)
    holder = Choice("organisation type", required=True)
    purpose = Choice("purpose", required=True)
    basis = Choice("legal basis", required=True)


class ExpectSchema(PolicySchema):
    """``expect:`` what the decision must be; only the keys written are checked."""

    discover = Flag(required=True)
    reveal = Choice("reveal level", REVEAL_LEVELS)
    contact = Choice("contact mode", CONTACT_MODES)
    link_fields = CodeList("link field", LINK_FIELDS)
    obligations = CodeList("obligation", KNOWN_OBLIGATIONS)
    requires_registration = Flag()
    rule = Text()


class CaseSchema(PolicySchema):
    """One test case."""

    name = Text()
    given = fields.Raw(required=True)
    expect = fields.Raw(required=True)
