"""A fake broker, two organisations' keys and clients on them, and synthetic identifiers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from broker_client import BrokerClient
from nacl.signing import SigningKey

from tests.client.fake_broker import FakeBroker

BASE_URL = "https://broker.example"

#: A household: raw values as a professional types them.
BSNS = ("123456782", "111222333")
ADDRESS = "1011 AB 12 A"
PERSON = "van der Horst;J;2015-02-03"


def valid_bsns(count: int, start: int = 10_000_000) -> list[str]:
    """``count`` BSNs that pass the eleven-test, made from consecutive 8-digit prefixes."""
    found: list[str] = []
    prefix = start
    while len(found) < count:
        digits = f"{prefix:08d}"
        check = sum(w * int(d) for w, d in zip(range(9, 1, -1), digits, strict=True)) % 11
        if check < 10:
            found.append(digits + str(check))
        prefix += 1
    return found


def raw_forms() -> list[str]:
    """Every spelling of the test household's identifiers that must never reach the broker."""
    return [*BSNS, "bsn|123456782", ADDRESS, "1011AB", "1011 AB", "address|1011AB|12|A",
            "Horst", "horst", "2015-02-03"]


@pytest.fixture
def fake() -> FakeBroker:
    """A fresh fake broker."""
    return FakeBroker()


@pytest.fixture
def org_key(fake: FakeBroker) -> SigningKey:
    """The key of organisation "org-a", key id "org-a-1"."""
    return fake.add_key("org-a-1", "org-a")


@pytest.fixture
def make_client(fake: FakeBroker) -> Iterator[Callable[..., BrokerClient]]:
    """Build clients on the fake; closed at the end of the test."""
    clients: list[BrokerClient] = []

    def make(key_id: str = "org-a-1", key: SigningKey | None = None, **options: Any
             ) -> BrokerClient:
        if key is None:
            key = fake.add_key(key_id, key_id.rsplit("-", 1)[0])
        options.setdefault("broker_public_key", fake.public_key_hex)
        options.setdefault("backoff", 0.0)
        client = BrokerClient(BASE_URL, key_id, key, transport=fake.transport(), **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., BrokerClient], org_key: SigningKey) -> BrokerClient:
    """A verifying client of org-a."""
    return make_client("org-a-1", org_key)
