"""Tests for broker_primitives.httpsig.components: RFC 9421 §2 component values and the
signature base.

The RFC 9421 Appendix B.2.6 test vector (Ed25519) is checked byte for byte: the test-request of
Appendix B.2, the test key of Appendix B.1.4, the signature base and the signature of B.2.6.
"""

from __future__ import annotations

import base64

import pytest
from broker_primitives.httpsig.components import (
    ComponentError,
    ComponentMissing,
    Message,
    signature_base,
)
from broker_primitives.httpsig.signatures import request_signature_base
from broker_primitives.httpsig.structured_fields import InnerList, Item, parse_dictionary
from nacl.signing import SigningKey, VerifyKey

# RFC 9421 Appendix B.1.4, "test-key-ed25519": PKCS#8 and SubjectPublicKeyInfo (DER, base64).
B14_PRIVATE_DER = base64.b64decode(
    "MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF"
)
B14_PUBLIC_DER = base64.b64decode("MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=")
# The fixed DER prefixes of an Ed25519 PKCS#8 private key and SPKI public key (RFC 8410 §7, §10).
PKCS8_ED25519_PREFIX = bytes.fromhex("302e020100300506032b657004220420")
SPKI_ED25519_PREFIX = bytes.fromhex("302a300506032b6570032100")

# RFC 9421 Appendix B.2, the test-request (its header section; the body is {"hello": "world"}).
B2_METHOD = "POST"
B2_TARGET = "https://example.com/foo?param=Value&Pet=dog"
B2_HEADERS = {
    "Host": "example.com",
    "Date": "Tue, 20 Apr 2021 02:07:55 GMT",
    "Content-Type": "application/json",
    "Content-Digest": (
        "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmT"
        "HWXvJwew==:"
    ),
    "Content-Length": "18",
}
# RFC 9421 Appendix B.2.6: Signature-Input, signature base and Signature (RFC 8792 wrapping undone).
B26_SIGNATURE_INPUT = (
    'sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length")'
    ';created=1618884473;keyid="test-key-ed25519"'
)
B26_BASE = (
    '"date": Tue, 20 Apr 2021 02:07:55 GMT\n'
    '"@method": POST\n'
    '"@path": /foo\n'
    '"@authority": example.com\n'
    '"content-type": application/json\n'
    '"content-length": 18\n'
    '"@signature-params": ("date" "@method" "@path" "@authority" "content-type" "content-length")'
    ';created=1618884473;keyid="test-key-ed25519"'
)
B26_SIGNATURE = (
    "wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw=="
)


def _b14_keys() -> tuple[SigningKey, VerifyKey]:
    assert B14_PRIVATE_DER.startswith(PKCS8_ED25519_PREFIX)
    assert B14_PUBLIC_DER.startswith(SPKI_ED25519_PREFIX)
    private = SigningKey(B14_PRIVATE_DER[len(PKCS8_ED25519_PREFIX) :])
    public = VerifyKey(B14_PUBLIC_DER[len(SPKI_ED25519_PREFIX) :])
    return private, public


def test_rfc9421_b14_test_key_halves_belong_together() -> None:
    private, public = _b14_keys()
    assert private.verify_key == public


def test_rfc9421_b26_signature_base_is_reproduced_byte_for_byte() -> None:
    headers = B2_HEADERS | {"Signature-Input": B26_SIGNATURE_INPUT}
    base = request_signature_base(
        method=B2_METHOD, target_uri=B2_TARGET, headers=headers, label="sig-b26"
    )
    assert base == B26_BASE.encode("ascii")


def test_rfc9421_b26_signature_verifies_and_is_reproduced() -> None:
    private, public = _b14_keys()
    signature = base64.b64decode(B26_SIGNATURE)
    public.verify(B26_BASE.encode("ascii"), signature)  # raises BadSignatureError if not
    # Ed25519 is deterministic (RFC 8032 §5.1.6): signing the base gives the RFC's bytes.
    assert private.sign(B26_BASE.encode("ascii")).signature == signature


def _request(uri: str, headers: dict[str, str] | None = None) -> Message:
    return Message(headers=headers or {}, method="GET", target_uri=uri)


def _value(message: Message, identifier: str) -> str:
    member = parse_dictionary("c=" + identifier)["c"]
    assert isinstance(member, Item)
    return message.resolve(member)


@pytest.mark.parametrize(
    ("uri", "authority"),
    [
        ("https://Example.COM/x", "example.com"),
        ("https://example.com:443/x", "example.com"),
        ("http://example.com:80/", "example.com"),
        ("http://example.com:443/", "example.com:443"),
        ("https://example.com:8443/", "example.com:8443"),
        ("https://example.com:/", "example.com"),
        ("https://user:secret@example.com/", "example.com"),
        ("https://[2001:DB8::1]:8443/a", "[2001:db8::1]:8443"),
        ("http://127.0.0.1:5000/v1/lookups", "127.0.0.1:5000"),
    ],
)
def test_authority_is_lower_case_host_without_default_port(uri: str, authority: str) -> None:
    assert _value(_request(uri), '"@authority"') == authority
    assert _value(_request(uri), '"@target-uri"') == uri  # the target URI itself is kept as given


