"""What the privacy officer's and the auditor's pages share: the role check, the actor, the page.

Rules this module guarantees:

1. A page of a role (:func:`role_required`) opens only for a live server-side session of an
   account with that ``access_role``; without a session the browser is sent to sign in.
2. Any other signed-in account gets the 403 page, and the refusal is an audit event of its own
   (``web:access_refused``, outcome ``refused``) carrying the account, the role the page needs,
   the method and the path (never a form value), kept although the request fails — as the web
   door's other refused accesses (broker.web.refusals).
3. The pages use the professional pages' layout (base.html) with the role's own menu, the
   policy's labels, and the same input and CSRF checks (broker.web.views).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from functools import wraps
from typing import Any, TypeVar, cast

from flask import abort, g, redirect, render_template, request, url_for

from broker.audit.events import Event
from broker.audit.services import Actor, truncate_address
from broker.clock import LOCAL_ZONE
from broker.door import uow
from broker.oversight.subject_requests import as_privacy_officer
from broker.registry.models import ACCESS_AUDITOR, ACCESS_PRIVACY_OFFICER
from broker.web import sessions as web_sessions
from broker.web.i18n import Lazy, lazy_gettext
from broker.web.refusals import signed_in_actor
from broker.web.views import policy_labels

F = TypeVar("F", bound=Callable[..., Any])

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


def role_required(role: str) -> Callable[[F], F]:
    """Open the view for a signed-in account of ``role`` only (rules 1 and 2)."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            live = web_sessions.current()
            if live is None:
                web_sessions.forget()
                return redirect(url_for("web.login"))
            if live.professional.access_role != role:
                refuse(role)
            g.professional = live.professional
            return view(*args, **kwargs)

        return cast(F, wrapped)

    return decorate


def refuse(role: str) -> None:
    """Record the refused access of the signed-in account and answer 403 (rule 2)."""
    actor = signed_in_actor()
    if actor is not None:
        work = uow()
        work.undo()
        work.record(actor, Event.WEB_ACCESS_REFUSED, outcome="refused",
                    reason=f"the page is for the {role} role",
                    details={"method": request.method, "path": request.path, "needs": role})
    abort(403)


def staff_actor() -> Actor:
    """The signed-in privacy officer or auditor as the audit log's actor (acting for no
    organisation: an auditor's pseudonym evaluations are charged to none)."""
    me = g.professional
    if me.access_role == ACCESS_PRIVACY_OFFICER:
        base = as_privacy_officer(me.username, "web")
    else:
        base = Actor(actor=f"{ACCESS_AUDITOR}:{me.username}", channel="web",
                     role=ACCESS_AUDITOR)
    return replace(base, request_id=g.get("request_id"),
                   source_address=truncate_address(request.remote_addr))


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
