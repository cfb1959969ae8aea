"""Tests for broker_primitives.httpsig.signatures: signing and verifying requests and responses
(RFC 9421).

Each refusal issue 4 names is shown with its stable code: each required component missing; a
changed body, path, method or authority; an expired, future-dated or too long-lived signature; a
replayed nonce; an unknown or revoked key (same error, same message); a wrong tag; malformed fields.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import replace

import pytest
from broker_primitives.httpsig.digest import content_digest
from broker_primitives.httpsig.signatures import (
    REQUEST_COMPONENTS,
    REQUEST_POLICY,
    RESPONSE_POLICY,
    RequestMessage,
    SignatureComponentMissing,
    SignatureError,
    SignatureKeyUnknown,
    SignaturePolicy,
    VerifiedSignature,
    request_signature_base,
    sign_request,
    sign_response,
    verify_request,
    verify_response,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey, VerifyKey

from broker.callers.replay import ReplayCacheUnavailable
from tests.primitives.httpsig.conftest import BODY, NOW, TARGET, KeyRing
from tests.replay_cache import InMemoryReplayCache

KEY_ID = "org-a-2026"
NONCE = "q0SWx3Vp0TnZ0cS1jXo7-w"  # 22 base64url characters: 132 bits
COVERED = '"@method" "@target-uri" "@authority" "content-digest" "content-type"'


def _sign(
    key: SigningKey,
    *,
    body: bytes = BODY,
    method: str = "POST",
    target: str = TARGET,
    headers: Mapping[str, str] | None = None,
    key_id: str = KEY_ID,
    created: int = NOW,
    **options: object,
) -> dict[str, str]:
    """A request signed by sign_request: its header fields, the added ones included."""
    fields = dict({"Content-Type": "application/json"} if headers is None else headers)
    added = sign_request(
        method=method,
        target_uri=target,
        headers=fields,
        key_id=key_id,
        private_key=key,
        body=body,
        created=created,
        **options,  # type: ignore[arg-type]
    )
    return fields | added


def _verify(
    headers: Mapping[str, str],
    keyring: KeyRing,
    *,
    body: bytes = BODY,
    method: str = "POST",
    target: str = TARGET,
    now: int = NOW,
    replay: InMemoryReplayCache | None = None,
    policy: SignaturePolicy = REQUEST_POLICY,
) -> VerifiedSignature:
    return verify_request(
        method=method,
        target_uri=target,
        headers=headers,
        body=body,
        resolve_key=keyring.resolve,
        replay=InMemoryReplayCache() if replay is None else replay,
        policy=policy,
        now=now,
    )


def _refused(
    code: str, headers: Mapping[str, str], keyring: KeyRing, **kwargs: object
) -> SignatureError:
    with pytest.raises(SignatureError) as caught:
        _verify(headers, keyring, **kwargs)  # type: ignore[arg-type]
    assert caught.value.code == code, caught.value.detail
    return caught.value


def _params(
    *,
    created: int | None = NOW,
    expires: int | None = NOW + 300,
    nonce: str | None = NONCE,
    keyid: str | None = KEY_ID,
    tag: str | None = "broker-v1",
    extra: str = "",
) -> str:
    text = "" if created is None else f";created={created}"
    text += "" if expires is None else f";expires={expires}"
    text += "" if nonce is None else f';nonce="{nonce}"'
    text += "" if keyid is None else f';keyid="{keyid}"'
    text += "" if tag is None else f';tag="{tag}"'
    return text + extra


def _sign_raw(
    key: SigningKey,
    params: str,
    *,
    components: str = COVERED,
    label: str = "sig1",
    body: bytes = BODY,
    headers: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A request signed by hand: any Signature-Input, signed over the base our code builds."""
    fields = {"Content-Type": "application/json", "Content-Digest": content_digest(body)}
    fields |= dict(headers or {})
    fields["Signature-Input"] = f"{label}=({components}){params}"
    base = request_signature_base(method="POST", target_uri=TARGET, headers=fields, label=label)
    signature = base64.b64encode(key.sign(base).signature).decode()
    return fields | {"Signature": f"{label}=:{signature}:"}


# --- Accepted ---------------------------------------------------------------------------------


