"""Every model, imported in one place so that ``Base.metadata`` is complete (Alembic, tests)."""

from broker.audit.models import (
    AuditCheckpoint,
    AuditCosignature,
    AuditEvent,
    AuditLogState,
    AuditSubject,
    MisuseCount,
    SubjectAccessRequest,
    SubjectAccessWithholding,
)
from broker.callers.models import IdempotencyRecord, OrganisationKey, ReplayNonce
from broker.contact.models import (
    ContactLink,
    ContactRequest,
    CoordinatorProposal,
    CoordinatorVote,
)
from broker.db import Base
from broker.notifications.models import InboxMessage, OutboxMessage
from broker.oversight.refusals import RefusalTally
from broker.pseudonyms.models import EvaluationCount, KeyRotation
from broker.registry.models import (
    Consent,
    ConsentKey,
    Involvement,
    MatchingKey,
    Organisation,
    Professional,
)
from broker.signin.models import (
    SecondFactor,
    SecondFactorEnrolment,
    SignInThrottle,
    WebResult,
    WebSession,
)

__all__ = [
    "AuditCheckpoint",
    "AuditCosignature",
    "AuditEvent",
    "AuditLogState",
    "AuditSubject",
    "Base",
    "Consent",
    "ConsentKey",
    "ContactLink",
    "ContactRequest",
    "CoordinatorProposal",
    "CoordinatorVote",
    "EvaluationCount",
    "IdempotencyRecord",
    "InboxMessage",
    "Involvement",
    "KeyRotation",
    "MatchingKey",
    "MisuseCount",
    "Organisation",
    "OrganisationKey",
    "OutboxMessage",
    "Professional",
    "RefusalTally",
    "ReplayNonce",
    "SecondFactor",
    "SecondFactorEnrolment",
    "SignInThrottle",
    "SubjectAccessRequest",
    "SubjectAccessWithholding",
    "WebResult",
    "WebSession",
]
