"""``broker org``, ``professional``, ``register``, ``lookup`` and ``purge``: the registry at the
command line, for operators and demos (professionals use the web form, case systems the API).

Each command that calls a service opens one unit of work for it (:mod:`broker.cli.support`):
a look-up with ``--register`` pseudonymises, registers and looks up in one, and ``purge`` is one
use case whose four clean-ups commit together.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from broker.audit.services import Actor
from broker.callers.idempotency import purge_records
from broker.callers.keys import OrganisationKeys
from broker.cli.support import (
    act_as,
    cli_root,
    echo_json,
    fail,
    household,
    identifier_options,
    translated,
    unit_of_work,
)
from broker.oversight.retention import erase_personal_details
from broker.registry.lookups import Evidence, LookupService
from broker.registry.misuse import prune_counts
from broker.registry.models import ACCESS_PROFESSIONAL, ACCESS_ROLES
from broker.registry.results import (
    NONE_SHOWN,
    OTHERS_MAY_BE_HIDDEN,
    REGISTRATION_MAY_SHOW_MORE,
    OrganisationInfo,
    ProfessionalInfo,
)
from broker.registry.services import NewInvolvement, RegistryService

# -- organisations -----------------------------------------------------------------------------


@click.group("org")
def org() -> None:
    """Organisations."""


@org.command("webhook")
@click.argument("organisation")
@click.argument("url", required=False)
@click.option("--clear", is_flag=True, help="Stop sending webhooks to this organisation.")
def org_webhook(organisation: str, url: str | None, clear: bool) -> None:
    """Set where ORGANISATION's case system receives signed notifications (or --clear)."""
    if (url is None) == (not clear):
        fail(translated("give a URL, or --clear"))
    with unit_of_work() as uow:
        RegistryService(uow).set_webhook(Actor.operator(), organisation,
                                         None if clear else url)
    click.echo(translated("webhook of %(organisation)s: cleared", organisation=organisation)
               if clear else translated("webhook of %(organisation)s: set",
                                        organisation=organisation))


@org.command("add")
@click.option("--identifier", required=True, help="Short stable code, e.g. vt-amsterdam.")
@click.option("--name", required=True)
@click.option("--type", "org_type", required=True, help="An organisation type of the policy.")
@click.option("--json", "as_json", is_flag=True)
def org_add(identifier: str, name: str, org_type: str, as_json: bool) -> None:
    """Add an organisation."""
    with unit_of_work() as uow:
        info = RegistryService(uow).create_organisation(
            Actor.operator(), identifier=identifier, name=name, org_type=org_type
        )
    echo_json(info) if as_json else click.echo(translated("added organisation %(identifier)s",
                                                          identifier=info.identifier))


def _print_orgs(orgs: Sequence[OrganisationInfo]) -> None:
    for o in orgs:
        click.echo(f"{o.identifier:<28} {o.org_type:<28} {o.name}")


@org.command("list")
@click.option("--json", "as_json", is_flag=True)
def org_list(as_json: bool) -> None:
    """List organisations."""
    with unit_of_work() as uow:
        orgs = RegistryService(uow).list_organisations()
    echo_json(orgs) if as_json else _print_orgs(orgs)


@org.group("key")
def org_key() -> None:
    """Organisations' API signing keys (Ed25519 public keys)."""


@org_key.command("add")
@click.option("--org", "organisation", required=True, help="Organisation code.")
@click.option("--key-id", required=True, help="The keyid the organisation signs with.")
@click.option("--public-key", required=True, help="64 hex characters (broker-client keygen).")
def org_key_add(organisation: str, key_id: str, public_key: str) -> None:
    """Register an organisation's public key (several may be active, for rotation)."""
    with unit_of_work() as uow:
        info = OrganisationKeys(uow).add(Actor.operator(), organisation=organisation,
                                         key_id=key_id, public_key=public_key)
    click.echo(translated("added key %(key_id)s for %(organisation)s",
                          key_id=info.key_id, organisation=info.organisation))


@org_key.command("revoke")
@click.option("--key-id", required=True)
def org_key_revoke(key_id: str) -> None:
    """Revoke a key: requests signed with it are refused from now on."""
    with unit_of_work() as uow:
        info = OrganisationKeys(uow).revoke(Actor.operator(), key_id)
    click.echo(translated("revoked key %(key_id)s of %(organisation)s",
                          key_id=info.key_id, organisation=info.organisation))


@org_key.command("list")
@click.option("--org", "organisation", help="Only this organisation.")
@click.option("--json", "as_json", is_flag=True)
def org_key_list(organisation: str | None, as_json: bool) -> None:
    """List keys with their status."""
    with unit_of_work() as uow:
        keys_found = OrganisationKeys(uow).listing(organisation)
    if as_json:
        echo_json(keys_found)
        return
    for k in keys_found:
        click.echo(f"{k.key_id:<32} {k.organisation:<28} {k.status:<8} {k.source:<5} "
                   f"{k.public_key}")


