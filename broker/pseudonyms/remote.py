"""The broker's client of the pseudonym service: :class:`RemoteEvaluator`.

Rules this module guarantees (the broker holds only ``b``; ``k`` stays with the service):

1. Every request is signed (RFC 9421, tag ``pseudonym-service-v1``) with the broker's own client
   key and names the organisation and its type the evaluation is for; the service charges that
   organisation's quota.
2. Every answer is verified before it is used: the service's signature with the pinned key,
   bound to this very request (``"signature";req``); for a 200, as many evaluated elements as
   were sent, each canonical and non-identity, a key epoch the broker pinned a public key for,
   and the RFC 9497 DLEQ proof (:mod:`broker_primitives.dleq`) that they were evaluated under
   that key.
3. A 429 is the service's quota refusal: :class:`broker.pseudonyms.quota.QuotaExceeded` with the
   service's figures. A 4xx about the batch is a :class:`broker.errors.ValidationError`.
   Anything else — no connection, a timeout, a 5xx, an answer that does not verify — raises
   :class:`broker.outages.PseudonymServiceUnavailable` (an outage: 503 with ``Retry-After``),
   before anything is written (fail closed).
4. Rotating ``k`` (:meth:`RemoteEvaluator.next_epoch`, :meth:`RemoteEvaluator.activate_epoch`)
   is asked of the service in the same signed, verified way; the broker receives the new
   epoch's public half and the factor ``k_new·k_old⁻¹``, never ``k``
   (:mod:`broker.pseudonym_service.rotation`).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import httpx
from broker_primitives import dleq, oprf
from broker_primitives.blinding import Evaluation
from broker_primitives.httpsig.signatures import (
    RequestMessage,
    SignatureError,
    sign_request,
    verify_response,
)
from nacl.signing import SigningKey, VerifyKey

from broker.config import Settings
from broker.errors import ConfigurationError, Conflict, ValidationError
from broker.outages import PseudonymServiceUnavailable
from broker.pseudonyms.interfaces import (
    ACTIVATE_PATH,
    EVALUATE_PATH,
    NEXT_EPOCH_PATH,
    REQUEST_TAG,
    RESPONSE_POLICY,
    SERVICE_KEY_ID,
    EvaluatorAnswer,
    NextEpoch,
    Requester,
    decode_element,
    decode_proof,
    encode_element,
)
from broker.pseudonyms.keys import FileKeyStore
from broker.pseudonyms.quota import QuotaExceeded, QuotaUse
from broker.signing import load_signing_key

log = logging.getLogger("broker.pseudonyms.remote")
#: Whom the service charges for commands that act for no organisation (the auditor's search by
#: household, subject access, loading the demo): a quota of its own (organisation type
#: ``operator`` in the service's configuration).
OPERATOR = Requester("broker-operator", "operator")
_T = TypeVar("_T")


class RemoteEvaluator:
    """Asks the pseudonym service to evaluate (see the module's rules)."""

    charges_quota = True

    def __init__(self, base_url: str, *, key_id: str, key: SigningKey, service_key: VerifyKey,
                 public_key: Callable[[int], bytes | None], timeout: float = 5.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.url = self.base_url + EVALUATE_PATH
        self.key_id = key_id
        self.key = key
        self.service_key = service_key
        self.public_key = public_key
        self.client = httpx.Client(timeout=timeout, transport=transport)

    def evaluate(self, blinded_elements: Sequence[bytes], requester: Requester | None
                 ) -> EvaluatorAnswer:
        """Evaluate through the service for ``requester``; an operator's or auditor's command
        (no organisation) is charged to :data:`OPERATOR` at the service."""
        requester = requester or OPERATOR
        response = self._post(EVALUATE_PATH, {
            "blinded_elements": [encode_element(e) for e in blinded_elements],
            "organisation": requester.organisation,
            "organisation_type": requester.organisation_type})
        if response.status_code == 200:
            return self._granted(blinded_elements, response)
        if response.status_code == 429:
            raise QuotaExceeded(_quota(response, granted=False), len(blinded_elements))
        if response.status_code in (400, 422):
            detail = _field(response, "detail", str)
            raise ValidationError(
                "The pseudonym service refused the batch: %(detail)s",
                code="invalid-element", detail=detail)
        raise PseudonymServiceUnavailable(
            f"pseudonym service answered {response.status_code}")

    def next_epoch(self, from_epoch: int) -> NextEpoch:
        """Step 1 of rotating ``k``: the service prepares the epoch after ``from_epoch`` and
        hands over its public half and the factor ``k_new·k_old⁻¹`` (never ``k``)."""
        response = self._post(NEXT_EPOCH_PATH, {"from_epoch": from_epoch})
        if (detail := _refusal(response)) is not None:
            raise Conflict("The pseudonym service would not prepare the next key epoch: "
                           "%(detail)s", detail=detail)
        try:
            step = NextEpoch(_field(response, "from_epoch", int), _field(response, "to_epoch", int),
                             oprf.validate_element(decode_element(
                                 _field(response, "public_key", str))),
                             oprf.validate_scalar(decode_element(_field(response, "factor", str))))
        except (ValueError, oprf.OprfError) as exc:
            raise PseudonymServiceUnavailable(
                f"the pseudonym service's answer is malformed ({exc})") from None
        if (step.from_epoch, step.to_epoch) != (from_epoch, from_epoch + 1):
            raise PseudonymServiceUnavailable("the pseudonym service prepared another epoch")
        return step

    def activate_epoch(self, epoch: int) -> None:
        """Step 2 of rotating ``k``: the service evaluates under ``epoch`` from now on (the
        broker has pinned it)."""
        response = self._post(ACTIVATE_PATH, {"epoch": epoch})
        if (detail := _refusal(response)) is not None:
            raise Conflict("The pseudonym service would not make key epoch %(epoch)s current: "
                           "%(detail)s", epoch=epoch, detail=detail)
        try:
            current = _field(response, "key_epoch", int)
        except ValueError as exc:
            raise PseudonymServiceUnavailable(
                f"the pseudonym service's answer is malformed ({exc})") from None
        if current != epoch:
            raise PseudonymServiceUnavailable(f"the pseudonym service is at epoch {current}")

    def _post(self, path: str, payload: dict[str, object]) -> httpx.Response:
        """A signed POST to the service, its answer's signature verified (bound to it)."""
        url = self.base_url + path
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json",
                   "Host": httpx.URL(url).netloc.decode("ascii")}
        headers |= sign_request(method="POST", target_uri=url, headers=headers,
                                key_id=self.key_id, private_key=self.key, body=body,
                                tag=REQUEST_TAG)
        try:
            response = self.client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise PseudonymServiceUnavailable(
                f"pseudonym service unreachable: {type(exc).__name__}") from None
        try:
            verify_response(
                status=response.status_code, headers=response.headers, body=response.content,
                resolve_key=lambda k: self.service_key if k == SERVICE_KEY_ID else None,
                request=RequestMessage("POST", url, headers), request_label="sig1",
                policy=RESPONSE_POLICY)
        except SignatureError as exc:
            log.error("pseudonym service answer refused: signature %s", exc.code)
            raise PseudonymServiceUnavailable(
                f"the pseudonym service's answer is not signed as it must be ({exc.code})"
            ) from None
        return response

    def _granted(self, blinded: Sequence[bytes], response: httpx.Response) -> EvaluatorAnswer:
        try:
            elements = [oprf.validate_element(decode_element(item)) for item in
                        _field(response, "evaluated_elements", list)]
            epoch = _field(response, "key_epoch", int)
            proof = decode_proof(_field(response, "proof", str))
        except (ValueError, oprf.OprfError) as exc:
            raise PseudonymServiceUnavailable(
                f"the pseudonym service's answer is malformed ({exc})") from None
        pinned = self.public_key(epoch)
        if pinned is None:
            raise PseudonymServiceUnavailable(
                f"the pseudonym service used key epoch {epoch}, which the broker has not pinned")
        if len(elements) != len(blinded) or not dleq.verify_proof(
                pinned, blinded, elements, proof):
            log.error("pseudonym service answer refused: the proof does not verify")
            raise PseudonymServiceUnavailable(
                "the pseudonym service's proof does not verify against the pinned key")
        return EvaluatorAnswer(Evaluation(elements, epoch), _quota(response, granted=True))

    def close(self) -> None:
        """Close the connections."""
        self.client.close()


def _field(response: httpx.Response, name: str, kind: type[_T]) -> _T:
    try:
        value = response.json()[name]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"no {name}") from exc
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ValueError(f"{name} is not a {kind.__name__}")
    return value


