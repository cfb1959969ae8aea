"""Private key files and their directories: refused when missing, or when other users can read a
key or change its directory — saying which file and the ``chmod`` that fixes it.

Shared plumbing of every key the broker keeps (pseudonym keys, the API's and the audit log's
signing keys, the sign-in key), below every package that keeps one.
"""

from __future__ import annotations

import stat
from pathlib import Path

from broker.errors import ConfigurationError


class MissingKeyError(ConfigurationError):
    """A key the broker needs does not exist."""

    code = "key-missing"


class UnsafeKeyError(ConfigurationError):
    """A key file or directory has permissions that let other users read or change it."""

    code = "key-unsafe"


def check_private_file(path: Path) -> None:
    """Refuse a missing private key file, or one that other users can read."""
    if not path.is_file():
        raise MissingKeyError(
            "Key file %(path)s is missing. Create the keys with: broker keys init",
            path=path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise UnsafeKeyError(
            "Private key %(path)s can be read by other users (mode %(mode)s). Fix it with: "
            "chmod 600 %(path)s",
            path=path, mode=format(mode, 'o'))


def check_directory(path: Path) -> None:
    """Refuse a key directory that other users can change."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o022:
        raise UnsafeKeyError(
            "Key directory %(path)s can be changed by other users (mode %(mode)s). Fix it with: "
            "chmod 700 %(path)s",
            path=path, mode=format(mode, 'o'))
