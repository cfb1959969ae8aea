"""Versioned key files for the two pseudonym keys.

Rules this module guarantees:

- ``k`` (``oprf``, the pseudonym service's OPRF key) and ``b`` (``broker``, the broker's own key)
  are separate files under ``<keys_dir>/<which>/<epoch>.key``, one 32-byte scalar in hex each; the
  highest epoch is the current one. Epochs start at 1 and only grow.
- A private key file is created with mode 0600 and never overwritten. A key file that other users
  can read, or a keys directory that other users can write, is refused with
  :class:`~broker.keyfiles.UnsafeKeyError` saying which file and the ``chmod`` that fixes it.
- A missing key is refused with :class:`~broker.keyfiles.MissingKeyError` saying to run
  ``broker keys init``.
- Scalars are checked (canonical, non-zero) when read, so a corrupted file is noticed at start.
- With ``oprf_public`` (the broker beside a pseudonym service of its own, production) the
  ``oprf`` directory holds only the public halves ``<epoch>.pub`` (``k·G``, hex) that the broker
  pinned: they give the OPRF epochs and verify the service's proofs, and ``k`` itself is never
  loaded or created here (:class:`ConfigurationError` saying where ``k`` lives). Beside each
  ``<epoch>.pub`` after the first lies ``<epoch>.delta``, the rotation factor
  ``k_epoch·k_(epoch-1)⁻¹`` the service handed over when ``k`` rotated (mode 0600): it moves
  elements between epochs (:meth:`FileKeyStore.oprf_factor`) without revealing ``k``. A new
  epoch is pinned only when its factor maps the previous public half onto the new one, the
  factor before the public half, so an epoch is never current without its factor.
- The pseudonym service prepares the next ``k`` as ``<epoch>.next`` (not yet used: only ``.key``
  files count) and switches to it by renaming it to ``<epoch>.key`` once the broker has pinned
  it (:meth:`FileKeyStore.prepare`, :meth:`FileKeyStore.activate`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from broker_primitives import dleq, oprf

from broker.errors import ConfigurationError
from broker.keyfiles import MissingKeyError, check_directory, check_private_file

KeyName = Literal["oprf", "broker"]
# A directory listing is trusted only once the directory has been unchanged this long.
SETTLE_NS = 2_000_000_000
KEY_NAMES: tuple[KeyName, ...] = ("oprf", "broker")


class FileKeyStore:
    """The two pseudonym keys as versioned files; scalars are cached after the first read."""

    def __init__(self, keys_dir: Path, *, oprf_public: bool = False) -> None:
        self.keys_dir = keys_dir
        self.oprf_public = oprf_public
        self._public: dict[int, bytes] = {}
        self._cache: dict[tuple[KeyName, int], bytes] = {}
        self._deltas: dict[int, bytes] = {}
        self._epochs: dict[KeyName, tuple[int, int, list[int]]] = {}
        # Every look-up stats these directories: plain strings skip pathlib's work.
        self._derived: dict[tuple[KeyName, int, bytes], bytes] = {}
        self._dir_names: dict[KeyName, str] = {w: str(keys_dir / w) for w in KEY_NAMES}
        self._lock = threading.Lock()

    def _dir(self, which: KeyName) -> Path:
        return self.keys_dir / which

    def _suffix(self, which: KeyName) -> str:
        return ".pub" if which == "oprf" and self.oprf_public else ".key"

    def _path(self, which: KeyName, epoch: int) -> Path:
        return self._dir(which) / f"{epoch:04d}{self._suffix(which)}"

    def epochs(self, which: KeyName) -> list[int]:
        """The epochs that have a key file, oldest first.

        The listing is reused while the directory's mtime is unchanged, so a look-up costs one
        ``stat``. File-system timestamps are coarse (a few milliseconds), so a listing taken
        less than :data:`SETTLE_NS` after the directory last changed is not trusted: a key
        created in the same tick by another process would otherwise stay unseen ("racy" mtime,
        the problem git's index has and solves the same way).
        """
        try:
            mtime = os.stat(self._dir_names[which]).st_mtime_ns
        except FileNotFoundError:
            return []
        cached = self._epochs.get(which)
        if cached is not None and cached[0] == mtime and cached[1] - mtime > SETTLE_NS:
            return list(cached[2])
        directory = self._dir(which)
        listed_at = time.time_ns()
        found = sorted(int(p.stem) for p in directory.glob("*" + self._suffix(which))
                       if p.stem.isdigit())
        self._epochs[which] = (mtime, listed_at, found)
        return list(found)

    def derive(self, which: KeyName, epoch: int, label: bytes) -> bytes:
        """``SHA-256(label || 0 || key)``: a key for another purpose derived from ``which`` at
        ``epoch`` (cached like the scalars)."""
        cache_key = (which, epoch, label)
        derived = self._derived.get(cache_key)
        if derived is None:
            derived = hashlib.sha256(label + b"\0" + self.load(which, epoch)).digest()
            self._derived[cache_key] = derived
        return derived

    def stamp(self) -> tuple[int, int]:
        """The current epochs of both keys: changes whenever a key is added."""
        return self.current_epoch("oprf"), self.current_epoch("broker")

    def current_epoch(self, which: KeyName) -> int:
        """The newest epoch of ``which``; raises :class:`MissingKeyError` when there is none."""
        epochs = self.epochs(which)
        if not epochs:
            raise MissingKeyError(
                "No %(which)s key in %(directory)s. Create the keys with: broker keys init",
                which=which, directory=self._dir(which))
        return epochs[-1]

    def has(self, which: KeyName, epoch: int) -> bool:
        """True when the key file for ``epoch`` exists."""
        return self._path(which, epoch).is_file()

    def load(self, which: KeyName, epoch: int) -> bytes:
        """The scalar of ``which`` at ``epoch``, checked for permissions and validity."""
        if which == "oprf" and self.oprf_public:
            raise _held_by_service()
        with self._lock:
            cached = self._cache.get((which, epoch))
            if cached is not None:
                return cached
            path = self._path(which, epoch)
            if not path.is_file():
                raise MissingKeyError(
                    "Key file %(path)s is missing. Restore it from the key backup; without it "
                    "stored matching keys of that epoch cannot be used.",
                    path=path)
            check_private_file(path)
            try:
                scalar = oprf.validate_scalar(bytes.fromhex(path.read_text().strip()))
            except (ValueError, oprf.OprfError) as exc:
                raise ConfigurationError(
                    "Key file %(path)s is corrupt (%(exc)s). Restore it from the key backup.",
                    path=path, exc=exc) from exc
            self._cache[(which, epoch)] = scalar
            return scalar

    def current(self, which: KeyName) -> tuple[int, bytes]:
        """``(epoch, scalar)`` of the newest key."""
        epoch = self.current_epoch(which)
        return epoch, self.load(which, epoch)

    def public_key(self, epoch: int) -> bytes | None:
        """``k·G`` of the OPRF key at ``epoch`` (pinned, or computed from ``k``); None when
        there is no such epoch."""
        cached = self._public.get(epoch)
        if cached is not None or not self.has("oprf", epoch):
            return cached
        if self.oprf_public:
            path = self._path("oprf", epoch)
            try:
                public = oprf.validate_element(bytes.fromhex(path.read_text().strip()))
            except (ValueError, oprf.OprfError) as exc:
                raise ConfigurationError(
                    "The pinned public key %(path)s is not a ristretto255 element (%(exc)s).",
                    path=path, exc=exc) from exc
        else:
            public = dleq.public_key(self.load("oprf", epoch))
        self._public[epoch] = public
        return public

    def create(self, which: KeyName, epoch: int) -> Path:
        """Write a fresh random key for ``epoch`` (mode 0600); refuses to overwrite."""
        if which == "oprf" and self.oprf_public:
            raise _held_by_service()
        self._make_dir(which)
        path = self._path(which, epoch)
        self._epochs.pop(which, None)
        _write_private(path, oprf.generate_key())
        return path

    def _make_dir(self, which: KeyName) -> Path:
        directory = self._dir(which)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.keys_dir.chmod(0o700)
        directory.chmod(0o700)
        return directory

    # -- the next k, at the pseudonym service ---------------------------------------------------

    def prepare(self, which: KeyName, epoch: int) -> bytes:
        """The key prepared for ``epoch`` (``<epoch>.next``, made once, mode 0600), not used until
        :meth:`activate`; the active key when ``epoch`` is active already."""
        if self.has(which, epoch):
            return self.load(which, epoch)
        path = self._make_dir(which) / f"{epoch:04d}.next"
        if not path.exists():
            # Written whole, then linked into place: a worker never reads a half-written key,
            # and when two prepare at once, the first link wins and both use its key.
            draft = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}")
            draft.unlink(missing_ok=True)
            _write_private(draft, oprf.generate_key())
            with contextlib.suppress(FileExistsError):
                os.link(draft, path)
            draft.unlink()
        check_private_file(path)
        return oprf.validate_scalar(bytes.fromhex(path.read_text().strip()))

    def prepared(self, which: KeyName, epoch: int) -> bool:
        """True when a key for ``epoch`` is prepared and not yet current."""
        return (self._dir(which) / f"{epoch:04d}.next").is_file()

    def activate(self, which: KeyName, epoch: int) -> bool:
        """Make the prepared key of ``epoch`` current (an atomic rename); False when it was
        current already."""
        if self.has(which, epoch):
            return False
        pending = self._dir(which) / f"{epoch:04d}.next"
        if not pending.is_file():
            raise MissingKeyError(
                "No key was prepared for epoch %(epoch)s of %(which)s.",
                epoch=epoch, which=which)
        pending.rename(self._path(which, epoch))
        _sync_directory(self._dir(which))
        self._epochs.pop(which, None)
        return True

    # -- the broker's pinned halves of k, and the factors between epochs ------------------------

    def oprf_factor(self, from_epoch: int, to_epoch: int) -> bytes:
        """``k_to·k_from⁻¹``: multiplies an element made under ``from`` into one under ``to``.
        From the keys where ``k`` is here; from the pinned factors where it is not."""
        if not self.oprf_public:
            return oprf.rotation_factor(self.load("oprf", from_epoch),
                                        self.load("oprf", to_epoch))
        low, high = sorted((from_epoch, to_epoch))
        factor = self._delta(low + 1)
        for epoch in range(low + 2, high + 1):
            factor = oprf.scalar_mul(self._delta(epoch), factor)
        return factor if to_epoch > from_epoch else oprf.scalar_invert(factor)

    def _delta(self, epoch: int) -> bytes:
        """The pinned ``k_epoch·k_(epoch-1)⁻¹``."""
        with self._lock:
            cached = self._deltas.get(epoch)
            if cached is not None:
                return cached
            path = self._dir("oprf") / f"{epoch:04d}.delta"
            if not path.is_file():
                raise MissingKeyError(
                    "The rotation factor %(path)s is missing: pin it again with: broker "
                    "pseudonym-service pair (one machine), or copy it from the service's host.",
                    path=path)
            check_private_file(path)
            factor = oprf.validate_scalar(bytes.fromhex(path.read_text().strip()))
            self._deltas[epoch] = factor
            return factor

    def pin_oprf(self, epoch: int, public: bytes, factor: bytes) -> bool:
        """Pin the public half of ``k`` at ``epoch`` and the factor from the epoch before, once
        the factor is seen to map the pinned ``k_(epoch-1)·G`` onto ``public``; the factor's
        file is written before the public half's. False when both were pinned already."""
        previous = self.public_key(epoch - 1)
        if previous is None or oprf.scalar_mult(factor, previous) != public:
            raise ConfigurationError(
                "The pseudonym service's key for epoch %(epoch)s does not follow from the "
                "pinned key of epoch %(epoch2)s: nothing pinned.",
                epoch=epoch, epoch2=epoch - 1)
        directory = self._make_dir("oprf")
        delta, pub = directory / f"{epoch:04d}.delta", directory / f"{epoch:04d}.pub"
        if pub.is_file() and delta.is_file():
            if self._delta(epoch) != factor or self.public_key(epoch) != public:
                raise ConfigurationError(
                    "Epoch %(epoch)s of k is pinned already, with other values.",
                    epoch=epoch)
            return False
        # A factor without its public half is a crash's leftover, never checked: the one just
        # checked replaces it (the service may have prepared the epoch again since).
        self._deltas.pop(epoch, None)
        for path, value in ((delta, factor), (pub, public)):
            temporary = path.with_name(path.name + ".tmp")
            temporary.unlink(missing_ok=True)
            _write_private(temporary, value)
            temporary.replace(path)
        _sync_directory(directory)
        self._epochs.pop("oprf", None)
        return True

    def check(self, names: Iterable[KeyName] = KEY_NAMES) -> None:
        """Refuse to start when a key (or a pinned factor) is missing, unreadable by us, or
        readable by others."""
        if not self.keys_dir.is_dir():
            raise MissingKeyError(
                "Key directory %(keys_dir)s does not exist. Create the keys with: broker keys init",
                keys_dir=self.keys_dir)
        check_directory(self.keys_dir)
        for which in names:
            self.current_epoch(which)  # raises MissingKeyError when there is none
            check_directory(self._dir(which))
            epochs = self.epochs(which)
            for epoch in epochs:
                if which == "oprf" and self.oprf_public:
                    self.public_key(epoch)
                    if epoch != epochs[0]:
                        self._delta(epoch)  # the factor from the epoch before
                else:
                    self.load(which, epoch)


def _write_private(path: Path, value: bytes) -> None:
    """``value`` in hex into a new file of mode 0600, on disk before this returns; raises
    FileExistsError when the file exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value.hex() + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _sync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _held_by_service() -> ConfigurationError:
    return ConfigurationError(
        "The OPRF key k lives with the pseudonym service (BROKER_PSEUDONYM_SERVICE_URL is "
        "set): this broker holds only its public half. Create k there (broker "
        "pseudonym-service init --dir <its directory>) and pin its public key with: broker "
        "pseudonym-service pair --dir <its directory>; rotate it with: broker keys rotate "
        "--which oprf")
