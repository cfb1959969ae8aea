"""Reading the sync CSV and the sync state file."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from broker_client.rows import SyncError, read_rows
from broker_client.state import SyncState, fingerprint, fingerprint_key, key_check
from nacl.signing import SigningKey


def write(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "export.csv"
    path.write_text(text, encoding=encoding)
    return path


def test_columns_are_found_by_name_in_any_order_and_case(tmp_path: Path) -> None:
    path = write(tmp_path, "Person,BSN,Purpose,Professional,External_ID,Extra\n"
                           '"Vries, van der;J;1980-02-03",123456782|111222333,protection,p,X1,'
                           "ignored\n", encoding="utf-8-sig")
    rows, failures = read_rows(path)
    assert failures == []
    [row] = rows
    assert (row.row, row.external_id, row.status, row.ends_on) == (2, "X1", "active", None)
    assert [i.kind for i in row.identifiers] == ["bsn", "bsn", "person"]
    assert "123456782" not in repr(row)


def test_invalid_rows_are_reported_without_their_values(tmp_path: Path) -> None:
    path = write(tmp_path, "external_id,professional,purpose,ends_on,status,bsn,address\n"
                           "A,p,x,2026-13-01,active,123456782,\n"
                           "B,p,x,,paused,123456782,\n"
                           "C,p,x,,active,,\n"
                           "D,p,x,,active,,0999 AB 1\n"
                           "E,,x,,active,123456782,\n"
                           "F,p,x,,ended,,\n"
                           "G,p,x,,active,123456782,\n"
                           "G,p,x,,active,111222333,\n")
    rows, failures = read_rows(path)
    assert [row.external_id for row in rows] == ["F"]
    assert [str(f) for f in failures] == [
        "row 2 (external_id A): ends_on must be a date written YYYY-MM-DD",
        "row 3 (external_id B): status must be active or ended",
        "row 4 (external_id C): an active row needs at least one bsn, address or person",
        "row 5 (external_id D): address: A postcode does not start with 0 (its digits run from "
        "1000 to 9999); check the postcode.",
        "row 6 (external_id E): professional is empty",
        "row 8 (external_id G): the external_id occurs in more than one row",
        "row 9 (external_id G): the external_id occurs in more than one row",
    ]


def test_a_file_without_required_columns_or_not_text_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SyncError, match="external_id"):
        read_rows(write(tmp_path, "professional,purpose,bsn\n"))
    (tmp_path / "binary.csv").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(SyncError, match="cannot read"):
        read_rows(tmp_path / "binary.csv")


def test_the_state_file_holds_keyed_fingerprints_and_is_checked(tmp_path: Path) -> None:
    key = fingerprint_key(SigningKey.generate())
    path = write(tmp_path, "external_id,professional,purpose,bsn\nX,p,x,123456782\n")
    [row], _ = read_rows(path)
    other_key = fingerprint_key(SigningKey.generate())
    assert fingerprint(key, row) != fingerprint(other_key, row)
    assert len(fingerprint(key, row)) == 64

    state_path = tmp_path / "state.json"
    assert SyncState.load(state_path, key_check(key)).entries == {}
    state_path.write_text(json.dumps({"version": 1, "fingerprint_key": key_check(key),
                                      "involvements": {"X": {"status": "active"}}}))
    with pytest.raises(SyncError, match="damaged"):
        SyncState.load(state_path, key_check(key))
    state_path.write_text("{}")
    with pytest.raises(SyncError, match="version 1"):
        SyncState.load(state_path, key_check(key))


def test_dates_are_parsed(tmp_path: Path) -> None:
    path = write(tmp_path, "external_id,professional,purpose,ends_on,status,end_reason,address\n"
                           "X,p,x,2026-05-01,ENDED,moved_away,1011 AB 1\n")
    [row], _ = read_rows(path)
    assert (row.ends_on, row.status, row.end_reason) == (date(2026, 5, 1), "ended", "moved_away")
