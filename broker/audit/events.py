"""The audit log's event tags: one :class:`Event` per kind of state change, disclosure or refusal,
each with its NEN 7513 action code (C create, R read, U update, D delete, E execute).

Services name the tag they record (``uow.record(actor, Event.INVOLVEMENT_REGISTERED, …)``); the
stored value is the tag's string (``involvement:registered``), which auditors search by and the
bundle format (``docs/audit-bundle.md``) carries. An unknown tag is a programming error:
:func:`broker.audit.services.record_event` refuses it, it is never written.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class Event(StrEnum):
    """An audit event's tag, ``<subject>:<what happened>``."""

    ORGANISATION_CREATED = "organisation:created"
    ORGANISATION_WEBHOOK_SET = "organisation:webhook_set"
    PROFESSIONAL_CREATED = "professional:created"
    INVOLVEMENT_REGISTERED = "involvement:registered"
    INVOLVEMENT_RENEWED = "involvement:renewed"
    INVOLVEMENT_ENDED = "involvement:ended"
    INVOLVEMENT_EXPIRED = "involvement:expired"
    INVOLVEMENT_PURGED = "involvement:purged"
    LOOKUP_PERFORMED = "lookup:performed"
    LOOKUP_REFUSED = "lookup:refused"
    PSEUDONYM_EVALUATED = "pseudonym:evaluated"
    KEYS_CREATED = "keys:created"
    KEYS_ROTATION_STARTED = "keys:rotation_started"
    KEYS_ROTATION_FINISHED = "keys:rotation_finished"
    ORGKEY_ADDED = "orgkey:added"
    ORGKEY_REVOKED = "orgkey:revoked"
    AUTH_SIGNATURE_REJECTED = "auth:signature_rejected"
    AUTH_RATE_LIMITED = "auth:rate_limited"
    API_IDEMPOTENCY_PURGED = "api:idempotency_purged"
    API_ANSWER_REPLAYED = "api:answer_replayed"
    INVOLVEMENT_CONTACT_CHANGED = "involvement:contact_changed"
    POLICY_LOADED = "policy:loaded"
    POLICY_LOAD_FAILED = "policy:load_failed"
    AUDIT_DETAILS_ERASED = "audit:details_erased"
    AUDIT_EXPORTED = "audit:exported"
    AUDIT_SEARCHED = "audit:searched"
    AUDIT_REPORTED = "audit:reported"
    AUDIT_REVIEWED = "audit:reviewed"
    AUDIT_EVENT_VIEWED = "audit:event_viewed"
    AUDIT_VERIFIED = "audit:verified"
    CONTACT_REQUESTED = "contact:requested"
    CONTACT_APPROVED = "contact:approved"
    CONTACT_DENIED = "contact:denied"
    CONTACT_WITHDRAWN = "contact:withdrawn"
    CONTACT_EXPIRED = "contact:expired"
    CONTACT_REQUEST_VIEWED = "contact:request_viewed"
    CONTACT_LINK_ISSUED = "contact:link_issued"
    CONTACT_LINK_VIEWED = "contact:link_viewed"
    CONTACT_LINK_REFUSED = "contact:link_refused"
    CONTACT_LINK_REVOKED = "contact:link_revoked"
    CONSENT_RECORDED = "consent:recorded"
    CONSENT_WITHDRAWN = "consent:withdrawn"
    CONSENT_VIEWED = "consent:viewed"
    INVOLVEMENT_INFORM_RECORDED = "involvement:inform_recorded"
    INVOLVEMENT_INFORM_REMINDED = "involvement:inform_reminded"
    COORDINATOR_PROPOSED = "coordinator:proposed"
    COORDINATOR_VOTED = "coordinator:voted"
    COORDINATOR_AGREED = "coordinator:agreed"
    COORDINATOR_DECLINED = "coordinator:declined"
    COORDINATOR_VIEWED = "coordinator:viewed"
    NOTIFICATION_DELIVERED = "notification:delivered"
    NOTIFICATION_RETRY = "notification:retry"
    NOTIFICATION_GIVEN_UP = "notification:given_up"
    INBOX_READ = "inbox:read"
    # Contact obligations (issue 10): the first of two approvals under require_second_approver.
    CONTACT_FIRST_APPROVAL = "contact:first_approval"
    # Safe subject access (AVG art. 15, UAVG art. 41) and misuse seen the same day (issue 10).
    AUDIT_SUBJECT_ACCESS_REQUESTED = "audit:subject_access_requested"
    AUDIT_SUBJECT_ACCESS_RELEASED = "audit:subject_access_released"
    AUDIT_MISUSE_FLAGGED = "audit:misuse_flagged"
    AUDIT_MISUSE_COUNTS_PRUNED = "audit:misuse_counts_pruned"
    # Persistent evaluation quotas (issue 10): a batch the organisation's daily quota could not
    # take, on any door (a granted one is pseudonym:evaluated).
    PSEUDONYM_QUOTA_REFUSED = "pseudonym:quota_refused"
    # Shared state and refusals (issue 11): refusals before authentication, counted per source
    # network and minute; every refused access of an authenticated caller, an event of its own.
    AUTH_UNAUTHENTICATED_REFUSED = "auth:unauthenticated_refused"
    INVOLVEMENT_ACCESS_REFUSED = "involvement:access_refused"
    PROFESSIONAL_ACTING_REFUSED = "professional:acting_refused"
    INBOX_ACCESS_REFUSED = "inbox:access_refused"
    WEB_CSRF_REFUSED = "web:csrf_refused"
    WEB_ACCESS_REFUSED = "web:access_refused"
    WEB_RATE_LIMITED = "web:rate_limited"
    # Web sign-in and sessions (broker/signin): attempts, lock-outs, second factor, passwords.
    SIGNIN_SUCCEEDED = "signin:succeeded"
    SIGNIN_FAILED = "signin:failed"
    SIGNIN_LOCKED = "signin:locked"
    SIGNIN_ADDRESS_BLOCKED = "signin:address_blocked"
    SIGNIN_UNLOCKED = "signin:unlocked"
    SIGNIN_SIGNED_OUT = "signin:signed_out"
    SIGNIN_PASSWORD_CHANGED = "signin:password_changed"  # noqa: S105 - an event tag, no secret
    SIGNIN_TOTP_LINK_ISSUED = "signin:totp_link_issued"
    SIGNIN_TOTP_LINK_OPENED = "signin:totp_link_opened"
    SIGNIN_TOTP_ENROLLED = "signin:totp_enrolled"


