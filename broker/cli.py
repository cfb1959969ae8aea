"""The ``broker`` command: set-up, operators' tasks, registration and look-up for demos.

Commands are thin: they parse options, call one service, and print. Every domain error becomes one
line on stderr in the chosen language (``--lang`` or ``BROKER_LANG``, Dutch by default) and exit
status 1; nothing is written when an input is refused.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from datetime import date
from typing import Any, NoReturn

import click
from broker_primitives.identifiers import IdentifierError, parse_household
from sqlalchemy.exc import SQLAlchemyError

from broker.api.idempotency import purge_records
from broker.api.keys import OrganisationKeys
from broker.audit.checkpoints import audit_key_path, sign_checkpoint
from broker.audit.cli import audit_group
from broker.audit.misuse import prune_counts
from broker.audit.retention import erase_personal_details
from broker.audit.services import Actor
from broker.cli_support import identifier_options
from broker.config import Settings
from broker.contact.cli import consent_group, contact_group, professional_actor
from broker.contact.coordination_cli import coordinator_group, inform_group
from broker.core import Core
from broker.errors import BrokerError
from broker.notifications.cli import notify_group
from broker.policy.cli import policy_group
from broker.policy.diff import InvolvementPair
from broker.pseudonyms.keys import KeyName
from broker.pseudonyms.rotation import remaining_rows, run_rotation, start_or_resume
from broker.registry.lookups import Evidence, LookupService
from broker.registry.models import ACCESS_PROFESSIONAL, ACCESS_ROLES
from broker.registry.services import NewInvolvement, RegistryService
from broker.registry.views import (
    NONE_SHOWN,
    OTHERS_MAY_BE_HIDDEN,
    REGISTRATION_MAY_SHOW_MORE,
    OrganisationInfo,
    ProfessionalInfo,
)
from broker.serving import check_workers, gunicorn_command
from broker.setup import initialise
from broker.signin.cli import COMMANDS as SIGN_IN_COMMANDS
from broker.witness.cli import witness_group


class Context:
    """Lazily built core shared by the commands of one invocation."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self._core: Core | None = None

    @property
    def core(self) -> Core:
        """The core, built on first use from the ``BROKER_*`` settings."""
        if self._core is None:
            self._core = Core(Settings.from_env())
        return self._core

    @property
    def registry(self) -> RegistryService:
        """The registry service on this core."""
        return RegistryService(self.core)

    def close(self) -> None:
        """Sign an audit checkpoint of what this command wrote, and release the core."""
        if self._core is None:
            return
        core, self._core = self._core, None
        if core.audit_checkpointer is None and audit_key_path(core.settings.keys_dir).exists():
            try:
                sign_checkpoint(core)
            except (BrokerError, SQLAlchemyError) as exc:  # e.g. a database not yet set up
                click.echo(f"warning: no audit checkpoint signed: {exc}", err=True)
        core.dispose()

    def involvement_pairs(self) -> list[InvolvementPair]:
        """Current pairs of involvements sharing a key, for ``broker policy diff``."""
        return self.registry.involvement_pairs()


pass_context = click.make_pass_decorator(Context)


def fail(message: str) -> NoReturn:
    """Print ``message`` on stderr and exit 1."""
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


@contextmanager
def domain_errors(ctx: Context) -> Iterator[None]:
    """Turn domain errors into one readable line and exit status 1."""
    try:
        yield
    except (BrokerError, IdentifierError) as exc:
        fail(exc.message(ctx.lang))


def echo_json(value: Any) -> None:
    """Print dataclasses, lists and dates as indented JSON."""

    def convert(item: Any) -> Any:
        if is_dataclass(item) and not isinstance(item, type):
            return asdict(item)
        if isinstance(item, date):
            return item.isoformat()
        raise TypeError(type(item).__name__)

    click.echo(json.dumps(value, default=convert, indent=2, ensure_ascii=False))


@click.group()
@click.option("--lang", type=click.Choice(["nl", "en"]), default=lambda: os.environ.get(
    "BROKER_LANG", "nl"), show_default="nl (or BROKER_LANG)", help="Language of messages.")
@click.pass_context
def main(click_ctx: click.Context, lang: str) -> None:
    """The household involvement broker: who else is involved, and how do I reach them?"""
    click_ctx.obj = Context(lang)
    click_ctx.call_on_close(click_ctx.obj.close)


main.add_command(policy_group, name="policy")
main.add_command(audit_group, name="audit")
main.add_command(contact_group, name="contact")
main.add_command(consent_group, name="consent")
main.add_command(inform_group, name="inform")
main.add_command(coordinator_group, name="coordinator")
main.add_command(notify_group, name="notify")
main.add_command(witness_group, name="witness")


