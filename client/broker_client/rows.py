"""Reading a case system's CSV export of involvements for ``broker-client sync``.

The format (UTF-8, a byte-order mark allowed; comma-separated; a header row; column order free;
header names case-insensitive; other columns ignored):

=============  ========================================================================
external_id    required: the case system's own id of the involvement (unique in the file)
professional   required: the contact professional's username at the broker
purpose        required: the purpose code
ends_on        optional: YYYY-MM-DD; empty means the policy's default period
status         optional: ``active`` (the default when empty) or ``ended``
end_reason     optional: the reason code used when a row ends (default ``concern_resolved``)
bsn            BSNs; several separated by ``|``
address        addresses ("1234 AB 12 A"); several separated by ``|``
person         persons without a BSN ("van der Vries;J;1980-02-03"); several separated by ``|``
=============  ========================================================================

An active row needs at least one identifier. Rules this module guarantees:

- Identifiers are validated with the broker's own code (:mod:`broker_primitives.identifiers`).
- A bad row never stops the run: it becomes a :class:`RowFailure` naming its row number (the
  header is row 1, as in a spreadsheet) and external id, and saying what is wrong **without the
  value** (identifier messages are the fixed texts of
  :class:`~broker_primitives.identifiers.IdentifierError`).
- Rows sharing an external id are all refused: which one is meant cannot be known.
- Only a missing required column or an unreadable file stops the run (:class:`SyncError`).
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal

from broker_primitives.identifiers import (
    Identifier,
    IdentifierError,
    parse_address,
    parse_bsn,
    parse_person,
)

Status = Literal["active", "ended"]
REQUIRED_COLUMNS = ("external_id", "professional", "purpose")
IDENTIFIER_COLUMNS: dict[str, Callable[[str], Identifier]] = {
    "bsn": parse_bsn,
    "address": parse_address,
    "person": parse_person,
}
SEPARATOR = "|"
MAX_EXTERNAL_ID = 200
_CODE = re.compile(r"[a-z0-9][a-z0-9_-]{1,63}")


class SyncError(Exception):
    """The sync cannot run at all (unreadable CSV, missing column, unusable state file)."""


@dataclass(frozen=True)
class RowFailure:
    """A row that could not be synced, and why; never contains an identifier."""

    row: int
    external_id: str
    message: str

    def __str__(self) -> str:
        """``row N (external_id X): message``."""
        return f"row {self.row} (external_id {self.external_id or '-'}): {self.message}"


@dataclass(frozen=True)
class SyncRow:
    """One valid row; its identifiers are parsed, canonical and kept out of ``repr``."""

    row: int
    external_id: str
    professional: str
    purpose: str
    ends_on: date | None
    status: Status
    end_reason: str | None
    identifiers: tuple[Identifier, ...] = field(repr=False)


class _RowError(Exception):
    """One problem with one row; the message is safe to show."""


def _parse(parse: Callable[[str], Identifier], value: str) -> Identifier | IdentifierError:
    try:
        return parse(value)
    except IdentifierError as exc:
        return exc


def _identifiers(record: dict[str, str]) -> tuple[Identifier, ...]:
    found: list[Identifier] = []
    for column, parse in IDENTIFIER_COLUMNS.items():
        values = [v.strip() for v in (record.get(column) or "").split(SEPARATOR) if v.strip()]
        for position, value in enumerate(values, start=1):
            parsed = _parse(parse, value)
            if isinstance(parsed, IdentifierError):
                which = column if len(values) == 1 else f"{column} value {position}"
                # The fixed message only, raised outside ``except``: no chained exception
                # carries the value either.
                raise _RowError(f"{which}: {parsed.message_en}")
            found.append(parsed)
    return tuple(found)


def _row(number: int, record: dict[str, str]) -> SyncRow:
    def text(name: str) -> str:
        return (record.get(name) or "").strip()

    external_id = text("external_id")
    if not external_id or len(external_id) > MAX_EXTERNAL_ID:
        raise _RowError(f"external_id must have 1 to {MAX_EXTERNAL_ID} characters")
    for name in ("professional", "purpose"):
        if not text(name):
            raise _RowError(f"{name} is empty")
    status = text("status").lower() or "active"
    if status not in ("active", "ended"):
        raise _RowError("status must be active or ended")
    ends_on = None
    if text("ends_on"):
        try:
            ends_on = date.fromisoformat(text("ends_on"))
        except ValueError:
            raise _RowError("ends_on must be a date written YYYY-MM-DD") from None
    end_reason = text("end_reason").lower() or None
    if end_reason is not None and _CODE.fullmatch(end_reason) is None:
        raise _RowError("end_reason must be a code of lower-case letters, digits, _ and -")
    identifiers = _identifiers(record)
    if status == "active" and not identifiers:
        raise _RowError("an active row needs at least one bsn, address or person")
    return SyncRow(number, external_id, text("professional"), text("purpose"), ends_on,
                   "ended" if status == "ended" else "active", end_reason, identifiers)


def read_rows(path: Path) -> tuple[list[SyncRow], list[RowFailure]]:
    """Read and validate every row of the CSV file at ``path``.

    Returns the valid rows in file order and a failure per invalid row.

    Raises:
        SyncError: the file cannot be read as CSV or lacks a required column.
    """
    rows: list[SyncRow] = []
    failures: list[RowFailure] = []
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            header = [name.strip().lower() for name in reader.fieldnames or []]
            missing = [name for name in REQUIRED_COLUMNS if name not in header]
            if missing or not set(IDENTIFIER_COLUMNS) & set(header):
                raise SyncError(
                    f"{path}: the header row must name the columns "
                    f"{', '.join(REQUIRED_COLUMNS)} and at least one of bsn, address, person"
                )
            reader.fieldnames = header
            for number, record in enumerate(reader, start=2):
                try:
                    rows.append(_row(number, record))
                except _RowError as exc:
                    failures.append(RowFailure(number, (record.get("external_id") or "").strip()[
                        :MAX_EXTERNAL_ID], str(exc)))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        # csv and codec errors name a position, not the content.
        raise SyncError(f"{path}: cannot read the CSV file ({type(exc).__name__})") from None
    counts = Counter(row.external_id for row in rows)
    duplicated = {external_id for external_id, n in counts.items() if n > 1}
    failures += [
        RowFailure(row.row, row.external_id, "the external_id occurs in more than one row")
        for row in rows
        if row.external_id in duplicated
    ]
    failures.sort(key=lambda failure: failure.row)
    return [row for row in rows if row.external_id not in duplicated], failures
