"""``broker contact`` and ``broker consent``: the contact hand-over at the command line, for
operators and demos (professionals use the web form, case systems the API). Thin: parse, open
one unit of work, call the service, print. Each command but ``contact expire`` acts as one
professional: ``--org`` and ``--professional``.

A request granted at once, or a decision that grants one, shows this side's link token in the
same unit of work as the grant.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import click

from broker.audit.services import Actor
from broker.cli.support import (
    act_as,
    acting_options,
    household,
    identifier_options,
    translated,
    unit_of_work,
)
from broker.contact.consents import ConsentService
from broker.contact.links import LinkService
from broker.contact.services import ContactService, RequestView
from broker.registry.lookups import Evidence

_DATE = click.DateTime(["%Y-%m-%d"])


def _show(view: RequestView) -> None:
    click.echo(translated("request %(id)s: %(status)s (%(mode)s); purpose %(purpose)s, basis "
                          "%(legal_basis)s; asked by a %(requester_role)s of "
                          "%(requester_organisation)s; expires %(expires_at)s UTC",
                          id=view.id, status=view.status, mode=view.mode, purpose=view.purpose,
                          legal_basis=view.legal_basis, requester_role=view.requester_role,
                          requester_organisation=view.requester_organisation,
                          expires_at=format(view.expires_at, '%Y-%m-%d %H:%M')))
    if view.decision_message:
        click.echo(translated("message: %(decision_message)s",
                              decision_message=view.decision_message))
    for token in view.link_tokens:
        click.echo(translated("your contact link (shown once): %(token)s", token=token))


@click.group("contact")
def contact_group() -> None:
    """Ask for contact on a match, answer, withdraw, open and revoke links."""


@contact_group.command("request")
@acting_options
@click.option("--lookup", "lookup_id", required=True, help="The look-up's id.")
@click.option("--match", "match_id", required=True, help="The match's id from that look-up.")
@click.option("--purpose", required=True)
@click.option("--basis", required=True)
@click.option("--statute")
@click.option("--consent-reference")
@click.option("--justification")
def request_command(organisation: str, username: str, lookup_id: str, match_id: str,
                    purpose: str, basis: str, statute: str | None,
                    consent_reference: str | None, justification: str | None) -> None:
    """Ask for contact with the holder of a match."""
    with unit_of_work() as uow:
        service = ContactService(uow)
        actor = act_as(uow, organisation, username)
        view = service.request(actor, professional=username, lookup_id=lookup_id,
                               match_id=match_id, purpose=purpose, basis=basis,
                               evidence=Evidence(consent_reference, statute, justification))
        if view.status == "approved":  # granted directly: hand over this side's token
            view = service.get(actor, view.id)
    _show(view)


@contact_group.command("decide")
@acting_options
@click.argument("request_id")
@click.option("--approve/--deny", required=True)
@click.option("--message")
def decide_command(organisation: str, username: str, request_id: str, approve: bool,
                   message: str | None) -> None:
    """Approve or deny a request made to your organisation."""
    with unit_of_work() as uow:
        service = ContactService(uow)
        actor = act_as(uow, organisation, username)
        view = service.decide(actor, request_id, professional=username, approve=approve,
                              message=message)
        if view.status == "approved":
            view = service.get(actor, request_id)
    _show(view)


@contact_group.command("show")
@acting_options
@click.argument("request_id")
def show_command(organisation: str, username: str, request_id: str) -> None:
    """Show a request of (or to) your organisation, with your link's token the first time."""
    with unit_of_work() as uow:
        view = ContactService(uow).get(act_as(uow, organisation, username), request_id)
    _show(view)


@contact_group.command("withdraw")
@acting_options
@click.argument("request_id")
def withdraw_command(organisation: str, username: str, request_id: str) -> None:
    """Take back a pending request."""
    with unit_of_work() as uow:
        view = ContactService(uow).withdraw(act_as(uow, organisation, username), request_id,
                                            professional=username)
    _show(view)


