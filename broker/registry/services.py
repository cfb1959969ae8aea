"""Registry services: organisations, professionals, involvements, retention — one service the
doors build on the request's unit of work, made of one room per concept:

- :mod:`broker.registry.organisations` (codes, types, webhooks),
- :mod:`broker.registry.professionals` (accounts, membership),
- :mod:`broker.registry.involvements` (register, renew, hand over, end),
- :mod:`broker.registry.retention` (expiry and purge),
- :mod:`broker.registry.common` (the checks they share).

Every public method runs in the caller's unit of work: it validates everything first (so bad
input writes nothing), changes state, and appends the audit event in the same transaction; it
never commits.

Rules this package guarantees:

- Only matching keys (``T = b·N``) and who is involved are stored; no identifier reaches it.
- Organisation types and purposes are the sharing policy's codes; nothing else is accepted.
- An involvement ends at most the policy's ``involvement_max_months`` after it starts or is
  renewed; the default is ``involvement_default_months`` (Jeugdwet §7.1.4: at most two years).
- Ended and expired involvements are history for the policy's ``history_years``, then purged:
  deleted with their matching keys, not hidden.

Look-ups are in :mod:`broker.registry.lookups`.
"""

from __future__ import annotations

from broker.registry.involvements import Involvements, NewInvolvement
from broker.registry.organisations import Organisations
from broker.registry.professionals import Professionals
from broker.registry.retention import Retention

__all__ = ["NewInvolvement", "RegistryService"]


class RegistryService(Organisations, Professionals, Involvements, Retention):
    """The registry's use cases, each in the caller's unit of work."""
