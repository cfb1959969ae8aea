"""The coordinator (regievoerder): one involved professional who coordinates the household.

Rules this module guarantees:

- A proposal is made for one of the proposer's organisation's own active involvements. The
  nominee is that involvement itself, or a match of one of the organisation's recent look-ups
  (found again from the look-up's audit event, as for a contact request) on the same household.
- The group (the voters) is the household's: every other active involvement sharing a matching
  key with the proposer's involvement whose organisation and the proposer's may know of each
  other, decided with the *proposal's* purpose (the proposer's involvement's) under any basis
  that purpose accepts, as for a ``new_match`` notification, never with each voter's own
  purpose. Both ways, because a vote discloses both ways: the proposal tells the voter of the
  proposer, and the outcome (a decline above all) tells the proposer of the voter. Involvements
  of the proposer's own organisation always qualify. The nominee is in the group in any case
  (nominating it is the proposer's choice to make itself known to it, as asking for contact
  is). Each voter gets a vote, its contact professional a ``coordinator_proposal``
  notification; the proposer agrees by proposing. Everyone else is neither asked nor told: no
  message, no webhook, no view, and a vote from them is "not found".
- A proposal is refused when the group is empty; the answer is the same whether or not
  organisations hidden from the proposer are involved. An involvement takes part in at most one
  open proposal at a time.
- Any decline declines. When every vote of an involvement still active agrees, the proposal is
  agreed, and an earlier agreed proposal is superseded when each of its still active
  participants (proposer or voter) takes part in the new one. An earlier agreement with a
  participant outside the new group stands for that participant (who therefore learns nothing
  of the new one); each participant sees its newest agreement. Each outcome is notified to
  every active participant but the professional who voted last.
- Who coordinates is shown to each participant as the policy lets its organisation know of the
  coordinator's (viewer's type as requester, coordinator's as holder, the viewer's involvement's
  purpose, basis ``legal_task``): not allowed or ``nothing``: only that someone coordinates;
  ``organisation_type``: the type; ``organisation``: the organisation and the coordinating
  professional's name and role. One's own organisation is always shown in full.
- Every proposal, vote, outcome and view is an audit event in the transaction of the change.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session, aliased

from broker.audit.events import Event
from broker.audit.services import Actor, Subject, record_event
from broker.contact.inform import own_involvement
from broker.contact.models import CoordinatorProposal, CoordinatorVote
from broker.contact.services import ContactService
from broker.core import UnitOfWork
from broker.errors import Conflict, NotFound, required
from broker.notifications.services import may_learn_of, notify
from broker.policy import DecisionRequest, Policy
from broker.registry.common import member
from broker.registry.models import INVOLVEMENT_ACTIVE, Involvement, MatchingKey

PROPOSED, AGREED, DECLINED, SUPERSEDED = "proposed", "agreed", "declined", "superseded"
AGREE, DECLINE = "agree", "decline"
VIEW_BASIS = "legal_task"


@dataclass(frozen=True)
class MatchRef:
    """A match of one of the organisation's own look-ups: the look-up's id and the match's."""

    lookup_id: str
    match_id: str


@dataclass(frozen=True)
class Coordinator:
    """Who coordinates, as far as the viewer's organisation may know."""

    reveal: str  # nothing | organisation_type | organisation
    own_organisation: bool
    org_type: str | None = None
    organisation: str | None = None
    name: str | None = None
    role: str | None = None


@dataclass(frozen=True)
class ProposalView:
    """A proposal as one of its participants sees it (never how the others voted)."""

    id: str
    status: str
    coordinator: Coordinator
    proposed_by_you: bool
    your_vote: str | None
    created_at: datetime
    decided_at: datetime | None


@dataclass(frozen=True)
class Coordination:
    """Who coordinates the household of an involvement, and the proposals still open."""

    involvement_id: str
    coordinator: Coordinator | None  # None: nobody agreed on
    agreed_at: datetime | None = None
    open_proposals: list[ProposalView] = field(default_factory=list)


