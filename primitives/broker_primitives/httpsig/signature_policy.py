"""What a signature must satisfy beyond RFC 9421 itself, and the refusals when it does not.

The broker's rules for API signatures (issue 4) live here as data, in :class:`SignaturePolicy`, and
every way a signature can be refused is a :class:`SignatureError` subclass with a stable ``code``
(the last part of its RFC 9457 problem type) and a ``detail`` saying what exactly was wrong.

Rules :meth:`SignaturePolicy.check` guarantees, in this order:

- ``tag`` is the policy's (``broker-v1`` for requests, ``broker-v1-response`` for responses); a
  signature made for another application is never judged further (RFC 9421 §7.2.5).
- ``alg``, when present, is ``ed25519`` (§3.3.6); ``keyid`` is present.
- Every required component is covered (identity ignores parameter order).
- ``created`` and ``expires`` are both present, ``expires`` after ``created`` and at most
  ``max_lifetime`` (300 s) later; ``created`` is at most ``clock_skew`` (60 s) in the future and
  ``expires`` at most ``clock_skew`` in the past.
- ``nonce`` is present (for requests) and long enough: see :class:`SignaturePolicy`.

Parameters are typed as §2.3 says (``created``/``expires`` Integers; ``keyid``, ``nonce``, ``tag``
and ``alg`` Strings, not Tokens); an unknown parameter is refused rather than ignored.
An empty or unsafe policy cannot be constructed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from broker_primitives.errors import BilingualError
from broker_primitives.httpsig.components import component_identity, required_identities
from broker_primitives.httpsig.digest import DigestError
from broker_primitives.httpsig.structured_fields import Item, Params

__all__ = [
    "ALGORITHM",
    "REQUEST_COMPONENTS",
    "REQUEST_POLICY",
    "REQUEST_TAG",
    "RESPONSE_COMPONENTS",
    "RESPONSE_POLICY",
    "RESPONSE_TAG",
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
]

ALGORITHM = "ed25519"  # RFC 9421 §6.2.2 registry name for §3.3.6
REQUEST_COMPONENTS: tuple[str, ...] = (
    "@method",
    "@target-uri",
    "@authority",
    "content-digest",
    "content-type",
)
RESPONSE_COMPONENTS: tuple[str, ...] = ("@status", "content-digest", "content-type")
REQUEST_TAG = "broker-v1"
RESPONSE_TAG = "broker-v1-response"
_PARAMETER_TYPES: dict[str, type] = {
    "created": int,
    "expires": int,
    "keyid": str,
    "nonce": str,
    "tag": str,
    "alg": str,
}
_NONCE = re.compile(r"[A-Za-z0-9_\-+/]+={0,2}")  # base64 or base64url, padding optional
_MAX_NONCE_CHARS = 256


# --- Refusals -------------------------------------------------------------------------------------


class SignatureError(BilingualError):
    """A signature was refused; ``code`` names why, ``detail`` says what exactly."""

    code = "signature"
    status = 401
    title = "The message signature was refused"
    title_nl = "De handtekening van het bericht is geweigerd"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, f"{self.title_nl} ({self.code}): {detail}")
        self.detail = detail


class SignatureMissing(SignatureError):
    """No Signature-Input or Signature field, or an empty one."""

    code = "signature-missing"
    title = "The message is not signed"
    title_nl = "Het bericht is niet ondertekend"


class SignatureMalformed(SignatureError):
    """The signature fields or a covered component cannot be read as RFC 9421 defines them."""

    code = "signature-malformed"
    status = 400
    title = "The message signature is malformed"
    title_nl = "De handtekening van het bericht is onleesbaar"


class SignatureComponentMissing(SignatureError):
    """A component the policy requires is not covered, or a covered field is absent."""

    code = "signature-component-missing"
    title = "The signature does not cover a required component"
    title_nl = "De handtekening dekt een verplicht onderdeel niet"

    def __init__(self, detail: str, components: Sequence[str]) -> None:
        super().__init__(detail)
        self.components = tuple(components)


class SignatureTag(SignatureError):
    """No signature carries the tag the policy requires."""

    code = "signature-tag"
    title = "The signature is not meant for this application"
    title_nl = "De handtekening is niet voor deze toepassing bedoeld"


class SignatureExpired(SignatureError):
    """``expires`` has passed (beyond the allowed clock skew)."""

    code = "signature-expired"
    title = "The signature has expired"
    title_nl = "De handtekening is verlopen"


class SignatureNotYetValid(SignatureError):
    """``created`` lies in the future (beyond the allowed clock skew)."""

    code = "signature-not-yet-valid"
    title = "The signature was created in the future"
    title_nl = "De handtekening is in de toekomst gemaakt"


class SignatureLifetime(SignatureError):
    """``created`` or ``expires`` is missing, or they are further apart than allowed."""

    code = "signature-lifetime"
    title = "The signature's validity period is missing or too long"
    title_nl = "De geldigheidsduur van de handtekening ontbreekt of is te lang"


class SignatureNonce(SignatureError):
    """The nonce is missing or too short to carry the required entropy."""

    code = "signature-nonce"
    title = "The signature's nonce is missing or too short"
    title_nl = "De nonce van de handtekening ontbreekt of is te kort"


class SignatureKeyUnknown(SignatureError):
    """The key id is unknown or revoked: one error, one message, for both."""

    code = "signature-key-unknown"
    title = "The signing key is not accepted"
    title_nl = "De sleutel van de handtekening wordt niet geaccepteerd"

    def __init__(self) -> None:
        # Deliberately no key id and no reason: never hint whether a key id exists.
        super().__init__("No active key is registered under the signature's key id.")


class SignatureInvalid(SignatureError):
    """The signature does not verify over the message as received."""

    code = "signature-invalid"
    title = "The signature does not match the message"
    title_nl = "De handtekening past niet bij het bericht"


class SignatureReplayed(SignatureError):
    """The nonce was used before with this key id, within the signature's lifetime."""

    code = "signature-replayed"
    title = "The signed message was already received once"
    title_nl = "Het ondertekende bericht is al eens ontvangen"


