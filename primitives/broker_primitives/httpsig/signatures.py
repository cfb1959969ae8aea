"""HTTP Message Signatures (RFC 9421) with Ed25519, as the broker's API requires them (issue 4).

Every API request is signed with the organisation's Ed25519 key (RFC 9421 §3.3.6, via PyNaCl) and
every response with the broker's, so that neither side trusts a message for where it came from.
This module is the public face of the signature layer: it signs and verifies, and re-exports the
policy, the refusals (:mod:`broker_primitives.httpsig.signature_policy`) and the message types
(:mod:`broker_primitives.httpsig.components`).

Rules :func:`verify_request` guarantees, in this order (RFC 9421 §3.2, then the broker's policy):

1. Parse. ``Signature-Input`` and ``Signature`` are RFC 8941 Dictionaries (§4.1, §4.2). Of several
   signatures, the one carrying the policy's tag is verified and the others are ignored; a lone
   signature without it, or several with none carrying it, is refused (``signature-tag``); two
   carrying it are ambiguous and refused (``signature-malformed``).
2. Policy: :meth:`SignaturePolicy.check` (tag, algorithm, required components, created/expires,
   clock skew, nonce). Then the signature base is built (§2.5); a covered field that is absent from
   the message is a missing component, and a non-empty body must have ``content-digest`` covered.
3. Key: ``resolve_key(keyid)``. Unknown and revoked keys give the same error and message.
4. Cryptography: Ed25519 over the signature base, no prehash (§3.3.6).
5. Body: the signed Content-Digest (RFC 9530) is checked against the raw body.
6. Replay: only now is the nonce recorded, until the signature can no longer be accepted
   (``expires`` + skew). Nobody can burn a nonce or fill the cache without a valid signature.

Every refusal is a :class:`SignatureError` subclass; for any header values, nothing else escapes
except what the replay cache raises when it cannot answer (a server fault: refuse with 503).

Responses (:func:`sign_response`, :func:`verify_response`) cover ``@status``, ``content-digest`` and
``content-type`` under tag ``broker-v1-response`` and, given the request, the request's
``"@method";req``, ``"@target-uri";req`` and ``"signature";req;key="<label>"`` (§2.4): a response
then provably answers that very request signature, whose nonce makes it unique.
"""

from __future__ import annotations

import base64
import re
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from broker_primitives.httpsig.components import (
    ComponentError,
    ComponentMissing,
    HeaderFields,
    Message,
    RequestMessage,
    combine_fields,
    parse_component,
    signature_base_parts,
)
from broker_primitives.httpsig.digest import DigestError, content_digest, verify_content_digest
from broker_primitives.httpsig.signature_policy import (
    ALGORITHM,
    REQUEST_COMPONENTS,
    REQUEST_POLICY,
    REQUEST_TAG,
    RESPONSE_COMPONENTS,
    RESPONSE_POLICY,
    RESPONSE_TAG,
    SignatureComponentMissing,
    SignatureDigest,
    SignatureError,
    SignatureExpired,
    SignatureInvalid,
    SignatureKeyUnknown,
    SignatureLifetime,
    SignatureMalformed,
    SignatureMissing,
    SignatureNonce,
    SignatureNotYetValid,
    SignatureParameters,
    SignaturePolicy,
    SignatureReplayed,
    SignatureTag,
    VerifiedSignature,
)
from broker_primitives.httpsig.structured_fields import (
    InnerList,
    Item,
    Params,
    StructuredFieldError,
    parse_dictionary,
    serialize_dictionary,
    serialize_item,
)

__all__ = [
    "ALGORITHM",
    "REQUEST_COMPONENTS",
    "REQUEST_POLICY",
    "REQUEST_TAG",
    "RESPONSE_COMPONENTS",
    "RESPONSE_POLICY",
    "RESPONSE_TAG",
    "HeaderFields",
    "KeyResolver",
    "RequestMessage",
    "SignatureComponentMissing",
    "SignatureDigest",
    "SignatureError",
    "SignatureExpired",
    "SignatureInvalid",
    "SignatureKeyUnknown",
    "SignatureLifetime",
    "SignatureMalformed",
    "SignatureMissing",
    "SignatureNonce",
    "SignatureNotYetValid",
    "SignatureParameters",
    "SignaturePolicy",
    "SignatureReplayed",
    "SignatureTag",
    "VerifiedSignature",
    "request_signature_base",
    "request_signature_label",
    "sign_request",
    "sign_response",
    "verify_request",
    "verify_response",
]

#: Key id → the active public key, or None when the key id is unknown *or revoked*.
KeyResolver = Callable[[str], VerifyKey | None]


# --- Verification ---------------------------------------------------------------------------------


