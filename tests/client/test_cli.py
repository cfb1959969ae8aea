"""The broker-client command: keygen, lookup and sync against the fake broker."""

from __future__ import annotations

import csv
import json
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from broker_client import BrokerClient
from broker_client.cli import CliContext, main
from click.testing import CliRunner, Result
from nacl.signing import SigningKey

from tests.client.conftest import BASE_URL, BSNS, valid_bsns
from tests.client.fake_broker import FakeBroker, SimulatedCrash

COLUMNS = ["external_id", "professional", "purpose", "ends_on", "status", "bsn", "address",
           "person"]
FAMILY_NAMES = ["Jansen", "de Boer", "Visser", "Smit", "Bakker", "Meijer", "Mulder"]


@dataclass
class Env:
    """A key file and the options that point the command at the fake broker."""

    fake: FakeBroker
    key_file: Path
    key_id: str = "org-a-1"

    def invoke(self, *args: str, key_file: Path | None = None) -> Result:
        options = ["--url", BASE_URL, "--key-id", self.key_id,
                   "--key-file", str(key_file or self.key_file),
                   "--broker-public-key", self.fake.public_key_hex]
        return CliRunner().invoke(main, [*options, *args],
                                  obj=CliContext(transport=self.fake.transport(), backoff=0.0))


def write_key(path: Path, key: SigningKey) -> Path:
    path.write_text(key.encode().hex() + "\n")
    return path


@pytest.fixture
def env(fake: FakeBroker, org_key: SigningKey, tmp_path: Path) -> Env:
    return Env(fake, write_key(tmp_path / "org.key", org_key))


def make_rows(count: int) -> list[dict[str, str]]:
    """Synthetic, valid rows: one or two BSNs, an address, sometimes a person without BSN."""
    bsns = valid_bsns(2 * count)
    rows = []
    for i in range(count):
        rows.append({
            "external_id": f"C-{i:04d}",
            "professional": f"prof-{i % 3}",
            "purpose": "protection" if i % 2 else "safety_assessment",
            "ends_on": f"2026-{(i % 9) + 4:02d}-15" if i % 4 else "",
            "status": "active",
            "bsn": bsns[2 * i] + ("|" + bsns[2 * i + 1] if i % 3 == 0 else ""),
            "address": f"{1000 + i} AB {i + 1}",
            "person": f"{FAMILY_NAMES[i % 7]};K;{1980 + i % 30}-0{1 + i % 9}-1{i % 9}"
            if i % 5 == 0 else "",
        })
    return rows


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def raw_values(rows: list[dict[str, str]]) -> set[str]:
    """Every raw identifier in the rows, in the forms that must never leave the client."""
    values: set[str] = set()
    for row in rows:
        values.update(v for v in row["bsn"].split("|") if v)
        postcode = row["address"][:7]
        values.update({row["address"], postcode.replace(" ", "")})
        if row["person"]:
            values.add(row["person"].split(";")[0])
    return values


def state_of(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def assert_synced(fake: FakeBroker, state_file: Path, rows: list[dict[str, str]]) -> None:
    """The broker holds exactly one involvement per registered row, matching the state."""
    entries = state_of(state_file)["involvements"]
    active_rows = {r["external_id"]: r for r in rows if r["status"] == "active"}
    active = {e["involvement_id"]: k for k, e in entries.items() if e["status"] == "active"}
    assert set(active.values()) == set(active_rows)
    assert {i["id"] for i in fake.active("org-a")} == set(active)
    for involvement in fake.active("org-a"):
        row = active_rows[active[involvement["id"]]]
        assert involvement["professional"] == row["professional"]
        assert involvement["purpose"] == row["purpose"]
        if row["ends_on"]:
            assert involvement["ends_on"] == row["ends_on"]


# --- keygen ---------------------------------------------------------------------------------


def test_keygen_writes_a_private_key_0600_and_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "org.key"
    result = CliRunner().invoke(main, ["--key-id", "org-a-2", "keygen", "--out", str(out),
                                       "--org", "org-a"])
    assert result.exit_code == 0, result.output
    public_hex = (tmp_path / "org.key.pub").read_text().strip()
    assert SigningKey(bytes.fromhex(out.read_text().strip())).verify_key.encode().hex() == (
        public_hex)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "org.key.pub").stat().st_mode) == 0o644
    assert (f"broker org key add --org org-a --key-id org-a-2 --public-key {public_hex}"
            in result.stdout)
    assert out.read_text().strip() not in result.output

    before = out.read_text()
    again = CliRunner().invoke(main, ["keygen", "--out", str(out)])
    assert again.exit_code == 1
    assert "refusing to overwrite" in again.output
    assert out.read_text() == before


