"""``broker-client sync``: make the broker's involvements follow a case system's CSV export.

Per valid row (see :mod:`broker_client.rows`), against the local state
(:mod:`broker_client.state`):

========================================  =================================================
row                                       action
========================================  =================================================
active, unknown (or last seen ended)      register
active, identifiers or purpose changed    end the old involvement (``superseded``), register
active, ``ends_on`` given and changed     renew
active, professional changed              change the contact professional
ended, known and active                   end (``end_reason`` or ``concern_resolved``)
anything else                             nothing (unchanged)
========================================  =================================================

Rules this module guarantees:

- **Idempotent**: a second run over the same CSV sends no request and changes nothing.
- **Resumable**: rows are handled in batches of consecutive rows; the state file is written
  atomically after each batch and only then. A run killed at any point and restarted with the
  same CSV and batch size ends in the same state as an uninterrupted run, without duplicates:
  renewing is idempotent, ending what is already ended counts as done, and each registration
  request carries an ``Idempotency-Key`` derived from its exact body and from the state entries
  of its rows before the batch, so a batch the broker accepted before the kill is answered with
  the first result instead of being registered twice. (A later, genuine re-registration of the
  same content gets a new key, because those rows' state entries differ by then.)
- **A bad row is not fatal**: it is reported by row number and external id, without its values,
  and counted as failed. When a registration batch is refused as a whole (a 4xx problem), its rows
  are retried one by one so that only the bad ones fail. Authentication, quota (401, 403, 429)
  and server errors stop the run, with every completed batch saved.
- Each row is counted once, by its strongest action: registered, ended, renewed, contact
  changed, unchanged, or failed. A replaced row counts as registered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from broker_client.client import DEFAULT_END_REASON, MAX_REGISTER, BrokerClient
from broker_client.errors import BrokerAPIError
from broker_client.models import IdentifiedRegistration, Involvement
from broker_client.rows import RowFailure, SyncRow
from broker_client.state import StateEntry, SyncState, fingerprint

REPLACED_REASON = "superseded"
_KEY_CONTEXT = b"broker-client/sync-register/v1\n"
_FATAL_STATUSES = frozenset({401, 403, 429})


@dataclass
class SyncSummary:
    """What a run did, counted per row."""

    registered: int = 0
    renewed: int = 0
    ended: int = 0
    unchanged: int = 0
    failed: int = 0
    contact_changed: int = 0
    failures: list[RowFailure] = field(default_factory=list)

    def add(self, outcome: str) -> None:
        """Count one row under ``outcome`` (a field name)."""
        setattr(self, outcome, getattr(self, outcome) + 1)

    @property
    def changes(self) -> int:
        """Rows whose involvement changed at the broker."""
        return self.registered + self.renewed + self.ended + self.contact_changed

    def line(self) -> str:
        """``registered N, renewed N, ended N, unchanged N, failed N`` (and contact changes)."""
        text = (f"registered {self.registered}, renewed {self.renewed}, ended {self.ended}, "
                f"unchanged {self.unchanged}, failed {self.failed}")
        if self.contact_changed:
            text += f", contact changed {self.contact_changed}"
        return text


@dataclass
class _Step:
    """What to do for one row in this run."""

    row: SyncRow
    fingerprint: str
    end_old: bool = False
    register: bool = False
    renew: bool = False
    change_contact: bool = False

    def outcome(self) -> str:
        if self.register:
            return "registered"
        if self.end_old:
            return "ended"
        return "renewed" if self.renew else "contact_changed"


def idempotency_key(entries_digest: bytes, body: bytes) -> str:
    """The key of a registration request: SHA-256 of the rows' prior state and the body."""
    return "sync-" + hashlib.sha256(_KEY_CONTEXT + entries_digest + b"\n" + body).hexdigest()


def _problem(exc: BrokerAPIError) -> str:
    text = f"the broker refused it ({exc.status} {exc.code}): {exc.detail or exc.title}"
    fields = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in exc.errors.items())
    return f"{text} [{fields}]" if fields else text


def _fatal(exc: BrokerAPIError) -> bool:
    return exc.status in _FATAL_STATUSES or exc.status >= 500


