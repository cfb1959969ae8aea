"""The broker's half of the two-key pseudonym: ``T = b·N``.

Rules this module guarantees:

- Every ``N`` is checked to be a canonical, non-identity ristretto255 element before use
  (RFC 9497 §4.1: the identity element must be refused), so a client cannot register or look up
  a degenerate point that would match everything or nothing.
- A stored key is always made under the *current* epochs of both keys. An ``N`` evaluated under
  the previous OPRF epoch (a client that evaluated just before a rotation) is converted with the
  rotation factor ``k_new·k_old⁻¹``; anything older is refused and the client evaluates again.
- While a rotation runs, stored rows are at two epochs. :meth:`MatchingKeys.search_values` gives
  every value a row of the same identifier can hold in that state, so look-ups keep finding
  registrations made before the rotation.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from broker_primitives import oprf
from broker_primitives.blinding import Pseudonym
from broker_primitives.identifiers import Category
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from broker.errors import ValidationError
from broker.pseudonyms.keys import FileKeyStore, KeyName
from broker.pseudonyms.models import KeyRotation

CATEGORIES: tuple[Category, ...] = ("person", "address")


@dataclass(frozen=True)
class StoredKey:
    """A matching key as stored: ``T`` and the epochs of both keys it was made under."""

    category: Category
    value: bytes
    oprf_epoch: int
    broker_epoch: int

    def __repr__(self) -> str:
        return f"<StoredKey {self.category} {self.oprf_epoch}/{self.broker_epoch}>"


@dataclass(frozen=True)
class RotationState:
    """An unfinished rotation: rows of ``which`` are at ``from_epoch`` or ``to_epoch``."""

    which: KeyName
    from_epoch: int
    to_epoch: int


class InvalidPseudonymError(ValidationError):
    """A pseudonym that is not a usable group element, of an unknown category or a stale epoch."""

    code = "invalid-pseudonym"


_ACTIVE_ROTATION = select(KeyRotation.which, KeyRotation.from_epoch, KeyRotation.to_epoch).where(
    KeyRotation.finished_at.is_(None)
)


def rotation_state(
    which: str | None, from_epoch: int | None, to_epoch: int | None
) -> RotationState | None:
    """The state from the columns of an unfinished ``KeyRotation`` row (all None: none)."""
    if which is None or from_epoch is None or to_epoch is None:
        return None
    return RotationState("oprf" if which == "oprf" else "broker", from_epoch, to_epoch)


def read_rotation(connection: Connection | Session) -> RotationState | None:
    """The unfinished rotation, read from the database."""
    row = connection.execute(_ACTIVE_ROTATION).first()
    return None if row is None else rotation_state(*row)


class MatchingKeys:
    """Turns clients' ``N`` values into stored and searchable matching keys."""

    # How long the rotation state may be reused while the key directories do not change.
    ROTATION_TTL = 5.0

    def __init__(self, keystore: FileKeyStore) -> None:
        self.keystore = keystore
        self._rotation: tuple[tuple[int, int], float, RotationState | None] | None = None

    def snapshot(self, connection: Connection | Session
                 ) -> tuple[RotationState | None, tuple[int, int]]:
        """The rotation state and the key epochs it was read under, for one look-up: the
        look-up computes its forms at exactly these epochs, even if a key appears meanwhile
        (a new rotation waits before re-keying its first row; see rotation.start_or_resume)."""
        state = self.rotation(connection)
        return state, self._rotation[0] if self._rotation is not None else self.keystore.stamp()

    def rotation(self, connection: Connection | Session) -> RotationState | None:
        """The unfinished rotation, cached while the current key epochs are unchanged (≤ 5 s).

        Why the cache is safe: a rotation is recorded in the database *before* its new key file
        is written, and look-ups only use a new epoch once that file exists. The new file changes
        the current epoch, which drops the cache, so no look-up ever uses a new key while
        believing no rotation runs. After a rotation finishes, a stale cache only makes look-ups
        search one extra, harmless form until the time-to-live ends.
        """
        stamp = self.keystore.stamp()
        now = time.monotonic()
        cached = self._rotation
        if cached is not None and cached[0] == stamp and now - cached[1] < self.ROTATION_TTL:
            return cached[2]
        state = read_rotation(connection)
        self._rotation = (stamp, now, state)
        return state

    def _check(self, pseudonym: Pseudonym) -> None:
        if pseudonym.category not in CATEGORIES:
            raise InvalidPseudonymError(
                "Unknown matching-key category %(category)s: use person or address.",
                category=repr(pseudonym.category))
        if not isinstance(pseudonym.element, bytes) or len(pseudonym.element) != oprf.ELEMENT_SIZE:
            raise _not_an_element()

    def _oprf_ratio(self, to_epoch: int, from_epoch: int) -> bytes:
        """``k_to·k_from⁻¹``: multiplies an element made under ``from`` into one under ``to``
        (from the pinned per-epoch factors where this process cannot read ``k``)."""
        return self.keystore.oprf_factor(from_epoch, to_epoch)

    def _at_oprf_epoch(self, pseudonym: Pseudonym, epoch: int) -> bytes:
        if pseudonym.oprf_epoch == epoch:
            return pseudonym.element
        if not self.keystore.has("oprf", pseudonym.oprf_epoch):
            raise InvalidPseudonymError(
                "Pseudonym key epoch %(oprf_epoch)s is unknown or retired; evaluate the "
                "identifier again.",
                oprf_epoch=pseudonym.oprf_epoch)
        return oprf.scalar_mult(self._oprf_ratio(epoch, pseudonym.oprf_epoch), pseudonym.element)

    def to_stored(self, pseudonym: Pseudonym) -> StoredKey:
        """The value to store for ``pseudonym``: ``b·N`` at the current epochs of both keys."""
        return self.to_stored_many([pseudonym])[0]

    def to_stored_many(self, pseudonyms: Sequence[Pseudonym],
                       epochs: tuple[int, int] | None = None) -> list[StoredKey]:
        """:meth:`to_stored` for several pseudonyms, at ``epochs`` (OPRF, broker) or at the
        current epochs, read once."""
        current_oprf, broker_epoch = epochs or self.keystore.stamp()
        b = self.keystore.load("broker", broker_epoch)
        stored = []
        for pseudonym in pseudonyms:
            self._check(pseudonym)
            if pseudonym.oprf_epoch not in (current_oprf, current_oprf - 1):
                raise InvalidPseudonymError(
                    "Pseudonym key epoch %(oprf_epoch)s is not current (%(current_oprf)s); "
                    "evaluate the identifier again.",
                    oprf_epoch=pseudonym.oprf_epoch, current_oprf=current_oprf)
            try:
                element = self._at_oprf_epoch(pseudonym, current_oprf)
                # libsodium decodes the element canonically and refuses an invalid encoding and
                # the identity (RFC 9497 §4.1), so this one call is also the validation.
                value = oprf.scalar_mult_trusted(b, element)
            except oprf.OprfError:
                raise _not_an_element() from None
            stored.append(StoredKey(pseudonym.category, value, current_oprf, broker_epoch))
        return stored

    def _live_epochs(self, which: KeyName, rotation: RotationState) -> list[int]:
        epochs = {self.keystore.current_epoch(which)}
        if rotation.which == which:
            epochs.update(
                e for e in (rotation.from_epoch, rotation.to_epoch) if self.keystore.has(which, e)
            )
        return sorted(epochs)

    def search_values(
        self,
        pseudonyms: Sequence[Pseudonym],
        rotation: RotationState | None,
        epochs: tuple[int, int] | None = None,
    ) -> list[list[StoredKey]]:
        """Per pseudonym, every stored form a row of the same identifier can have now: one, or
        two mid-rotation. The first form of each is the one a new registration would store.
        """
        current = self.to_stored_many(pseudonyms, epochs)
        if rotation is None:
            return [[stored] for stored in current]
        oprf_epochs = self._live_epochs("oprf", rotation)
        broker_epochs = self._live_epochs("broker", rotation)
        found = []
        for pseudonym, stored in zip(pseudonyms, current, strict=True):
            forms = [stored]
            current_element = self._at_oprf_epoch(pseudonym, stored.oprf_epoch)
            for oprf_epoch in oprf_epochs:
                element = (
                    current_element
                    if oprf_epoch == stored.oprf_epoch
                    else oprf.scalar_mult(self._oprf_ratio(oprf_epoch, stored.oprf_epoch),
                                          current_element)
                )
                for broker_epoch in broker_epochs:
                    if (oprf_epoch, broker_epoch) == (stored.oprf_epoch, stored.broker_epoch):
                        continue
                    b = self.keystore.load("broker", broker_epoch)
                    forms.append(StoredKey(stored.category, oprf.scalar_mult(b, element),
                                           oprf_epoch, broker_epoch))
            found.append(forms)
        return found

    def rotation_factor(self, rotation: RotationState) -> bytes:
        """The scalar that moves a stored value from ``from_epoch`` to ``to_epoch`` in place.

        For ``b``: ``b_new·b_old⁻¹``; for ``k``: ``k_new·k_old⁻¹`` (``T = b·k·H`` is linear in
        both, so either factor applies to ``T`` directly).
        """
        return self.epoch_factor(rotation.which, rotation.from_epoch, rotation.to_epoch)

    def epoch_factor(self, which: KeyName, from_epoch: int, to_epoch: int) -> bytes:
        """``x_to·x_from⁻¹`` for the key ``which``; for ``k`` from the per-epoch factors the
        pseudonym service handed over, where this process cannot read ``k``."""
        if which == "oprf":
            return self._oprf_ratio(to_epoch, from_epoch)
        return oprf.rotation_factor(self.keystore.load(which, from_epoch),
                                    self.keystore.load(which, to_epoch))


def _not_an_element() -> InvalidPseudonymError:
    return InvalidPseudonymError(
        "A pseudonym is not a valid ristretto255 element or is the identity element; evaluate "
        "the identifier again.")


def unique_values(keys: Iterable[StoredKey]) -> list[bytes]:
    """The distinct stored values of ``keys``, in first-seen order."""
    seen: dict[bytes, None] = {}
    for key in keys:
        seen.setdefault(key.value, None)
    return list(seen)
