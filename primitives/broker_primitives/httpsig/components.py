"""Message components and the signature base of HTTP Message Signatures (RFC 9421 §2).

What the signer signs and the verifier re-creates is the *signature base* (§2.5): one line per
covered component, ``"<identifier>": <value>``, then the ``"@signature-params"`` line. This module
turns one HTTP message into those values, the same way for both sides.

Rules this module guarantees:

- HTTP fields (§2.1): names match case-insensitively; each field line has obsolete line folding
  replaced by one space and surrounding spaces and tabs removed; several lines of one field are
  joined with ", ". A covered field that is absent is a :class:`ComponentMissing`, never "".
  The ``key`` parameter (§2.1.2) selects one member of a Dictionary field, re-serialised.
- Derived components (§2.2): ``@method`` as given; ``@target-uri`` the absolute target URI
  exactly as given; ``@authority`` its host lower-cased, with the port unless it is the scheme's
  default (§2.2.3, HTTP §4.2.3); ``@scheme`` lower-cased; ``@path`` ("/" when empty); ``@query``
  ("?" and the query, "?" alone when there is none); ``@request-target``; ``@status`` only in a
  response.
- In a response, ``;req`` resolves a component from the request it answers (§2.4), e.g.
  ``"@method";req`` or ``"signature";req;key="sig1"``; anywhere else it is refused.
- Component identifiers are lower-case Strings, each covered once (identity ignores the order of
  parameters), never ``@signature-params`` itself. Other parameters (``sf``, ``bs``, ``tr``,
  ``name``) and other derived components are refused, not guessed at.
- The base is US-ASCII with no line break inside a value and no final newline (§2.5); anything
  else is a :class:`ComponentError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol
from urllib.parse import urlsplit

from broker_primitives.httpsig.structured_fields import (
    BareItem,
    InnerList,
    Item,
    Params,
    StructuredFieldError,
    Token,
    parse_dictionary,
    serialize_item,
    serialize_member,
    serialize_parameters,
)

__all__ = [
    "ComponentError",
    "ComponentMissing",
    "HeaderFields",
    "Message",
    "RequestMessage",
    "combine_fields",
    "component_identity",
    "component_name",
    "parse_component",
    "required_identities",
    "signature_base",
    "signature_base_parts",
]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_URI = re.compile(r"[A-Za-z0-9\-._~:/?\[\]@!$&'()*+,;=%]+")  # RFC 3986 characters, no fragment
_OBS_FOLD = re.compile(r"\r\n[ \t]+")

ComponentIdentity = tuple[BareItem, Params]


class ComponentError(ValueError):
    """A component cannot be resolved or placed in a signature base."""


class ComponentMissing(ComponentError):
    """A covered field is not in the message (or a Dictionary field lacks the member)."""

    def __init__(self, message: str, name: str) -> None:
        super().__init__(message)
        self.name = name


class HeaderFields(Protocol):
    """Header fields as (name, value) pairs: a dict, ``werkzeug.Headers``, ``httpx.Headers``."""

    def items(self) -> Iterable[tuple[str, str]]:
        """Each field line (or each field, lines already joined) as (name, value)."""
        ...


@dataclass(frozen=True)
class RequestMessage:
    """A request as the signature layer sees it; given to bind a response to its request."""

    method: str
    target_uri: str
    headers: HeaderFields


def combine_fields(headers: HeaderFields) -> dict[str, str]:
    """§2.1: names lower-cased; each line unfolded and trimmed; lines joined with ", "."""
    fields: dict[str, str] = {}
    for name, raw in headers.items():
        key = name.lower()
        value = (_OBS_FOLD.sub(" ", raw) if "\n" in raw else raw).strip(" \t")
        fields[key] = f"{fields[key]}, {value}" if key in fields else value
    return fields


@dataclass(frozen=True)
class _Target:
    scheme: str
    authority: str  # normalised per §2.2.3
    path: str
    query: str | None


def _parse_target(uri: str) -> _Target:
    if _URI.fullmatch(uri) is None:
        raise ComponentError("the target URI must be an absolute URI in RFC 3986 characters")
    try:
        parts = urlsplit(uri)
    except ValueError as exc:  # e.g. an unclosed "[" in the host
        raise ComponentError("the target URI cannot be parsed") from exc
    host_port = parts.netloc.rpartition("@")[2]  # userinfo is not part of @authority
    if host_port.startswith("["):
        host, _, rest = host_port.partition("]")
        host, port = host + "]", rest.removeprefix(":")
        valid = rest in ("", ":" + port)
    else:
        host, _, port = host_port.partition(":")
        valid = bool(host)
    if not parts.scheme or not valid or (port and not port.isdigit()):
        raise ComponentError("the target URI must have a scheme and a host")
    scheme = parts.scheme.lower()
    authority = host.lower()
    if port and int(port) != _DEFAULT_PORTS.get(scheme):  # §2.2.3: the default port is omitted
        authority = f"{authority}:{int(port)}"
    query = parts.query if "?" in uri else None
    return _Target(scheme, authority, parts.path, query)


class Message:
    """One HTTP message, request or response: the values its components resolve to."""

    def __init__(
        self,
        *,
        headers: HeaderFields,
        method: str | None = None,
        target_uri: str | None = None,
        status: int | None = None,
        request: Message | None = None,
    ) -> None:
        """A request has ``method`` and ``target_uri``; a response ``status`` (and ``request``).

        Raises:
            ComponentError: ``target_uri`` is not an absolute URI with a host.
        """
        self.fields = combine_fields(headers)
        self.method = method
        self.target_uri = target_uri
        self._target = None if target_uri is None else _parse_target(target_uri)
        self.status = status
        self.request = request

    def resolve(self, component: Item) -> str:
        """The value of one covered component (§2.1, §2.2, §2.4).

        Raises:
            ComponentMissing: a covered field is absent.
            ComponentError: the identifier is invalid or not supported here.
        """
        name = component.value
        if not isinstance(name, str) or isinstance(name, Token) or name != name.lower():
            raise ComponentError("component identifiers must be lower-case strings")
        params = dict(component.params)
        message: Message = self
        if "req" in params:
            if params.pop("req") is not True or self.request is None:
                raise ComponentError(f'"{name}";req is only valid in a response to a request')
            message = self.request
        if name.startswith("@"):
            if params:
                raise ComponentError(f"parameters on {name} are not supported")
            return message._derived(name, from_response=message is not self)
        key = params.pop("key", None)
        if params:
            raise ComponentError(f"parameters {sorted(params)} on {name} are not supported")
        value = message.fields.get(name)
        if value is None:
            raise ComponentMissing(f"the covered field {name} is not in the message", name)
        return value if key is None else _dictionary_member(name, value, key)

    def _derived(self, name: str, *, from_response: bool) -> str:
        if name == "@status":
            if self.status is None or from_response:
                raise ComponentError("@status is only valid in a response")
            return str(self.status)
        if self.method is None or self._target is None or self.target_uri is None:
            raise ComponentError(f"{name} is not valid here (in a response it needs ;req)")
        target = self._target
        path = target.path or "/"
        values = {
            "@method": self.method,
            "@target-uri": self.target_uri,
            "@authority": target.authority,
            "@scheme": target.scheme,
            "@path": path,
            "@query": "?" + (target.query or ""),
            "@request-target": path if target.query is None else f"{path}?{target.query}",
        }
        if name not in values:
            raise ComponentError(f"the derived component {name} is not supported")
        return values[name]


def _dictionary_member(name: str, value: str, key: BareItem) -> str:
    """§2.1.2: the ``key`` parameter selects one member of a Dictionary field, re-serialised."""
    if not isinstance(key, str) or isinstance(key, Token):
        raise ComponentError(f"the key parameter on {name} must be a string")
    try:
        member = parse_dictionary(value).get(key)
    except StructuredFieldError as exc:
        raise ComponentError(f"the field {name} is not a dictionary") from exc
    if member is None:
        raise ComponentMissing(f"the field {name} has no member {key}", name)
    return serialize_member(member)


def parse_component(text: str) -> Item:
    """A component from a name (``@method``) or a serialised identifier (``"@method";req``).

    Raises:
        StructuredFieldError: ``text`` starts with '"' but is no valid identifier.
    """
    if not text.startswith('"'):
        return Item(text)
    member = parse_dictionary("c=" + text)["c"]
    if not isinstance(member, Item):
        raise StructuredFieldError(f"{text!r} is not a component identifier")
    return member


def component_name(component: Item) -> str:
    """The notation used in policies and results: the bare name unless there are parameters."""
    return str(component.value) if not component.params else serialize_item(component)


def component_identity(component: Item) -> ComponentIdentity:
    """What makes two identifiers the same component: parameter order does not count (§2)."""
    return component.value, tuple(sorted(component.params, key=lambda param: param[0]))


@lru_cache(maxsize=64)
def required_identities(names: tuple[str, ...]) -> tuple[tuple[str, ComponentIdentity], ...]:
    """Each name in ``names`` with its identity (cached: policies are few and fixed)."""
    return tuple((name, component_identity(parse_component(name))) for name in names)


def signature_base(message: Message, inner: InnerList) -> bytes:
    """§2.5: one line per covered component, then ``"@signature-params"``; US-ASCII, no final LF.

    Raises:
        ComponentMissing: a covered field is absent.
        ComponentError: an identifier or value cannot be placed in a signature base.
    """
    return signature_base_parts(message, inner)[0]


def signature_base_parts(message: Message, inner: InnerList) -> tuple[bytes, tuple[str, ...], str]:
    """:func:`signature_base`, with what it serialised on the way: each covered component's
    identifier and the ``@signature-params`` value (the Signature-Input member).

    Raises:
        ComponentMissing: a covered field is absent.
        ComponentError: an identifier or value cannot be placed in a signature base.
    """
    lines = []
    names = []
    seen = set()
    for component in inner.items:
        identity = component_identity(component)
        if identity in seen or component.value == "@signature-params":
            raise ComponentError(f"the component {serialize_item(component)} is not allowed")
        seen.add(identity)
        value = message.resolve(component)
        if "\n" in value or "\r" in value:
            raise ComponentError("a covered component value contains a line break")
        name = serialize_item(component)
        names.append(name)
        lines.append(f"{name}: {value}")
    # The Inner List serialised item by item, as RFC 8941 §4.1.1.1 does it.
    params = "(" + " ".join(names) + ")" + serialize_parameters(inner.params)
    lines.append(f'"@signature-params": {params}')
    base = "\n".join(lines)
    if not base.isascii():
        raise ComponentError("a covered component value is not US-ASCII")
    return base.encode("ascii"), tuple(names), params