# --- lookup ---------------------------------------------------------------------------------


def test_lookup_prints_matches_and_never_sends_the_bsn(env: Env) -> None:
    other = BrokerClient(BASE_URL, "org-b-1", env.fake.add_key("org-b-1", "org-b"),
                         broker_public_key=env.fake.public_key_hex,
                         transport=env.fake.transport())
    registered = other.register(professional="p", purpose="protection", bsn=BSNS[0])
    result = env.invoke("lookup", "--bsn", BSNS[0], "--bsn", BSNS[1], "--purpose", "protection",
                        "--basis", "legal_task", "--statute", "jeugdwet_7_1_1")
    assert result.exit_code == 0, result.output
    assert "1 match(es)" in result.stdout
    assert f"org-b: matched on person; contact approval; match {registered['id']}" in (
        result.stdout)
    as_json = env.invoke("lookup", "--bsn", BSNS[0], "--purpose", "protection", "--basis",
                         "consent", "--consent-reference", "C-9", "--json")
    assert json.loads(as_json.stdout)["matches"][0]["organisation"] == "org-b"
    for request in env.fake.received:
        assert BSNS[0] not in request.text()
        assert BSNS[1] not in request.text()


def test_lookup_reports_a_bad_identifier_without_its_value(env: Env) -> None:
    result = env.invoke("lookup", "--bsn", "123456789", "--purpose", "p", "--basis",
                        "legal_task", "--statute", "x")
    assert result.exit_code == 1
    assert "eleven-test" in result.output
    assert "123456789" not in result.output
    assert env.fake.received == []


def test_lookup_without_settings_says_what_to_set(fake: FakeBroker) -> None:
    result = CliRunner().invoke(main, ["lookup", "--bsn", BSNS[0], "--purpose", "p",
                                       "--basis", "consent"], env={"BROKER_KEY_FILE": ""})
    assert result.exit_code == 1
    assert "BROKER_KEY_FILE" in result.output


# --- sync -----------------------------------------------------------------------------------


def test_sync_registers_every_row_then_changes_nothing(env: Env, tmp_path: Path) -> None:
    rows = make_rows(50)
    path = write_csv(tmp_path / "involvements.csv", rows)
    first = env.invoke("sync", str(path), "--batch-size", "20")
    assert first.exit_code == 0, first.output
    assert "registered 50, renewed 0, ended 0, unchanged 0, failed 0" in first.stdout
    state_file = tmp_path / "involvements.csv.state.json"
    assert_synced(env.fake, state_file, rows)
    assert len(env.fake.involvements) == 50
    assert len(env.fake.requests_to("POST", "/v1/involvements")) == 3

    # Nothing raw reached the broker or the state file.
    raw = raw_values(rows)
    state_text = state_file.read_text()
    for request in env.fake.received:
        seen = request.text()
        assert not [value for value in raw if value in seen]
    assert not [value for value in raw if value in state_text]
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600

    requests = len(env.fake.received)
    second = env.invoke("sync", str(path))
    assert second.exit_code == 0, second.output
    assert "registered 0, renewed 0, ended 0, unchanged 50, failed 0" in second.stdout
    assert "0 changes" in second.stdout
    assert len(env.fake.received) == requests
    assert state_file.read_text() == state_text


