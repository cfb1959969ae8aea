"""The client's exception tree: one base class, one subclass per way a call can fail.

Rules this module guarantees:

- Every error a :class:`~broker_client.BrokerClient` call raises on purpose is a
  :class:`BrokerClientError`; callers can catch that one class.
- No message contains a raw identifier. Messages are built from the broker's problem details
  (which never carry one, issue 4 §5), from status codes and from fixed texts; identifier
  validation errors are the primitives' own
  :class:`~broker_primitives.identifiers.IdentifierError`, whose texts are fixed per error code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

PROBLEM_PREFIX = "urn:broker:problem:"


class BrokerClientError(Exception):
    """Base of every error the broker client raises on purpose."""


class BrokerAPIError(BrokerClientError):
    """The broker answered with an RFC 9457 problem (any non-2xx status).

    ``type`` is the problem type URI (``urn:broker:problem:<code>``), ``code`` its last part;
    ``errors`` maps a field name to its messages for validation problems; ``attempts`` is how many
    times the request was sent (more than one after a retry).
    """

    def __init__(
        self,
        status: int,
        type: str,
        title: str,
        detail: str | None = None,
        errors: Mapping[str, Sequence[str]] | None = None,
        *,
        attempts: int = 1,
    ) -> None:
        self.status = status
        self.type = type
        self.title = title
        self.detail = detail
        self.attempts = attempts
        self.errors: dict[str, list[str]] = {
            str(field): [str(message) for message in messages]
            for field, messages in (errors or {}).items()
        }
        text = f"{status} {self.code}: {title}"
        if detail:
            text += f" - {detail}"
        super().__init__(text)

    @property
    def code(self) -> str:
        """The stable last part of the problem type, e.g. ``idempotency-key-reused``."""
        return self.type.removeprefix(PROBLEM_PREFIX)


class ResponseVerificationError(BrokerClientError):
    """A response carried no valid broker signature; its content was not used."""


class UnexpectedResponseError(BrokerClientError):
    """A signed response did not have the shape the API contract promises."""


class BrokerUnavailableError(BrokerClientError):
    """The broker could not be reached, or kept answering "try again", after every retry."""
