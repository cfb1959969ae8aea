"""Professionals: the accounts of an organisation's staff (and of privacy officers and
auditors), and the check that a professional is an active member of the acting organisation."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from broker.audit.events import Event
from broker.audit.services import Actor, record_event
from broker.errors import Conflict, Forbidden, ValidationError
from broker.registry.common import ServiceBase
from broker.registry.models import (
    ACCESS_PROFESSIONAL,
    ACCESS_ROLES,
    Organisation,
    Professional,
)
from broker.registry.results import (
    ProfessionalInfo,
)
from broker.registry.validation import (
    EMAIL,
    MIN_PASSWORD_LENGTH,
    PHONE,
    require_slug,
    require_text,
)


class Professionals(ServiceBase):
    """The organisations' professionals."""

    def add_professional(
        self,
        actor: Actor,
        *,
        organisation: str,
        username: str,
        name: str,
        role: str,
        phone: str | None = None,
        email: str | None = None,
        password: str | None = None,
        access_role: str = ACCESS_PROFESSIONAL,
    ) -> ProfessionalInfo:
        """Add a contact professional, or (``access_role``) a privacy officer or auditor; with a
        password they can sign in on the web."""
        username = require_slug(username, "The user name")
        if access_role not in ACCESS_ROLES:
            choices = ", ".join(ACCESS_ROLES)
            raise ValidationError("The access role must be one of: %(choices)s.", choices=choices)
        name = require_text(name, "The name")
        role = require_text(role, "The role", 100)
        if phone and not PHONE.match(phone):
            raise ValidationError(
                "The phone number may hold digits, spaces, '+', '-' and brackets (6-20).")
        if password is not None and len(password) < MIN_PASSWORD_LENGTH:
            raise ValidationError(
                "The password must be at least %(min_password_length)s characters.",
                min_password_length=MIN_PASSWORD_LENGTH)
        if email and not EMAIL.match(email):
            raise ValidationError("The e-mail address is not valid.")
        session = self.session
        org = self._organisation(session, organisation)
        if session.scalar(select(Professional.id).filter_by(username=username)):
            raise Conflict("The user name %(username)s is taken.", username=repr(username))
        professional = Professional(
            organisation=org, username=username, name=name, role=role,
            phone=phone or None, email=email or None,
            password_hash=self.core.passwords.hash(password) if password else None,
            access_role=access_role,
        )
        session.add(professional)
        session.flush()
        record_event(
            session, actor, Event.PROFESSIONAL_CREATED, organisation_id=org.id,
            details={"professional_id": professional.id, "role": role,
                     "access_role": access_role},
        )
        return ProfessionalInfo.of(professional)

    def list_professionals(self, organisation: str | None = None) -> list[ProfessionalInfo]:
        """Professionals, optionally of one organisation."""
        session = self.session
        query = select(Professional).options(selectinload(Professional.organisation))
        if organisation is not None:
            query = query.where(
                Professional.organisation_id == self._organisation(session, organisation).id
            )
        return [
            ProfessionalInfo.of(p) for p in session.scalars(query.order_by(Professional.id))
        ]

    def get_professional(self, username: str) -> ProfessionalInfo:
        """One professional by user name."""
        session = self.session
        return ProfessionalInfo.of(self._professional(session, username))

    def check_member(self, actor: Actor, username: str) -> None:
        """Refuse unless ``username`` is an active professional of the actor's organisation."""
        session = self.session
        org = session.get(Organisation, actor.organisation_id)
        if org is None:
            raise Forbidden("You act for no organisation.")
        self._contact(session, actor, org, username)