class SignatureDigest(SignatureError):
    """The signed Content-Digest does not fit the body; ``code`` is the digest error's code."""

    status = 400
    title = "The body does not match its Content-Digest"
    title_nl = "De body past niet bij de Content-Digest"

    def __init__(self, error: DigestError) -> None:
        self.code = error.code
        super().__init__(error.message_en)


# --- Signature parameters and policy (RFC 9421 §2.3, issue 4) -------------------------------------


@dataclass(frozen=True)
class SignatureParameters:
    """The signature parameters of one Signature-Input member, each of the §2.3 type."""

    created: int | None = None
    expires: int | None = None
    nonce: str | None = None
    key_id: str | None = None
    alg: str | None = None
    tag: str | None = None

    @classmethod
    def from_params(cls, params: Params) -> SignatureParameters:
        """Read parameters; a wrong type or an unknown parameter is malformed."""
        integers: dict[str, int] = {}
        strings: dict[str, str] = {}
        for name, value in params:
            expected = _PARAMETER_TYPES.get(name)
            if expected is None:
                raise SignatureMalformed(f"the signature parameter {name} is not supported")
            # type() rather than isinstance(): a Boolean is no Integer, a Token no String.
            if expected is int and type(value) is int:
                integers[name] = value
            elif expected is str and type(value) is str:
                strings[name] = value
            else:
                kind = "an integer" if expected is int else "a string"
                raise SignatureMalformed(f"the signature parameter {name} must be {kind}")
        return cls(
            created=integers.get("created"),
            expires=integers.get("expires"),
            nonce=strings.get("nonce"),
            key_id=strings.get("keyid"),
            alg=strings.get("alg"),
            tag=strings.get("tag"),
        )