# Tag -> NEN 7513 action code.
ACTIONS: Mapping[Event, str] = {
    Event.ORGANISATION_CREATED: "C",
    Event.ORGANISATION_WEBHOOK_SET: "U",
    Event.PROFESSIONAL_CREATED: "C",
    Event.INVOLVEMENT_REGISTERED: "C",
    Event.INVOLVEMENT_RENEWED: "U",
    Event.INVOLVEMENT_ENDED: "U",
    Event.INVOLVEMENT_EXPIRED: "U",
    Event.INVOLVEMENT_PURGED: "D",
    Event.LOOKUP_PERFORMED: "R",
    Event.LOOKUP_REFUSED: "R",
    Event.PSEUDONYM_EVALUATED: "E",
    Event.KEYS_CREATED: "C",
    Event.KEYS_ROTATION_STARTED: "E",
    Event.KEYS_ROTATION_FINISHED: "E",
    Event.ORGKEY_ADDED: "C",
    Event.ORGKEY_REVOKED: "U",
    Event.AUTH_SIGNATURE_REJECTED: "E",
    Event.AUTH_RATE_LIMITED: "E",
    Event.API_IDEMPOTENCY_PURGED: "D",
    Event.API_ANSWER_REPLAYED: "R",
    Event.INVOLVEMENT_CONTACT_CHANGED: "U",
    Event.POLICY_LOADED: "E",
    Event.POLICY_LOAD_FAILED: "E",
    Event.AUDIT_DETAILS_ERASED: "U",
    Event.AUDIT_EXPORTED: "R",
    Event.AUDIT_SEARCHED: "R",
    Event.AUDIT_REPORTED: "R",
    Event.AUDIT_REVIEWED: "E",
    Event.AUDIT_EVENT_VIEWED: "R",
    Event.AUDIT_VERIFIED: "E",
    Event.CONTACT_REQUESTED: "C",
    Event.CONTACT_APPROVED: "U",
    Event.CONTACT_DENIED: "U",
    Event.CONTACT_WITHDRAWN: "U",
    Event.CONTACT_EXPIRED: "U",
    Event.CONTACT_REQUEST_VIEWED: "R",
    Event.CONTACT_LINK_ISSUED: "C",
    Event.CONTACT_LINK_VIEWED: "R",
    Event.CONTACT_LINK_REFUSED: "R",
    Event.CONTACT_LINK_REVOKED: "U",
    Event.CONSENT_RECORDED: "C",
    Event.CONSENT_WITHDRAWN: "U",
    Event.CONSENT_VIEWED: "R",
    Event.INVOLVEMENT_INFORM_RECORDED: "U",
    Event.INVOLVEMENT_INFORM_REMINDED: "E",
    Event.COORDINATOR_PROPOSED: "C",
    Event.COORDINATOR_VOTED: "U",
    Event.COORDINATOR_AGREED: "U",
    Event.COORDINATOR_DECLINED: "U",
    Event.COORDINATOR_VIEWED: "R",
    Event.NOTIFICATION_DELIVERED: "E",
    Event.NOTIFICATION_RETRY: "E",
    Event.NOTIFICATION_GIVEN_UP: "E",
    Event.INBOX_READ: "R",
    # Contact obligations (issue 10): the first of two approvals under require_second_approver.
    Event.CONTACT_FIRST_APPROVAL: "U",
    # Safe subject access (AVG art. 15, UAVG art. 41) and misuse seen the same day (issue 10).
    Event.AUDIT_SUBJECT_ACCESS_REQUESTED: "C",
    Event.AUDIT_SUBJECT_ACCESS_RELEASED: "U",
    Event.AUDIT_MISUSE_FLAGGED: "E",
    Event.AUDIT_MISUSE_COUNTS_PRUNED: "D",
    # Persistent evaluation quotas (issue 10): a batch the organisation's daily quota could not
    # take, on any door (a granted one is pseudonym:evaluated).
    Event.PSEUDONYM_QUOTA_REFUSED: "E",
    # Shared state and refusals (issue 11): refusals before authentication, counted per source
    # network and minute; every refused access of an authenticated caller, an event of its own.
    Event.AUTH_UNAUTHENTICATED_REFUSED: "E",
    Event.INVOLVEMENT_ACCESS_REFUSED: "R",
    Event.PROFESSIONAL_ACTING_REFUSED: "E",
    Event.INBOX_ACCESS_REFUSED: "R",
    Event.WEB_CSRF_REFUSED: "E",
    Event.WEB_ACCESS_REFUSED: "E",
    Event.WEB_RATE_LIMITED: "E",
    # Web sign-in and sessions (broker/signin): attempts, lock-outs, second factor, passwords.
    Event.SIGNIN_SUCCEEDED: "E",
    Event.SIGNIN_FAILED: "E",
    Event.SIGNIN_LOCKED: "U",
    Event.SIGNIN_ADDRESS_BLOCKED: "E",
    Event.SIGNIN_UNLOCKED: "U",
    Event.SIGNIN_SIGNED_OUT: "E",
    Event.SIGNIN_PASSWORD_CHANGED: "U",
    Event.SIGNIN_TOTP_LINK_ISSUED: "C",
    Event.SIGNIN_TOTP_LINK_OPENED: "R",
    Event.SIGNIN_TOTP_ENROLLED: "U",
}