def test_round_trip(org_key: SigningKey, keyring: KeyRing) -> None:
    headers = _sign(org_key)
    assert set(headers) == {"Content-Type", "Content-Digest", "Signature-Input", "Signature"}
    verified = _verify(headers, keyring)
    assert verified.key_id == KEY_ID
    assert verified.label == "sig1"
    assert verified.tag == "broker-v1"
    assert (verified.created, verified.expires) == (NOW, NOW + 300)
    assert verified.covered_components == REQUEST_COMPONENTS
    assert verified.nonce is not None
    assert len(verified.nonce) >= 43  # 256 random bits by default


def test_header_names_are_case_insensitive(org_key: SigningKey, keyring: KeyRing) -> None:
    headers = {name.upper(): value for name, value in _sign(org_key).items()}
    assert _verify(headers, keyring).key_id == KEY_ID


def test_empty_body_get(org_key: SigningKey, keyring: KeyRing) -> None:
    headers = _sign(org_key, method="GET", body=b"", target=TARGET + "/123?page=2")
    assert _verify(headers, keyring, method="GET", body=b"", target=TARGET + "/123?page=2")


@pytest.mark.parametrize("now", [NOW - 60, NOW + 300 + 60])
def test_clock_skew_of_60_seconds_is_tolerated_both_ways(
    org_key: SigningKey, keyring: KeyRing, now: int
) -> None:
    assert _verify(_sign(org_key), keyring, now=now)


def test_a_22_character_nonce_is_enough(org_key: SigningKey, keyring: KeyRing) -> None:
    assert _verify(_sign(org_key, nonce=NONCE), keyring).nonce == NONCE


def test_of_several_signatures_the_broker_v1_one_is_verified(
    org_key: SigningKey, keyring: KeyRing
) -> None:
    ours = _sign(org_key, label="broker")
    other = _sign(SigningKey.generate(), label="proxy", tag="gateway-v2")
    headers = ours | {
        "Signature-Input": f"{other['Signature-Input']}, {ours['Signature-Input']}",
        "Signature": f"{other['Signature']}, {ours['Signature']}",
    }
    assert _verify(headers, keyring).label == "broker"


# --- Refused: components ----------------------------------------------------------------------


@pytest.mark.parametrize("missing", REQUEST_COMPONENTS)
def test_each_required_component_missing(
    org_key: SigningKey, keyring: KeyRing, missing: str
) -> None:
    components = [name for name in REQUEST_COMPONENTS if name != missing]
    headers = _sign(org_key, components=components)
    error = _refused("signature-component-missing", headers, keyring)
    assert isinstance(error, SignatureComponentMissing)
    assert error.components == (missing,)
    assert missing in error.detail


def test_covered_field_absent_from_the_message(org_key: SigningKey, keyring: KeyRing) -> None:
    headers = _sign(org_key)
    del headers["Content-Type"]
    error = _refused("signature-component-missing", headers, keyring)
    assert "content-type" in error.detail


def test_a_body_needs_a_covered_digest_even_under_a_lax_policy(
    org_key: SigningKey, keyring: KeyRing
) -> None:
    lax = SignaturePolicy(required_components=("@method", "@target-uri"))
    headers = _sign(org_key, components=["@method", "@target-uri"])
    _refused("signature-component-missing", headers, keyring, policy=lax)
    assert _verify(headers, keyring, policy=lax, body=b"")


# --- Refused: the message was changed ----------------------------------------------------------


def test_changed_body_with_the_signed_digest(org_key: SigningKey, keyring: KeyRing) -> None:
    _refused("content-digest-mismatch", _sign(org_key), keyring, body=BODY + b" ")


def test_changed_body_with_a_new_digest(org_key: SigningKey, keyring: KeyRing) -> None:
    changed = BODY.replace(b"safety", b"fishing")
    headers = _sign(org_key) | {"Content-Digest": content_digest(changed)}
    _refused("signature-invalid", headers, keyring, body=changed)


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("POST", "https://broker.example/v1/involvements"),  # path
        ("POST", TARGET + "?all=1"),  # query
        ("PUT", TARGET),  # method
        ("post", TARGET),  # method names are case-sensitive
        ("POST", "https://evil.example/v1/lookups"),  # authority
        ("POST", "https://broker.example:8443/v1/lookups"),  # authority (port)
        ("POST", "http://broker.example/v1/lookups"),  # scheme
    ],
)
def test_changed_method_path_or_authority(
    org_key: SigningKey, keyring: KeyRing, method: str, target: str
) -> None:
    _refused("signature-invalid", _sign(org_key), keyring, method=method, target=target)


