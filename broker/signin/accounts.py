"""The account a sign-in step concerns, and the audit actor it acts as."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from broker.audit.services import Actor, truncate_address
from broker.errors import NotFound
from broker.registry.models import Professional

UNKNOWN_ACCOUNT = "web:unknown-account"


def find_account(session: Session, username: str) -> Professional | None:
    """The account with ``username`` (its organisation loaded), or None."""
    return session.scalar(select(Professional).filter_by(username=username)
                          .options(selectinload(Professional.organisation)))


def account(session: Session, username: str) -> Professional:
    """The account with ``username``; a bilingual NotFound for an operator otherwise."""
    person = find_account(session, username)
    if person is None:
        raise NotFound(
            "There is no professional with user name %(username)s; see: broker professional list",
            username=repr(username))
    return person


def web_actor(person: Professional, address: str | None) -> Actor:
    """The account acting on the web, from ``address`` (truncated for the log)."""
    return Actor(actor=f"professional:{person.username}", channel="web",
                 organisation_id=person.organisation_id, role=person.role,
                 source_address=truncate_address(address))


def anonymous_actor(address: str | None, name: str = UNKNOWN_ACCOUNT) -> Actor:
    """Someone on the web whose typed name is no account (the name is never recorded)."""
    return Actor(actor=name, channel="web", source_address=truncate_address(address))
