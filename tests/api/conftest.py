"""Live brokers and their organisations for the API tests (the signature fixtures are in
tests/primitives/httpsig/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from broker.app import create_app
from broker.core import Core
from tests.api.live import Organisation, enrol, serve


@pytest.fixture
def orgs(core: Core) -> tuple[Organisation, Organisation]:
    """Veilig Thuis and a school, each with an API key."""
    return enrol(core, "vt-a", "veilig_thuis"), enrol(core, "school-a", "school")


@pytest.fixture
def base(core: Core, orgs: object) -> Iterator[str]:
    """A live broker."""
    with serve(create_app(core=core)) as url:
        yield url