def test_changed_content_type(org_key: SigningKey, keyring: KeyRing) -> None:
    headers = _sign(org_key) | {"Content-Type": "text/plain"}
    _refused("signature-invalid", headers, keyring)


def test_changed_signature_parameters(org_key: SigningKey, keyring: KeyRing) -> None:
    headers = _sign(org_key)
    headers["Signature-Input"] = headers["Signature-Input"].replace(
        f"expires={NOW + 300}", f"expires={NOW + 299}"
    )
    _refused("signature-invalid", headers, keyring)


# --- Refused: time -----------------------------------------------------------------------------


def test_expired(org_key: SigningKey, keyring: KeyRing) -> None:
    error = _refused("signature-expired", _sign(org_key), keyring, now=NOW + 300 + 61)
    assert error.status == 401


def test_future_dated_beyond_skew(org_key: SigningKey, keyring: KeyRing) -> None:
    _refused("signature-not-yet-valid", _sign(org_key, created=NOW + 61), keyring)


def test_lifetime_over_300_seconds(org_key: SigningKey, keyring: KeyRing) -> None:
    _refused("signature-lifetime", _sign(org_key, lifetime=301), keyring)


@pytest.mark.parametrize(
    "params",
    [
        _params(expires=None),
        _params(created=None),
        _params(expires=NOW),  # expires must come after created
        _params(expires=NOW - 1),
    ],
)
def test_lifetime_missing_or_backwards(org_key: SigningKey, keyring: KeyRing, params: str) -> None:
    _refused("signature-lifetime", _sign_raw(org_key, params), keyring)


# --- Refused: nonce and replay -----------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        _params(nonce=None),
        _params(nonce=NONCE[:21]),  # 126 bits
        _params(nonce="a" * 257),
        _params(nonce="not a base64 nonce, 128 bits long"),
        _params(nonce=NONCE + "==="),
    ],
)
def test_nonce_missing_or_too_short(org_key: SigningKey, keyring: KeyRing, params: str) -> None:
    _refused("signature-nonce", _sign_raw(org_key, params), keyring)


def test_replayed(org_key: SigningKey, keyring: KeyRing) -> None:
    cache = InMemoryReplayCache()
    headers = _sign(org_key)
    _verify(headers, keyring, replay=cache)
    _refused("signature-replayed", headers, keyring, replay=cache, now=NOW + 10)
    # The same nonce under a new signature (say, a retry with a later created) is a replay too.
    again = _sign(org_key, created=NOW + 5, nonce=_verify(headers, keyring).nonce)
    _refused("signature-replayed", again, keyring, replay=cache, now=NOW + 10)


def test_the_replay_entry_outlives_the_signature(org_key: SigningKey, keyring: KeyRing) -> None:
    cache = InMemoryReplayCache()
    headers = _sign(org_key)
    _verify(headers, keyring, replay=cache)
    _refused("signature-replayed", headers, keyring, replay=cache, now=NOW + 300 + 60)
    _refused("signature-expired", headers, keyring, replay=cache, now=NOW + 300 + 61)


def test_one_nonce_per_key_id_not_per_broker(org_key: SigningKey, keyring: KeyRing) -> None:
    other = SigningKey.generate()
    keyring.active["org-b-2026"] = other.verify_key
    cache = InMemoryReplayCache()
    _verify(_sign(org_key, nonce=NONCE), keyring, replay=cache)
    assert _verify(_sign(other, key_id="org-b-2026", nonce=NONCE), keyring, replay=cache)


