"""The parsed sharing policy: plain, immutable values with no behaviour beyond self-description.

A :class:`PolicySpec` is what the loader builds from the YAML files and what the engine compiles.
Its :meth:`PolicySpec.canonical` form is the policy's *content*: defaults filled in, sets sorted,
source positions left out. :meth:`PolicySpec.version` is the SHA-256 of that content as canonical
JSON, so comments, whitespace, key order and the split over files do not change the version, and
any change of meaning does.

The vocabularies the engine itself knows (legal bases, reveal levels, contact modes, link fields,
obligations) are fixed here; a policy can use them but not invent new ones.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Effect = Literal["allow", "forbid"]
Reveal = Literal["nothing", "organisation_type", "organisation"]
ContactMode = Literal["direct", "approval", "none"]
LinkDirection = Literal["mutual", "one_way"]

EFFECTS: tuple[Effect, ...] = ("allow", "forbid")
# Ordered from least to most revealing.
REVEAL_LEVELS: tuple[Reveal, ...] = ("nothing", "organisation_type", "organisation")
CONTACT_MODES: tuple[ContactMode, ...] = ("none", "approval", "direct")
LINK_DIRECTIONS: tuple[LinkDirection, ...] = ("mutual", "one_way")
LINK_FIELDS: tuple[str, ...] = ("name", "role", "phone", "email", "organisation")

# The legal bases and what each needs as evidence (see Policy.check_basis).
KNOWN_BASES: tuple[str, ...] = ("consent", "legal_task", "vital_interest")
VITAL_INTEREST = "vital_interest"
LEGAL_TASK = "legal_task"
CONSENT = "consent"

# Obligations: what the broker must do when a rule applies. The vocabulary *is* the table of
# executors (broker.policy.obligations): a word without an executor cannot be written, so a
# policy naming one does not load.
NOTIFY_HOLDER = "notify_holder"
REQUIRE_SECOND_APPROVER = "require_second_approver"
FLAG_FOR_REVIEW = "flag_for_review"
KNOWN_OBLIGATIONS: tuple[str, ...] = (NOTIFY_HOLDER, REQUIRE_SECOND_APPROVER, FLAG_FOR_REVIEW)

# A test case may expect this instead of a rule id: the request is denied because no rule allows it.
DEFAULT_RULE = "default"


@dataclass(frozen=True)
class Label:
    """A name in Dutch and English."""

    nl: str
    en: str

    def get(self, lang: str) -> str:
        """The label in ``lang`` ("en" or "nl"); Dutch for anything else."""
        return self.en if lang == "en" else self.nl


@dataclass(frozen=True)
class Source:
    """Where something was written: file, line and column (1-based)."""

    path: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


NOWHERE = Source("<memory>", 0, 0)


@dataclass(frozen=True)
class OrgType:
    """A kind of organisation (``wijkteam``, ``huisarts``); rules are written per kind."""

    code: str
    label: Label
    source: Source = NOWHERE


@dataclass(frozen=True)
class Statute:
    """A statute that grants a legal task, named by a code (``wmo2015_5_2_6``).

    A professional picks one of the statutes the policy lists for the purpose; free text is never
    accepted, so no identifier can be typed into the audit log's hashed content.
    """

    code: str
    label: Label
    source: Source = NOWHERE


@dataclass(frozen=True)
class Purpose:
    """Why a professional looks up a household, the legal bases accepted for it, and the
    statutes that can carry it on the ``legal_task`` basis."""

    code: str
    label: Label
    accepted_bases: tuple[str, ...]
    source: Source = NOWHERE
    statutes: tuple[str, ...] = ()


@dataclass(frozen=True)
class LegalBasis:
    """A legal basis in use; ``min_justification_length`` applies to ``vital_interest`` only."""

    code: str
    label: Label
    min_justification_length: int | None = None
    source: Source = NOWHERE


@dataclass(frozen=True)
class Rule:
    """One rule on Mitz's axes: requester type x holder type x purpose x legal basis.

    ``None`` on an axis means *any* value. Contact fields are meaningful for ``allow`` only.
    ``reciprocity`` ``None`` means the policy-wide default.
    """

    id: str
    effect: Effect
    ground: str
    requester: frozenset[str] | None = None
    holder: frozenset[str] | None = None
    purpose: frozenset[str] | None = None
    basis: frozenset[str] | None = None
    reveal: Reveal = "nothing"
    contact: ContactMode = "none"
    link_fields: frozenset[str] = frozenset()
    link_direction: LinkDirection | None = None
    obligations: tuple[str, ...] = ()
    reciprocity: bool | None = None
    source: Source = NOWHERE


@dataclass(frozen=True)
class Retention:
    """How long things are kept (Jeugdwet §7.1 and NEN 7513 inform the defaults)."""

    involvement_default_months: int = 12
    involvement_max_months: int = 24
    contact_request_days: int = 30
    contact_link_days: int = 14
    history_years: int = 5
    audit_years: int = 5
    audit_details_months: int = 12


@dataclass(frozen=True)
class Quotas:
    """Pseudonym evaluations per organisation per day, with optional per-type limits, and how
    many identifiers one check on the web form may hold (one household at a time)."""

    pseudonym_evaluations_per_day: int = 1000
    per_organisation_type: Mapping[str, int] = field(default_factory=dict)
    web_identifiers_per_check: int = 10


@dataclass(frozen=True)
class SubjectAccess:
    """AVG art. 15 reports. ``withhold`` maps organisation types whose disclosure to the subject
    could endanger the subject or someone else (a shelter, Veilig Thuis during an investigation,
    the police) to the ground for withholding them (UAVG art. 41); a privacy officer may release
    one by an explicit, audited decision."""

    withhold: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Misuse:
    """Thresholds for seeing misuse the same day, judged over a sliding window.

    Fishing: one professional's look-ups on households their organisation is not registered on.
    Volume: one professional's or one organisation's look-ups of any kind. A count that reaches
    its threshold within the window is flagged.
    """

    fishing_window_minutes: int = 60
    fishing_lookups: int = 10
    volume_window_minutes: int = 60
    volume_lookups_per_professional: int = 20
    volume_lookups_per_organisation: int = 500


@dataclass(frozen=True)
class SignIn:
    """Web sign-in: the organisation types whose professionals must use a second factor (TOTP).
    Privacy officers and auditors always must."""

    second_factor: frozenset[str] = frozenset()


@dataclass(frozen=True)
class PolicySpec:
    """A whole policy as written, after validation."""

    name: str
    reciprocity: bool
    org_types: Mapping[str, OrgType]
    purposes: Mapping[str, Purpose]
    bases: Mapping[str, LegalBasis]
    rules: tuple[Rule, ...]
    retention: Retention = Retention()
    quotas: Quotas = Quotas()
    files: tuple[str, ...] = ()
    statutes: Mapping[str, Statute] = field(default_factory=dict)
    subject_access: SubjectAccess = SubjectAccess()
    misuse: Misuse = Misuse()
    sign_in: SignIn = SignIn()

    def canonical(self) -> dict[str, Any]:
        """The policy's content as plain JSON-ready data (no positions, no file names)."""

        def axis(values: frozenset[str] | None) -> str | list[str]:
            return "any" if values is None else sorted(values)

        def label(lbl: Label) -> dict[str, str]:
            return {"nl": lbl.nl, "en": lbl.en}

        return {
            "policy": {"name": self.name, "reciprocity": self.reciprocity},
            "organisation_types": {c: label(t.label) for c, t in self.org_types.items()},
            "statutes": {c: label(s.label) for c, s in self.statutes.items()},
            "purposes": {
                c: {**label(p.label), "accepted_bases": sorted(p.accepted_bases),
                    "statutes": sorted(p.statutes)}
                for c, p in self.purposes.items()
            },
            "legal_bases": {
                c: {**label(b.label), "min_justification_length": b.min_justification_length}
                for c, b in self.bases.items()
            },
            "rules": [
                {
                    "id": r.id,
                    "effect": r.effect,
                    "ground": r.ground,
                    "requester": axis(r.requester),
                    "holder": axis(r.holder),
                    "purpose": axis(r.purpose),
                    "basis": axis(r.basis),
                    "reveal": r.reveal,
                    "contact": r.contact,
                    "link_fields": sorted(r.link_fields),
                    "link_direction": r.link_direction,
                    "obligations": sorted(r.obligations),
                    "reciprocity": r.reciprocity,
                }
                for r in self.rules
            ],
            "retention": vars(self.retention).copy(),
            "quotas": {
                "pseudonym_evaluations_per_day": self.quotas.pseudonym_evaluations_per_day,
                "per_organisation_type": dict(self.quotas.per_organisation_type),
                "web_identifiers_per_check": self.quotas.web_identifiers_per_check,
            },
            "subject_access": {"withhold": dict(self.subject_access.withhold)},
            "misuse": vars(self.misuse).copy(),
            "sign_in": {"second_factor": sorted(self.sign_in.second_factor)},
        }

    def version(self) -> str:
        """SHA-256 (hex) of the canonical content as JSON with sorted keys."""
        text = json.dumps(
            self.canonical(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        return hashlib.sha256(text.encode("utf-8")).hexdigest()