def _quota(response: httpx.Response, *, granted: bool) -> QuotaUse:
    try:
        quota = _field(response, "quota", dict)
        return QuotaUse(granted, int(quota["limit"]), int(quota["used"]),
                        datetime.fromisoformat(str(quota["resets_at"])))
    except (ValueError, KeyError, TypeError):
        raise PseudonymServiceUnavailable("the pseudonym service's quota is malformed") from None


#: Where the broker keeps what it needs to call the service: its own client key
#: (``client.key``/``.pub``) and the service's answer-verification key (``service.pub``).
CLIENT_DIR = "pseudonym-service"


def client_dir(keys_dir: Path) -> Path:
    """``<keys>/pseudonym-service``."""
    return keys_dir / CLIENT_DIR


def from_settings(settings: Settings, keystore: FileKeyStore) -> RemoteEvaluator:
    """The remote evaluator for ``settings`` (BROKER_PSEUDONYM_SERVICE_URL set)."""
    directory = client_dir(settings.keys_dir)
    service_pub = directory / "service.pub"
    if not service_pub.is_file():
        raise ConfigurationError(
            "%(service_pub)s is missing: pin the pseudonym service's keys with: broker "
            "pseudonym-service pair --dir <the service's directory>",
            service_pub=service_pub)
    return RemoteEvaluator(
        settings.pseudonym_service_url or "", key_id=settings.pseudonym_service_key_id,
        key=load_signing_key(directory / "client.key"),
        service_key=VerifyKey(bytes.fromhex(service_pub.read_text().strip())),
        public_key=keystore.public_key, timeout=settings.pseudonym_service_timeout)