def test_refused_requests_do_not_burn_the_nonce(org_key: SigningKey, keyring: KeyRing) -> None:
    cache = InMemoryReplayCache()
    headers = _sign(org_key)
    forged = headers | {"Signature": "sig1=:" + base64.b64encode(bytes(64)).decode() + ":"}
    _refused("signature-invalid", forged, keyring, replay=cache)
    _refused("content-digest-mismatch", headers, keyring, replay=cache, body=b"{}")
    _refused("signature-invalid", headers, keyring, replay=cache, method="DELETE")
    assert len(cache) == 0
    assert _verify(headers, keyring, replay=cache)


def test_an_unavailable_replay_cache_refuses(org_key: SigningKey, keyring: KeyRing) -> None:
    class Down:
        def seen_before(self, key_id: str, nonce: str, expires_at: int, now: int) -> bool:
            raise ReplayCacheUnavailable("down")

    with pytest.raises(ReplayCacheUnavailable):
        verify_request(
            method="POST", target_uri=TARGET, headers=_sign(org_key), body=BODY,
            resolve_key=keyring.resolve, replay=Down(), now=NOW,
        )  # fmt: skip


# --- Refused: keys -----------------------------------------------------------------------------


def test_unknown_and_revoked_keys_are_the_same_refusal(keyring: KeyRing) -> None:
    revoked_key = SigningKey.generate()
    keyring.revoked["org-a-2025"] = revoked_key.verify_key
    unknown = _refused(
        "signature-key-unknown", _sign(SigningKey.generate(), key_id="nobody"), keyring
    )
    revoked = _refused("signature-key-unknown", _sign(revoked_key, key_id="org-a-2025"), keyring)
    assert isinstance(unknown, SignatureKeyUnknown)
    assert type(unknown) is type(revoked)
    assert (unknown.detail, str(unknown), unknown.message("nl"), unknown.status) == (
        revoked.detail, str(revoked), revoked.message("nl"), revoked.status,
    )  # fmt: skip
    assert "nobody" not in unknown.detail
    assert "org-a-2025" not in revoked.detail


def test_a_valid_signature_by_another_key_under_our_key_id(keyring: KeyRing) -> None:
    _refused("signature-invalid", _sign(SigningKey.generate()), keyring)


def test_no_key_lookup_before_the_policy_passes(org_key: SigningKey, keyring: KeyRing) -> None:
    _refused("signature-expired", _sign(org_key), keyring, now=NOW + 1000)
    _refused("signature-tag", _sign(org_key, tag="other"), keyring)
    assert keyring.lookups == []


# --- Refused: tag and selection ----------------------------------------------------------------


def test_wrong_tag(org_key: SigningKey, keyring: KeyRing) -> None:
    _refused("signature-tag", _sign(org_key, tag="broker-v2"), keyring)
    _refused("signature-tag", _sign_raw(org_key, _params(tag=None)), keyring)


def test_several_signatures_none_with_our_tag(org_key: SigningKey, keyring: KeyRing) -> None:
    one, two = _sign(org_key, label="a", tag="x"), _sign(org_key, label="b", tag="y")
    headers = one | {
        "Signature-Input": f"{one['Signature-Input']}, {two['Signature-Input']}",
        "Signature": f"{one['Signature']}, {two['Signature']}",
    }
    _refused("signature-tag", headers, keyring)


def test_two_signatures_with_our_tag_are_ambiguous(org_key: SigningKey, keyring: KeyRing) -> None:
    one, two = _sign(org_key, label="a"), _sign(org_key, label="b")
    headers = one | {
        "Signature-Input": f"{one['Signature-Input']}, {two['Signature-Input']}",
        "Signature": f"{one['Signature']}, {two['Signature']}",
    }
    _refused("signature-malformed", headers, keyring)


# --- Refused: missing and malformed ------------------------------------------------------------


@pytest.mark.parametrize("drop", ["Signature-Input", "Signature"])
def test_unsigned(org_key: SigningKey, keyring: KeyRing, drop: str) -> None:
    headers = _sign(org_key)
    del headers[drop]
    _refused("signature-missing", headers, keyring)
    _refused("signature-missing", headers | {drop: " "}, keyring)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("Signature-Input", "sig1"),  # not an inner list
        ("Signature-Input", "sig1=(@method)"),  # not a dictionary
        ("Signature-Input", 'sig1=("@method";created=1'),
        ("Signature", "sig1=abc"),  # not a byte sequence
        ("Signature", "other=:AAAA:"),  # no member sig1
        ("Signature", "sig1=:AAAA:, sig1=:AAAA:"),  # duplicate label
    ],
)
def test_malformed_fields(org_key: SigningKey, keyring: KeyRing, field: str, value: str) -> None:
    _refused("signature-malformed", _sign(org_key) | {field: value}, keyring)