class CoordinatorService:
    """Proposing a coordinator, voting, and showing who coordinates."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.core = uow.core
        self.session = uow.session

    def propose(self, actor: Actor, *, professional: str, involvement_id: str,
                coordinator: MatchRef | None = None) -> ProposalView:
        """Propose a coordinator for the household of ``involvement_id``: that involvement
        itself (``coordinator`` None) or the holder of a match of one of your look-ups."""
        policy, now, today = self.core.policy(), self.core.now(), self.core.today()
        actor = actor.acting_for(professional)
        session = self.session
        proposer = member(session, actor, professional)
        mine = own_involvement(session, actor, involvement_id, today)
        if session.scalar(_taking_part(mine.id, PROPOSED).limit(1)) is not None:
            raise Conflict(
                "A coordinator proposal for this household is still open; answer it first.")
        chosen = mine
        if coordinator is not None:
            _, chosen = ContactService(self.uow).find_match(
                session, actor, coordinator.lookup_id, coordinator.match_id, now)
        group = _group(session, policy, mine, chosen, today)
        if chosen is not mine and chosen not in group:
            raise NotFound("This match is not on the household of your involvement.")
        if not group:
            raise Conflict(
                "No other involvement you may know of shares this household: there is nobody to "
                "agree with.")
        proposal = CoordinatorProposal(proposed_by_id=mine.id, coordinator_id=chosen.id,
                                       status=PROPOSED, created_at=now)
        session.add(proposal)
        session.flush()
        session.add_all(CoordinatorVote(proposal_id=proposal.id, involvement_id=other.id)
                        for other in group)
        view, rule = self._view(session, policy, proposal, mine)
        record_event(session, actor, Event.COORDINATOR_PROPOSED, purpose=mine.purpose,
                     policy_version=policy.version, rule_id=rule,
                     subjects=[Subject(k.category, k.value, k.oprf_epoch, k.broker_epoch)
                               for k in mine.matching_keys],
                     details={"proposal_id": proposal.public_id,
                              "involvement_id": mine.public_id,
                              "coordinator_involvement_id": chosen.public_id,
                              "voters": len(group)})
        _notify(session, proposal, group, skip={proposer.id})
        return view

    def vote(self, actor: Actor, proposal_id: str, *, professional: str, involvement_id: str,
             agree: bool) -> ProposalView:
        """Agree with or decline a proposal on behalf of your involvement ``involvement_id``."""
        policy, now, today = self.core.policy(), self.core.now(), self.core.today()
        actor = actor.acting_for(professional)
        session = self.session
        voter = member(session, actor, professional)
        mine = own_involvement(session, actor, involvement_id, today)
        proposal = session.scalar(select(CoordinatorProposal).filter_by(public_id=proposal_id))
        ballot = None if proposal is None else session.scalar(
            select(CoordinatorVote).filter_by(proposal_id=proposal.id,
                                              involvement_id=mine.id))
        if proposal is None or ballot is None:
            raise NotFound("There is no such coordinator proposal for this involvement.")
        if proposal.status != PROPOSED or ballot.vote is not None:
            raise Conflict("This proposal has been answered already.")
        ballot.vote, ballot.voted_at, ballot.voted_by_id = (
            AGREE if agree else DECLINE), now, voter.id
        record_event(session, actor, Event.COORDINATOR_VOTED, purpose=mine.purpose,
                     details={"proposal_id": proposal.public_id,
                              "involvement_id": mine.public_id, "vote": ballot.vote})
        self._settle(session, actor, proposal, voter.id, now, today)
        view, _ = self._view(session, policy, proposal, mine)
        return view

    def current(self, actor: Actor, involvement_id: str) -> Coordination:
        """Who coordinates the household of your involvement ``involvement_id`` (as far as
        the policy lets your organisation know), and the proposals still open to it."""
        policy, today = self.core.policy(), self.core.today()
        session = self.session
        mine = own_involvement(session, actor, involvement_id, today)
        proposals = session.scalars(_taking_part(mine.id, AGREED, PROPOSED)
                                    .order_by(CoordinatorProposal.id.desc())).all()
        # The newest agreement stands; an earlier one does not return when its coordinator
        # leaves.
        agreed = next((p for p in proposals if p.status == AGREED), None)
        if agreed is not None and not _active(session.get(Involvement, agreed.coordinator_id),
                                              today):
            agreed = None
        coordinating = ([self._reveal(policy, mine, _involvement(
            session, agreed.coordinator_id))] if agreed is not None else [])
        views = [self._view(session, policy, p, mine) for p in proposals
                 if p.status == PROPOSED]
        rules = {rule for _, rule in [*coordinating, *views] if rule}
        shown = coordinating[0][0] if coordinating else None
        pending = [view for view, _ in views]
        record_event(session, actor, Event.COORDINATOR_VIEWED, purpose=mine.purpose,
                     legal_basis=VIEW_BASIS, policy_version=policy.version,
                     rule_id=",".join(sorted(rules)) or None,
                     details={"involvement_id": mine.public_id,
                              "agreed_proposal_id": agreed.public_id if agreed else None,
                              "reveal": shown.reveal if shown else None,
                              "open_proposal_ids": [p.id for p in pending]})
        return Coordination(mine.public_id, shown, agreed.decided_at if agreed else None,
                            pending)

    # -- helpers -------------------------------------------------------------------------------

    def _settle(self, session: Session, actor: Actor, proposal: CoordinatorProposal,
                voter_id: int, now: datetime, today: date) -> None:
        """Decline on any decline; agree when every still active voter agreed."""
        votes = session.scalars(select(CoordinatorVote).filter_by(proposal_id=proposal.id)).all()
        voters = [_involvement(session, v.involvement_id) for v in votes]
        details: dict[str, object] = {"proposal_id": proposal.public_id}
        if any(v.vote == DECLINE for v in votes):
            proposal.status, event = DECLINED, Event.COORDINATOR_DECLINED
        elif any(v.vote is None and _active(i, today) for v, i in zip(votes, voters,
                                                                         strict=True)):
            return
        else:
            proposal.status, event = AGREED, Event.COORDINATOR_AGREED
            participants = {proposal.proposed_by_id, *(v.involvement_id for v in votes)}
            earlier = [old for old in session.scalars(
                select(CoordinatorProposal).where(
                    CoordinatorProposal.status == AGREED, CoordinatorProposal.id != proposal.id,
                    or_(CoordinatorProposal.proposed_by_id.in_(participants),
                        CoordinatorProposal.id.in_(select(CoordinatorVote.proposal_id).where(
                            CoordinatorVote.involvement_id.in_(participants)))))
                .order_by(CoordinatorProposal.id))
                if _participants(session, old, today) <= participants]
            for old in earlier:
                old.status = SUPERSEDED
            details |= {"coordinator_involvement_id":
                        _involvement(session, proposal.coordinator_id).public_id,
                        "superseded": [old.public_id for old in earlier]}
        proposal.decided_at = now
        record_event(session, actor, event, details=details)
        group = [_involvement(session, proposal.proposed_by_id), *voters]
        _notify(session, proposal, [i for i in group if _active(i, today)], skip={voter_id})

    def _view(self, session: Session, policy: Policy, proposal: CoordinatorProposal,
              viewer: Involvement) -> tuple[ProposalView, str | None]:
        shown, rule = self._reveal(policy, viewer, _involvement(session, proposal.coordinator_id))
        ballot = session.scalar(select(CoordinatorVote.vote).filter_by(
            proposal_id=proposal.id, involvement_id=viewer.id))
        return ProposalView(proposal.public_id, proposal.status, shown,
                            proposal.proposed_by_id == viewer.id, ballot, proposal.created_at,
                            proposal.decided_at), rule

    @staticmethod
    def _reveal(policy: Policy, viewer: Involvement, coordinator: Involvement
                ) -> tuple[Coordinator, str | None]:
        """The coordinator as the viewer's organisation may know it, and the deciding rule."""
        org, person = coordinator.organisation, coordinator.professional
        if coordinator.organisation_id == viewer.organisation_id:
            return Coordinator("organisation", True, org.org_type, org.name, person.name,
                               person.role), None
        decision = policy.decide(DecisionRequest(viewer.organisation.org_type, org.org_type,
                                                 viewer.purpose, VIEW_BASIS))
        reveal = decision.reveal if decision.allowed else "nothing"
        rule = decision.rule_ids[0] if decision.allowed else None
        if reveal == "organisation":
            # A person's name and role go only where a contact link could show them too.
            fields = decision.link_fields if decision.contact != "none" else frozenset()
            return Coordinator(reveal, False, org.org_type, org.name,
                               person.name if "name" in fields else None,
                               person.role if "role" in fields else None), rule
        return Coordinator(reveal, False,
                           org.org_type if reveal == "organisation_type" else None), rule