# -- set-up ------------------------------------------------------------------------------------


@main.command()
@click.option("--demo/--no-demo", default=False,
              help="Also load the synthetic demo population (only into an empty registry).")
@pass_context
def init(ctx: Context, demo: bool) -> None:
    """Create or upgrade the database, create missing keys and the session secret."""
    with domain_errors(ctx):
        report = initialise(ctx.core, Actor.operator())
        settings = ctx.core.settings
        click.echo(f"database: {settings.database_url}")
        for which in report.keys_created:
            click.echo(f"created {which} key in {settings.keys_dir / which}")
        if report.secret_created:
            click.echo(f"created session secret in {settings.instance_dir}")
        if demo:
            from broker.demo import load_demo  # noqa: PLC0415 - only needed for demos

            if ctx.registry.list_organisations():
                click.echo("demo: the registry holds organisations already; demo not loaded")
            else:
                click.echo(load_demo(ctx.core, progress=click.echo).describe())


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes; more than 1 runs gunicorn and needs BROKER_REDIS_URL.")
@pass_context
def serve(ctx: Context, host: str, port: int, workers: int) -> None:
    """Run the broker's web server: one process with threads (the embedded default), or
    gunicorn with its config module (``--workers N``, as in production)."""
    from broker.app import create_app  # noqa: PLC0415 - keeps the CLI fast to start

    if workers > 1:
        with domain_errors(ctx):
            check_workers(workers, Settings.from_env())
        os.execv(sys.executable, gunicorn_command(workers, host, port))  # noqa: S606 - ours
    with domain_errors(ctx):
        app = create_app(core=ctx.core)
    # SIGTERM (a service manager stopping the broker) ends the run like Ctrl+C does, so the
    # closing of the context signs the last audit checkpoint.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(0))
    app.run(host=host, port=port, threaded=True)


# -- keys --------------------------------------------------------------------------------------


@main.group()
def keys() -> None:
    """Create and rotate the pseudonym keys."""


@keys.command("init")
@pass_context
def keys_init(ctx: Context) -> None:
    """Create the OPRF key and the broker key if they do not exist."""
    with domain_errors(ctx):
        report = initialise(ctx.core, Actor.operator())
        if not report.keys_created:
            click.echo("keys exist already; nothing changed")
        for which in report.keys_created:
            click.echo(f"created {which} key (epoch 1) in {ctx.core.settings.keys_dir / which}")


@keys.command("rotate")
@click.option("--which", type=click.Choice(["oprf", "broker"]), required=True,
              help="oprf: the pseudonym service's key k; broker: the broker's key b.")
@click.option("--batch-size", default=2000, show_default=True, type=click.IntRange(1, 100_000))
@pass_context
def keys_rotate(ctx: Context, which: KeyName, batch_size: int) -> None:
    """Re-key every stored matching key in place (resumes an interrupted rotation)."""
    with domain_errors(ctx):
        actor = Actor.operator()
        rotation, resumed = start_or_resume(ctx.core, actor, which)
        total = remaining_rows(ctx.core, rotation)
        verb = "resuming" if resumed else "rotating"
        click.echo(f"{verb} {which} key: epoch {rotation.from_epoch} -> {rotation.to_epoch}, "
                   f"{total} stored keys to re-key")
        with click.progressbar(length=total, label="re-keying", file=sys.stderr) as bar:
            done = run_rotation(ctx.core, actor, rotation, batch_size=batch_size,
                                progress=bar.update)
        click.echo(f"done: {done} stored keys now at epoch {rotation.to_epoch}")


# -- organisations and professionals -----------------------------------------------------------


@main.group()
def org() -> None:
    """Organisations."""


@org.command("webhook")
@click.argument("organisation")
@click.argument("url", required=False)
@click.option("--clear", is_flag=True, help="Stop sending webhooks to this organisation.")
@pass_context
def org_webhook(ctx: Context, organisation: str, url: str | None, clear: bool) -> None:
    """Set where ORGANISATION's case system receives signed notifications (or --clear)."""
    if (url is None) == (not clear):
        fail("give a URL, or --clear")
    with domain_errors(ctx):
        ctx.registry.set_webhook(Actor.operator(), organisation, None if clear else url)
    click.echo(f"webhook of {organisation}: {'cleared' if clear else 'set'}")


@org.command("add")
@click.option("--identifier", required=True, help="Short stable code, e.g. vt-amsterdam.")
@click.option("--name", required=True)
@click.option("--type", "org_type", required=True, help="An organisation type of the policy.")
@click.option("--json", "as_json", is_flag=True)
@pass_context
def org_add(ctx: Context, identifier: str, name: str, org_type: str, as_json: bool) -> None:
    """Add an organisation."""
    with domain_errors(ctx):
        info = ctx.registry.create_organisation(
            Actor.operator(), identifier=identifier, name=name, org_type=org_type
        )
    echo_json(info) if as_json else click.echo(f"added organisation {info.identifier}")