@pytest.mark.parametrize(
    "extra",
    [
        ';alg="rsa-pss-sha512"',
        ";alg=ed25519",  # a token, not a string
        ';context="x"',  # an unknown parameter
    ],
)
def test_malformed_parameters(org_key: SigningKey, keyring: KeyRing, extra: str) -> None:
    _refused("signature-malformed", _sign_raw(org_key, _params(extra=extra)), keyring)


@pytest.mark.parametrize(
    "params",
    [
        _params(created=None, extra=';created="1780000000"'),
        _params(keyid=None, extra=";keyid=org-a-2026"),
        _params(tag=None, extra=";tag=broker-v1"),
        _params(keyid=None),
    ],
)
def test_parameters_of_the_wrong_type(org_key: SigningKey, keyring: KeyRing, params: str) -> None:
    with pytest.raises(SignatureError) as caught:
        _verify(_sign_raw(org_key, params), keyring)
    assert caught.value.code in {"signature-malformed", "signature-tag"}


def test_signature_of_the_wrong_length(org_key: SigningKey, keyring: KeyRing) -> None:
    headers = _sign(org_key)
    short = base64.b64encode(bytes(63)).decode()
    _refused("signature-invalid", headers | {"Signature": f"sig1=:{short}:"}, keyring)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (f"created={NOW}", f"created={NOW};created={NOW}"),  # a duplicate parameter
        ('"content-type")', '"content-type" "@query-param";name="x")'),  # not supported
        ('"content-type")', '"content-type" "@status")'),  # not in a request
        ('"content-type")', '"content-type" "content-type")'),  # covered twice
        (
            '"content-type")',
            '"content-type" "x-extra")',
        ),
    ],
)
def test_malformed_signature_input(
    org_key: SigningKey, keyring: KeyRing, old: str, new: str
) -> None:
    headers = _sign(org_key)
    headers["Signature-Input"] = headers["Signature-Input"].replace(old, new)
    code = "signature-component-missing" if "x-extra" in new else "signature-malformed"
    _refused(code, headers, keyring)


_signed_fields = st.sampled_from(["Signature-Input", "Signature"])


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(field=_signed_fields, value=st.text(max_size=200))
def test_fuzzed_fields_raise_only_signature_errors(
    org_key: SigningKey, keyring: KeyRing, field: str, value: str
) -> None:
    headers = _sign(org_key) | {field: value}
    with pytest.raises(SignatureError):
        _verify(headers, keyring)


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    field=_signed_fields,
    position=st.integers(min_value=0, max_value=400),
    cut=st.integers(min_value=0, max_value=3),
    insert=st.text(alphabet=' ;,=()":?*-@abcdeINPUT019+/\t\\é', max_size=3),
)
def test_mutated_fields_raise_only_signature_errors(
    org_key: SigningKey, keyring: KeyRing, field: str, position: int, cut: int, insert: str
) -> None:
    headers = _sign(org_key)
    value = headers[field]
    position %= len(value) + 1
    headers[field] = value[:position] + insert + value[position + cut :]
    try:
        verified = _verify(headers, keyring)
    except SignatureError:
        return
    # A mutation can be harmless (extra spaces inside an inner list re-serialise the same way).
    assert verified.key_id == KEY_ID


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(method=st.text(max_size=10), target=st.text(max_size=60), content_type=st.text(max_size=30))
def test_fuzzed_message_raises_only_signature_errors(
    org_key: SigningKey, keyring: KeyRing, method: str, target: str, content_type: str
) -> None:
    headers = _sign(org_key) | {"Content-Type": content_type}
    with pytest.raises(SignatureError):
        _verify(headers, keyring, method=method, target=target)


