"""The broker's own Ed25519 signing keys: the API response key and the audit key.

Each is a hex seed in ``<name>.key`` (mode 0600, in a 0700 directory) with its public half in
``<name>.pub``. Loading refuses a key file that others can read and says how to fix it.
"""

from __future__ import annotations

import os
from pathlib import Path

from nacl.signing import SigningKey

from broker.errors import ConfigurationError
from broker.keyfiles import check_directory, check_private_file


def ensure_signing_key(path: Path) -> bool:
    """Create the key pair at ``path`` (and ``path.with_suffix('.pub')``) if missing; True when
    created."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.parent.chmod(0o700)
    key = SigningKey.generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(bytes(key).hex() + "\n")
    path.with_suffix(".pub").write_text(bytes(key.verify_key).hex() + "\n")
    return True


def load_signing_key(path: Path) -> SigningKey:
    """The key at ``path``; refused when missing or readable by others."""
    if not path.is_file():
        raise ConfigurationError(
            "The signing key %(path)s is missing. Create it with: broker init",
            path=path)
    check_directory(path.parent)
    check_private_file(path)
    return SigningKey(bytes.fromhex(path.read_text().strip()))
