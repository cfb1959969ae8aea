"""The Python client for organisations' case systems (issue 4 §6).

Rules this client guarantees:

- **No raw identifier leaves the process.** Identifiers are parsed and normalised with the
  broker's own code (:mod:`broker_primitives.identifiers`), blinded here (RFC 9497 §3.3.1),
  evaluated by the pseudonym service as blinded elements only — through the broker, or at the
  service's own URL with ``pseudonym_service_url`` (:mod:`broker_client.evaluation`) — and
  unblinded here to
  ``N = k·H(identifier)``. Only ``N`` (base64url), its category and the key epoch are sent. A bad
  identifier raises the primitives' :class:`~broker_primitives.identifiers.IdentifierError`,
  whose message never repeats the value.
- **Every request is signed and every response verified** (see :mod:`broker_client.transport`):
  give ``broker_public_key`` and no unsigned or forged response is ever used.
- **Retries are safe.** Network errors are retried with back-off; each POST carries one
  ``Idempotency-Key`` across its retries, so a registration is never made twice by a retry.
- **Batches respect the broker's limits:** at most 1,000 blinded elements per evaluation and
  1,000 involvements per registration request; identifiers repeated within a batch (a shared
  address) are evaluated once, which spares the organisation's evaluation quota.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from types import TracebackType
from typing import Any, Self, cast
from urllib.parse import quote

import httpx
from broker_primitives import oprf
from broker_primitives.blinding import Pseudonym, pseudonymise
from broker_primitives.identifiers import Identifier, parse_household
from nacl.signing import SigningKey

from broker_client.codec import signing_key, verify_key
from broker_client.errors import BrokerAPIError, UnexpectedResponseError
from broker_client.evaluation import BROKER_PATH, Evaluate, at_service
from broker_client.models import (
    Basis,
    Consent,
    IdentifiedRegistration,
    Involvement,
    LookupResult,
    NewRegistration,
    RawValues,
    raw_values,
)
from broker_client.shapes import (
    as_involvement,
    canonical_id,
    chunks,
    involvement_path,
    iso_date,
    matching_key,
)
from broker_client.transport import DEFAULT_BROKER_KEY_ID, IdempotencyKey, SignedTransport

#: The broker's limits per request (issue 4): blinded elements per evaluation, involvements per
#: registration.
MAX_EVALUATE = 1000
MAX_REGISTER = 1000
DEFAULT_END_REASON = "concern_resolved"


class BrokerClient:
    """A signed, verifying client for one organisation key. Use it as a context manager."""

    def __init__(
        self,
        base_url: str,
        key_id: str,
        private_key: SigningKey | bytes,
        *,
        broker_public_key: bytes | str | None = None,
        broker_key_id: str = DEFAULT_BROKER_KEY_ID,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.5,
        transport: httpx.BaseTransport | None = None,
        insecure_skip_verification: bool = False,
        pseudonym_service_url: str | None = None,
        pseudonym_service_public_key: bytes | str | None = None,
        pseudonym_service_key_id: str | None = None,
        oprf_public_keys: Mapping[int, bytes | str] | None = None,
    ) -> None:
        """Connect to the broker at ``base_url`` as ``key_id``.

        Args:
            base_url: e.g. ``https://broker.example`` (a path prefix is kept).
            key_id: the key id the broker registered for ``private_key``.
            private_key: the organisation's Ed25519 key, or its 32-byte seed.
            broker_public_key: the broker's response-signing key (32 bytes or 64 hex digits);
                when given, every response must carry its valid signature.
            broker_key_id: the key id the broker signs responses with.
            timeout: seconds per attempt.
            retries: extra attempts after a network error (or 502/503/504).
            backoff: the first back-off delay in seconds; it doubles per retry.
            transport: an httpx transport (tests; custom TLS or proxies).
            insecure_skip_verification: accept unsigned responses when no
                ``broker_public_key`` is given (never in production).
            pseudonym_service_url: evaluate blinded identifiers at the pseudonym service itself
                (its own URL, e.g. ``https://pseudonyms.example``) instead of through the broker
                (:mod:`broker_client.evaluation`); the service must allow this organisation's
                key.
            pseudonym_service_public_key: the service's answer-signing key (its ``signing.pub``,
                32 bytes or 64 hex digits); required with ``pseudonym_service_url``.
            pseudonym_service_key_id: this organisation's key id at the service (default:
                ``key_id``; the same private key signs).
            oprf_public_keys: ``k·G`` per key epoch (the service's ``keys/oprf/<epoch>.pub``):
                when given, every evaluation's DLEQ proof is checked against them.

        Raises:
            ValueError: no ``broker_public_key`` and verification not explicitly skipped, or a
                ``pseudonym_service_url`` without ``pseudonym_service_public_key``.
        """
        if broker_public_key is None and not insecure_skip_verification:
            raise ValueError(
                "Give broker_public_key (the broker's keys/api/signing.pub) so that every "
                "response is verified, or insecure_skip_verification=True for a test set-up."
            )
        self._http = SignedTransport(
            base_url,
            key_id,
            signing_key(private_key),
            broker_key=None if broker_public_key is None else verify_key(broker_public_key),
            broker_key_id=broker_key_id,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            transport=transport,
        )
        self._evaluate = Evaluate(self._http, BROKER_PATH)
        if pseudonym_service_url is not None:
            self._evaluate = at_service(
                pseudonym_service_url, pseudonym_service_key_id or key_id,
                signing_key(private_key), pseudonym_service_public_key, oprf_public_keys,
                timeout=timeout, retries=retries, backoff=backoff, transport=transport)

    def __enter__(self) -> Self:
        """Return the client itself."""
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        """Close the client."""
        self.close()

    def close(self) -> None:
        """Close the connections to the broker (and to the pseudonym service)."""
        self._evaluate.close()
        self._http.close()

    # -- pseudonyms ---------------------------------------------------------------------------

    def pseudonymise_identifiers(self, identifiers: Sequence[Identifier]) -> list[Pseudonym]:
        """The pseudonym ``N`` of each identifier, in order; repeated identifiers evaluated once.

        Makes one evaluation call per :data:`MAX_EVALUATE` distinct identifiers.

        Raises:
            UnexpectedResponseError: the service returned something that is not a valid element.
        """
        distinct = list(dict.fromkeys(identifier.canonical for identifier in identifiers))
        by_canonical = {identifier.canonical: identifier for identifier in identifiers}
        found: dict[str, Pseudonym] = {}
        for chunk in chunks(distinct, MAX_EVALUATE):
            chosen = [by_canonical[canonical] for canonical in chunk]
            try:
                pseudonyms = pseudonymise(chosen, self._evaluate)
            except oprf.OprfError:
                raise UnexpectedResponseError(
                    "the pseudonym service returned an invalid element"
                ) from None
            found.update(zip(chunk, pseudonyms, strict=True))
        return [found[identifier.canonical] for identifier in identifiers]

    def pseudonymise(
        self, *, bsn: RawValues = (), address: RawValues = (), person: RawValues = ()
    ) -> list[Pseudonym]:
        """Parse, blind and evaluate a household's identifiers in one call; BSNs, then addresses,
        then persons.

        Raises:
            IdentifierError: a value is not a valid identifier (the message never shows it).
        """
        identifiers = parse_household(
            bsn=raw_values(bsn), address=raw_values(address), person=raw_values(person)
        )
        return self.pseudonymise_identifiers(identifiers)

    def _matching_keys(self, identifiers: Sequence[Identifier]) -> list[dict[str, Any]]:
        distinct = list({identifier.canonical: identifier for identifier in identifiers}.values())
        return [matching_key(p) for p in self.pseudonymise_identifiers(distinct)]

    # -- involvements -------------------------------------------------------------------------

    def register(
        self,
        *,
        professional: str,
        purpose: str,
        bsn: RawValues = (),
        address: RawValues = (),
        person: RawValues = (),
        ends_on: date | None = None,
    ) -> Involvement:
        """Register this organisation's involvement with one household.

        ``professional`` is the contact professional's username; ``ends_on`` defaults to the
        policy's period. Returns the involvement as the broker stored it.
        """
        return self.register_many(
            [NewRegistration(professional, purpose, bsn, address, person, ends_on)]
        )[0]

    def register_many(self, items: Sequence[NewRegistration]) -> list[Involvement]:
        """Register many involvements, :data:`MAX_REGISTER` per request, in order.

        Every item is parsed before anything is sent, so one bad identifier sends nothing; its
        error carries a note naming the item's index. Each chunk is one registration request
        (with its own Idempotency-Key) after one evaluation call where the chunk's distinct
        identifiers fit in one.
        """
        identified = []
        for index, item in enumerate(items):
            try:
                identified.append(item.identified())
            except ValueError as exc:
                exc.add_note(f"in registration {index}")
                raise
        involvements: list[Involvement] = []
        for chunk in chunks(identified, MAX_REGISTER):
            involvements += self.register_identified(chunk)
        return involvements

    def register_identified(
        self,
        items: Sequence[IdentifiedRegistration],
        *,
        idempotency_key: IdempotencyKey | None = None,
    ) -> list[Involvement]:
        """Register up to :data:`MAX_REGISTER` parsed registrations in one request.

        ``idempotency_key`` is a key, or a function of the exact request body that returns one
        (a resumable job derives it from the content so that a rerun repeats the same key); by
        default a random key is used for this call and its retries.
        """
        if not 1 <= len(items) <= MAX_REGISTER:
            raise ValueError(f"register between 1 and {MAX_REGISTER} involvements per request")
        pseudonyms = self.pseudonymise_identifiers(
            [identifier for item in items for identifier in item.identifiers]
        )
        keys = iter(matching_key(p) for p in pseudonyms)
        body: list[dict[str, Any]] = []
        for item in items:
            entry: dict[str, Any] = {"professional": item.professional, "purpose": item.purpose}
            if item.ends_on is not None:
                entry["ends_on"] = iso_date(item.ends_on)
            item_keys = [next(keys) for _ in item.identifiers]
            entry["matching_keys"] = list({k["element"]: k for k in item_keys}.values())
            body.append(entry)
        reply = self._http.request(
            "POST", "/v1/involvements", {"involvements": body}, idempotency_key=idempotency_key
        )
        data = reply.data.get("involvements") if isinstance(reply.data, dict) else None
        if not isinstance(data, list) or len(data) != len(items):
            raise UnexpectedResponseError("the registration response does not fit the request")
        return [as_involvement(item, "POST /v1/involvements") for item in data]

    def get_involvement(self, involvement_id: str) -> Involvement:
        """One of this organisation's involvements."""
        path = involvement_path(involvement_id)
        return as_involvement(self._http.request("GET", path).data, f"GET {path}")

    def _patch(self, involvement_id: str, payload: dict[str, Any]) -> Involvement:
        path = involvement_path(involvement_id)
        return as_involvement(self._http.request("PATCH", path, payload).data, f"PATCH {path}")

    def renew(self, involvement_id: str, ends_on: date) -> Involvement:
        """Move an active involvement's end date to ``ends_on`` (within the policy's maximum)."""
        return self._patch(involvement_id, {"ends_on": iso_date(ends_on)})

    def change_contact(self, involvement_id: str, professional: str) -> Involvement:
        """Make ``professional`` (a username of this organisation) the contact."""
        return self._patch(involvement_id, {"professional": professional})

    def end(self, involvement_id: str, reason: str = DEFAULT_END_REASON) -> Involvement:
        """End an active involvement now, with a reason code.

        If the first attempt's answer was lost and a retry finds the involvement already
        ended (409), the ended involvement is returned: ending is then done, not failed.
        """
        try:
            return self._patch(involvement_id, {"state": "ended", "end_reason": reason})
        except BrokerAPIError as exc:
            if exc.status != 409 or exc.attempts < 2:
                raise
            current = self.get_involvement(involvement_id)
            if current["state"] != "ended":
                raise
            return current

    # -- consent ------------------------------------------------------------------------------

    def record_consent(
        self,
        *,
        professional: str,
        given_by: str,
        given_on: date,
        valid_until: date,
        purposes: Sequence[str],
        holder_types: Sequence[str] = (),
        bsn: RawValues = (),
        address: RawValues = (),
        person: RawValues = (),
    ) -> Consent:
        """Record consent given to this organisation about one household, identified like a
        registration (the identifiers are blinded here; the broker receives matching keys).
        The returned record's ``id`` is the ``consent_reference`` of look-ups and requests."""
        identifiers = parse_household(
            bsn=raw_values(bsn), address=raw_values(address), person=raw_values(person)
        )
        body: dict[str, Any] = {
            "professional": professional, "matching_keys": self._matching_keys(identifiers),
            "given_by": given_by, "given_on": iso_date(given_on),
            "valid_until": iso_date(valid_until),
            "purposes": list(purposes), "holder_types": list(holder_types),
        }
        data = self._http.request("POST", "/v1/consents", body).data
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            raise UnexpectedResponseError("POST /v1/consents: the response is not a consent")
        return cast(Consent, data)

    def withdraw_consent(self, consent_id: str, *, professional: str) -> int:
        """Withdraw a consent record of this organisation: no new look-ups or requests under
        it, its pending requests withdrawn; returns how many contact links it revoked."""
        path = (f"/v1/consents/{canonical_id(consent_id, 'a consent id')}"
                f"?professional={quote(professional, safe='')}")
        data = self._http.request("DELETE", path).data
        revoked = data.get("links_revoked") if isinstance(data, dict) else None
        if type(revoked) is not int:
            raise UnexpectedResponseError(f"DELETE {path}: the response is not a withdrawal")
        return revoked

    # -- look-ups -----------------------------------------------------------------------------

    def lookup(
        self,
        *,
        purpose: str,
        basis: Basis,
        bsn: RawValues = (),
        address: RawValues = (),
        person: RawValues = (),
        statute: str | None = None,
        consent_reference: str | None = None,
        justification: str | None = None,
        professional: str | None = None,
        register_as: str | None = None,
        register_ends_on: date | None = None,
    ) -> LookupResult:
        """Ask whether other organisations are involved with this household.

        ``basis`` needs ``statute`` (legal_task), ``consent_reference`` (consent) or
        ``justification`` (vital_interest). ``professional`` is the username asking; with
        ``register_as``, the broker first registers this organisation's involvement under
        that contact professional (reciprocity), ending on ``register_ends_on``.
        """
        identifiers = parse_household(
            bsn=raw_values(bsn), address=raw_values(address), person=raw_values(person)
        )
        body: dict[str, Any] = {
            "matching_keys": self._matching_keys(identifiers),
            "purpose": purpose,
            "basis": basis,
        }
        optional = {"statute": statute, "consent_reference": consent_reference,
                    "justification": justification, "professional": professional}
        body.update({name: value for name, value in optional.items() if value is not None})
        if register_as is not None:
            register: dict[str, Any] = {"professional": register_as}
            if register_ends_on is not None:
                register["ends_on"] = iso_date(register_ends_on)
            body["register"] = register
        elif register_ends_on is not None:
            raise ValueError("register_ends_on needs register_as")
        data = self._http.request("POST", "/v1/lookups", body).data
        if not isinstance(data, dict) or not isinstance(data.get("matches"), list):
            raise UnexpectedResponseError("POST /v1/lookups: the response is not a look-up result")
        return cast(LookupResult, data)