def _taking_part(involvement_id: int, *statuses: str) -> Select[CoordinatorProposal]:
    """Proposals in ``statuses`` that the involvement made or has a vote on."""
    voted = select(CoordinatorVote.proposal_id).where(
        CoordinatorVote.involvement_id == involvement_id)
    return select(CoordinatorProposal).where(
        CoordinatorProposal.status.in_(statuses),
        or_(CoordinatorProposal.proposed_by_id == involvement_id,
            CoordinatorProposal.id.in_(voted)))


def _group(session: Session, policy: Policy, mine: Involvement, nominee: Involvement,
           today: date) -> list[Involvement]:
    """Every other active involvement sharing a matching key with ``mine`` that is the nominee
    or whose organisation and ``mine``'s may know of each other for ``mine``'s purpose."""
    ours, theirs = aliased(MatchingKey), aliased(MatchingKey)
    sharing = (select(theirs.involvement_id).join(ours, ours.value == theirs.value)
               .where(ours.involvement_id == mine.id))
    return [other for other in session.scalars(select(Involvement).where(
        Involvement.id.in_(sharing), Involvement.id != mine.id,
        Involvement.state == INVOLVEMENT_ACTIVE, Involvement.ends_on >= today)
        .order_by(Involvement.id)) if other is nominee or _know_each_other(policy, mine, other)]


