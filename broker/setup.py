"""Setting up an installation: database schema, keys, the web session secret.

``broker init`` calls :func:`initialise`; it is idempotent, so running it again on a set-up
installation changes nothing.
"""

from __future__ import annotations

import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from broker.audit.checkpoints import ensure_audit_key
from broker.audit.events import Event
from broker.audit.services import Actor, record_event
from broker.callers.keys import ensure_response_key
from broker.core import Core
from broker.errors import ConfigurationError
from broker.migrate import upgrade
from broker.pseudonyms.keys import KEY_NAMES
from broker.signin.keys import ensure_signin_key

SECRET_FILE = "secret_key"  # noqa: S105 - the file name, not the secret


@dataclass(frozen=True)
class InitReport:
    """What :func:`initialise` created (False: it was there already)."""

    keys_created: list[str]
    secret_created: bool


def initialise(core: Core, actor: Actor) -> InitReport:
    """Create or upgrade the schema, create missing keys (pseudonym keys, the API response key,
    the audit key, the sign-in key) and the session secret."""
    upgrade(core.engine)
    created: list[str] = []
    for which in KEY_NAMES:
        if not core.keystore.epochs(which):
            core.keystore.create(which, 1)
            created.append(which)
    if ensure_response_key(core.settings.keys_dir):
        created.append("api")
    if ensure_audit_key(core.settings.keys_dir):
        created.append("audit")
    if ensure_signin_key(core.settings.keys_dir):
        created.append("signin")
    if created:
        with core.session() as session:
            record_event(session, actor, Event.KEYS_CREATED, details={"keys": created, "epoch": 1})
    return InitReport(created, _ensure_secret(core.settings.instance_dir / SECRET_FILE))


def _ensure_secret(path: Path) -> bool:
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    return True


def read_secret(instance_dir: Path) -> str:
    """The web session secret; refuses a missing or world-readable one and says how to fix it."""
    path = instance_dir / SECRET_FILE
    if not path.is_file():
        raise ConfigurationError(
            "The session secret %(path)s is missing. Create it with: broker init",
            path=path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigurationError(
            "The session secret %(path)s can be read by other users (mode %(mode)s). Fix it "
            "with: chmod 600 %(path)s",
            path=path, mode=format(mode, 'o'))
    secret = path.read_text().strip()
    if len(secret) < 32:
        raise ConfigurationError(
            "The session secret %(path)s is too short. Delete it and run: broker init",
            path=path)
    return secret