def _print_orgs(orgs: Sequence[OrganisationInfo]) -> None:
    for o in orgs:
        click.echo(f"{o.identifier:<28} {o.org_type:<28} {o.name}")


@org.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_context
def org_list(ctx: Context, as_json: bool) -> None:
    """List organisations."""
    with domain_errors(ctx):
        orgs = ctx.registry.list_organisations()
    echo_json(orgs) if as_json else _print_orgs(orgs)


@org.group("key")
def org_key() -> None:
    """Organisations' API signing keys (Ed25519 public keys)."""


@org_key.command("add")
@click.option("--org", "organisation", required=True, help="Organisation code.")
@click.option("--key-id", required=True, help="The keyid the organisation signs with.")
@click.option("--public-key", required=True, help="64 hex characters (broker-client keygen).")
@pass_context
def org_key_add(ctx: Context, organisation: str, key_id: str, public_key: str) -> None:
    """Register an organisation's public key (several may be active, for rotation)."""
    with domain_errors(ctx):
        info = OrganisationKeys(ctx.core).add(Actor.operator(), organisation=organisation,
                                              key_id=key_id, public_key=public_key)
    click.echo(f"added key {info.key_id} for {info.organisation}")


@org_key.command("revoke")
@click.option("--key-id", required=True)
@pass_context
def org_key_revoke(ctx: Context, key_id: str) -> None:
    """Revoke a key: requests signed with it are refused from now on."""
    with domain_errors(ctx):
        info = OrganisationKeys(ctx.core).revoke(Actor.operator(), key_id)
    click.echo(f"revoked key {info.key_id} of {info.organisation}")


@org_key.command("list")
@click.option("--org", "organisation", help="Only this organisation.")
@click.option("--json", "as_json", is_flag=True)
@pass_context
def org_key_list(ctx: Context, organisation: str | None, as_json: bool) -> None:
    """List keys with their status."""
    with domain_errors(ctx):
        keys_found = OrganisationKeys(ctx.core).listing(organisation)
    if as_json:
        echo_json(keys_found)
        return
    for k in keys_found:
        click.echo(f"{k.key_id:<32} {k.organisation:<28} {k.status:<8} {k.source:<5} "
                   f"{k.public_key}")


@main.group()
def professional() -> None:
    """Contact professionals."""


for _command in SIGN_IN_COMMANDS:  # unlock, enrol-totp, password (broker/signin/cli.py)
    professional.add_command(_command)


@professional.command("add")
@click.option("--org", "organisation", required=True, help="Organisation code.")
@click.option("--username", required=True)
@click.option("--name", required=True)
@click.option("--role", required=True)
@click.option("--phone")
@click.option("--email")
@click.option("--password-stdin", is_flag=True,
              help="Read a web sign-in password from standard input (never as an argument: "
                   "arguments show in the process list and the shell history).")
@click.option("--access", "access_role", type=click.Choice(ACCESS_ROLES),
              default=ACCESS_PROFESSIONAL, show_default=True,
              help="What the account may do: chain work, or the privacy officer's or the "
                   "auditor's pages.")
@click.option("--json", "as_json", is_flag=True)
@pass_context
def professional_add(ctx: Context, organisation: str, username: str, name: str, role: str,
                     phone: str | None, email: str | None, password_stdin: bool,
                     access_role: str, as_json: bool) -> None:
    """Add a contact professional (or a privacy officer or auditor) to an organisation."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    with domain_errors(ctx):
        info = ctx.registry.add_professional(
            Actor.operator(), organisation=organisation, username=username, name=name,
            role=role, phone=phone, email=email, password=password, access_role=access_role,
        )
    echo_json(info) if as_json else click.echo(f"added professional {info.username}")


def _print_professionals(people: Sequence[ProfessionalInfo]) -> None:
    for p in people:
        click.echo(f"{p.username:<24} {p.organisation_identifier:<28} {p.role:<28} {p.name}")


@professional.command("list")
@click.option("--org", "organisation", help="Only this organisation.")
@click.option("--json", "as_json", is_flag=True)
@pass_context
def professional_list(ctx: Context, organisation: str | None, as_json: bool) -> None:
    """List contact professionals."""
    with domain_errors(ctx):
        people = ctx.registry.list_professionals(organisation)
    echo_json(people) if as_json else _print_professionals(people)


# -- registration and look-up ------------------------------------------------------------------


def _acting(ctx: Context, organisation: str, username: str) -> Actor:
    return professional_actor(ctx.registry, organisation, username)


@main.command()
@identifier_options
@click.option("--org", "organisation", required=True, help="Your organisation's code.")
@click.option("--professional", "username", required=True, help="The contact professional.")
@click.option("--purpose", required=True)
@click.option("--ends-on", type=click.DateTime(["%Y-%m-%d"]), help="Default: in 12 months.")
@click.option("--json", "as_json", is_flag=True)
@pass_context
def register(ctx: Context, bsn: Sequence[str], address: Sequence[str], person: Sequence[str],
             organisation: str, username: str, purpose: str, ends_on: Any,
             as_json: bool) -> None:
    """Register your organisation's involvement with a household."""
    with domain_errors(ctx):
        identifiers = parse_household(bsn=bsn, address=address, person=person)
        actor = _acting(ctx, organisation, username)
        info = ctx.registry.register_involvement(
            actor, organisation=organisation, professional=username,
            pseudonyms=ctx.core.pseudonymise(actor, identifiers), purpose=purpose,
            ends_on=ends_on.date() if ends_on else None,
        )
    if as_json:
        echo_json(info)
    else:
        click.echo(f"registered involvement {info.id} until {info.ends_on.isoformat()}")