# --- Policy and signer arguments ---------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"required_components": ()},
        {"required_tag": ""},
        {"required_components": ("@method", '"@method"')},
        {"max_lifetime": 0},
        {"clock_skew": -1},
        {"min_nonce_bits": 32},
    ],
)
def test_an_empty_or_unsafe_policy_cannot_be_made(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"."):
        replace(REQUEST_POLICY, **changes)  # type: ignore[arg-type]


def test_nonce_rule_in_characters() -> None:
    assert REQUEST_POLICY.min_nonce_chars == 22
    assert SignaturePolicy(min_nonce_bits=256).min_nonce_chars == 43


@pytest.mark.parametrize(
    "options",
    [
        {"headers": {}},  # no Content-Type to cover
        {"lifetime": 0},
        {"target": "/v1/lookups"},
        {"headers": {"Content-Type": "application/json", "Content-Digest": content_digest(b"x")}},
        {"components": ['"@method"xx']},
        {"label": "Sig1"},
        {"nonce": 'with "quote" and é'},
    ],
)
def test_signer_refuses_what_it_cannot_sign(
    org_key: SigningKey, options: dict[str, object]
) -> None:
    with pytest.raises(ValueError, match=r"."):
        _sign(org_key, **options)  # type: ignore[arg-type]


def test_signer_keeps_a_matching_digest(org_key: SigningKey, keyring: KeyRing) -> None:
    fields = {"Content-Type": "application/json", "Content-Digest": content_digest(BODY)}
    added = sign_request(
        method="POST", target_uri=TARGET, headers=fields, key_id=KEY_ID, private_key=org_key,
        body=BODY, created=NOW,
    )  # fmt: skip
    assert set(added) == {"Signature-Input", "Signature"}
    assert _verify(fields | added, keyring)


# --- Responses ---------------------------------------------------------------------------------

BROKER_KEY = SigningKey.generate()
RESPONSE_BODY = b'{"matches": []}'


def _broker_key(key_id: str) -> VerifyKey | None:
    return BROKER_KEY.verify_key if key_id == "broker-2026" else None


def _signed_response(
    request: RequestMessage | None, request_label: str | None = None
) -> dict[str, str]:
    fields = {"Content-Type": "application/json"}
    return fields | sign_response(
        status=200, headers=fields, key_id="broker-2026", private_key=BROKER_KEY,
        body=RESPONSE_BODY, request=request, request_label=request_label, created=NOW,
    )  # fmt: skip


def test_response_round_trip_bound_to_the_request(org_key: SigningKey) -> None:
    request = RequestMessage("POST", TARGET, _sign(org_key))
    headers = _signed_response(request, "sig1")
    verified = verify_response(
        status=200, headers=headers, body=RESPONSE_BODY, resolve_key=_broker_key,
        request=request, request_label="sig1", now=NOW,
    )  # fmt: skip
    assert verified.key_id == "broker-2026"
    assert verified.tag == "broker-v1-response"
    assert verified.covered_components == (
        "@status", "content-digest", "content-type",
        '"@method";req', '"@target-uri";req', '"signature";req;key="sig1"',
    )  # fmt: skip


def test_response_refusals(org_key: SigningKey) -> None:
    request = RequestMessage("POST", TARGET, _sign(org_key))
    headers = _signed_response(request, "sig1")

    def refused(code: str, **changes: object) -> None:
        arguments: dict[str, object] = {
            "status": 200, "headers": headers, "body": RESPONSE_BODY, "resolve_key": _broker_key,
            "request": request, "request_label": "sig1", "now": NOW,
        }  # fmt: skip
        with pytest.raises(SignatureError) as caught:
            verify_response(**(arguments | changes))  # type: ignore[arg-type]
        assert caught.value.code == code, caught.value.detail

    refused("signature-invalid", status=500)
    refused("content-digest-mismatch", body=b'{"matches": [1]}')
    # An answer to another request (another request signature) does not verify.
    refused("signature-invalid", request=RequestMessage("POST", TARGET, _sign(org_key)))
    # A response that is not bound to the request, when the client asks for the binding.
    refused("signature-component-missing", headers=_signed_response(None))
    refused("signature-tag", headers=_sign(org_key), status=200)
    refused("signature-expired", now=NOW + 1000)
    refused("signature-key-unknown", resolve_key=lambda key_id: None)
    assert RESPONSE_POLICY.require_nonce is False