def _select(fields: dict[str, str], tag: str) -> tuple[str, InnerList, bytes]:
    """§3.2 steps 1 and 2: choose the one signature to verify, by its tag."""
    inputs_text, signatures_text = fields.get("signature-input"), fields.get("signature")
    if not inputs_text or not signatures_text:
        raise SignatureMissing("the message has no Signature-Input and Signature fields")
    try:
        inputs, signatures = parse_dictionary(inputs_text), parse_dictionary(signatures_text)
    except StructuredFieldError as exc:
        raise SignatureMalformed(f"the signature fields are not dictionaries: {exc}") from exc
    if not inputs or not signatures:
        raise SignatureMissing("the Signature-Input or Signature field is empty")
    tagged = [
        label
        for label, member in inputs.items()
        if isinstance(member, InnerList)
        and type(member.param("tag")) is str
        and member.param("tag") == tag
    ]
    if len(tagged) > 1:
        raise SignatureMalformed(f'more than one signature carries tag="{tag}"')
    if not tagged and len(inputs) > 1:
        raise SignatureTag(f'none of the signatures carries tag="{tag}"')
    label = tagged[0] if tagged else next(iter(inputs))
    inner, signature = inputs[label], signatures.get(label)
    if not isinstance(inner, InnerList):
        raise SignatureMalformed(f"Signature-Input member {label} is not an inner list")
    if signature is None:
        raise SignatureMalformed(f"the Signature field has no member {label}")
    if not isinstance(signature, Item) or not isinstance(signature.value, bytes):
        raise SignatureMalformed(f"Signature member {label} is not a byte sequence")
    return label, inner, signature.value


def _base(message: Message, inner: InnerList) -> tuple[bytes, tuple[str, ...], str]:
    """The signature base, the covered identifiers and the ``@signature-params`` value
    (:func:`signature_base_parts`), with component problems turned into refusals."""
    try:
        return signature_base_parts(message, inner)
    except ComponentMissing as exc:
        raise SignatureComponentMissing(str(exc), [exc.name]) from exc
    except ComponentError as exc:
        raise SignatureMalformed(str(exc)) from exc


def _verify(
    message: Message,
    *,
    body: bytes,
    resolve_key: KeyResolver,
    policy: SignaturePolicy,
    now: int,
    extra_required: Sequence[str] = (),
) -> VerifiedSignature:
    """Steps 1 to 5 of the module docstring, shared by requests and responses."""
    label, inner, signature = _select(message.fields, policy.required_tag)
    parameters = SignatureParameters.from_params(inner.params)
    key_id, created, expires = policy.check(parameters, inner.items, now, extra_required)
    base, names, _ = _base(message, inner)
    # Each covered component as policies name it: the bare name unless it has parameters.
    covered = tuple(name if component.params else str(component.value)
                    for component, name in zip(inner.items, names, strict=True))
    digest_covered = "content-digest" in covered
    if body and not digest_covered:
        raise SignatureComponentMissing(
            "a message with a body must cover content-digest", ["content-digest"]
        )
    key = resolve_key(key_id)
    if key is None:
        raise SignatureKeyUnknown()
    try:
        if len(signature) != 64:  # §3.3.6: R || S, 64 octets
            raise BadSignatureError
        key.verify(base, signature)
    except BadSignatureError as exc:
        raise SignatureInvalid("the signature does not verify with the signer's key") from exc
    if digest_covered:
        try:
            verify_content_digest(message.fields.get("content-digest"), body)
        except DigestError as exc:
            raise SignatureDigest(exc) from exc
    return VerifiedSignature(
        key_id=key_id,
        label=label,
        created=created,
        expires=expires,
        nonce=parameters.nonce,
        tag=policy.required_tag,
        covered_components=covered,
    )


def _message(
    *,
    headers: HeaderFields,
    method: str | None = None,
    target_uri: str | None = None,
    status: int | None = None,
    request: Message | None = None,
) -> Message:
    """A message to verify; a target URI that cannot be one is a malformed request."""
    try:
        return Message(
            headers=headers, method=method, target_uri=target_uri, status=status, request=request
        )
    except ComponentError as exc:
        raise SignatureMalformed(str(exc)) from exc


class ReplayCache(Protocol):
    """Where used nonces are remembered until their signatures expire (the broker keeps them in
    its database, broker.callers.replay)."""

    def seen_before(self, key_id: str, nonce: str, expires_at: int, now: int) -> bool:
        """Record ``nonce`` for ``key_id`` until ``expires_at``; True if it was already recorded.
        Atomic: the check and the record are one step. Times are Unix seconds."""
        ...