def refuse_readable_k(settings: Settings) -> None:
    """Production: refuse to start without the service, or where this process can read ``k``
    (DESIGN: no single process, host or backup holds both keys)."""
    if not settings.production:
        return
    if settings.pseudonym_service_url is None:
        raise ConfigurationError(
            "Production mode (BROKER_PRODUCTION=1) needs the pseudonym service as its own "
            "process: set BROKER_PSEUDONYM_SERVICE_URL (see broker pseudonym-service serve).")
    readable = [path for path in sorted((settings.keys_dir / "oprf").glob("*.key"))
                if os.access(path, os.R_OK)]
    if readable:
        raise ConfigurationError(
            "Production mode: the broker can read the OPRF key k (%(readable)s). The broker "
            "holds only b; k belongs to the pseudonym service on its own host or account. Move "
            "the files out of %(parent)s (keep only the pinned *.pub) and start again.",
            readable=readable[0], parent=readable[0].parent)


def _refusal(response: httpx.Response) -> str | None:
    """A key step's answer: None when done (200), the service's reason when it refused (403,
    409: a :class:`Conflict` for the caller to word); any other answer is an outage."""
    if response.status_code == 200:
        return None
    if response.status_code in (403, 409):
        return _field(response, "detail", str)
    raise PseudonymServiceUnavailable(f"pseudonym service answered {response.status_code}")
