"""The Python client for organisations' case systems: ``BrokerClient`` and its errors.

See :mod:`broker_client.client` for what the client guarantees, and :mod:`broker_client.cli`
for the ``broker-client`` command built on it.
"""

from broker_client.client import BrokerClient
from broker_client.errors import (
    BrokerAPIError,
    BrokerClientError,
    BrokerUnavailableError,
    ResponseVerificationError,
    UnexpectedResponseError,
)
from broker_client.models import (
    Consent,
    IdentifiedRegistration,
    Involvement,
    LookupResult,
    NewRegistration,
)

__all__ = [
    "BrokerAPIError",
    "BrokerClient",
    "BrokerClientError",
    "BrokerUnavailableError",
    "Consent",
    "IdentifiedRegistration",
    "Involvement",
    "LookupResult",
    "NewRegistration",
    "ResponseVerificationError",
    "UnexpectedResponseError",
]