def test_sync_renews_ends_replaces_and_changes_contact(env: Env, tmp_path: Path) -> None:
    rows = make_rows(12)
    path = write_csv(tmp_path / "export.csv", rows)
    assert env.invoke("sync", str(path)).exit_code == 0
    state_file = tmp_path / "export.csv.state.json"
    before = state_of(state_file)["involvements"]

    rows[1]["ends_on"] = "2026-12-31"                 # renew
    rows[2]["status"] = "ended"                       # end
    rows[3]["address"] = "9999 ZZ 1"                  # identifiers changed: replace
    rows[5]["professional"] = "prof-new"              # contact changed
    rows[6]["ends_on"] = ""                           # no end date given: keep the current one
    write_csv(path, rows)
    result = env.invoke("sync", str(path))
    assert result.exit_code == 0, result.output
    assert ("registered 1, renewed 1, ended 1, unchanged 8, failed 0, contact changed 1"
            in result.stdout)
    assert_synced(env.fake, state_file, rows)
    after = state_of(state_file)["involvements"]
    assert env.fake.involvements[before["C-0002"]["involvement_id"]].data["end_reason"] == (
        "concern_resolved")
    replaced = env.fake.involvements[before["C-0003"]["involvement_id"]].data
    assert (replaced["state"], replaced["end_reason"]) == ("ended", "superseded")
    assert after["C-0003"]["involvement_id"] != before["C-0003"]["involvement_id"]
    assert after["C-0001"]["involvement_id"] == before["C-0001"]["involvement_id"]

    again = env.invoke("sync", str(path))
    assert "registered 0, renewed 0, ended 0, unchanged 12, failed 0" in again.stdout

    rows[2]["status"] = "active"                      # the case re-opens: a new involvement
    write_csv(path, rows)
    reopened = env.invoke("sync", str(path))
    assert "registered 1, renewed 0, ended 0, unchanged 11, failed 0" in reopened.stdout
    assert_synced(env.fake, state_file, rows)


def test_sync_reports_a_bad_row_by_number_and_id_without_its_value(
    env: Env, tmp_path: Path
) -> None:
    rows = make_rows(6)
    rows[3]["bsn"] = rows[3]["bsn"].split("|")[0] + "|123456789"
    rows[4]["person"] = "Vries;J;2999-01-01"
    path = write_csv(tmp_path / "export.csv", rows)
    result = env.invoke("sync", str(path))
    assert result.exit_code == 1
    assert "registered 4, renewed 0, ended 0, unchanged 0, failed 2" in result.stdout
    assert "row 5 (external_id C-0003): bsn value 2: The BSN fails the eleven-test" in (
        result.stderr)
    assert "row 6 (external_id C-0004): person: The date of birth is in the future" in (
        result.stderr)
    assert "123456789" not in result.output
    assert "Vries" not in result.output
    assert "2999" not in result.output


def test_a_batch_refused_as_a_whole_is_retried_row_by_row(env: Env, tmp_path: Path) -> None:
    rows = make_rows(6)
    env.fake.professionals = {"prof-0", "prof-1"}  # prof-2 (rows 2 and 5) is unknown
    path = write_csv(tmp_path / "export.csv", rows)
    result = env.invoke("sync", str(path))
    assert result.exit_code == 1
    assert "registered 4, renewed 0, ended 0, unchanged 0, failed 2" in result.stdout
    assert "row 4 (external_id C-0002): the broker refused it (422 validation)" in result.stderr
    assert "involvements.0.professional: Unknown professional." in result.stderr

    env.fake.professionals = None  # the operator adds the professional; a rerun catches up
    rerun = env.invoke("sync", str(path))
    assert "registered 2, renewed 0, ended 0, unchanged 4, failed 0" in rerun.stdout
    assert len(env.fake.involvements) == 6


@pytest.mark.parametrize("crash_after", [1, 2, 3, 4, 7, 10])
def test_an_interrupted_sync_resumes_without_duplicates(
    env: Env, tmp_path: Path, crash_after: int
) -> None:
    """Batches of 10: each is one evaluation and one registration. Crashing right after
    request 2 means the broker registered the first batch but the state never heard of it."""
    rows = make_rows(50)
    path = write_csv(tmp_path / "export.csv", rows)
    env.fake.crash_after = crash_after
    crashed = env.invoke("sync", str(path), "--batch-size", "10")
    assert isinstance(crashed.exception, SimulatedCrash)
    env.fake.crash_after = None

    resumed = env.invoke("sync", str(path), "--batch-size", "10")
    assert resumed.exit_code == 0, resumed.output
    assert len(env.fake.involvements) == 50
    assert_synced(env.fake, tmp_path / "export.csv.state.json", rows)
    assert "unchanged 50" in env.invoke("sync", str(path)).stdout