def _know_each_other(policy: Policy, proposer: Involvement, other: Involvement) -> bool:
    """Whether ``other``'s organisation may learn of the proposer's and the proposer's of
    ``other``'s, both decided with the proposal's purpose (the proposer's involvement's)."""
    if other.organisation_id == proposer.organisation_id:
        return True
    ours, theirs = proposer.organisation.org_type, other.organisation.org_type
    return (may_learn_of(policy, theirs, ours, proposer.purpose)
            and may_learn_of(policy, ours, theirs, proposer.purpose))


def _participants(session: Session, proposal: CoordinatorProposal, today: date) -> set[int]:
    """The proposal's proposer and voters whose involvements are still active."""
    ids = {proposal.proposed_by_id, *session.scalars(
        select(CoordinatorVote.involvement_id).filter_by(proposal_id=proposal.id))}
    return {i for i in ids if _active(session.get(Involvement, i), today)}


def _active(involvement: Involvement | None, today: date) -> bool:
    return (involvement is not None and involvement.state == INVOLVEMENT_ACTIVE
            and involvement.ends_on >= today)


def _involvement(session: Session, row_id: int) -> Involvement:
    # A proposal's involvements cascade with it.
    return required(session.get(Involvement, row_id), "a proposal's involvement")


def _notify(session: Session, proposal: CoordinatorProposal, group: list[Involvement], *,
            skip: set[int]) -> None:
    """A ``coordinator_proposal`` message to each contact professional in ``group`` (once)."""
    for involvement in group:
        if involvement.professional_id not in skip:
            skip.add(involvement.professional_id)
            notify(session, professional_id=involvement.professional_id,
                   kind="coordinator_proposal", reference=proposal.public_id,
                   organisation_id=involvement.organisation_id,
                   webhook_event={"involvement_id": involvement.public_id,
                                  "status": proposal.status})
