"""``broker pseudonym-service init|client add|pair|counts`` (issue 15, item 1): quotas copied
from the policy, a bad client key refused with one line, pairing pins k's public half and the
service's key in the broker's keys (never k), counts per organisation per day."""

from __future__ import annotations

import json
from pathlib import Path

from broker_primitives import oprf
from click.testing import CliRunner
from nacl.signing import SigningKey

from broker.cli import main
from broker.clock import local_date, utcnow
from broker.pseudonym_service import home, rotation
from broker.pseudonym_service.service import Client
from broker.pseudonyms.interfaces import Requester
from broker.pseudonyms.keys import FileKeyStore

POLICIES = Path(__file__).resolve().parents[2] / "policies"


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """``broker --lang en …``: exit status and output."""
    result = CliRunner().invoke(main, ["--lang", "en", *args], env=env, catch_exceptions=False)
    return result.exit_code, result.output


def test_init_copies_the_policys_quotas_and_client_add_checks_the_key(tmp_path: Path) -> None:
    directory = tmp_path / "service"
    status, output = run("pseudonym-service", "init", "--dir", str(directory), "--from-policy",
                         str(POLICIES), "--quota-type", "operator=5000")
    assert status == 0 and "created oprf key k" in output
    config = json.loads((directory / "service.json").read_text())
    assert config["quota"]["default"] == 2000
    assert config["quota"]["per_organisation_type"]["school"] == 200
    assert config["quota"]["per_organisation_type"]["operator"] == 5000
    assert (directory / "keys" / "oprf" / "0001.key").stat().st_mode & 0o077 == 0
    status, output = run("pseudonym-service", "client", "add", "--dir", str(directory),
                         "--key-id", "x", "--public-key", "not-hex")
    assert status == 1 and "64 hex characters" in output
    key = bytes(SigningKey.generate().verify_key).hex()
    status, _ = run("pseudonym-service", "client", "add", "--dir", str(directory), "--key-id",
                    "school-1", "--public-key", key, "--organisation", "school-a",
                    "--organisation-type", "school")
    assert status == 0
    assert home.open_service(directory).clients["school-1"].requester == \
        Requester("school-a", "school")


def test_pair_pins_the_public_half_of_k_and_never_k(tmp_path: Path) -> None:
    directory, keys = tmp_path / "service", tmp_path / "broker-keys"
    home.initialise(directory)
    status, _ = run("pseudonym-service", "pair", "--dir", str(directory),
                    env={"BROKER_KEYS_DIR": str(keys), "BROKER_HOME": str(tmp_path)})
    assert status == 0
    assert [p.name for p in (keys / "oprf").iterdir()] == ["0001.pub"]
    assert bytes.fromhex((keys / "oprf" / "0001.pub").read_text()) == \
        home.public_keys(directory)[1]
    service = home.open_service(directory)
    assert service.clients["broker-1"].requester is None  # names the organisation per request


def test_counts_prints_granted_and_refused_per_organisation(tmp_path: Path) -> None:
    directory = tmp_path / "service"
    home.initialise(directory, per_type={"school": 1})
    service = home.open_service(directory)
    client = Client("k", SigningKey.generate().verify_key, Requester("school-a", "school"))
    service.evaluate(client, client.requester or Requester("", ""),
                     [oprf.blind(b"bsn|123456782")[1]])
    status, output = run("pseudonym-service", "counts", "--dir", str(directory))
    assert status == 0
    assert f"{local_date(utcnow()).isoformat()} school-a: 1 granted, 0 refused" in output


def test_counts_reads_the_database_the_service_serves_from(tmp_path: Path) -> None:
    directory, url = tmp_path / "service", f"sqlite:///{tmp_path / 'elsewhere.db'}"
    home.initialise(directory)
    service = home.open_service(directory, url)
    client = Client("k", SigningKey.generate().verify_key, Requester("wijkteam-a", "wijkteam"))
    service.evaluate(client, client.requester or Requester("", ""),
                     [oprf.blind(b"bsn|123456782")[1], oprf.blind(b"bsn|111222333")[1]])
    today = local_date(utcnow()).isoformat()
    status, output = run("pseudonym-service", "counts", "--dir", str(directory),
                         "--database-url", url)
    assert status == 0 and f"{today} wijkteam-a: 2 granted, 0 refused" in output
    status, output = run("pseudonym-service", "counts", "--dir", str(directory),
                         env={"BROKER_PSEUDONYM_SERVICE_DATABASE_URL": url})
    assert status == 0 and "wijkteam-a: 2 granted" in output
    status, output = run("pseudonym-service", "counts", "--dir", str(directory))
    assert status == 0 and "wijkteam-a" not in output  # service.db in DIR: another database


def test_pair_after_a_rotation_pins_the_factor_between_epochs_and_never_k(tmp_path: Path) -> None:
    directory, keys = tmp_path / "service", tmp_path / "broker-keys"
    home.initialise(directory)
    service = home.open_service(directory)
    broker = Client("broker-1", SigningKey.generate().verify_key, None)
    step = rotation.next_epoch(service, broker, 1)
    rotation.activate(service, broker, 2)
    status, _ = run("pseudonym-service", "pair", "--dir", str(directory),
                    env={"BROKER_KEYS_DIR": str(keys), "BROKER_HOME": str(tmp_path)})
    assert status == 0
    assert sorted(p.name for p in (keys / "oprf").iterdir()) == \
        ["0001.pub", "0002.delta", "0002.pub"]
    pinned = FileKeyStore(keys, oprf_public=True)
    assert pinned.current_epoch("oprf") == 2
    assert pinned.oprf_factor(1, 2) == step.factor
    assert oprf.scalar_mult(pinned.oprf_factor(2, 1), step.public_key) == \
        home.public_keys(directory)[1]
