"""The witness (c2sp.org/tlog-witness) through its HTTP door: what it co-signs, what it refuses."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from nacl.signing import SigningKey

from broker.audit.notes import CosignerKey, NoteKey, split_note
from broker.witness.app import create_witness_app
from broker.witness.service import WitnessService
from broker.witness.store import WitnessStore
from tests.witness.helpers import ToyLog

NOW = 1_796_000_000


@pytest.fixture
def log() -> ToyLog:
    toy = ToyLog()
    toy.append(10)
    return toy


@pytest.fixture
def service(tmp_path: Path, log: ToyLog) -> Iterator[WitnessService]:
    signing = SigningKey.generate()
    key = CosignerKey("witness.example/w1", signing.verify_key, signing)
    store = WitnessStore(tmp_path / "witness" / "witness.db")
    public = NoteKey(log.key.name, log.key.verify_key)  # the witness has the public half only
    yield WitnessService(key, [public], store, clock=lambda: NOW)
    store.close()


@pytest.fixture
def client(service: WitnessService) -> FlaskClient:
    return create_witness_app(service).test_client()


def _add(client: FlaskClient, body: bytes, lang: str = "en"):  # type: ignore[no-untyped-def]
    return client.post("/add-checkpoint", data=body, headers={"Accept-Language": lang})


def test_the_first_checkpoint_is_cosigned_and_kept(client: FlaskClient, log: ToyLog,
                                                   service: WitnessService) -> None:
    response = _add(client, log.request(0))
    assert response.status_code == 200
    line = response.get_data(as_text=True)
    witness = CosignerKey.from_verifier(service.key.verifier())  # as a client configures it
    text, found = witness.cosignatures(log.note() + line)
    assert text == split_note(log.note())[0]
    assert [moment for moment, _ in found] == [NOW]
    kept = client.get(f"/checkpoint/{log.key.name}")
    assert kept.status_code == 200
    assert kept.get_data(as_text=True) == log.note() + line


def test_a_later_checkpoint_is_cosigned_with_a_consistency_proof(client: FlaskClient,
                                                                 log: ToyLog) -> None:
    assert _add(client, log.request(0)).status_code == 200
    log.append(7)
    assert _add(client, log.request(10)).status_code == 200
    assert client.get(f"/checkpoint/{log.key.name}").get_data(as_text=True).startswith(
        log.note())


def test_a_stale_old_size_gets_409_with_the_size_held(client: FlaskClient, log: ToyLog) -> None:
    assert _add(client, log.request(0)).status_code == 200
    log.append(5)
    response = _add(client, log.request(3))
    assert response.status_code == 409
    assert response.headers["Content-Type"] == "text/x.tlog.size"
    assert response.get_data(as_text=True) == "10\n"
    smaller = _add(client, log.request(0, 5))  # a smaller tree after a larger one
    assert (smaller.status_code, smaller.get_data(as_text=True)) == (409, "10\n")


def test_a_forked_log_is_refused_and_kept_as_evidence(client: FlaskClient, log: ToyLog,
                                                      service: WitnessService) -> None:
    assert _add(client, log.request(0)).status_code == 200
    fork = ToyLog(seed=1)  # same origin and key, other leaves
    fork.key = log.key
    fork.append(12)
    forked = _add(client, fork.request(0, 12).replace(b"old 0\n", b"old 10\n", 1))
    assert forked.status_code == 422
    assert forked.json is not None and forked.json["type"] == "urn:broker:witness:inconsistent"
    same_size = _add(client, fork.request(10, 10).replace(b"old 10\n", b"old 10\n"))
    assert same_size.status_code == 409  # another root at the size it holds
    with service.store.transaction() as session:
        assert [reason for reason, _ in session.evidence(log.key.name)] == [
            "no consistency from size 10", "another root at the size co-signed"]
        latest = session.latest(log.key.name)
    assert latest is not None and latest.size == 10


def test_a_checkpoint_signed_by_another_key_is_refused(client: FlaskClient,
                                                       log: ToyLog) -> None:
    impostor = ToyLog(seed=7)  # same origin, another key
    impostor.leaves = list(log.leaves)
    response = _add(client, impostor.request(0))
    assert response.status_code == 403
    assert client.get(f"/checkpoint/{log.key.name}").status_code == 404


def test_an_unknown_log_is_404(client: FlaskClient) -> None:
    other = ToyLog("other.example/log")
    other.append(3)
    assert _add(client, other.request(0)).status_code == 404
    assert client.get("/checkpoint/other.example/log").status_code == 404


@pytest.mark.parametrize("body", [
    b"", b"old 0\n", b"old -1\n\n", b"old 01\n\n", b"new 0\n\n", b"\xff\xfe",
    b"old 0\nnot base64\n\n", b"old 0\n" + b"AAAA\n\n", b"old 0\n\x01\n\n",
])
def test_malformed_requests_get_400_in_both_languages(client: FlaskClient, log: ToyLog,
                                                      body: bytes) -> None:
    body += log.note().encode()
    english, dutch = _add(client, body), _add(client, body, "nl")
    assert english.status_code == 400 and dutch.status_code == 400
    assert english.json is not None and dutch.json is not None
    assert english.json["type"] == dutch.json["type"] == "urn:broker:witness:bad-request"
    assert english.json["detail"] != dutch.json["detail"]


def test_more_than_63_proof_lines_and_an_old_size_beyond_the_checkpoint(client: FlaskClient,
                                                                        log: ToyLog) -> None:
    lines = b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n" * 64
    assert _add(client, b"old 0\n" + lines + b"\n" + log.note().encode()).status_code == 400
    assert _add(client, log.request(0).replace(b"old 0\n", b"old 11\n")).status_code == 400


def test_a_body_over_64_kib_is_413(client: FlaskClient) -> None:
    assert _add(client, b"old 0\n\n" + b"x" * 70_000).status_code == 413


def test_two_requests_from_one_size_at_once_cosign_once(service: WitnessService,
                                                        log: ToyLog) -> None:
    """The check and the update are atomic: of two trees proved from size 0 at once, one is
    co-signed and the other gets 409 (never a rollback)."""
    assert service.add_checkpoint(log.request(0, 4)).status == 200
    log.append(3)
    barrier = threading.Barrier(2)
    answers: list[int] = []

    def submit(size: int) -> None:
        barrier.wait()
        answers.append(service.add_checkpoint(log.request(4, size)).status)

    threads = [threading.Thread(target=submit, args=(size,)) for size in (8, 13)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [200, 409]


def test_the_storage_is_the_owners_alone(service: WitnessService, log: ToyLog) -> None:
    assert service.add_checkpoint(log.request(0)).status == 200
    path = service.store.path
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        assert stat.S_IMODE(os.stat(name).st_mode) == 0o600, name
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
