"""The notices the registry hands over (:class:`broker.interfaces.Notices`), written here.

The registry sits below the notifications: it tells of a registration, a look-up's
``notify_holder`` obligation, a review flag or a misuse flag through the core's notices, and the
composition root (``create_app``, the ``broker`` command) hands the core an
:class:`InboxNotices`. Each method writes on the caller's connection, in the caller's
transaction (:func:`broker.notifications.services.notify`): the messages commit with the change
and its audit event, or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from broker.core import unit_of
from broker.interfaces import StoredForm
from broker.notifications.services import notify, notify_auditors, notify_new_matches


class InboxNotices:
    """Notices as inbox messages, announced by e-mail and webhook through the outbox."""

    def notify(self, connection: Connection, *, professional_id: int, kind: str,
               reference: str, organisation_id: int,
               webhook_event: Mapping[str, object] | None = None) -> None:
        """:func:`broker.notifications.services.notify`, in the caller's transaction."""
        notify(connection, professional_id=professional_id, kind=kind, reference=reference,
               organisation_id=organisation_id, webhook_event=webhook_event)

    def notify_auditors(self, connection: Connection, *, kind: str, reference: str
                        ) -> list[int]:
        """:func:`broker.notifications.services.notify_auditors`, in the caller's transaction."""
        return notify_auditors(connection, kind=kind, reference=reference)

    def notify_new_matches(self, session: Session, *, organisation_id: int,
                           involvement_id: int, keys: Sequence[StoredForm]) -> list[str]:
        """:func:`broker.notifications.services.notify_new_matches` for the involvement just
        registered in ``session`` (in its unit of work)."""
        return notify_new_matches(session, unit_of(session).core,
                                  organisation_id=organisation_id,
                                  involvement_id=involvement_id, keys=keys)
