"""The privacy officer's web pages (access role ``privacy_officer``): the policy in force as a
table, its load history, its tests and rule coverage, a proposed policy compared with it
(nothing applied), and subject access requests with their withholding decisions.

Thin: each page calls :mod:`broker.policy.overview` or :mod:`broker.oversight.subject_requests` and
renders. A proposed policy is written to a temporary directory of this request only, loaded and
compared, and deleted: the files in force and the policy the broker runs under are untouched.
"""

from __future__ import annotations

import tempfile
from pathlib import Path, PurePath

from broker_primitives.identifiers import (
    Identifier,
    IdentifierError,
    parse_bsn,
    person_from_parts,
)
from flask import Blueprint, abort, request
from werkzeug.datastructures import FileStorage

from broker.door import failed, uow
from broker.errors import BrokerError
from broker.oversight.subject_request_list import requests_on_record
from broker.oversight.subject_requests import release, request_access
from broker.policy.errors import PolicyLoadError
from broker.policy.overview import compare_proposed, load_history, rule_rows, run_tests_beside
from broker.registry.models import ACCESS_PRIVACY_OFFICER
from broker.registry.services import RegistryService
from broker.web.access import role_required
from broker.web.i18n import current_language, gettext
from broker.web.staff import page, staff_actor
from broker.web.views import check_csrf, check_input

bp = Blueprint("officer", __name__, url_prefix="/officer")
bp.before_request(check_input)
bp.before_request(check_csrf)
officer_only = role_required(ACCESS_PRIVACY_OFFICER)

# A proposed policy is a few small YAML files.
MAX_PROPOSED_FILES = 20
MAX_PROPOSED_BYTES = 512 * 1024


@bp.route("/policy")
@officer_only
def policy() -> str:
    """The policy in force: who may discover whom, for which purposes and bases, what is
    revealed, contact and link fields, obligations."""
    work = uow()
    current = work.policy()
    return page("officer/policy.html", policy=current, rules=rule_rows(current))


@bp.route("/policy/history")
@officer_only
def history() -> str:
    """The policy's version and its load history (loads and failed loads)."""
    return page("officer/history.html", policy=uow().policy(),
                loads=load_history(uow().connection))


@bp.route("/policy/tests")
@officer_only
def tests() -> str:
    """The policy tests run on the policy in force, and the rules no case exercises."""
    work = uow()
    report = run_tests_beside(work.policy(), work.core.settings.policy_dir)
    return page("officer/tests.html", report=report)


def _proposed_files() -> list[FileStorage]:
    files = [f for f in request.files.getlist("policy") if f.filename]
    if not files or len(files) > MAX_PROPOSED_FILES:
        abort(400, description=gettext("officer_diff_no_file"))
    return files


@bp.route("/policy/diff", methods=["GET", "POST"])
@officer_only
def diff() -> str:
    """Compare a proposed policy (uploaded YAML files) with the policy in force; the decisions
    that change and the current pairs of involvements that would gain or lose visibility.
    Nothing is applied."""
    work = uow()
    current = work.policy()
    if request.method == "GET":
        return page("officer/diff.html", comparison=None, problems=[])
    with tempfile.TemporaryDirectory(prefix="proposed-policy-") as folder:
        total = 0
        for number, upload in enumerate(_proposed_files()):
            data = upload.read(MAX_PROPOSED_BYTES + 1)
            total += len(data)
            if total > MAX_PROPOSED_BYTES:
                abort(400, description=gettext("officer_diff_too_big"))
            name = PurePath(upload.filename or "").name
            suffix = ".yml" if name.endswith(".yml") else ".yaml"
            (Path(folder) / f"{number:02d}-{_safe(name)}{suffix}").write_bytes(data)
        try:
            comparison = compare_proposed(current, Path(folder),
                                          RegistryService(work).involvement_pairs())
        except PolicyLoadError as exc:
            problems = [f"{PurePath(p.path).name}:{p.line}:{p.column}: {p.message}"
                        for p in exc.problems]
            return page("officer/diff.html", comparison=None, problems=problems)
    return page("officer/diff.html", comparison=comparison, problems=[])


def _safe(name: str) -> str:
    """A file name's stem reduced to letters, digits, '-' and '_' (at most 40)."""
    stem = PurePath(name).stem
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in stem)[:40] or "policy"


@bp.route("/subject-access", methods=["GET", "POST"])
@officer_only
def subject_access() -> str:
    """Subject access requests (AVG art. 15): a new request for one person (a BSN, or family
    name, initial and date of birth; never an address), the report, the requests on record
    with their withholding decisions (UAVG art. 41) and the release action. The identifiers
    are read from the POSTed form only, pseudonymised in memory and dropped."""
    work, report = uow(), None
    try:
        if request.method == "POST" and request.form.get("action") == "release":
            report = release(work, staff_actor(), request.form.get("request_id", ""),
                             request.form.get("organisation", ""),
                             request.form.get("reason", ""), current_language())
        elif request.method == "POST":
            identifiers = _person_identifiers()
            if not identifiers:
                failed()
                return page("officer/subject_access.html", report=None,
                            requests=requests_on_record(work),
                            errors=[gettext("officer_sar_nobody")])
            pseudonyms = work.pseudonymise(staff_actor(), identifiers)
            report = request_access(work, staff_actor(), pseudonyms, current_language())
    except (BrokerError, IdentifierError) as exc:
        failed()
        return page("officer/subject_access.html", report=None,
                    requests=requests_on_record(work),
                    errors=[exc.message(current_language())])
    return page("officer/subject_access.html", report=report, requests=requests_on_record(work))


def _person_identifiers() -> list[Identifier]:
    """One person's identifiers from the form: a BSN, and/or name, initial and birth date."""
    form = request.form
    found = []
    if form.get("bsn", "").strip():
        found.append(parse_bsn(form["bsn"]))
    family, initial, born = (form.get(k, "").strip() for k in ("family", "initial", "born"))
    if family or initial or born:
        found.append(person_from_parts(family, initial, born))
    return found