@dataclass(frozen=True)
class SignaturePolicy:
    """What a verifier demands beyond RFC 9421 itself. An empty or unsafe policy is refused.

    The nonce rule: a nonce is read as the base64 or base64url encoding (padding optional) of
    random bytes, so each character carries 6 bits; it must have at least
    ``ceil(min_nonce_bits / 6)`` characters (22 for 128 bits, e.g. ``secrets.token_urlsafe(16)``)
    and at most 256. Length is what can be checked; the signer must use a real random source.
    """

    required_components: tuple[str, ...] = REQUEST_COMPONENTS
    required_tag: str = REQUEST_TAG
    max_lifetime: int = 300
    clock_skew: int = 60
    min_nonce_bits: int = 128
    require_nonce: bool = True

    def __post_init__(self) -> None:
        """Refuse a policy that would accept too much."""
        if not self.required_components or not self.required_tag:
            raise ValueError("a signature policy needs required components and a tag")
        if len({identity for _, identity in required_identities(self.required_components)}) != len(
            self.required_components
        ):
            raise ValueError("a signature policy lists a component twice")
        if not 0 < self.max_lifetime <= 3600 or not 0 <= self.clock_skew <= 300:
            raise ValueError("max_lifetime must be 1..3600 s and clock_skew 0..300 s")
        if not 64 <= self.min_nonce_bits <= 6 * _MAX_NONCE_CHARS:
            raise ValueError(f"min_nonce_bits must be 64..{6 * _MAX_NONCE_CHARS}")

    @property
    def min_nonce_chars(self) -> int:
        """The shortest nonce accepted, in base64 characters (padding not counted)."""
        return math.ceil(self.min_nonce_bits / 6)

    def replay_expiry(self, expires: int) -> int:
        """The first second at which a signature expiring at ``expires`` is refused anyway."""
        return expires + self.clock_skew + 1

    def check(
        self,
        parameters: SignatureParameters,
        covered: Sequence[Item],
        now: int,
        extra_required: Sequence[str] = (),
    ) -> tuple[str, int, int]:
        """Apply the policy; returns (key id, created, expires) or raises a SignatureError."""
        if parameters.tag != self.required_tag:
            raise SignatureTag(f'the signature must carry tag="{self.required_tag}"')
        if parameters.alg is not None and parameters.alg != ALGORITHM:
            raise SignatureMalformed(f'the algorithm must be "{ALGORITHM}"')
        if parameters.key_id is None:
            raise SignatureMalformed("the signature has no keyid parameter")
        have = {component_identity(component) for component in covered}
        required = required_identities(self.required_components + tuple(extra_required))
        missing = [name for name, identity in required if identity not in have]
        if missing:
            raise SignatureComponentMissing(
                "the signature does not cover " + ", ".join(missing), missing
            )
        created, expires = parameters.created, parameters.expires
        if created is None or expires is None:
            raise SignatureLifetime("the signature must carry both created and expires")
        if not 0 < expires - created <= self.max_lifetime:
            raise SignatureLifetime(
                f"expires must be after created and at most {self.max_lifetime} s later"
            )
        if created > now + self.clock_skew:
            raise SignatureNotYetValid(
                f"created is {created - now} s ahead of the server clock "
                f"(at most {self.clock_skew} s allowed)"
            )
        if expires + self.clock_skew < now:
            raise SignatureExpired(f"the signature expired {now - expires} s ago")
        nonce = parameters.nonce
        if nonce is None:
            if self.require_nonce:
                raise SignatureNonce("the signature has no nonce parameter")
        elif (
            _NONCE.fullmatch(nonce) is None
            or not self.min_nonce_chars <= len(nonce.rstrip("=")) <= _MAX_NONCE_CHARS
        ):
            raise SignatureNonce(
                f"the nonce must be {self.min_nonce_chars} to {_MAX_NONCE_CHARS} base64 or "
                f"base64url characters ({self.min_nonce_bits} bits or more)"
            )
        return parameters.key_id, created, expires


#: The policy the broker applies to requests: the rules of issue 4.
REQUEST_POLICY = SignaturePolicy()

#: The policy a client applies to the broker's responses: no nonce (a response is bound to its
#: request instead), the response tag and components.
RESPONSE_POLICY = SignaturePolicy(
    required_components=RESPONSE_COMPONENTS, required_tag=RESPONSE_TAG, require_nonce=False
)


@dataclass(frozen=True)
class VerifiedSignature:
    """A signature that passed every check. ``key_id`` is who signed; trust nothing else."""

    key_id: str
    label: str
    created: int
    expires: int
    nonce: str | None
    tag: str
    covered_components: tuple[str, ...]
