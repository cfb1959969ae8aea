"""What the privacy officer's and the auditor's pages share: the role check, the actor, the page.

Rules this module guarantees:

1. A page of a role opens only for a signed-in account of that role; any other account's
   attempt is refused and audited — the one guard of every page (:mod:`broker.web.access`).
2. The actor is the account named by its kind (``privacy_officer:<name>``, ``auditor:<name>``),
   acting for no organisation (:func:`broker.web.refusals.actor_of`).
3. The pages use the professional pages' layout (base.html) with the role's own menu, the
   policy's labels, and the same input and CSRF checks (broker.web.views).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from flask import abort, g, render_template

from broker.audit.services import Actor
from broker.clock import LOCAL_ZONE
from broker.registry.models import ACCESS_AUDITOR, ACCESS_PRIVACY_OFFICER
from broker.web.i18n import Lazy, lazy_gettext
from broker.web.refusals import signed_in_actor
from broker.web.views import policy_labels

# Each role's menu: (endpoint, message id of its label; the same id is the page's heading).
MENUS: dict[str, tuple[tuple[str, str], ...]] = {
    ACCESS_PRIVACY_OFFICER: (
        ("officer.policy", "officer_policy_title"),
        ("officer.history", "officer_history_title"),
        ("officer.tests", "officer_tests_title"),
        ("officer.diff", "officer_diff_title"),
        ("officer.subject_access", "officer_sar_title"),
    ),
    ACCESS_AUDITOR: (
        ("auditor.log", "auditor_log_title"),
        ("auditor.reviews", "auditor_reviews_title"),
        ("auditor.flags", "auditor_flags_title"),
        ("auditor.chart", "auditor_chart_title"),
        ("auditor.export", "auditor_export_title"),
        ("auditor.checkpoint", "auditor_checkpoint_title"),
    ),
}
# Codes of the policy's fixed vocabulary and of the audit log, shown by their labels.
OVERSIGHT_LABELS: dict[str, dict[str, Lazy]] = {
    "effects": {"allow": lazy_gettext("ov_effect_allow"),
                "forbid": lazy_gettext("ov_effect_forbid")},
    "reveal": {"nothing": lazy_gettext("ov_reveal_nothing"),
               "organisation_type": lazy_gettext("ov_reveal_organisation_type"),
               "organisation": lazy_gettext("ov_reveal_organisation")},
    "directions": {"mutual": lazy_gettext("ov_direction_mutual"),
                   "one_way": lazy_gettext("ov_direction_one_way")},
    "obligations": {"notify_holder": lazy_gettext("ov_obligation_notify_holder"),
                    "require_second_approver": lazy_gettext("ov_obligation_second_approver"),
                    "flag_for_review": lazy_gettext("ov_obligation_flag_for_review")},
    "flags": {"vital_interest": lazy_gettext("ov_flag_vital_interest"),
              "review": lazy_gettext("ov_flag_review"), "refused": lazy_gettext("ov_flag_refused")},
    "verdicts": {"justified": lazy_gettext("ov_verdict_justified"),
                 "unjustified": lazy_gettext("ov_verdict_unjustified")},
    "misuse": {"fishing": lazy_gettext("ov_misuse_fishing"),
               "volume_professional": lazy_gettext("ov_misuse_volume_professional"),
               "volume_organisation": lazy_gettext("ov_misuse_volume_organisation")},
}


def staff_actor() -> Actor:
    """The signed-in privacy officer or auditor as the audit log's actor (acting for no
    organisation: an auditor's pseudonym evaluations are charged to none)."""
    acting = signed_in_actor()
    if acting is None:  # the guard let the request in: the session is live
        abort(403)
    return acting


def page(template: str, **context: Any) -> str:
    """``template`` in the layout with the signed-in role's menu and the policy's labels."""
    role = g.professional.access_role
    return render_template(template, menu=MENUS.get(role, ()), errors=context.pop("errors", []),
                           olabels=OVERSIGHT_LABELS, **policy_labels(), **context)


def day_start(day: date) -> datetime:
    """The start of ``day`` in Dutch time (periods are given in days, as on the command line)."""
    return datetime.combine(day, time(), tzinfo=LOCAL_ZONE)


def parse_day(text: str | None) -> date | None:
    """A ``YYYY-MM-DD`` field as a date; None when empty or malformed."""
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def period_of(first: date | None, last: date | None) -> tuple[datetime | None, datetime | None]:
    """Inclusive first and last days as the half-open period the services take."""
    return (day_start(first) if first else None,
            day_start(last + timedelta(days=1)) if last else None)
