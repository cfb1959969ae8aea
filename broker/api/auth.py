"""Authentication, rate limits and response signatures around every API request.

Order, for every request to ``/v1`` except the OpenAPI document and the docs page:

1. the per-address limit (broker.api.limits: before the database is asked for a key, else
   in one round trip with the organisation's; ``X-Forwarded-For`` counts only from the proxies
   named in ``BROKER_TRUSTED_PROXIES``);
2. the RFC 9421 signature (broker_primitives.httpsig.signatures: components, tag, times, key,
   Ed25519, content digest, then the nonce, committed in the database on its own before the
   request's work: broker.callers.replay), over the target URI as received (broker.api.target,
   §2.2.2). The key comes from the process's cache (broker.callers.cache) when the caller
   version read with the nonce shows it current, else from the database again: a revoked key
   is refused at the next request in every process. The *verified* key id, never a
   header, identifies the caller from here on. A refusal here is a refusal of a caller nobody
   answers for: it is counted per source network and minute (broker.oversight.refusals), one audit
   event per network and minute, never an event per request, so strangers cannot flood the log.
   A replay or a changed body after a valid signature names the key in that count;
3. the per-organisation limit (broker.api.limits). A refusal is an audit event
   ``auth:rate_limited``. When the limit store cannot answer, the request is refused (fail
   closed, 503). (The daily quota of pseudonym evaluations is not a rate limit: it is kept in
   the database for every door, see broker.pseudonyms.quota);
4. every answer under ``/v1`` — refusals, 404, 405 and 503 too, but not the public OpenAPI
   document and docs page — is signed with the broker's key (:func:`sign`, an app-wide
   after-request hook) and bound to the request (§2.4: ``"@method";req``, ``"@target-uri";req``)
   and to the request's signature (``"signature";req;key="<label>"``) whenever the request
   carries one, verified or not: a client can tell that an answer, even a refusal, is the
   broker's answer to *this* request.
"""

from __future__ import annotations

from typing import NoReturn

from broker_primitives.httpsig.signature_policy import SignatureError, SignatureKeyUnknown
from broker_primitives.httpsig.signatures import (
    RequestMessage,
    request_signature_label,
    sign_response,
    verify_request,
)
from flask import Response, current_app, g, request
from nacl.signing import VerifyKey

from broker import request_ids
from broker.api.context import api_context
from broker.api.limits import (
    Hit,
    RateLimited,
    address_hit,
    address_refusal,
    count,
    limit_headers,
    organisation_hit,
    over,
)
from broker.api.target import target_uri
from broker.audit.events import Event
from broker.audit.services import Actor, truncate_address
from broker.callers.cache import Cached, Caller, KeyCache
from broker.callers.keys import RESPONSE_KEY_ID, OrganisationKeys
from broker.callers.replay import DatabaseReplayCache
from broker.contact.links import redact_tokens
from broker.core import UnitOfWork
from broker.door import is_api_request, uow
from broker.oversight.refusals import count_refusal

PUBLIC_ENDPOINTS = frozenset({"api.openapi", "api.docs"})