# A link token is URL-safe base64, so one in 64 starts with "-": read as the token, not as an
# unknown option (the commands have no short options a token could collide with).
TOKEN_ARGUMENT = {"ignore_unknown_options": True}


@contact_group.command("open", context_settings=TOKEN_ARGUMENT)
@acting_options
@click.argument("token")
def open_command(organisation: str, username: str, token: str) -> None:
    """Show the contact details a link issued to your organisation shows."""
    with unit_of_work() as uow:
        card = LinkService(uow).open_by_token(act_as(uow, organisation, username), token)
    for name in ("name", "role", "phone", "email", "organisation"):
        value = getattr(card, name)
        if value is not None:
            click.echo(f"{name}: {value}")
    click.echo(translated("(link %(link_id)s, valid until %(expires_at)s UTC)",
                          link_id=card.link_id,
                          expires_at=format(card.expires_at, '%Y-%m-%d %H:%M')))


@contact_group.command("revoke", context_settings=TOKEN_ARGUMENT)
@acting_options
@click.argument("token")
def revoke_command(organisation: str, username: str, token: str) -> None:
    """Revoke a contact link (either side)."""
    with unit_of_work() as uow:
        link_id = LinkService(uow).revoke(act_as(uow, organisation, username), token=token)
    click.echo(translated("revoked link %(link_id)s", link_id=link_id))


@contact_group.command("expire")
def expire_command() -> None:
    """Expire unanswered requests past the policy's time."""
    with unit_of_work() as uow:
        count = ContactService(uow).expire(Actor.system("expire"))
    click.echo(translated("expired requests: %(count)s", count=count))


@click.group("consent")
def consent_group() -> None:
    """Record and withdraw consent (the ``consent`` legal basis)."""


@consent_group.command("add")
@acting_options
@identifier_options
@click.option("--given-by", type=click.Choice(["person", "parent", "guardian"]), required=True)
@click.option("--given-on", type=_DATE, required=True)
@click.option("--valid-until", type=_DATE, required=True)
@click.option("--purpose", "purposes", multiple=True, required=True)
@click.option("--holder-type", "holder_types", multiple=True,
              help="Kinds of organisation it may reach (default: any).")
def consent_add(organisation: str, username: str, bsn: Sequence[str], address: Sequence[str],
                person: Sequence[str], given_by: str, given_on: datetime,
                valid_until: datetime, purposes: tuple[str, ...],
                holder_types: tuple[str, ...]) -> None:
    """Record consent given to your organisation about a household (its identifiers, as for
    a registration); prints its reference."""
    identifiers = household(bsn, address, person)
    with unit_of_work() as uow:
        acting = act_as(uow, organisation, username)
        info = ConsentService(uow).record(
            acting, professional=username,
            pseudonyms=uow.pseudonymise(acting, identifiers), given_by=given_by,
            given_on=given_on.date(), valid_until=valid_until.date(), purposes=list(purposes),
            holder_types=list(holder_types))
    click.echo(translated("consent %(id)s: given by the %(given_by)s on %(given_on)s, valid "
                          "until %(valid_until)s, for %(purposes)s",
                          id=info.id, given_by=info.given_by, given_on=info.given_on,
                          valid_until=info.valid_until, purposes=', '.join(info.purposes)))


@consent_group.command("withdraw")
@acting_options
@click.argument("consent_id")
def consent_withdraw(organisation: str, username: str, consent_id: str) -> None:
    """Withdraw consent: no new requests under it; its links are revoked."""
    with unit_of_work() as uow:
        revoked = ConsentService(uow).withdraw(act_as(uow, organisation, username),
                                               consent_id, professional=username)
    click.echo(translated("consent %(consent_id)s withdrawn; contact links revoked: %(revoked)s",
                          consent_id=consent_id, revoked=revoked))
