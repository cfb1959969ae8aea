"""Organisations: created with a code, a name and a type of the policy, and where their case
system receives notifications; every change an audit event in the request's unit of work."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy import select

from broker.audit.events import Event
from broker.audit.services import Actor, record_event
from broker.errors import Conflict, NotFound, ValidationError
from broker.registry.common import ServiceBase
from broker.registry.models import (
    Organisation,
)
from broker.registry.results import (
    OrganisationInfo,
)
from broker.registry.validation import (
    require_known,
    require_slug,
    require_text,
)


class Organisations(ServiceBase):
    """The organisations of the chain."""

    def create_organisation(
        self, actor: Actor, *, identifier: str, name: str, org_type: str
    ) -> OrganisationInfo:
        """Add an organisation; ``identifier`` is its stable short code."""
        identifier = require_slug(identifier, "The organisation code")
        name = require_text(name, "The organisation name")
        org_type = require_known(org_type, self.core.policy().org_types, "organisation type")
        session = self.session
        if session.scalar(select(Organisation.id).filter_by(identifier=identifier)):
            raise Conflict(
                "An organisation with code %(identifier)s already exists.",
                identifier=repr(identifier))
        org = Organisation(identifier=identifier, name=name, org_type=org_type)
        session.add(org)
        session.flush()
        record_event(
            session, actor, Event.ORGANISATION_CREATED, organisation_id=org.id,
            details={"identifier": identifier, "org_type": org_type},
        )
        return OrganisationInfo.of(org)

    def set_webhook(self, actor: Actor, identifier: str, url: str | None) -> None:
        """Set (or, with None, clear) where the organisation's case system gets notifications:
        an https URL, or http on this machine for a local test receiver."""
        if url is not None:
            parsed = urlsplit(url)
            local = parsed.scheme == "http" and parsed.hostname in ("127.0.0.1", "localhost",
                                                                   "::1")
            if not (parsed.scheme == "https" or local) or not parsed.hostname or len(url) > 500:
                raise ValidationError(
                    "A webhook URL must be https:// (http:// only on this machine), at most 500 "
                    "characters.")
        session = self.session
        org = self._organisation(session, identifier)
        org.webhook_url = url
        # The URL may hold a receiver's secret: the event says only whether one is set.
        record_event(session, actor, Event.ORGANISATION_WEBHOOK_SET, organisation_id=org.id,
                     details={"identifier": identifier, "webhook": url is not None})

    def list_organisations(self) -> list[OrganisationInfo]:
        """All organisations, by code."""
        session = self.session
        orgs = session.scalars(select(Organisation).order_by(Organisation.identifier))
        return [OrganisationInfo.of(o) for o in orgs]

    def organisation_code(self, organisation_id: int) -> str:
        """The code of the organisation with database id ``organisation_id``."""
        session = self.session
        code = session.scalar(
            select(Organisation.identifier).where(Organisation.id == organisation_id))
        if code is None:
            raise NotFound("There is no such organisation.")
        return code

    def get_organisation(self, identifier: str) -> OrganisationInfo:
        """One organisation by code."""
        session = self.session
        return OrganisationInfo.of(self._organisation(session, identifier))
