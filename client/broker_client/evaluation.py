"""Who evaluates the client's blinded elements: the broker, or the pseudonym service itself.

By default :class:`~broker_client.BrokerClient` sends its blinded elements to the broker
(``POST /v1/pseudonyms/evaluate``), which has the pseudonym service evaluate them. Where the
pseudonym service runs as its own process (``broker pseudonym-service serve``), an organisation
may call it directly: its operator allows the organisation's key there (``broker
pseudonym-service client add --organisation CODE --organisation-type TYPE``), and the client is
given the service's URL and its answer-signing key (the service directory's ``signing.pub``).

Rules this module guarantees:

- Either way, only blinded elements leave the process (RFC 9497 §3.3.1).
- The service is called under its own signature tags (``pseudonym-service-v1`` for requests,
  ``pseudonym-service-v1-response`` for answers) with the organisation's Ed25519 key, so no
  signature made for the broker's API counts there or back. Every answer, refusals included,
  must carry the service's signature bound to the very request
  (:mod:`broker_client.transport`), or :class:`ResponseVerificationError` is raised.
- With the public halves of ``k`` (``k·G`` per key epoch, the service directory's
  ``keys/oprf/<epoch>.pub``), every evaluation's RFC 9497 DLEQ proof is checked too: all
  elements were evaluated under the one key of that epoch, so the service cannot single out
  this organisation with a key of its own.
- The service charges the organisation's daily quota; a refusal is a
  :class:`~broker_client.errors.BrokerAPIError` with status 429.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from broker_primitives import dleq
from broker_primitives.blinding import Evaluation
from broker_primitives.httpsig.signature_policy import RESPONSE_COMPONENTS, SignaturePolicy
from nacl.signing import SigningKey

from broker_client.codec import b64url_decode, b64url_encode, verify_key
from broker_client.errors import ResponseVerificationError, UnexpectedResponseError
from broker_client.transport import SignedTransport

BROKER_PATH = "/v1/pseudonyms/evaluate"
SERVICE_PATH = "/v1/evaluate"
#: The pseudonym service's answer-signing key id and its signature tags.
SERVICE_KEY_ID = "pseudonym-service-1"
SERVICE_REQUEST_TAG = "pseudonym-service-v1"
SERVICE_RESPONSE_POLICY = SignaturePolicy(required_components=RESPONSE_COMPONENTS,
                                          required_tag="pseudonym-service-v1-response",
                                          require_nonce=False)


class Evaluate:
    """One evaluation call through a signed transport: the broker's, or the service's."""

    def __init__(self, http: SignedTransport, path: str,
                 public_keys: Mapping[int, bytes] | None = None, *, owned: bool = False) -> None:
        self.http = http
        self.path = path
        self.public_keys = None if public_keys is None else dict(public_keys)
        self.owned = owned  # the transport is this evaluation's own (the service's)

    def __call__(self, blinded: Sequence[bytes]) -> Evaluation:
        """Evaluate up to 1,000 blinded elements; raises UnexpectedResponseError for an answer
        that does not fit the request, ResponseVerificationError for a proof that fails."""
        reply = self.http.request(
            "POST", self.path, {"blinded_elements": [b64url_encode(e) for e in blinded]})
        evaluation = _evaluation(reply.data, len(blinded))
        if self.public_keys is not None:
            self._check_proof(blinded, evaluation, reply.data)
        return evaluation

    def _check_proof(self, blinded: Sequence[bytes], evaluation: Evaluation, data: Any) -> None:
        public = (self.public_keys or {}).get(evaluation.key_epoch)
        proof = data.get("proof") if isinstance(data, dict) else None
        if public is None:
            raise ResponseVerificationError(
                f"the pseudonym service used key epoch {evaluation.key_epoch}, whose public "
                "key this client was not given")
        try:
            raw = b64url_decode(str(proof))
            valid = dleq.verify_proof(public, blinded, evaluation.elements, raw)
        except ValueError:
            valid = False
        if not valid:
            raise ResponseVerificationError(
                "the pseudonym service's proof does not verify against its public key")

    def close(self) -> None:
        """Close the connections (the service's; the broker's transport is the client's)."""
        if self.owned:
            self.http.close()


def at_service(url: str, key_id: str, private_key: SigningKey,
               service_key: bytes | str | None, public_keys: Mapping[int, bytes | str] | None,
               **options: Any) -> Evaluate:
    """Evaluation at the pseudonym service's own ``url`` as ``key_id`` (see the module's rules);
    ``options`` are the transport's (timeout, retries, backoff, transport)."""
    if service_key is None:
        raise ValueError("Give pseudonym_service_public_key (the service's signing.pub) so that "
                         "every evaluation is verified.")
    http = SignedTransport(url, key_id, private_key, broker_key=verify_key(service_key),
                           broker_key_id=SERVICE_KEY_ID, request_tag=SERVICE_REQUEST_TAG,
                           response_policy=SERVICE_RESPONSE_POLICY, **options)
    keys = None if public_keys is None else {
        epoch: bytes.fromhex(key) if isinstance(key, str) else key
        for epoch, key in public_keys.items()}
    return Evaluate(http, SERVICE_PATH, keys, owned=True)


def _evaluation(data: Any, count: int) -> Evaluation:
    elements = data.get("evaluated_elements") if isinstance(data, dict) else None
    epoch = data.get("key_epoch") if isinstance(data, dict) else None
    if not isinstance(elements, list) or len(elements) != count or type(epoch) is not int:
        raise UnexpectedResponseError("the evaluation response does not fit the request")
    try:
        return Evaluation([b64url_decode(element) for element in elements], epoch)
    except (ValueError, TypeError):
        raise UnexpectedResponseError("an evaluated element is not base64url") from None