# -- professionals -----------------------------------------------------------------------------


@click.group("professional")
def professional() -> None:
    """Contact professionals."""


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
def professional_add(organisation: str, username: str, name: str, role: str,
                     phone: str | None, email: str | None, password_stdin: bool,
                     access_role: str, as_json: bool) -> None:
    """Add a contact professional (or a privacy officer or auditor) to an organisation."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    with unit_of_work() as uow:
        info = RegistryService(uow).add_professional(
            Actor.operator(), organisation=organisation, username=username, name=name,
            role=role, phone=phone, email=email, password=password, access_role=access_role,
        )
    echo_json(info) if as_json else click.echo(translated("added professional %(username)s",
                                                          username=info.username))


def _print_professionals(people: Sequence[ProfessionalInfo]) -> None:
    for p in people:
        click.echo(f"{p.username:<24} {p.organisation_identifier:<28} {p.role:<28} {p.name}")


@professional.command("list")
@click.option("--org", "organisation", help="Only this organisation.")
@click.option("--json", "as_json", is_flag=True)
def professional_list(organisation: str | None, as_json: bool) -> None:
    """List contact professionals."""
    with unit_of_work() as uow:
        people = RegistryService(uow).list_professionals(organisation)
    echo_json(people) if as_json else _print_professionals(people)


# -- registration, look-up and purge -----------------------------------------------------------


@click.command("register")
@identifier_options
@click.option("--org", "organisation", required=True, help="Your organisation's code.")
@click.option("--professional", "username", required=True, help="The contact professional.")
@click.option("--purpose", required=True)
@click.option("--ends-on", type=click.DateTime(["%Y-%m-%d"]), help="Default: in 12 months.")
@click.option("--json", "as_json", is_flag=True)
def register(bsn: Sequence[str], address: Sequence[str], person: Sequence[str],
             organisation: str, username: str, purpose: str, ends_on: Any,
             as_json: bool) -> None:
    """Register your organisation's involvement with a household."""
    identifiers = household(bsn, address, person)
    with unit_of_work() as uow:
        actor = act_as(uow, organisation, username)
        info = RegistryService(uow).register_involvement(
            actor, organisation=organisation, professional=username,
            pseudonyms=uow.pseudonymise(actor, identifiers), purpose=purpose,
            ends_on=ends_on.date() if ends_on else None,
        )
    if as_json:
        echo_json(info)
    else:
        click.echo(translated("registered involvement %(id)s until %(ends_on)s",
                              id=info.id, ends_on=info.ends_on.isoformat()))


@click.command("lookup")
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
def lookup(bsn: Sequence[str], address: Sequence[str], person: Sequence[str],
           organisation: str, username: str, purpose: str, basis: str,
           consent_reference: str | None, statute: str | None, justification: str | None,
           register_too: bool, as_json: bool) -> None:
    """Who else is involved with this household?"""
    identifiers = household(bsn, address, person)
    with unit_of_work() as uow:
        actor = act_as(uow, organisation, username)
        pseudonyms = uow.pseudonymise(actor, identifiers)
        result = LookupService(uow).lookup(
            actor, pseudonyms=pseudonyms, purpose=purpose, basis=basis,
            evidence=Evidence(consent_reference, statute, justification),
            register=NewInvolvement(username, pseudonyms, purpose) if register_too else None,
        )
    if as_json:
        echo_json(result)
        return
    for m in result.matches:
        who = m.organisation or m.org_type or translated(
            "an organisation (the policy reveals no more)")
        click.echo(translated("%(who)s: matched on %(matched_on)s; contact: %(contact)s (rule "
                              "%(rule_id)s)",
                              who=who, matched_on=translated(" and ").join(m.matched_on),
                              contact=m.contact, rule_id=m.rule_id))
    # Never "no one is involved": the words are the same whether the policy withheld or not.
    lang = cli_root().lang
    click.echo((OTHERS_MAY_BE_HIDDEN if result.matches else NONE_SHOWN)[lang])
    if result.registration_required:
        click.echo(REGISTRATION_MAY_SHOW_MORE[lang] + " (--register)")


@click.command("purge")
def purge() -> None:
    """Move expired involvements to the history, delete history past its retention, drop
    stored API answers older than a week, erase audit events' personal details past theirs, and
    delete misuse counters older than the policy's longest window."""
    actor = Actor.system("purge")
    with unit_of_work() as uow:
        counts = RegistryService(uow).purge(actor)
        answers = purge_records(uow, actor)
        erased = erase_personal_details(uow, actor)
        minutes = prune_counts(uow, actor)
    click.echo(translated("expired: %(expired)s, purged: %(purged)s, stored API answers "
                          "removed: %(answers)s, audit events whose personal details were "
                          "erased: %(erased)s, misuse counters removed: %(minutes)s",
                          expired=counts['expired'], purged=counts['purged'], answers=answers,
                          erased=erased, minutes=minutes))