@pytest.mark.parametrize("crash_after", [5, 12, 17, 24])
def test_an_interrupted_update_run_resumes_to_the_same_state(
    env: Env, tmp_path: Path, crash_after: int
) -> None:
    """Each batch of 10 is 10 PATCHes (4 ends, 3 renewals, 3 ends of replaced rows), one
    evaluation and one registration: requests 12 and 24 are registrations."""
    rows = make_rows(30)
    path = write_csv(tmp_path / "export.csv", rows)
    assert env.invoke("sync", str(path), "--batch-size", "10").exit_code == 0
    for i in range(0, 30, 3):
        rows[i]["status"] = "ended"
        rows[i + 1]["ends_on"] = "2026-11-30"
        rows[i + 2]["bsn"] = valid_bsns(1, start=50_000_000 + i)[0]
    write_csv(path, rows)
    env.fake.crash_after = env.fake.handled + crash_after
    crashed = env.invoke("sync", str(path), "--batch-size", "10")
    assert isinstance(crashed.exception, SimulatedCrash)
    env.fake.crash_after = None
    resumed = env.invoke("sync", str(path), "--batch-size", "10")
    assert resumed.exit_code == 0, resumed.output
    assert_synced(env.fake, tmp_path / "export.csv.state.json", rows)
    assert len(env.fake.involvements) == 40  # 30, plus one replacement for each of 10 rows


def test_a_state_file_of_another_key_is_refused_unless_rekeyed(
    env: Env, tmp_path: Path
) -> None:
    rows = make_rows(5)
    path = write_csv(tmp_path / "export.csv", rows)
    assert env.invoke("sync", str(path)).exit_code == 0
    new_key = write_key(tmp_path / "new.key", env.fake.add_key("org-a-2", "org-a"))
    env.key_id = "org-a-2"
    refused = env.invoke("sync", str(path), key_file=new_key)
    assert refused.exit_code == 1
    assert "--rekey" in refused.output
    rekeyed = env.invoke("sync", str(path), "--rekey", key_file=new_key)
    assert "registered 0, renewed 0, ended 0, unchanged 5, failed 0" in rekeyed.stdout
    assert "unchanged 5" in env.invoke("sync", str(path), key_file=new_key).stdout


def test_a_csv_without_the_required_columns_stops_with_a_message(
    env: Env, tmp_path: Path
) -> None:
    path = tmp_path / "export.csv"
    path.write_text("id,bsn\n1,123456782\n")
    result = env.invoke("sync", str(path))
    assert result.exit_code == 1
    assert "external_id" in result.output
    assert "123456782" not in result.output


def test_sync_stops_on_an_unverifiable_answer_and_resumes_later(
    env: Env, tmp_path: Path
) -> None:
    rows = make_rows(20)
    path = write_csv(tmp_path / "export.csv", rows)
    state_file = tmp_path / "custom-state.json"
    env.fake.crash_after = 2  # the first batch is registered, its answer is lost
    env.invoke("sync", str(path), "--batch-size", "10", "--state", str(state_file))
    env.fake.crash_after = None
    env.fake.unavailable = 4  # then a proxy answers 503 (unsigned) to every attempt
    stopped = env.invoke("sync", str(path), "--batch-size", "10", "--state", str(state_file))
    assert stopped.exit_code == 1
    assert "Sync stopped" in stopped.output
    assert "run sync again to resume" in stopped.output

    resumed = env.invoke("sync", str(path), "--batch-size", "10", "--state", str(state_file))
    assert "registered 20, renewed 0, ended 0, unchanged 0, failed 0" in resumed.stdout
    assert len(env.fake.involvements) == 20
    assert_synced(env.fake, state_file, rows)
