"""Fixtures for the sign-in tests: the services on the test core, and a school's professional."""

from __future__ import annotations

import pytest

from broker.core import Core
from broker.registry.services import RegistryService
from broker.signin.keys import SignInKey
from broker.signin.second_factor import SecondFactorService
from broker.signin.services import SignInService
from tests.factories import Member, make_member
from tests.uow import committed


@pytest.fixture
def key(core: Core) -> SignInKey:
    """The test installation's sign-in key."""
    return SignInKey.load(core.settings.keys_dir)


@pytest.fixture
def signin(core: Core, key: SignInKey) -> SignInService:
    """The sign-in service."""
    return committed(core, SignInService, key)


@pytest.fixture
def factors(core: Core, key: SignInKey) -> SecondFactorService:
    """The second-factor enrolment service."""
    return committed(core, SecondFactorService, key)


@pytest.fixture
def school(registry: RegistryService) -> Member:
    """A school with one professional, ``basisschool-1``, password ``correct horse``."""
    return make_member(registry, "school")