class Syncer:
    """Runs one sync of parsed rows against a client and a state."""

    def __init__(self, client: BrokerClient, state: SyncState, key: bytes, *,
                 batch_size: int = 500,
                 report: Callable[[RowFailure], None] = lambda failure: None) -> None:
        """``key`` is the fingerprint key; ``report`` is told of each failed row as it fails."""
        if not 1 <= batch_size <= MAX_REGISTER:
            raise ValueError(f"the batch size must be between 1 and {MAX_REGISTER}")
        self.client = client
        self.state = state
        self.key = key
        self.batch_size = batch_size
        self.report = report
        self.summary = SyncSummary()

    def run(self, rows: Sequence[SyncRow], failures: Sequence[RowFailure] = (),
            progress: Callable[[int], None] = lambda done: None) -> SyncSummary:
        """Sync ``rows`` batch by batch; ``failures`` (rows that did not parse) are counted.

        Raises:
            BrokerClientError: a fatal problem; every batch completed before it is saved.
        """
        for failure in failures:
            self._fail(failure)
        if self.state.rekeyed:
            self._rekey(rows)
        for start in range(0, len(rows), self.batch_size):
            batch = rows[start : start + self.batch_size]
            if self._batch(batch) or not self.state.path.exists():
                self.state.save()
            progress(len(batch))
        return self.summary

    def _rekey(self, rows: Sequence[SyncRow]) -> None:
        """Take the rows' current fingerprints under the new key as those of the state."""
        for row in rows:
            entry = self.state.entries.get(row.external_id)
            if entry is not None:
                entry.fingerprint = fingerprint(self.key, row)
        self.state.rekeyed = False
        self.state.save()

    def _fail(self, failure: RowFailure) -> None:
        self.summary.failed += 1
        self.summary.failures.append(failure)
        self.report(failure)

    def _plan(self, row: SyncRow) -> _Step | None:
        step = _Step(row, fingerprint(self.key, row))
        entry = self.state.entries.get(row.external_id)
        known = entry is not None and entry.status == "active"
        if row.status == "ended":
            step.end_old = known
        elif entry is None or not known:
            step.register = True
        elif entry.fingerprint != step.fingerprint:
            step.end_old = step.register = True
        else:
            step.renew = row.ends_on is not None and row.ends_on.isoformat() != entry.ends_on
            step.change_contact = row.professional != entry.professional
        if step.end_old or step.register or step.renew or step.change_contact:
            return step
        self.summary.unchanged += 1
        return None

    def _batch(self, rows: Sequence[SyncRow]) -> bool:
        """Handle one batch; True when the state changed."""
        steps = [step for row in rows if (step := self._plan(row)) is not None]
        # Each row's state before this batch, taken before any action changes it: the run that
        # repeats this batch after a crash starts from exactly these entries.
        prior = {s.row.external_id: self.state.entries_digest([s.row.external_id]) for s in steps}
        to_register: list[_Step] = []
        for step in steps:
            try:
                if step.end_old:
                    self._end(step)
                if step.renew or step.change_contact:
                    self._update(step)
            except BrokerAPIError as exc:
                if _fatal(exc):
                    raise
                self._fail(RowFailure(step.row.row, step.row.external_id, _problem(exc)))
                continue
            if step.register:
                to_register.append(step)
            else:
                self.summary.add(step.outcome())
        if to_register:
            self._register(to_register, prior)
        return bool(steps)

    # -- actions -----------------------------------------------------------------------------

    def _end(self, step: _Step) -> None:
        """End the state's involvement for this row; one already ended or gone counts as done."""
        entry = self.state.entries[step.row.external_id]
        reason = REPLACED_REASON if step.register else step.row.end_reason or DEFAULT_END_REASON
        try:
            self.client.end(entry.involvement_id, reason)
        except BrokerAPIError as exc:
            if exc.status == 409:
                if self.client.get_involvement(entry.involvement_id)["state"] != "ended":
                    raise
            elif exc.status != 404:
                raise
        entry.status = "ended"

    def _update(self, step: _Step) -> None:
        """Renew and/or change the contact; an involvement ended or gone meanwhile is registered
        again, since the case system says it is active."""
        entry = self.state.entries[step.row.external_id]
        try:
            if step.renew and step.row.ends_on is not None:
                self.client.renew(entry.involvement_id, step.row.ends_on)
                entry.ends_on = step.row.ends_on.isoformat()
            if step.change_contact:
                self.client.change_contact(entry.involvement_id, step.row.professional)
                entry.professional = step.row.professional
        except BrokerAPIError as exc:
            if exc.status not in (404, 409):
                raise
            entry.status = "ended"
            step.register = True

    def _register(self, steps: Sequence[_Step], prior: dict[str, bytes]) -> None:
        """One registration request for ``steps``; if refused as a whole, one per row.

        ``prior`` holds each row's state digest from before the batch, for the idempotency key.
        """
        digest = hashlib.sha256(b"".join(prior[s.row.external_id] for s in steps)).digest()
        try:
            involvements = self._post(steps, digest)
        except BrokerAPIError as exc:
            if _fatal(exc):
                raise
            if len(steps) == 1:
                self._fail(RowFailure(steps[0].row.row, steps[0].row.external_id, _problem(exc)))
                return
            for step in steps:
                self._register([step], prior)
            return
        for step, involvement in zip(steps, involvements, strict=True):
            row = step.row
            self.state.entries[row.external_id] = StateEntry(
                involvement["id"], step.fingerprint, row.professional,
                None if row.ends_on is None else row.ends_on.isoformat(), "active",
            )
            self.summary.registered += 1

    def _post(self, steps: Sequence[_Step], digest: bytes) -> list[Involvement]:
        items = [
            IdentifiedRegistration(s.row.professional, s.row.purpose, s.row.identifiers,
                                   s.row.ends_on)
            for s in steps
        ]
        return self.client.register_identified(
            items, idempotency_key=lambda body: idempotency_key(digest, body)
        )