def verify_request(
    *,
    method: str,
    target_uri: str,
    headers: HeaderFields,
    body: bytes,
    resolve_key: KeyResolver,
    replay: ReplayCache,
    policy: SignaturePolicy = REQUEST_POLICY,
    now: int | None = None,
) -> VerifiedSignature:
    """Verify a signed request as the module docstring describes, then record its nonce.

    Args:
        method: the request method as received (``POST``).
        target_uri: the absolute URI the client addressed, ``https://host[:port]/path[?query]``;
            behind a trusted proxy, as the client sent it (scheme and host from the proxy).
        headers: the request's header fields.
        body: the raw request content, before any parsing.
        resolve_key: key id → the organisation's active public key; None if unknown or revoked.
        replay: where nonces are recorded.
        policy: the rules to apply; by default those of issue 4.
        now: Unix time in seconds; defaults to the system clock.

    Returns:
        The verified signature; its ``key_id`` identifies the caller.

    Raises:
        SignatureError: a subclass naming why the request is refused.
        whatever ``replay`` raises when it cannot answer: refuse the request (503).
    """
    now = int(time.time()) if now is None else now
    message = _message(headers=headers, method=method, target_uri=target_uri)
    verified = _verify(message, body=body, resolve_key=resolve_key, policy=policy, now=now)
    if verified.nonce is not None and replay.seen_before(
        verified.key_id, verified.nonce, policy.replay_expiry(verified.expires), now
    ):
        raise SignatureReplayed("this nonce was already used with this key")
    return verified


def verify_response(
    *,
    status: int,
    headers: HeaderFields,
    body: bytes,
    resolve_key: KeyResolver,
    request: RequestMessage | None = None,
    request_label: str | None = None,
    policy: SignaturePolicy = RESPONSE_POLICY,
    now: int | None = None,
) -> VerifiedSignature:
    """Verify the broker's signature on a response (the client side).

    With ``request``, the signature must also cover ``"@method";req`` and ``"@target-uri";req``;
    with ``request_label`` too, ``"signature";req;key="<label>"``.

    Raises:
        SignatureError: a subclass naming why the response is refused.
    """
    now = int(time.time()) if now is None else now
    request_message = None
    extra: list[str] = []
    if request is not None:
        request_message = _message(
            headers=request.headers, method=request.method, target_uri=request.target_uri
        )
        extra = list(_binding_names(request_label))
    message = _message(headers=headers, status=status, request=request_message)
    return _verify(
        message, body=body, resolve_key=resolve_key, policy=policy, now=now, extra_required=extra
    )


def request_signature_base(
    *, method: str, target_uri: str, headers: HeaderFields, label: str
) -> bytes:
    """The signature base (§2.5) of the Signature-Input member ``label`` of a request.

    For diagnosis and test vectors: it builds the base and checks nothing else.

    Raises:
        SignatureError: the member is missing or the base cannot be built.
    """
    message = _message(headers=headers, method=method, target_uri=target_uri)
    try:
        inner = parse_dictionary(message.fields.get("signature-input", "")).get(label)
    except StructuredFieldError as exc:
        raise SignatureMalformed(f"Signature-Input is not a dictionary: {exc}") from exc
    if not isinstance(inner, InnerList):
        raise SignatureMissing(f"Signature-Input has no inner list labelled {label}")
    return _base(message, inner)[0]


def request_signature_label(headers: HeaderFields, tag: str = REQUEST_TAG) -> str | None:
    """The label of the signature a verifier would choose (§3.2 steps 1-2), without verifying it.

    For binding an answer to the request's signature (§2.4) when the signature was refused or
    never checked (an unrouted path): None when the request carries no such signature.
    """
    try:
        label, _, _ = _select(combine_fields(headers), tag)
    except SignatureError:
        return None
    return label


# --- Signing --------------------------------------------------------------------------------------


_LABEL = re.compile(r"[a-z*][a-z0-9_\-.*]*")  # an RFC 8941 §3.2 Dictionary key


@lru_cache(maxsize=16)
def _binding_names(request_label: str | None) -> tuple[str, ...]:
    """The serialised identifiers of :func:`_request_binding`, as a policy names them."""
    return tuple(serialize_item(component) for component in _request_binding(request_label))


def _request_binding(request_label: str | None) -> list[Item]:
    """§2.4: the request components a response covers to say which request it answers."""
    binding = [Item("@method", (("req", True),)), Item("@target-uri", (("req", True),))]
    if request_label is not None:
        binding.append(Item("signature", (("req", True), ("key", request_label))))
    return binding


@dataclass(frozen=True)
class _Joined:
    """The caller's header fields plus the ones being added, without changing the caller's."""

    headers: HeaderFields
    added: dict[str, str]

    def items(self) -> Iterable[tuple[str, str]]:
        yield from self.headers.items()
        yield from self.added.items()