@main.command()
@identifier_options
@click.option("--org", "organisation", required=True, help="Your organisation's code.")
@click.option("--professional", "username", required=True, help="Who asks.")
@click.option("--purpose", required=True, help="A purpose code of the policy.")
@click.option("--basis", required=True, help="consent, legal_task or vital_interest.")
@click.option("--consent-reference", help="For --basis consent: the consent record.")
@click.option("--statute", help="For --basis legal_task: the statute that grants the task.")
@click.option("--justification", help="For --basis vital_interest: why, in writing.")
@click.option("--register", "register_too", is_flag=True,
              help="Register your own involvement first (policies may demand it: reciprocity).")
@click.option("--json", "as_json", is_flag=True)
@pass_context
def lookup(ctx: Context, bsn: Sequence[str], address: Sequence[str], person: Sequence[str],
           organisation: str, username: str, purpose: str, basis: str,
           consent_reference: str | None, statute: str | None, justification: str | None,
           register_too: bool, as_json: bool) -> None:
    """Who else is involved with this household?"""
    with domain_errors(ctx):
        identifiers = parse_household(bsn=bsn, address=address, person=person)
        actor = _acting(ctx, organisation, username)
        pseudonyms = ctx.core.pseudonymise(actor, identifiers)
        result = LookupService(ctx.core).lookup(
            actor, pseudonyms=pseudonyms, purpose=purpose, basis=basis,
            evidence=Evidence(consent_reference, statute, justification),
            register=NewInvolvement(username, pseudonyms, purpose) if register_too else None,
        )
    if as_json:
        echo_json(result)
        return
    for m in result.matches:
        who = m.organisation or m.org_type or "an organisation (the policy reveals no more)"
        click.echo(f"{who}: matched on {' and '.join(m.matched_on)}; contact: {m.contact} "
                   f"(rule {m.rule_id})")
    # Never "no one is involved": the words are the same whether the policy withheld or not.
    click.echo((OTHERS_MAY_BE_HIDDEN if result.matches else NONE_SHOWN)[ctx.lang])
    if result.registration_required:
        click.echo(REGISTRATION_MAY_SHOW_MORE[ctx.lang] + " (--register)")


@main.command()
@pass_context
def purge(ctx: Context) -> None:
    """Move expired involvements to the history, delete history past its retention, drop
    stored API answers older than a week, erase audit events' personal details past theirs, and
    delete misuse counters older than the policy's longest window."""
    with domain_errors(ctx):
        counts = ctx.registry.purge(Actor.system("purge"))
        answers = purge_records(ctx.core, Actor.system("purge"))
        erased = erase_personal_details(ctx.core, Actor.system("purge"))
        minutes = prune_counts(ctx.core, Actor.system("purge"))
    click.echo(f"expired: {counts['expired']}, purged: {counts['purged']}, "
               f"stored API answers removed: {answers}, "
               f"audit events whose personal details were erased: {erased}, "
               f"misuse counters removed: {minutes}")


@main.command()
@click.option("--households", default=300, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--seed", default=2026, show_default=True, type=int)
@pass_context
def demo(ctx: Context, households: int, seed: int) -> None:
    """Load a synthetic population (organisations, professionals, overlapping involvements)."""
    from broker.demo import load_demo  # noqa: PLC0415 - only needed for demos

    with domain_errors(ctx):
        summary = load_demo(ctx.core, households=households, seed=seed, progress=click.echo)
    click.echo(summary.describe())
