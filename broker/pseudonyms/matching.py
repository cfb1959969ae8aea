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

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from broker.errors import ValidationError
from broker.pseudonyms import oprf
from broker.pseudonyms.keys import FileKeyStore, KeyName

Category = Literal["person", "address"]
CATEGORIES: tuple[Category, ...] = ("person", "address")


@dataclass(frozen=True)
class Pseudonym:
    """``N = k·H(identifier)`` as a client unblinded it, with the OPRF epoch of ``k``."""

    category: Category
    element: bytes
    oprf_epoch: int

    def __repr__(self) -> str:
        return f"<Pseudonym {self.category} epoch={self.oprf_epoch}>"


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


class MatchingKeys:
    """Turns clients' ``N`` values into stored and searchable matching keys."""

    def __init__(self, keystore: FileKeyStore) -> None:
        self.keystore = keystore

    def _check(self, pseudonym: Pseudonym) -> None:
        if pseudonym.category not in CATEGORIES:
            raise InvalidPseudonymError(
                f"Unknown matching-key category {pseudonym.category!r}: use person or address.",
                f"Onbekende soort sleutel {pseudonym.category!r}: gebruik person of address.",
            )
        try:
            oprf.validate_element(pseudonym.element)
        except oprf.OprfError as exc:
            raise InvalidPseudonymError(
                "A pseudonym is not a valid ristretto255 element or is the identity element; "
                "evaluate the identifier again.",
                "Een pseudoniem is geen geldig ristretto255-element of is het neutrale element; "
                "laat het identificerend gegeven opnieuw evalueren.",
            ) from exc

    def _oprf_ratio(self, to_epoch: int, from_epoch: int) -> bytes:
        """``k_to·k_from⁻¹``: multiplies an element made under ``from`` into one under ``to``."""
        return oprf.rotation_factor(
            self.keystore.load("oprf", from_epoch), self.keystore.load("oprf", to_epoch)
        )

    def _at_oprf_epoch(self, pseudonym: Pseudonym, epoch: int) -> bytes:
        if pseudonym.oprf_epoch == epoch:
            return pseudonym.element
        if not self.keystore.has("oprf", pseudonym.oprf_epoch):
            raise InvalidPseudonymError(
                f"Pseudonym key epoch {pseudonym.oprf_epoch} is unknown or retired; evaluate "
                "the identifier again.",
                f"Pseudoniemsleutelversie {pseudonym.oprf_epoch} is onbekend of vervallen; laat "
                "het identificerend gegeven opnieuw evalueren.",
            )
        return oprf.scalar_mult(self._oprf_ratio(epoch, pseudonym.oprf_epoch), pseudonym.element)

    def to_stored(self, pseudonym: Pseudonym) -> StoredKey:
        """The value to store for ``pseudonym``: ``b·N`` at the current epochs of both keys."""
        self._check(pseudonym)
        current_oprf = self.keystore.current_epoch("oprf")
        if pseudonym.oprf_epoch not in (current_oprf, current_oprf - 1):
            raise InvalidPseudonymError(
                f"Pseudonym key epoch {pseudonym.oprf_epoch} is not current "
                f"({current_oprf}); evaluate the identifier again.",
                f"Pseudoniemsleutelversie {pseudonym.oprf_epoch} is niet actueel "
                f"({current_oprf}); laat het identificerend gegeven opnieuw evalueren.",
            )
        element = self._at_oprf_epoch(pseudonym, current_oprf)
        broker_epoch, b = self.keystore.current("broker")
        return StoredKey(
            pseudonym.category, oprf.scalar_mult(b, element), current_oprf, broker_epoch
        )

    def _live_epochs(self, which: KeyName, rotation: RotationState | None) -> list[int]:
        epochs = {self.keystore.current_epoch(which)}
        if rotation is not None and rotation.which == which:
            epochs.update(
                e for e in (rotation.from_epoch, rotation.to_epoch) if self.keystore.has(which, e)
            )
        return sorted(epochs)

    def search_values(
        self, pseudonym: Pseudonym, rotation: RotationState | None
    ) -> list[StoredKey]:
        """Every stored form a row of the same identifier can have now (one, or two mid-rotation).

        The first element is the form a new registration would store.
        """
        stored = self.to_stored(pseudonym)
        found = [stored]
        if rotation is None:
            return found
        current_element = self._at_oprf_epoch(pseudonym, stored.oprf_epoch)
        for oprf_epoch in self._live_epochs("oprf", rotation):
            element = (
                current_element
                if oprf_epoch == stored.oprf_epoch
                else oprf.scalar_mult(self._oprf_ratio(oprf_epoch, stored.oprf_epoch),
                                      current_element)
            )
            for broker_epoch in self._live_epochs("broker", rotation):
                if (oprf_epoch, broker_epoch) == (stored.oprf_epoch, stored.broker_epoch):
                    continue
                b = self.keystore.load("broker", broker_epoch)
                found.append(
                    StoredKey(stored.category, oprf.scalar_mult(b, element), oprf_epoch,
                              broker_epoch)
                )
        return found

    def rotation_factor(self, rotation: RotationState) -> bytes:
        """The scalar that moves a stored value from ``from_epoch`` to ``to_epoch`` in place.

        For ``b``: ``b_new·b_old⁻¹``; for ``k``: ``k_new·k_old⁻¹`` (``T = b·k·H`` is linear in
        both, so either factor applies to ``T`` directly).
        """
        return oprf.rotation_factor(
            self.keystore.load(rotation.which, rotation.from_epoch),
            self.keystore.load(rotation.which, rotation.to_epoch),
        )


def unique_values(keys: Iterable[StoredKey]) -> list[bytes]:
    """The distinct stored values of ``keys``, in first-seen order."""
    seen: dict[bytes, None] = {}
    for key in keys:
        seen.setdefault(key.value, None)
    return list(seen)