def _with_digest(headers: HeaderFields, body: bytes | None) -> dict[str, str]:
    """The Content-Digest to add for ``body``, or nothing when the headers carry a matching one."""
    if body is None:
        return {}
    current = combine_fields(headers).get("content-digest")
    if current is None:
        return {"Content-Digest": content_digest(body)}
    try:
        verify_content_digest(current, body)
    except DigestError as exc:
        raise ValueError(f"the Content-Digest header does not fit the body: {exc}") from exc
    return {}


def _times(created: int | None, lifetime: int) -> tuple[int, int]:
    if not 0 < lifetime <= 3600:
        raise ValueError("lifetime must be between 1 and 3600 seconds")
    created = int(time.time()) if created is None else created
    return created, created + lifetime


def _sign(
    *,
    components: Sequence[Item],
    params: Params,
    label: str,
    private_key: SigningKey,
    added: dict[str, str],
    headers: HeaderFields,
    method: str | None = None,
    target_uri: str | None = None,
    status: int | None = None,
    request: RequestMessage | None = None,
) -> dict[str, str]:
    """Build the base, sign it; returns ``added`` plus Signature-Input and Signature."""
    inner = InnerList(tuple(components), params)
    try:
        request_message = None
        if request is not None:
            request_message = _message(
                headers=request.headers, method=request.method, target_uri=request.target_uri
            )
        message = _message(
            headers=_Joined(headers, added),
            method=method,
            target_uri=target_uri,
            status=status,
            request=request_message,
        )
        if _LABEL.fullmatch(label) is None:
            serialize_dictionary({label: inner})  # raises: not a Dictionary key
        base, _, serialised = _base(message, inner)
        signature_input = f"{label}={serialised}"  # the Dictionary of one member, serialised
    except (StructuredFieldError, SignatureError) as exc:
        raise ValueError(f"cannot sign this message: {exc}") from exc
    signature = base64.b64encode(private_key.sign(base).signature).decode("ascii")
    return added | {"Signature-Input": signature_input, "Signature": f"{label}=:{signature}:"}


@lru_cache(maxsize=16)
def _components(names: tuple[str, ...]) -> tuple[Item, ...]:
    """The identifiers a signer covers, parsed once per list (the lists are few and fixed)."""
    return tuple(parse_component(name) for name in names)


def sign_request(
    *,
    method: str,
    target_uri: str,
    headers: HeaderFields,
    key_id: str,
    private_key: SigningKey,
    body: bytes | None = None,
    created: int | None = None,
    lifetime: int = 300,
    nonce: str | None = None,
    label: str = "sig1",
    tag: str = REQUEST_TAG,
    components: Sequence[str] = REQUEST_COMPONENTS,
) -> dict[str, str]:
    """Sign a request; returns the header fields to add (``Signature-Input``, ``Signature``).

    With ``body``, its ``Content-Digest`` is returned too (unless ``headers`` already carry one,
    which must then match). ``nonce`` defaults to 256 random bits in base64url.

    Raises:
        ValueError: a covered component is missing or invalid, or an argument is out of range.
    """
    created, expires = _times(created, lifetime)
    try:
        items = _components(tuple(components))
    except StructuredFieldError as exc:
        raise ValueError(f"invalid component identifier: {exc}") from exc
    params: Params = (
        ("created", created),
        ("expires", expires),
        ("nonce", secrets.token_urlsafe(32) if nonce is None else nonce),
        ("keyid", key_id),
        ("alg", ALGORITHM),
        ("tag", tag),
    )
    return _sign(
        components=items,
        params=params,
        label=label,
        private_key=private_key,
        added=_with_digest(headers, body),
        headers=headers,
        method=method,
        target_uri=target_uri,
    )


def sign_response(
    *,
    status: int,
    headers: HeaderFields,
    key_id: str,
    private_key: SigningKey,
    body: bytes | None = None,
    request: RequestMessage | None = None,
    request_label: str | None = None,
    created: int | None = None,
    lifetime: int = 300,
    label: str = "sig1",
    tag: str = RESPONSE_TAG,
) -> dict[str, str]:
    """Sign a response with the broker's key; returns the header fields to add.

    Covers ``@status``, ``content-digest`` and ``content-type``; with ``request`` also the
    request's ``"@method";req`` and ``"@target-uri";req`` (§2.4), and with ``request_label`` the
    request's own signature, ``"signature";req;key="<label>"``.

    Raises:
        ValueError: a covered component is missing or invalid, or an argument is out of range.
    """
    created, expires = _times(created, lifetime)
    components = [Item(name) for name in RESPONSE_COMPONENTS]
    if request is not None:
        components += _request_binding(request_label)
    params: Params = (
        ("created", created),
        ("expires", expires),
        ("keyid", key_id),
        ("alg", ALGORITHM),
        ("tag", tag),
    )
    return _sign(
        components=components,
        params=params,
        label=label,
        private_key=private_key,
        added=_with_digest(headers, body),
        headers=headers,
        status=status,
        request=request,
    )
