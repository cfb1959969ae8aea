"""``broker inform`` and ``broker coordinator``: the duty to inform and the coordinator at the
command line, for operators and demos (professionals use the web form, case systems the API).
Thin: parse, open one unit of work, call the service, print. Each command but ``inform remind``
acts as one professional: ``--org`` and ``--professional``.
"""

from __future__ import annotations

from datetime import datetime

import click

from broker.audit.services import Actor
from broker.cli.support import act_as, acting_options, cli_errors, translated, unit_of_work
from broker.contact.coordinator import Coordinator, CoordinatorService, MatchRef, ProposalView
from broker.contact.inform import InformService, InformStatus
from broker.errors import ValidationError

_DATE = click.DateTime(["%Y-%m-%d"])


def _show_status(status: InformStatus) -> None:
    if status.state == "informed":
        click.echo(translated("involvement %(involvement_id)s: household informed on "
                              "%(informed_on)s",
                              involvement_id=status.involvement_id, informed_on=status.informed_on))
    elif status.state == "postponed":
        click.echo(translated("involvement %(involvement_id)s: informing postponed until "
                              "%(postponed_until)s",
                              involvement_id=status.involvement_id,
                              postponed_until=status.postponed_until))
    else:
        click.echo(translated("involvement %(involvement_id)s: not recorded whether the "
                              "household was informed",
                              involvement_id=status.involvement_id))


def _describe(coordinator: Coordinator) -> str:
    """Who the coordinator is, in as much detail as the policy allows."""
    if coordinator.reveal == "organisation":
        own = translated(" (your organisation)") if coordinator.own_organisation else ""
        return f"{coordinator.name} ({coordinator.role}), {coordinator.organisation}{own}"
    if coordinator.reveal == "organisation_type":
        return translated("someone of a %(org_type)s", org_type=coordinator.org_type)
    return translated("someone (the policy does not let your organisation know who)")


def _show_proposal(view: ProposalView) -> None:
    mine = translated("; proposed by you") if view.proposed_by_you else ""
    vote = translated("; your vote: %(vote)s", vote=view.your_vote) if view.your_vote else ""
    click.echo(translated("proposal %(id)s: %(status)s%(mine)s%(vote)s; proposed coordinator: "
                          "%(coordinator)s",
                          id=view.id, status=view.status, mine=mine, vote=vote,
                          coordinator=_describe(view.coordinator)))


@click.group("inform")
def inform_group() -> None:
    """Duty to inform (AVG art. 14): record informing, postpone it, remind when due."""


@inform_group.command("informed")
@acting_options
@click.argument("involvement_id")
@click.option("--on", "informed_on", type=_DATE, help="The day informed (default: today).")
def informed_command(organisation: str, username: str, involvement_id: str,
                     informed_on: datetime | None) -> None:
    """Record that the household of an involvement was informed."""
    with unit_of_work() as uow:
        day = informed_on.date() if informed_on else uow.today()
        status = InformService(uow).record_informed(
            act_as(uow, organisation, username), involvement_id, informed_on=day)
    _show_status(status)


@inform_group.command("postpone")
@acting_options
@click.argument("involvement_id")
@click.option("--reason", required=True, help="Why informing must wait (written down).")
@click.option("--until", type=_DATE, required=True, help="Review the postponement on this day.")
def postpone_command(organisation: str, username: str, involvement_id: str, reason: str,
                     until: datetime) -> None:
    """Postpone informing the household, with a reason, until a date."""
    with unit_of_work() as uow:
        status = InformService(uow).postpone(
            act_as(uow, organisation, username), involvement_id, reason=reason,
            until=until.date())
    _show_status(status)


@inform_group.command("remind")
def remind_command() -> None:
    """Remind professionals whose postponement date has come (run daily)."""
    with unit_of_work() as uow:
        count = InformService(uow).remind_due(Actor.system("inform-reminder"))
    click.echo(translated("reminders sent: %(count)s", count=count))


@click.group("coordinator")
def coordinator_group() -> None:
    """Agree on one coordinator (regievoerder) for a household."""


@coordinator_group.command("propose")
@acting_options
@click.argument("involvement_id")
@click.option("--lookup", "lookup_id",
              help="The look-up of yours that showed the nominee (default: you coordinate).")
@click.option("--match", "match_id", help="The nominee's match id in that look-up.")
def propose_command(organisation: str, username: str, involvement_id: str,
                    lookup_id: str | None, match_id: str | None) -> None:
    """Propose yourself, or the holder of a match, as the household's coordinator."""
    with cli_errors():
        if (lookup_id is None) != (match_id is None):
            raise ValidationError("Give --lookup and --match together, or neither.")
    nominee = MatchRef(lookup_id, match_id) if lookup_id and match_id else None
    with unit_of_work() as uow:
        view = CoordinatorService(uow).propose(
            act_as(uow, organisation, username), professional=username,
            involvement_id=involvement_id, coordinator=nominee)
    _show_proposal(view)


@coordinator_group.command("vote")
@acting_options
@click.argument("proposal_id")
@click.option("--involvement", "involvement_id", required=True,
              help="Your involvement the proposal was sent to.")
@click.option("--agree/--decline", required=True)
def vote_command(organisation: str, username: str, proposal_id: str, involvement_id: str,
                 agree: bool) -> None:
    """Agree with or decline a coordinator proposal."""
    with unit_of_work() as uow:
        view = CoordinatorService(uow).vote(
            act_as(uow, organisation, username), proposal_id, professional=username,
            involvement_id=involvement_id, agree=agree)
    _show_proposal(view)


@coordinator_group.command("show")
@acting_options
@click.argument("involvement_id")
def show_command(organisation: str, username: str, involvement_id: str) -> None:
    """Who coordinates the household of your involvement, and proposals awaiting you."""
    with unit_of_work() as uow:
        coordination = CoordinatorService(uow).current(act_as(uow, organisation, username),
                                                       involvement_id)
    who = coordination.coordinator
    if who is not None and coordination.agreed_at is not None:
        click.echo(translated("involvement %(involvement)s: coordinator %(who)s, agreed "
                              "%(agreed)s",
                              involvement=coordination.involvement_id, who=_describe(who),
                              agreed=format(coordination.agreed_at, "%Y-%m-%d")))
    else:
        click.echo(translated("involvement %(involvement)s: no coordinator agreed on",
                              involvement=coordination.involvement_id))
    for proposal in coordination.open_proposals:
        _show_proposal(proposal)