@pytest.mark.parametrize(
    ("uri", "path", "query", "request_target"),
    [
        ("https://example.com", "/", "?", "/"),
        ("https://example.com/a/b", "/a/b", "?", "/a/b"),
        ("https://example.com/a?", "/a", "?", "/a?"),
        ("https://example.com/a?x=1&y=%20", "/a", "?x=1&y=%20", "/a?x=1&y=%20"),
    ],
)
def test_path_query_and_request_target(
    uri: str, path: str, query: str, request_target: str
) -> None:
    message = _request(uri)
    assert _value(message, '"@path"') == path
    assert _value(message, '"@query"') == query
    assert _value(message, '"@request-target"') == request_target
    assert _value(message, '"@scheme"') == "https"


@pytest.mark.parametrize(
    "uri",
    ["/v1/lookups", "example.com/x", "https://", "https://[::1/x", "https://a b/", "https://é/"],
)
def test_a_target_uri_must_be_absolute_ascii_with_a_host(uri: str) -> None:
    with pytest.raises(ComponentError):
        _request(uri)


class _Lines:
    """Header field lines with repeated names, as a WSGI server can deliver them."""

    def __init__(self, *lines: tuple[str, str]) -> None:
        self.lines = lines

    def items(self) -> list[tuple[str, str]]:
        return list(self.lines)


def test_field_lines_are_trimmed_unfolded_and_combined_case_insensitively() -> None:
    headers = _Lines(("X-Example", "  one "), ("x-example", "two,\r\n  three"), ("X-EXAMPLE", ""))
    message = Message(headers=headers, method="GET", target_uri="https://example.com/")
    assert _value(message, '"x-example"') == "one, two, three, "


def test_dictionary_member_is_selected_with_key() -> None:
    headers = {"Example-Dict": " a=1, b=2;x=1;y=2, c=(a   b   c)"}
    message = Message(headers=headers, method="GET", target_uri="https://example.com/")
    assert _value(message, '"example-dict";key="b"') == "2;x=1;y=2"
    assert _value(message, '"example-dict";key="c"') == "(a b c)"
    with pytest.raises(ComponentMissing):
        _value(message, '"example-dict";key="z"')


def test_response_components_and_req() -> None:
    request = Message(
        headers={"Signature": "sig1=:AAAA:"}, method="POST", target_uri="https://example.com/foo"
    )
    response = Message(headers={"Content-Type": "text/plain"}, status=200, request=request)
    assert _value(response, '"@status"') == "200"
    assert _value(response, '"@method";req') == "POST"
    assert _value(response, '"@authority";req') == "example.com"
    assert _value(response, '"signature";req;key="sig1"') == ":AAAA:"
    for identifier in ('"@method"', '"@status";req'):
        with pytest.raises(ComponentError):
            _value(response, identifier)


@pytest.mark.parametrize(
    "identifier",
    [
        '"@status"',  # only in a response
        '"@method";req',  # only in a response
        '"@query-param";name="x"',  # not supported: refused, not guessed
        '"@unknown"',
        '"Content-Type"',  # identifiers are lower case
        '"content-type";sf',
        '"content-type";bs',
        '"content-type";key=1',
    ],
)
def test_unsupported_or_invalid_identifiers_are_refused(identifier: str) -> None:
    message = _request("https://example.com/", {"Content-Type": "a=1"})
    with pytest.raises(ComponentError):
        _value(message, identifier)


def test_a_token_is_not_a_component_identifier() -> None:
    message = _request("https://example.com/", {"Content-Type": "text/plain"})
    assert _value(message, '"content-type"') == "text/plain"
    with pytest.raises(ComponentError):
        _value(message, "content-type")


def test_absent_field_is_missing_not_empty() -> None:
    with pytest.raises(ComponentMissing) as caught:
        _value(_request("https://example.com/"), '"content-type"')
    assert caught.value.name == "content-type"


def _base(message: Message, components: str) -> bytes:
    inner = parse_dictionary(f"s=({components});created=1")["s"]
    assert isinstance(inner, InnerList)
    return signature_base(message, inner)


@pytest.mark.parametrize(
    "components",
    [
        '"@method" "@method"',
        '"@method";req "@method"',
        '"x";key="a";req "x";req;key="a"',  # same identity: parameter order does not count
        '"@signature-params"',
    ],
)
def test_a_component_is_covered_at_most_once_and_never_signature_params(components: str) -> None:
    request = Message(headers={"X": "a=1"}, method="GET", target_uri="https://example.com/")
    response = Message(headers={}, status=200, request=request)
    with pytest.raises(ComponentError):
        _base(response, components)


@pytest.mark.parametrize("value", ["caf\u00e9", "line\nbreak", "bare\rreturn"])
def test_base_is_ascii_without_line_breaks(value: str) -> None:
    message = _request("https://example.com/", {"X-Value": value})
    with pytest.raises(ComponentError):
        _base(message, '"x-value"')


def test_base_has_no_trailing_newline() -> None:
    base = _base(_request("https://example.com/"), '"@method"')
    assert base == b'"@method": GET\n"@signature-params": ("@method");created=1'
