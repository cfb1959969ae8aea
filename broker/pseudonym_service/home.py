"""The pseudonym service's own directory: ``k``, its answer-signing key, its configuration and
its database — nothing of the broker's.

- ``keys/oprf/<epoch>.key``: the OPRF key ``k`` (:mod:`broker.pseudonyms.keys`, mode 0600 in
  0700 directories); ``keys/oprf/<epoch>.pub``: its public half ``k·G``, which the broker pins to
  verify the service's proofs.
- ``signing.key`` / ``signing.pub``: the Ed25519 key that signs every answer (RFC 9421).
- ``service.json``: the clients' keys (an organisation's, or the broker's with ``acts_for:
  any``) and the daily quotas (a default and per organisation type).
- ``service.db``: counts per organisation per day, the trail of batches, used nonces
  (:mod:`broker.pseudonym_service.store`), unless a database URL is given.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from broker_primitives import dleq, oprf
from nacl.signing import SigningKey, VerifyKey

from broker.errors import ConfigurationError
from broker.pseudonym_service.service import DEFAULT_QUOTA, Client, EvaluationService, Quotas
from broker.pseudonym_service.store import open_database
from broker.pseudonyms.interfaces import Requester
from broker.pseudonyms.keys import FileKeyStore
from broker.pseudonyms.remote import client_dir
from broker.signing import ensure_signing_key, load_signing_key

CONFIG_FILE = "service.json"
SIGNING_KEY = "signing.key"
DATABASE_FILE = "service.db"
ANY = "any"


def keystore(directory: Path) -> FileKeyStore:
    """The service's key store (only ``oprf`` lives in it)."""
    return FileKeyStore(directory / "keys")


def initialise(directory: Path, *, default_quota: int | None = None,
               per_type: dict[str, int] | None = None) -> list[str]:
    """Create what is missing: ``k`` (epoch 1) and its public half, the signing key, the
    configuration (quotas as given; unchanged when it exists and none are given). Returns what
    was created."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    directory.chmod(0o700)
    created = []
    store = keystore(directory)
    if not store.epochs("oprf"):
        store.create("oprf", 1)
        created.append("oprf key k")
    for epoch in store.epochs("oprf"):
        public = store.keys_dir / "oprf" / f"{epoch:04d}.pub"
        if not public.exists():
            public.write_text(dleq.public_key(store.load("oprf", epoch)).hex() + "\n")
    if ensure_signing_key(directory / SIGNING_KEY):
        created.append("signing key")
    config = _read(directory) if (directory / CONFIG_FILE).exists() else None
    if config is None:
        config = {"quota": {"default": DEFAULT_QUOTA, "per_organisation_type": {}},
                  "clients": {}}
        created.append("configuration")
    if default_quota is not None:
        config["quota"]["default"] = default_quota
    if per_type is not None:
        config["quota"]["per_organisation_type"] = dict(per_type)
    _write(directory, config)
    return created


def add_client(directory: Path, key_id: str, public_key_hex: str, *,
               organisation: str | None, organisation_type: str | None) -> None:
    """Allow a client key: an organisation's (with its type), or the broker's (neither)."""
    try:
        VerifyKey(bytes.fromhex(public_key_hex))
    except ValueError as exc:
        raise ConfigurationError("The public key must be 64 hex characters (Ed25519).") from exc
    if (organisation is None) != (organisation_type is None):
        raise ConfigurationError(
            "Give both --organisation and --organisation-type, or neither (the broker's key).")
    config = _read(directory)
    entry: dict[str, str] = {"public_key": public_key_hex}
    if organisation is None:
        entry["acts_for"] = ANY
    else:
        entry |= {"organisation": organisation, "organisation_type": organisation_type or ""}
    config["clients"][key_id] = entry
    _write(directory, config)


def signing_key(directory: Path) -> SigningKey:
    """The key that signs the service's answers."""
    return load_signing_key(directory / SIGNING_KEY)


def public_keys(directory: Path) -> dict[int, bytes]:
    """``k·G`` per epoch, for the broker to pin."""
    store = keystore(directory)
    return {epoch: dleq.public_key(store.load("oprf", epoch)) for epoch in store.epochs("oprf")}


def pair(directory: Path, keys_dir: Path, key_id: str) -> Path:
    """Connect a broker (its ``keys_dir``) to the service in ``directory`` on one machine: the
    broker's client key made and allowed here, the service's answer key and the public halves
    of ``k`` pinned there (with the factors between epochs). Returns the broker's
    pseudonym-service key directory."""
    mine = client_dir(keys_dir)
    ensure_signing_key(mine / "client.key")
    public = bytes(load_signing_key(mine / "client.key").verify_key).hex()
    add_client(directory, key_id, public, organisation=None, organisation_type=None)
    shutil.copyfile(directory / "signing.pub", mine / "service.pub")
    pinned = keys_dir / "oprf"
    pinned.mkdir(parents=True, exist_ok=True, mode=0o700)
    publics = public_keys(directory)
    first = min(publics)
    (pinned / f"{first:04d}.pub").write_text(publics[first].hex() + "\n")
    # Later epochs with the factor from the one before (k rotated before this pairing), so
    # that the broker can convert and re-key between them without k.
    service, broker = keystore(directory), FileKeyStore(keys_dir, oprf_public=True)
    for epoch in sorted(publics)[1:]:
        broker.pin_oprf(epoch, publics[epoch], oprf.rotation_factor(
            service.load("oprf", epoch - 1), service.load("oprf", epoch)))
    return mine


def open_service(directory: Path, database_url: str | None = None) -> EvaluationService:
    """The service on ``directory``: keys checked, configuration read, database opened."""
    if not (directory / CONFIG_FILE).is_file():
        raise ConfigurationError(
            "%(directory)s is not a pseudonym service directory. Create it with: broker "
            "pseudonym-service init --dir %(directory)s",
            directory=directory)
    store = keystore(directory)
    store.check(["oprf"])
    config = _read(directory)
    clients = {key_id: _client(key_id, entry) for key_id, entry in config["clients"].items()}
    quota = config["quota"]
    quotas = Quotas(int(quota["default"]), {str(t): int(n) for t, n in
                                             quota.get("per_organisation_type", {}).items()})
    url = database_url or f"sqlite:///{directory / DATABASE_FILE}"
    return EvaluationService(store, open_database(url), clients, quotas)


def _client(key_id: str, entry: dict[str, str]) -> Client:
    key = VerifyKey(bytes.fromhex(entry["public_key"]))
    if entry.get("acts_for") == ANY:
        return Client(key_id, key, None)
    return Client(key_id, key, Requester(entry["organisation"], entry["organisation_type"]))


def _read(directory: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads((directory / CONFIG_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise ConfigurationError(
            "Cannot read %(directory)s: %(exc)s",
            directory=directory / CONFIG_FILE, exc=exc) from exc
    return data


def _write(directory: Path, config: dict[str, Any]) -> None:
    path = directory / CONFIG_FILE
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(config, handle, indent=2, sort_keys=True)
        handle.write("\n")
    temporary.replace(path)
