"""What the pseudonym service does with a verified request: whom it evaluates for, the quota,
the evaluation under ``k`` with its RFC 9497 proof, and the trail.

Rules this module guarantees:

- A client key is either an organisation's (it evaluates for that organisation only, whatever
  the body says) or the broker's (``acts_for: any``: it must name the organisation and its type,
  for the web form and the command line, where the broker blinds for a professional).
- A batch is validated whole (1 to 1000 canonical, non-identity elements) before anything is
  charged; a bad batch charges nothing and writes nothing.
- A batch is charged to the organisation's daily quota (Dutch calendar day; the organisation
  type's quota from the service's configuration) in one statement; the grant and its trail row
  commit before the evaluated elements leave. A refusal is counted and recorded, and nothing is
  evaluated.
- Every answer carries the key epoch and a DLEQ proof (:mod:`broker_primitives.dleq`) that the
  elements were evaluated under the key whose public half the broker pinned for that epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from broker_primitives import dleq, oprf
from nacl.signing import VerifyKey
from sqlalchemy import Engine

from broker.clock import LOCAL_ZONE, local_date, utcnow
from broker.errors import ValidationError
from broker.pseudonym_service import store
from broker.pseudonyms.interfaces import Requester
from broker.pseudonyms.keys import FileKeyStore
from broker.pseudonyms.quota import QuotaUse
from broker.pseudonyms.service import MAX_BATCH

DEFAULT_QUOTA = 2000


@dataclass(frozen=True)
class Client:
    """A key allowed to call the service; ``requester`` None: the broker (names whom for)."""

    key_id: str
    public_key: VerifyKey
    requester: Requester | None


@dataclass(frozen=True)
class Quotas:
    """Evaluations per organisation per day: a default and values per organisation type."""

    default: int = DEFAULT_QUOTA
    per_type: Mapping[str, int] = field(default_factory=dict)

    def for_type(self, organisation_type: str) -> int:
        """The daily quota of an organisation of this type."""
        return self.per_type.get(organisation_type, self.default)


@dataclass(frozen=True)
class Granted:
    """An evaluated batch: elements, key epoch, proof and the quota after its charge."""

    elements: list[bytes]
    key_epoch: int
    proof: bytes
    quota: QuotaUse


class QuotaRefused(Exception):
    """The organisation's daily quota cannot take the batch (recorded, nothing evaluated)."""

    def __init__(self, use: QuotaUse) -> None:
        super().__init__("daily evaluation quota used up")
        self.use = use


class EvaluationService:
    """Evaluates for verified clients under the current ``k``, within their quotas."""

    def __init__(self, keystore: FileKeyStore, engine: Engine, clients: Mapping[str, Client],
                 quotas: Quotas, clock: Callable[[], datetime] = utcnow) -> None:
        self.keystore = keystore
        self.engine = engine
        self.clients = dict(clients)
        self.quotas = quotas
        self.clock = clock

    def resolve_key(self, key_id: str) -> VerifyKey | None:
        """The public key of a client key id, or None (unknown)."""
        client = self.clients.get(key_id)
        return None if client is None else client.public_key

    def requester(self, client: Client, named: Requester | None) -> Requester:
        """Whom the batch is for: an organisation's own key, or whom the broker names."""
        if client.requester is not None:
            return client.requester
        if named is None:
            raise ValidationError(
                "The broker's key must name the organisation and its type.",
                code="organisation-missing")
        return named

    def evaluate(self, client: Client, requester: Requester, blinded: Sequence[bytes]
                 ) -> Granted:
        """Validate, charge, evaluate and prove (the module's rules); raises
        :class:`QuotaRefused` or :class:`ValidationError`."""
        check_batch(blinded)
        epoch, k = self.keystore.current("oprf")
        now = self.clock()
        day = local_date(now)
        resets_at = datetime.combine(day + timedelta(days=1), time(), tzinfo=LOCAL_ZONE)
        quota = self.quotas.for_type(requester.organisation_type)
        count = len(blinded)
        with self.engine.begin() as connection:
            used = store.charge(connection, requester.organisation, day, count, quota)
            if used is None:
                used_today = store.count_refusal(connection, requester.organisation, day, count)
                store.record(connection, at=now, organisation=requester.organisation,
                             client_key=client.key_id, count=count, key_epoch=None,
                             granted=False)
                refused = QuotaUse(False, quota, used_today, resets_at)
            else:
                store.record(connection, at=now, organisation=requester.organisation,
                             client_key=client.key_id, count=count, key_epoch=epoch,
                             granted=True)
                refused = None
        if refused is not None:
            raise QuotaRefused(refused)
        elements = oprf.blind_evaluate_batch(k, blinded)
        proof = dleq.generate_proof(k, blinded, elements)
        return Granted(elements, epoch, proof, QuotaUse(True, quota, used or 0, resets_at))


def check_batch(blinded: Sequence[bytes]) -> None:
    """1 to :data:`MAX_BATCH` valid elements, or a :class:`ValidationError` naming the bad one."""
    if not 1 <= len(blinded) <= MAX_BATCH:
        raise ValidationError(
            "Send between 1 and %(max_batch)s blinded elements per request.",
            code="batch-size", max_batch=MAX_BATCH)
    for index, element in enumerate(blinded):
        try:
            oprf.validate_element(element)
        except oprf.OprfError as exc:
            raise ValidationError(
                "Blinded element %(index)s is not valid: %(exc)s",
                code="invalid-element", index=index, exc=exc) from exc
