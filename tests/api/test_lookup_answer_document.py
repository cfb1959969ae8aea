"""The OpenAPI document says what an empty answer means: not that no one else is involved."""

from __future__ import annotations

from broker.api.views import openapi_document


def test_the_lookup_answer_never_claims_that_no_one_is_involved() -> None:
    answer = openapi_document()["components"]["schemas"]["LookupResponse"]["properties"]
    assert "does not mean that no one else is involved" in answer["matches"]["description"]
    assert "never on anyone else's" in answer["registration_required"]["description"]
