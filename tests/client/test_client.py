"""BrokerClient against the fake broker: privacy, signatures, verification, retries, errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date

import httpx
import pytest
from broker_client import (
    BrokerAPIError,
    BrokerClient,
    NewRegistration,
    ResponseVerificationError,
)
from broker_client import client as client_module
from broker_client.codec import b64url_decode
from broker_client.errors import BrokerUnavailableError
from broker_primitives import oprf
from broker_primitives.httpsig.signatures import sign_response
from broker_primitives.httpsig.structured_fields import parse_dictionary
from broker_primitives.identifiers import IdentifierError, parse_address, parse_bsn, parse_person
from nacl.signing import SigningKey

from tests.client.conftest import ADDRESS, BSNS, PERSON, raw_forms
from tests.client.fake_broker import FakeBroker

MakeClient = Callable[..., BrokerClient]


def assert_nothing_raw_received(fake: FakeBroker) -> None:
    assert fake.received
    for request in fake.received:
        seen = request.text()
        for raw in raw_forms():
            assert raw not in seen, f"a raw identifier reached the broker in {request.method}"


def nonce(request_headers: dict[str, str]) -> str:
    member = parse_dictionary(request_headers["signature-input"])["sig1"]
    value = member.param("nonce")
    assert isinstance(value, str)
    return value


def test_register_then_lookup_from_another_organisation(
    fake: FakeBroker, client: BrokerClient, make_client: MakeClient
) -> None:
    involvement = client.register(professional="wijkteam-1", purpose="safety_assessment",
                                  bsn=BSNS, address=ADDRESS, person=PERSON,
                                  ends_on=date(2026, 9, 1))
    assert involvement["state"] == "active"
    assert involvement["key_count"] == 4
    assert involvement["ends_on"] == "2026-09-01"

    other = make_client("org-b-1")
    result = other.lookup(purpose="safety_assessment", basis="legal_task", statute="wmo2015_5_2_6",
                          bsn="111222333", professional="politie-1")
    assert [m["match_id"] for m in result["matches"]] == [involvement["id"]]  # the fake's handle
    assert result["matches"][0]["matched_on"] == ["person"]
    by_address = other.lookup(purpose="safety_assessment", basis="consent",
                              consent_reference="C-1", address="1011ab 12-a")
    assert by_address["matches"][0]["matched_on"] == ["address"]
    assert_nothing_raw_received(fake)


def test_matching_keys_are_k_times_the_hash_of_the_server_normalised_identifier(
    fake: FakeBroker, client: BrokerClient
) -> None:
    client.register(professional="p", purpose="protection", bsn=" 1234.56782 ",
                    address="1011ab12a", person="Horst, van der;Jan;2015-02-03")
    sent = json.loads(fake.requests_to("POST", "/v1/involvements")[0].body)
    keys = sent["involvements"][0]["matching_keys"]
    expected = [
        oprf.scalar_mult(fake.oprf_key, oprf.hash_to_group(identifier.tagged_bytes))
        for identifier in (parse_bsn(BSNS[0]), parse_address(ADDRESS), parse_person(PERSON))
    ]
    assert [b64url_decode(k["element"]) for k in keys] == expected
    assert [k["category"] for k in keys] == ["person", "address", "person"]
    assert {k["key_epoch"] for k in keys} == {1}
    assert all("=" not in k["element"] for k in keys)  # base64url without padding


def test_pseudonymise_evaluates_repeated_identifiers_once_in_one_call(
    fake: FakeBroker, client: BrokerClient
) -> None:
    pseudonyms = client.pseudonymise(bsn=[BSNS[0], "123 456 782"], address=ADDRESS)
    assert len(pseudonyms) == 3
    assert pseudonyms[0] == pseudonyms[1]
    evaluations = fake.requests_to("POST", "/v1/pseudonyms/evaluate")
    assert len(evaluations) == 1
    assert len(json.loads(evaluations[0].body)["blinded_elements"]) == 2
    assert "123456782" not in repr(pseudonyms)


def test_every_request_is_signed_with_json_content_type_and_digest(
    fake: FakeBroker, client: BrokerClient
) -> None:
    involvement = client.register(professional="p", purpose="protection", bsn=BSNS[0])
    client.get_involvement(involvement["id"])
    client.renew(involvement["id"], date(2026, 12, 1))
    client.change_contact(involvement["id"], "q")
    ended = client.end(involvement["id"], "moved_away")
    assert ended["state"] == "ended"
    assert ended["end_reason"] == "moved_away"
    methods = [r.method for r in fake.received]
    assert methods == ["POST", "POST", "GET", "PATCH", "PATCH", "PATCH"]
    for request in fake.received:  # the fake verified each signature before answering
        assert request.headers["content-type"] == "application/json"
        assert "content-digest" in request.headers
        assert 'tag="broker-v1"' in request.headers["signature-input"]
        assert ("idempotency-key" in request.headers) == (request.method == "POST")
    assert fake.received[2].body == b""
    assert len({nonce(r.headers) for r in fake.received}) == len(fake.received)


def test_a_response_without_a_valid_broker_signature_is_refused(
    fake: FakeBroker, client: BrokerClient, make_client: MakeClient
) -> None:
    fake.sign_responses = False
    with pytest.raises(ResponseVerificationError, match="signature-missing"):
        client.pseudonymise(bsn=BSNS[0])

    fake.sign_responses = True

    def swap_body(response: httpx.Response) -> httpx.Response:
        data = json.loads(response.content)
        data["key_epoch"] = 2
        return httpx.Response(response.status_code, headers=response.headers,
                              content=json.dumps(data).encode())

    fake.tamper = swap_body
    with pytest.raises(ResponseVerificationError, match="content-digest"):
        client.pseudonymise(bsn=BSNS[0])

    fake.tamper = None
    stranger = make_client("org-a-1", fake.add_key("org-a-1", "org-a"),
                           broker_public_key=SigningKey.generate().verify_key.encode())
    with pytest.raises(ResponseVerificationError, match="signature-invalid"):
        stranger.pseudonymise(bsn=BSNS[0])


def test_a_response_to_another_request_is_refused(fake: FakeBroker, client: BrokerClient) -> None:
    """A validly signed response replayed onto another request fails the request binding."""
    client.pseudonymise(bsn=BSNS[0])
    recorded: list[httpx.Response] = []

    def record(response: httpx.Response) -> httpx.Response:
        recorded.append(response)
        return recorded[0]

    fake.tamper = record
    client.pseudonymise(bsn=BSNS[0])
    with pytest.raises(ResponseVerificationError, match="signature-invalid"):
        client.pseudonymise(bsn=BSNS[0])


def test_problem_responses_become_broker_api_errors(
    fake: FakeBroker, client: BrokerClient
) -> None:
    fake.professionals = {"known"}
    with pytest.raises(BrokerAPIError) as caught:
        client.register(professional="unknown", purpose="protection", bsn=BSNS[0])
    error = caught.value
    assert (error.status, error.code) == (422, "validation")
    assert error.type == "urn:broker:problem:validation"
    assert error.errors == {"involvements.0.professional": ["Unknown professional."]}
    assert "123456782" not in str(error)

    with pytest.raises(BrokerAPIError) as missing:
        client.get_involvement("00000000-0000-4000-8000-000000000000")
    assert missing.value.status == 404
    with pytest.raises(BrokerAPIError) as basis:
        client.lookup(purpose="protection", basis="legal_task", bsn=BSNS[0])
    assert basis.value.errors == {"statute": ["Required for this basis."]}


def test_an_unknown_key_is_a_signature_problem(fake: FakeBroker, make_client: MakeClient) -> None:
    unknown = make_client("org-x-1", SigningKey.generate())
    with pytest.raises(BrokerAPIError) as caught:
        unknown.pseudonymise(bsn=BSNS[0])
    assert (caught.value.status, caught.value.code) == (401, "signature-key-unknown")


def test_no_response_may_lack_the_request_binding(fake: FakeBroker, client: BrokerClient) -> None:
    """A signed refusal without the binding could be an old refusal replayed: refused too."""

    def unbind(response: httpx.Response) -> httpx.Response:
        content = response.content
        headers = {"Content-Type": response.headers["content-type"]}
        headers |= sign_response(status=response.status_code, headers=headers,
                                 key_id="broker-api-1", private_key=fake.broker_key,
                                 body=content)
        return httpx.Response(response.status_code, headers=headers, content=content)

    fake.tamper = unbind
    with pytest.raises(ResponseVerificationError, match="signature-component-missing"):
        client.pseudonymise(bsn=BSNS[0])
    with pytest.raises(ResponseVerificationError, match=r"\(404\).*signature-component-missing"):
        client.get_involvement("00000000-0000-4000-8000-000000000000")
    fake.tamper = None
    with pytest.raises(BrokerAPIError) as caught:
        client.get_involvement("00000000-0000-4000-8000-000000000000")
    assert caught.value.status == 404


def test_a_bad_identifier_is_refused_locally_without_its_value(
    fake: FakeBroker, client: BrokerClient
) -> None:
    with pytest.raises(IdentifierError) as caught:
        client.register(professional="p", purpose="protection", bsn="123456789")
    assert caught.value.code == "bsn.checksum"
    assert "123456789" not in str(caught.value)
    with pytest.raises(IdentifierError) as in_batch:
        client.register_many([NewRegistration("p", "protection", bsn=BSNS[0]),
                              NewRegistration("p", "protection", address="0123 AB 1")])
    assert in_batch.value.__notes__ == ["in registration 1"]
    assert "0123" not in str(in_batch.value)
    assert "123456782" not in repr(NewRegistration("p", "x", bsn=BSNS[0]))
    assert fake.received == []


def test_a_lost_response_is_retried_with_the_same_idempotency_key_and_a_fresh_signature(
    fake: FakeBroker, client: BrokerClient
) -> None:
    fake.lose_responses, fake.lose_path = 1, "/v1/involvements"
    involvement = client.register(professional="p", purpose="protection", bsn=BSNS[0])
    posts = fake.requests_to("POST", "/v1/involvements")
    assert len(posts) == 2
    first, second = posts
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
    assert first.body == second.body
    assert nonce(first.headers) != nonce(second.headers)
    assert first.headers["signature"] != second.headers["signature"]
    assert [i["id"] for i in fake.active()] == [involvement["id"]]


def test_each_call_has_its_own_idempotency_key(fake: FakeBroker, client: BrokerClient) -> None:
    client.register(professional="p", purpose="protection", bsn=BSNS[0])
    client.register(professional="p", purpose="protection", bsn=BSNS[0])
    keys = {r.headers["idempotency-key"] for r in fake.requests_to("POST", "/v1/")}
    assert len(keys) == 4
    assert len(fake.active()) == 2


def test_unavailable_answers_are_retried_then_reported(
    fake: FakeBroker, make_client: MakeClient, org_key: SigningKey
) -> None:
    client = make_client("org-a-1", org_key, retries=2)
    fake.unavailable = 2
    assert len(client.pseudonymise(bsn=BSNS[0])) == 1
    assert len(fake.received) == 3

    fake.lose_responses = 3
    with pytest.raises(BrokerUnavailableError, match="3 attempt"):
        client.pseudonymise(bsn=BSNS[0])

    fake.unavailable, fake.unavailable_status = 3, 502
    with pytest.raises(ResponseVerificationError, match="502"):  # a proxy's unsigned page
        client.pseudonymise(bsn=BSNS[0])


def test_end_counts_an_already_ended_involvement_as_done_only_after_a_retry(
    fake: FakeBroker, client: BrokerClient
) -> None:
    involvement = client.register(professional="p", purpose="protection", bsn=BSNS[0])
    fake.lose_responses = 1
    assert client.end(involvement["id"])["state"] == "ended"
    with pytest.raises(BrokerAPIError) as caught:
        client.end(involvement["id"])
    assert caught.value.status == 409


def test_register_many_chunks_requests_and_evaluations(
    fake: FakeBroker, client: BrokerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module, "MAX_REGISTER", 2)
    monkeypatch.setattr(client_module, "MAX_EVALUATE", 3)
    items = [NewRegistration("p", "protection", bsn=BSNS[i % 2], address=ADDRESS)
             for i in range(5)]
    involvements = client.register_many(items)
    assert len(involvements) == 5
    assert len({i["id"] for i in involvements}) == 5
    assert len(fake.requests_to("POST", "/v1/involvements")) == 3
    # Each chunk has at most 3 distinct identifiers: one evaluation call per chunk.
    assert len(fake.requests_to("POST", "/v1/pseudonyms/evaluate")) == 3
    assert_nothing_raw_received(fake)


def test_lookup_can_register_the_asker_first(fake: FakeBroker, client: BrokerClient) -> None:
    result = client.lookup(purpose="protection", basis="vital_interest",
                           justification="acute danger", bsn=BSNS, register_as="p",
                           register_ends_on=date(2026, 6, 1))
    assert result["flagged_for_review"] is True
    assert [(i["professional"], i["ends_on"]) for i in fake.active("org-a")] == [
        ("p", "2026-06-01")]
    body = json.loads(fake.requests_to("POST", "/v1/lookups")[0].body)
    assert body["register"] == {"professional": "p", "ends_on": "2026-06-01"}
    assert set(body) == {"matching_keys", "purpose", "basis", "justification", "register"}


def test_involvement_ids_are_checked_before_they_reach_a_url(client: BrokerClient) -> None:
    with pytest.raises(ValueError, match="UUID"):
        client.get_involvement("../lookups")


def test_a_path_prefix_in_the_base_url_is_kept(fake: FakeBroker, org_key: SigningKey) -> None:
    with BrokerClient("https://broker.example/", "org-a-1", bytes(org_key),
                      broker_public_key=fake.broker_key.verify_key.encode(),
                      transport=fake.transport()) as client:
        client.pseudonymise(bsn=BSNS[0])
    assert fake.received[0].url == "https://broker.example/v1/pseudonyms/evaluate"


def test_a_rate_limit_with_a_short_retry_after_is_waited_out(
    fake: FakeBroker, client: BrokerClient
) -> None:
    fake.unavailable, fake.unavailable_status = 1, 429
    fake.unavailable_headers = {"Retry-After": "0"}
    assert len(client.pseudonymise(bsn=BSNS[0])) == 1
    assert len(fake.received) == 2

    fake.unavailable, fake.unavailable_headers = 1, {"Retry-After": "3600"}
    with pytest.raises(ResponseVerificationError, match="429"):  # not waited for; unsigned
        client.pseudonymise(bsn=BSNS[0])
    assert len(fake.received) == 3


def test_without_the_broker_key_the_client_refuses_unless_told_it_is_a_test(
    fake: FakeBroker, make_client: MakeClient, org_key: SigningKey
) -> None:
    with pytest.raises(ValueError, match="broker_public_key"):
        make_client("org-a-1", org_key, broker_public_key=None)
    client = make_client("org-a-1", org_key, broker_public_key=None,
                         insecure_skip_verification=True)
    fake.sign_responses = False
    assert len(client.pseudonymise(bsn=BSNS[0])) == 1
