"""The witness's side of c2sp.org/tlog-witness: ``add-checkpoint``, and its copy for monitors.

Rules this module guarantees, in the order the specification gives them:

1. A request is ``old <size>``, at most 63 consistency proof lines (one base64 hash each), an
   empty line and a signed checkpoint, in UTF-8 without control characters: else 400.
2. A checkpoint of a log the witness is not configured with: 404. None of its signatures is a
   valid one of the log's configured key: 403 (lines of other keys are ignored).
3. An old size larger than the checkpoint's: 400.
4. An old size other than the size of the newest checkpoint the witness co-signed for the log
   (0 when none): 409 ``text/x.tlog.size`` naming that size.
5. A consistency proof that does not lead from the stored root to the checkpoint's (empty from
   size 0): 422; the same size with another root: 409. Both are kept as evidence.
6. Otherwise the checkpoint becomes the log's newest, durably, and the answer is the
   witness's timestamped Ed25519 cosignature line (cosignature/v1). Steps 4 to 6 are one
   transaction, so the witness never co-signs a smaller tree after a larger one, nor two
   inconsistent trees.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from broker_primitives.merkle import EMPTY_ROOT, verify_consistency

from broker.audit.notes import CosignerKey, NoteError, NoteKey, split_note, tree_head
from broker.catalogue import Message
from broker.witness.store import Cosigned, Session, WitnessStore

SIZE_TYPE = "text/x.tlog.size"
MAX_PROOF_LINES = 63
MAX_REQUEST = 64 * 1024
_OLD = re.compile(r"old (0|[1-9][0-9]*)")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class Answer:
    """The witness's answer: a status and a body (a problem carries a code and a message from
    the catalogue, which the HTTP door translates; ``body`` is then its English)."""

    status: int
    body: str = ""
    content_type: str = "text/plain; charset=utf-8"
    code: str | None = None
    problem: Message | None = None


def refusal(status: int, code: str, message_id: str, **values: object) -> Answer:
    """A refused request (the HTTP door renders it as problem details)."""
    problem = Message(message_id, **values)
    return Answer(status, problem.translate("en"), code=code, problem=problem)


@dataclass(frozen=True)
class Request:
    """A parsed add-checkpoint request."""

    old: int
    proof: list[bytes]
    note: str


def parse_request(body: bytes) -> Request | Answer:
    """The request's parts, or a 400 saying what is wrong with it."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return _bad("the request is not UTF-8")
    if _CONTROL.search(text):
        return _bad("the request holds control characters")
    head, separator, note = text.partition("\n\n")
    lines = head.split("\n")
    match = _OLD.fullmatch(lines[0])
    if not separator or match is None:
        return _bad(
            "the request does not start with 'old <size>' and end its proof with an empty line")
    if len(lines) - 1 > MAX_PROOF_LINES:
        return _bad("a consistency proof has at most 63 lines")
    proof = []
    for line in lines[1:]:
        try:
            node = base64.b64decode(line, validate=True)
        except (ValueError, binascii.Error):
            node = b""
        if len(node) != 32 or base64.b64encode(node).decode() != line:
            return _bad("a proof line is not one hash in standard base64")
        proof.append(node)
    return Request(int(match.group(1)), proof, note)


def _bad(message_id: str, **values: object) -> Answer:
    return refusal(400, "bad-request", message_id, **values)


class WitnessService:
    """One witness: its cosigning key, the logs it watches, its storage and its clock."""

    def __init__(self, key: CosignerKey, logs: Sequence[NoteKey], store: WitnessStore,
                 clock: Callable[[], float] = time.time) -> None:
        if key.signing_key is None:
            raise ValueError("a witness needs its signing key")
        self.key = key
        self.logs = {log.name: log for log in logs}
        self.store = store
        self.clock = clock

    def add_checkpoint(self, body: bytes) -> Answer:
        """Handle ``POST /add-checkpoint``."""
        request = parse_request(body)
        if isinstance(request, Answer):
            return request
        try:
            text, _signatures = split_note(request.note)
            head = tree_head(text)
        except NoteError as error:
            return _bad("the checkpoint cannot be read: %(error)s", error=error)
        log = self.logs.get(head.origin)
        if log is None:
            return refusal(404, "unknown-log", "this witness does not watch that log")
        if log.open(request.note) is None:
            return refusal(403, "bad-signature", "the checkpoint is not signed by the log's key")
        if request.old > head.size:
            return _bad("the old size is larger than the checkpoint's")
        now = int(self.clock())
        with self.store.transaction() as session:
            return self._cosign(session, request, text, head.size, head.root, now)

    def _cosign(self, session: Session, request: Request, text: str, size: int, root: bytes,
                now: int) -> Answer:
        origin = text.split("\n", 1)[0]
        latest = session.latest(origin)
        held, held_root = (latest.size, latest.root) if latest else (0, EMPTY_ROOT)
        if request.old != held:
            return Answer(409, f"{held}\n", SIZE_TYPE)
        if request.old == size and root != held_root:
            session.keep_evidence(origin, now, "another root at the size co-signed",
                                  _request_text(request))
            return Answer(409, f"{held}\n", SIZE_TYPE)
        if not verify_consistency(request.old, size, held_root, root, request.proof):
            session.keep_evidence(origin, now, f"no consistency from size {held}",
                                  _request_text(request))
            return refusal(422, "inconsistent", "the consistency proof does not verify")
        line = self.key.cosign(text, now)
        session.save(Cosigned(origin, size, root, request.note, line, now))
        return Answer(200, line)

    def latest(self, origin: str) -> Answer:
        """Handle ``GET /checkpoint/<origin>``: the newest cosigned checkpoint with the
        witness's cosignature."""
        if origin not in self.logs:
            return refusal(404, "unknown-log", "this witness does not watch that log")
        with self.store.transaction() as session:
            latest = session.latest(origin)
        if latest is None:
            return refusal(404, "no-checkpoint",
                           "this witness has co-signed no checkpoint of that log yet")
        return Answer(200, latest.note + latest.cosignature)


def _request_text(request: Request) -> str:
    proof = "".join(base64.b64encode(node).decode() + "\n" for node in request.proof)
    return f"old {request.old}\n{proof}\n{request.note}"
