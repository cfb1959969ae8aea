"""Browser headers on every response (issue 11, item 2)."""

from __future__ import annotations

from flask.testing import FlaskClient

from broker.registry.services import RegistryService
from tests.factories import make_member
from tests.web.test_views import sign_in


def test_a_page_cannot_be_framed(client: FlaskClient) -> None:
    response = client.get("/login")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"


def test_pages_with_personal_data_are_not_stored(client: FlaskClient,
                                                 registry: RegistryService) -> None:
    make_member(registry, "school")
    sign_in(client, "basisschool-1")
    for path in ("/check", "/inbox", "/register"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
