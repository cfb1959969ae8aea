"""Small shapes of the broker's API that the client builds and checks: matching-key objects,
dates, ids and paths, involvements (kept apart from :mod:`broker_client.client`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import Any, TypeVar, cast

from broker_primitives.blinding import Pseudonym

from broker_client.codec import b64url_encode
from broker_client.errors import UnexpectedResponseError
from broker_client.models import Involvement

T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``items`` in slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def iso_date(day: date) -> str:
    """A date (never a datetime) as the API writes it."""
    if isinstance(day, datetime):
        raise TypeError("give a date, not a datetime")
    return day.isoformat()


def canonical_id(value: str, what: str) -> str:
    """A UUID in its canonical form; ValueError naming ``what`` otherwise."""
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError):
        raise ValueError(f"{what} is a UUID") from None


def involvement_path(involvement_id: str) -> str:
    """The API path of one involvement."""
    return f"/v1/involvements/{canonical_id(involvement_id, 'an involvement id')}"


def as_involvement(data: Any, what: str) -> Involvement:
    """A response body that is an involvement; UnexpectedResponseError otherwise."""
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise UnexpectedResponseError(f"{what}: the response is not an involvement")
    return cast(Involvement, data)


def matching_key(pseudonym: Pseudonym) -> dict[str, Any]:
    """The API's matching-key object for one pseudonym."""
    return {
        "category": pseudonym.category,
        "element": b64url_encode(pseudonym.element),
        "key_epoch": pseudonym.oprf_epoch,
    }
