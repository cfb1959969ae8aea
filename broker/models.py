"""Every model, imported in one place so that ``Base.metadata`` is complete (Alembic, tests)."""

from broker.api.models import IdempotencyRecord, OrganisationKey
from broker.audit.models import AuditCheckpoint, AuditEvent, AuditLogState, AuditSubject
from broker.contact.models import (
    Consent,
    ContactLink,
    ContactRequest,
    CoordinatorProposal,
    CoordinatorVote,
)
from broker.db import Base
from broker.notifications.models import InboxMessage, OutboxMessage
from broker.pseudonyms.models import KeyRotation
from broker.registry.models import Involvement, MatchingKey, Organisation, Professional
from broker.signin.models import SecondFactor, SecondFactorEnrolment, SignInThrottle, WebSession

__all__ = [
    "AuditCheckpoint",
    "AuditEvent",
    "AuditLogState",
    "AuditSubject",
    "Base",
    "Consent",
    "ContactLink",
    "ContactRequest",
    "CoordinatorProposal",
    "CoordinatorVote",
    "IdempotencyRecord",
    "InboxMessage",
    "Involvement",
    "KeyRotation",
    "MatchingKey",
    "Organisation",
    "OrganisationKey",
    "OutboxMessage",
    "Professional",
    "SecondFactor",
    "SecondFactorEnrolment",
    "SignInThrottle",
    "WebSession",
]