def authenticate() -> None:
    """Count the request's address, verify its signature, set ``g.caller`` and ``g.actor`` and
    count its organisation (before_request; the limits as broker.api.limits rule 1 says)."""
    work = uow()
    settings = work.core.settings
    address = address_hit(settings.api_ip_rate)
    if request.endpoint in PUBLIC_ENDPOINTS:
        if over(address, count([address])[0]):
            _refuse_address(address)
        return
    keys = key_cache()
    found: dict[str, Cached] = {}
    counted: list[bool] = []  # the address, once counted

    def count_address() -> None:
        counted.append(True)
        if over(address, count([address])[0]):
            _refuse_address(address)

    def load(key_id: str) -> tuple[VerifyKey, Caller] | None:
        count_address()  # before the database is asked (broker.api.limits rule 1)
        return OrganisationKeys(work).resolve(key_id)

    def resolve(key_id: str) -> VerifyKey | None:
        cached = keys.get(key_id, load)
        if cached is None:
            return None
        found["cached"] = cached
        return cached.key

    replay = DatabaseReplayCache(work.core.engine)
    try:
        verified = verify_request(
            method=request.method, target_uri=target_uri(request), headers=request.headers,
            body=request.get_data(cache=True), resolve_key=resolve, replay=replay,
        )
        cached = found["cached"]
        if not keys.still_valid(cached, replay.version):
            _check_again(work, keys, cached, replay.version)
    except SignatureError as exc:
        if not counted:
            count_address()
        known = found.get("cached")
        # Only a refusal after the Ed25519 check passed (digest, replay) names the key; anyone
        # can claim a key id in clear text. Counted, not an event each (step 2).
        verified_first = exc.code.startswith("content-digest") or exc.code == "signature-replayed"
        count_refusal(work, network=truncate_address(request.remote_addr),
                      door="api", reason=exc.code,
                      key_id=known.caller.key_id if known is not None and verified_first else None)
        raise
    caller = cached.caller
    g.signature_label = verified.label
    g.caller = caller
    g.actor = Actor(actor=f"key:{caller.key_id}", channel="api",
                    organisation_id=caller.organisation_id, role=None, request_id=g.request_id,
                    source_address=truncate_address(request.remote_addr),
                    client_request_id=g.client_request_id)
    organisation = organisation_hit(settings.api_org_rate, caller.organisation_id)
    if counted:
        [organisation_counted] = count([organisation])
    else:  # one round trip for both (broker.api.limits rule 1)
        address_counted, organisation_counted = count([address, organisation])
        if over(address, address_counted):
            _refuse_address(address)
    if over(organisation, organisation_counted):
        _refuse_limit(caller, organisation)


def _refuse_address(address: Hit) -> NoReturn:
    """A used-up per-address limit: counted for the source network, no event each."""
    count_refusal(uow(), network=truncate_address(request.remote_addr), door="api",
                  reason="rate-limited")
    raise address_refusal(address)


KEY_CACHE = "broker.callers.cache"


def key_cache() -> KeyCache:
    """The app's cache of organisations' keys (made at its first signed request)."""
    cache: KeyCache = current_app.extensions.setdefault(KEY_CACHE, KeyCache())
    return cache


def _check_again(work: UnitOfWork, keys: KeyCache, cached: Cached, version: int | None
                 ) -> None:
    """The key came from a cache older than the caller version the request read with its
    nonce: read it again, and refuse the request if it was revoked (or replaced) meanwhile;
    else keep it for the next requests."""
    key_id = cached.caller.key_id
    fresh = OrganisationKeys(work).resolve(key_id)
    if fresh is None or fresh[0] != cached.key or fresh[1] != cached.caller:
        raise SignatureKeyUnknown()
    if version is not None:
        keys.put(key_id, fresh, version)


def _refuse_limit(caller: Caller, hit: Hit) -> NoReturn:
    """An authenticated caller's refusal: an audit event of its own, as ``g.actor``."""
    item, cost, (_, scope, _) = hit
    uow().refuse(
        RateLimited(
            "Your organisation's limit of %(limit)s for %(scope)s is used up; retry later.",
            limit=item, scope=scope),
        g.actor, Event.AUTH_RATE_LIMITED, reason=f"{scope}: {item}",
        details={"key_id": caller.key_id, "cost": cost, "method": request.method,
                 "path": redact_tokens(request.path)})


def sign(response: Response) -> Response:
    """Sign every answer under ``/v1`` with the broker's key (rule 4; after_app_request)."""
    if not is_api_request():
        return response
    for name, value in limit_headers().items():
        response.headers[name] = value
    request_ids.echo(response)
    if request.endpoint in PUBLIC_ENDPOINTS and response.status_code < 400:
        return response
    body = response.get_data()
    if "Content-Type" not in response.headers:
        response.headers["Content-Type"] = "application/json"
    label = getattr(g, "signature_label", None) or request_signature_label(request.headers)
    bound = RequestMessage(request.method, target_uri(request), request.headers)

    def signed(binding: RequestMessage | None, binding_label: str | None) -> dict[str, str]:
        return sign_response(status=response.status_code, headers=response.headers,
                             key_id=RESPONSE_KEY_ID, private_key=api_context().response_key,
                             body=body, request=binding, request_label=binding_label)

    # Bound as far as the request allows: to its signature, else to its method and target
    # (a target that is no URI, e.g. raw non-ASCII bytes, cannot be bound at all).
    try:
        added = signed(bound, label)
    except ValueError:
        try:
            added = signed(bound, None)
        except ValueError:
            added = signed(None, None)
    for name, value in added.items():
        response.headers[name] = value
    return response
