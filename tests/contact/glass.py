"""The vital-interest case of the contact tests: a neighbourhood team asks mental health care
(two professionals) for contact under the shipped policy's ``vital-interest-breaks-the-glass``
rule, which carries ``notify_holder``, ``require_second_approver`` and ``flag_for_review``."""

from __future__ import annotations

from dataclasses import dataclass

from broker_primitives.blinding import Pseudonym
from sqlalchemy import func, select

from broker.audit.models import AuditEvent
from broker.audit.services import Actor
from broker.contact.models import ContactLink
from broker.contact.services import ContactService, RequestView
from broker.core import Core
from broker.registry.lookups import Evidence, LookupService
from broker.registry.services import RegistryService
from tests.factories import ADDRESS, MOTHER_BSN, Member, household, register
from tests.uow import committed

WHY = ("De moeder vertelde dat haar partner dreigt het kind mee te nemen; zij is bang en durft "
       "niet naar huis. Direct overleg met de behandelaar is nodig om haar veiligheid te wegen.")
GLASS = Evidence(justification=WHY)


def make_members(registry: RegistryService, code: str, org_type: str, people: int = 1
                 ) -> list[Member]:
    """An organisation ``code`` of ``org_type`` with ``people`` professionals."""
    org = registry.create_organisation(Actor.operator("test"), identifier=code,
                                       name=code.upper(), org_type=org_type)
    members = []
    for n in range(1, people + 1):
        username = f"{code}-{n}"
        registry.add_professional(Actor.operator("test"), organisation=code, username=username,
                                  name=f"{code} {n}", role="behandelaar", phone="+31 30 555 0101")
        members.append(Member(code, username, Actor(actor=f"professional:{username}",
                                                    channel="web", organisation_id=org.id,
                                                    role="behandelaar")))
    return members


@dataclass
class Glass:
    """A neighbourhood team asks mental health care (two professionals) for contact, on a
    vital interest."""

    core: Core
    wijkteam: Member
    ggz_1: Member
    ggz_2: Member
    keys: list[Pseudonym]

    def ask(self) -> RequestView:
        """The neighbourhood team's look-up and contact request, both on the vital interest."""
        result = committed(self.core, LookupService).lookup(
            self.wijkteam.actor, pseudonyms=self.keys, purpose="safety_assessment",
            basis="vital_interest", evidence=GLASS)
        (match,) = result.matches
        assert (match.rule_id, match.contact) == ("vital-interest-breaks-the-glass", "approval")
        return committed(self.core, ContactService).request(
            self.wijkteam.actor, professional=self.wijkteam.username,
            lookup_id=result.lookup_id, match_id=match.match_id, purpose="safety_assessment",
            basis="vital_interest", evidence=GLASS)

    def decide(self, who: Member, request_id: str, approve: bool = True) -> RequestView:
        """``who`` answers the request."""
        return committed(self.core, ContactService).decide(who.actor, request_id,
                                                professional=who.username, approve=approve)

    def links(self) -> int:
        """How many contact links exist."""
        with self.core.session() as session:
            return session.scalar(select(func.count()).select_from(ContactLink)) or 0

    def events(self, event_type: str) -> list[AuditEvent]:
        """The audit events of one type, oldest first."""
        with self.core.session() as session:
            rows = list(session.scalars(select(AuditEvent).filter_by(event_type=event_type)
                                        .order_by(AuditEvent.seq)))
            session.expunge_all()
        return rows


def make_glass(core: Core, registry: RegistryService) -> Glass:
    """Both organisations registered on the mother and her address."""
    (wijkteam,) = make_members(registry, "wijkteam", "wijkteam")
    ggz_1, ggz_2 = make_members(registry, "ggz", "ggz", people=2)
    keys = household(core, bsn=(MOTHER_BSN,), address=(ADDRESS,))
    register(registry, wijkteam, keys, purpose="safety_assessment")
    register(registry, ggz_1, keys, purpose="safety_assessment")
    return Glass(core, wijkteam, ggz_1, ggz_2, keys)
