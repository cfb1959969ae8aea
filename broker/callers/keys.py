"""Organisations' API keys and the broker's own response-signing key.

Rules this module guarantees:

- An organisation may hold several active keys (rotation) and any number of revoked ones. Only
  an active key verifies a request; an unknown and a revoked key are indistinguishable to the
  caller (the resolver answers None for both).
- Public keys may also be dropped as files ``keys/organisations/<org-code>.<key-id>.pub`` (64 hex
  characters). They are imported into the database when the app starts — by each web worker,
  safely at once: a key is added once, with one event, and a worker that finds it just added
  goes on; revoking one records the revocation in the database, so the file cannot bring it
  back.
- Every change is an audit event in the same transaction, and raises the caller version in it
  (broker.callers.cache), so that no process serves a revoked key from its memory.
- The broker signs its responses with ``keys/api/signing.key`` (an Ed25519 seed, mode 0600);
  ``keys/api/signing.pub`` is what organisations verify responses with.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from nacl.exceptions import CryptoError
from nacl.signing import SigningKey, VerifyKey
from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from broker.audit.events import Event
from broker.audit.services import Actor, record_event
from broker.callers.cache import Caller, bump_version
from broker.callers.models import KEY_ACTIVE, KEY_REVOKED, OrganisationKey
from broker.core import UnitOfWork
from broker.db import Prepared
from broker.errors import BrokerError, Conflict, NotFound, ValidationError
from broker.keyfiles import check_directory
from broker.registry.models import Organisation
from broker.signing import ensure_signing_key, load_signing_key

RESPONSE_KEY_ID = "broker-api-1"
log = logging.getLogger("broker.api")
_KEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{2,99}$")
_FILE = re.compile(
    r"^(?P<org>[a-z0-9][a-z0-9_-]{1,63})\.(?P<key>[A-Za-z0-9][A-Za-z0-9._:-]{2,99})\.pub$"
)


@dataclass(frozen=True)
class KeyInfo:
    """An organisation key as listed to an operator."""

    key_id: str
    organisation: str
    public_key: str
    status: str
    source: str


def parse_public_key(text: str) -> bytes:
    """A 32-byte Ed25519 public key from 64 hex characters; refuses anything else."""
    try:
        raw = bytes.fromhex(text.strip())
        VerifyKey(raw)
    except (ValueError, CryptoError, TypeError):
        raise ValidationError(
            "A public key is 64 hexadecimal characters (an Ed25519 key).") from None
    if len(raw) != 32:
        raise ValidationError("A public key is 32 bytes.")
    return raw


# An API request whose key is not in its process's cache (broker.callers.cache) reads it so:
# built once (see Prepared).
_ACTIVE_KEY = Prepared(
    select(OrganisationKey.public_key, Organisation.id, Organisation.identifier,
           Organisation.org_type)
    .join(Organisation, Organisation.id == OrganisationKey.organisation_id)
    .where(OrganisationKey.key_id == bindparam("key_id"), OrganisationKey.status == KEY_ACTIVE)
)


class OrganisationKeys:
    """Adding, revoking, listing and resolving organisations' API keys."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.core = uow.core
        self.session = uow.session

    def add(self, actor: Actor, *, organisation: str, key_id: str, public_key: str,
            source: str = "cli") -> KeyInfo:
        """Register an active public key for ``organisation`` under ``key_id``."""
        added = self._insert(actor, organisation=organisation, key_id=key_id,
                             public_key=public_key, source=source)
        if added is None:
            raise Conflict(
                "Key id %(key_id)s is taken (also after revocation).",
                key_id=repr(key_id))
        return added

    def _insert(self, actor: Actor, *, organisation: str, key_id: str, public_key: str,
                source: str) -> KeyInfo | None:
        """Insert the key and its event unless ``key_id`` is taken; None when it is. The insert
        itself decides (``ON CONFLICT DO NOTHING``), so of several processes adding the same key
        at once — web workers importing the same file at boot — one adds it and the others
        find it taken, none fails."""
        if not _KEY_ID.match(key_id):
            raise ValidationError(
                "A key id is 3-100 characters: letters, digits, '.', '_', ':' or '-'.")
        raw = parse_public_key(public_key)
        session = self.session
        org = session.scalar(select(Organisation).filter_by(identifier=organisation))
        if org is None:
            raise NotFound(
                "There is no organisation with code %(organisation)s.",
                organisation=repr(organisation))
        insert = (postgresql.insert if session.get_bind().dialect.name == "postgresql"
                  else sqlite.insert)
        inserted = session.execute(insert(OrganisationKey).values(
            key_id=key_id, organisation_id=org.id, public_key=raw, status=KEY_ACTIVE,
            source=source, created_at=self.core.now(),
        ).on_conflict_do_nothing(index_elements=["key_id"]).returning(OrganisationKey.id))
        if inserted.scalar() is None:
            return None
        bump_version(session.connection())
        record_event(session, actor, Event.ORGKEY_ADDED, organisation_id=org.id,
                     details={"key_id": key_id, "source": source})
        return KeyInfo(key_id, org.identifier, raw.hex(), KEY_ACTIVE, source)

    def revoke(self, actor: Actor, key_id: str) -> KeyInfo:
        """Revoke a key now; requests signed with it are refused from this moment."""
        session = self.session
        row = session.execute(
            select(OrganisationKey, Organisation.identifier)
            .join(Organisation, Organisation.id == OrganisationKey.organisation_id)
            .where(OrganisationKey.key_id == key_id)
        ).first()
        if row is None:
            raise NotFound("There is no key %(key_id)s.", key_id=repr(key_id))
        key, organisation = row
        if key.status == KEY_REVOKED:
            raise Conflict("Key %(key_id)s is already revoked.", key_id=repr(key_id))
        key.status = KEY_REVOKED
        key.revoked_at = self.core.now()
        session.flush()
        bump_version(session.connection())  # every process's cache learns of it (cache.py)
        record_event(session, actor, Event.ORGKEY_REVOKED, organisation_id=key.organisation_id,
                     details={"key_id": key_id})
        return KeyInfo(key_id, organisation, key.public_key.hex(), KEY_REVOKED, key.source)

    def listing(self, organisation: str | None = None) -> list[KeyInfo]:
        """Every key, optionally of one organisation."""
        session = self.session
        query = (select(OrganisationKey, Organisation.identifier)
                 .join(Organisation, Organisation.id == OrganisationKey.organisation_id)
                 .order_by(Organisation.identifier, OrganisationKey.key_id))
        if organisation is not None:
            query = query.where(Organisation.identifier == organisation)
        return [KeyInfo(k.key_id, org, k.public_key.hex(), k.status, k.source)
                for k, org in session.execute(query)]

    def resolve(self, key_id: str) -> tuple[VerifyKey, Caller] | None:
        """The active key and its organisation; None for an unknown or revoked key alike."""
        connection = self.uow.connection
        rows = _ACTIVE_KEY.all(connection, {"key_id": key_id})
        if not rows:
            return None
        public_key, org_id, organisation, org_type = rows[0]
        return VerifyKey(bytes(public_key)), Caller(key_id, org_id, organisation, org_type)

    def import_files(self, actor: Actor, directory: Path) -> list[str]:
        """Import ``<org>.<key-id>.pub`` files whose key id is not known yet; returns them."""
        if not directory.is_dir():
            return []
        # Whoever can write here can enrol a key for any organisation.
        check_directory(directory)
        known = {k.key_id for k in self.listing()}
        imported = []
        for path in sorted(directory.glob("*.pub")):
            match = _FILE.match(path.name)
            if match is None:
                log.warning("ignored %s: name it <org-code>.<key-id>.pub", path.name)
                continue
            if match["key"] in known:
                continue
            try:
                added = self._insert(actor, organisation=match["org"], key_id=match["key"],
                                     public_key=path.read_text(), source="file")
            except BrokerError as exc:
                # One bad file must not stop the broker; it is reported and left out.
                log.warning("ignored %s: %s", path.name, exc.message("en"))
                continue
            if added is not None:  # None: another worker imported it just now
                imported.append(match["key"])
        return imported


def response_key_path(keys_dir: Path) -> Path:
    """Where the broker's response-signing key lives."""
    return keys_dir / "api" / "signing.key"


def ensure_response_key(keys_dir: Path) -> bool:
    """Create the broker's response-signing key pair if missing; True when created."""
    return ensure_signing_key(response_key_path(keys_dir))


def load_response_key(keys_dir: Path) -> SigningKey:
    """The broker's response-signing key; refused when missing or readable by others."""
    return load_signing_key(response_key_path(keys_dir))
