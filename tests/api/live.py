"""A live broker on 127.0.0.1 for functional API tests, and a raw signing HTTP helper."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from broker_primitives.httpsig.signature_policy import REQUEST_COMPONENTS
from broker_primitives.httpsig.signatures import sign_request
from flask import Flask
from nacl.signing import SigningKey, VerifyKey
from werkzeug.serving import make_server

from broker.audit.services import Actor
from broker.callers.keys import OrganisationKeys, response_key_path
from broker.config import Settings
from broker.core import Core
from broker.notifications.notices import InboxNotices
from broker.registry.services import RegistryService
from broker.setup import initialise
from tests.conftest import OPEN_POLICY, FakeClock
from tests.uow import committed


def sqlite_core(tmp_path: Path, clock: FakeClock, policy: Path = OPEN_POLICY,
                **overrides: Any) -> Core:
    """An initialised core on a SQLite file in ``tmp_path``, with ``overrides`` of its settings
    (e.g. ``redis_url``, ``api_org_rate``)."""
    settings = Settings.from_env({"BROKER_HOME": str(tmp_path),
                                  "BROKER_DATABASE_URL": f"sqlite:///{tmp_path / 'b.db'}",
                                  "BROKER_POLICY_DIR": str(policy)})
    core = Core(settings.with_overrides(**overrides), clock=clock, notices=InboxNotices())
    initialise(core, Actor.operator("test"))
    return core


@contextmanager
def serve(app: Flask) -> Iterator[str]:
    """Serve ``app`` on a free port of 127.0.0.1 in a thread; yields the base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


@dataclass
class Organisation:
    """A test organisation with an API key."""

    code: str
    key_id: str
    key: SigningKey
    professional: str


def enrol(core: Core, code: str, org_type: str) -> Organisation:
    """Create an organisation, a professional and an API key."""
    operator = Actor.operator("test")
    registry = committed(core, RegistryService)
    registry.create_organisation(operator, identifier=code, name=code.upper(), org_type=org_type)
    registry.add_professional(operator, organisation=code, username=f"{code}-p", name="P",
                              role="r")
    key = SigningKey.generate()
    committed(core, OrganisationKeys).add(operator, organisation=code, key_id=f"{code}-key-1",
                               public_key=bytes(key.verify_key).hex())
    return Organisation(code, f"{code}-key-1", key, f"{code}-p")


def broker_public_key(core: Core) -> VerifyKey:
    """The broker's response-verification key."""
    path = response_key_path(core.settings.keys_dir).with_suffix(".pub")
    return VerifyKey(bytes.fromhex(path.read_text().strip()))


def signed(
    base: str,
    org: Organisation,
    method: str,
    path: str,
    body: Any = None,
    *,
    components: Sequence[str] = REQUEST_COMPONENTS,
    tag: str = "broker-v1",
    created: int | None = None,
    lifetime: int = 300,
    nonce: str | None = None,
    key_id: str | None = None,
    extra_headers: dict[str, str] | None = None,
) -> tuple[str, dict[str, str], bytes]:
    """URL, headers and body of a request signed as ``org`` (before any tampering)."""
    raw = b"" if body is None else json.dumps(body).encode()
    url = base + path
    headers = {"Content-Type": "application/json", "Host": httpx.URL(url).netloc.decode(),
               **(extra_headers or {})}
    headers.update(sign_request(method=method, target_uri=url, headers=headers,
                                key_id=key_id or org.key_id, private_key=org.key, body=raw,
                                created=created, lifetime=lifetime, nonce=nonce, tag=tag,
                                components=components))
    return url, headers, raw


def send(method: str, url: str, headers: dict[str, str], body: bytes) -> httpx.Response:
    """Send exactly these bytes."""
    with httpx.Client(timeout=10) as client:
        return client.request(method, url, headers=headers, content=body)


def call(base: str, org: Organisation, method: str, path: str, body: Any = None,
         **kwargs: Any) -> httpx.Response:
    """A correctly signed request."""
    return send(method, *signed(base, org, method, path, body, **kwargs))
