"""Keys, a clock and a signed request shared by the signature tests."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
from nacl.signing import SigningKey, VerifyKey

NOW = 1_780_000_000  # a fixed "now" (2026), so time rules are tested without the wall clock
TARGET = "https://broker.example/v1/lookups"
BODY = json.dumps({"matching_keys": ["AAAA"], "purpose": "safety"}).encode()


@dataclass
class KeyRing:
    """Organisations' keys as the broker would hold them: active, revoked or unknown."""

    active: dict[str, VerifyKey] = field(default_factory=dict)
    revoked: dict[str, VerifyKey] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)

    def resolve(self, key_id: str) -> VerifyKey | None:
        """What the API's key lookup does: revoked and unknown both give None."""
        self.lookups.append(key_id)
        return self.active.get(key_id)


@pytest.fixture
def org_key() -> SigningKey:
    """The signing key of organisation "org-a" (key id "org-a-2026")."""
    return SigningKey.generate()


@pytest.fixture
def keyring(org_key: SigningKey) -> KeyRing:
    """org-a-2026 active; org-a-2025 revoked."""
    return KeyRing(
        active={"org-a-2026": org_key.verify_key},
        revoked={"org-a-2025": SigningKey.generate().verify_key},
    )
