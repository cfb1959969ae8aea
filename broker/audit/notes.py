"""Signed notes, checkpoints and cosignatures: the C2SP formats of the audit log's tree heads.

Rules this module guarantees (c2sp.org/signed-note, c2sp.org/tlog-checkpoint,
c2sp.org/tlog-cosignature):

- A signed note is valid UTF-8 without control characters other than newline; its text ends in a
  newline and is followed by one empty line and one or more signature lines
  ``— <key name> base64(key ID || signature)``. Key names hold no spaces and no ``+``.
- A key is known by the pair (name, key ID); lines of unknown keys are ignored. A line of a known
  key that does not verify rejects the whole note; so does a note without any valid line of the
  key asked for.
- The log signs with Ed25519 (signature type 0x01): the signature covers the note text. A witness
  cosigns with a timestamped Ed25519 cosignature (type 0x04, ``cosignature/v1``): the signature
  covers ``cosignature/v1\\ntime <POSIX seconds>\\n`` followed by the note text, and the line
  carries the 8-byte big-endian timestamp between the key ID and the signature.
- A checkpoint's text is its origin, its tree size (ASCII decimal, no leading zeroes), its root
  hash (32 bytes, standard base64) and extension lines; the log adds one, ``time <UTC>``.
- Verifier keys are ``<name>+<key ID, 8 hex>+<base64(type byte || public key)>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass
from datetime import datetime

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from broker.audit.chain import timestamp

SIGNATURE_TYPE_ED25519 = b"\x01"
SIGNATURE_TYPE_COSIGNATURE = b"\x04"
COSIGNATURE_HEADER = "cosignature/v1\n"
EM_DASH = "\u2014"
MAX_SIGNATURES = 16  # signed-note: verifiers accept at least 16

_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_SIGNATURE_LINE = re.compile(r"\u2014 ([^\s+]+) ([A-Za-z0-9+/]+={0,2})")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")
_HEX8 = re.compile(r"[0-9a-f]{8}")


class NoteError(ValueError):
    """A note, checkpoint, cosignature or verifier key that cannot be read."""


def _key_id(name: str, signature_type: bytes, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + signature_type + public_key).digest()[:4]


def _check_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise NoteError("a note key name may hold no spaces and no '+'")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    """Standard base64 in its one canonical encoding, else NoteError."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        raise NoteError("not standard base64") from None
    if _b64(raw) != text:
        raise NoteError("not the canonical base64 of its bytes")
    return raw


def split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """The text (ending in a newline) and the signature lines (key name, decoded bytes) of a
    signed note; NoteError when it is not one."""
    if _CONTROL.search(note) or not note.endswith("\n"):
        raise NoteError("a signed note ends in a newline and holds no control characters")
    text, separator, block = note.rpartition("\n\n")
    if not separator or not text:
        raise NoteError("a signed note is its text, an empty line and signature lines")
    lines = block.removesuffix("\n").split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"a signed note carries at most {MAX_SIGNATURES} signatures here")
    signatures = []
    for line in lines:
        match = _SIGNATURE_LINE.fullmatch(line)
        if match is None:
            raise NoteError("after the empty line a signed note holds signature lines only")
        signatures.append((match.group(1), _unb64(match.group(2))))
    return text + "\n", signatures


def signature_line(name: str, raw: bytes) -> str:
    """``— <name> <base64(raw)>`` with its newline."""
    return f"{EM_DASH} {name} {_b64(raw)}\n"


class NoteKey:
    """A log's note key: a name (the log's origin) and an Ed25519 key (signature type 0x01)."""

    def __init__(self, name: str, verify_key: VerifyKey,
                 signing_key: SigningKey | None = None) -> None:
        _check_name(name)
        self.name = name
        self.verify_key = verify_key
        self.signing_key = signing_key
        self.key_id = _key_id(name, SIGNATURE_TYPE_ED25519, bytes(verify_key))

    @classmethod
    def from_verifier(cls, text: str) -> NoteKey:
        """The key of a verifier key string (type 0x01); NoteError when it is not one."""
        name, public = _parse_verifier(text, SIGNATURE_TYPE_ED25519)
        return cls(name, VerifyKey(public))

    def verifier(self) -> str:
        """The verifier key: ``<name>+<key id hex>+<base64(0x01 || public key)>``."""
        encoded = _b64(SIGNATURE_TYPE_ED25519 + bytes(self.verify_key))
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def sign(self, body: str) -> str:
        """``body`` (ending in a newline) as a signed note."""
        if self.signing_key is None:
            raise ValueError("this note key can verify only")
        signature = self.signing_key.sign(body.encode()).signature
        return f"{body}\n{signature_line(self.name, self.key_id + signature)}"

    def open(self, note: str) -> str | None:
        """The note's text when it carries a valid signature of this key and no invalid one,
        else None."""
        try:
            text, signatures = split_note(note)
        except NoteError:
            return None
        mine = [raw[4:] for name, raw in signatures
                if name == self.name and raw[:4] == self.key_id]
        if not mine:
            return None
        for signature in mine:
            try:
                self.verify_key.verify(text.encode(), signature)
            except (BadSignatureError, ValueError):
                return None
        return text


def cosigned_message(text: str, moment: int) -> bytes:
    """What a cosignature/v1 signs: the header, the time line and the note text."""
    return f"{COSIGNATURE_HEADER}time {moment}\n{text}".encode()


class CosignerKey:
    """A witness's cosigning key: a name and an Ed25519 key (signature type 0x04)."""

    def __init__(self, name: str, verify_key: VerifyKey,
                 signing_key: SigningKey | None = None) -> None:
        _check_name(name)
        self.name = name
        self.verify_key = verify_key
        self.signing_key = signing_key
        self.key_id = _key_id(name, SIGNATURE_TYPE_COSIGNATURE, bytes(verify_key))

    @classmethod
    def from_verifier(cls, text: str) -> CosignerKey:
        """The key of a verifier key string (type 0x04); NoteError when it is not one."""
        name, public = _parse_verifier(text, SIGNATURE_TYPE_COSIGNATURE)
        return cls(name, VerifyKey(public))

    def verifier(self) -> str:
        """The verifier key: ``<name>+<key id hex>+<base64(0x04 || public key)>``."""
        encoded = _b64(SIGNATURE_TYPE_COSIGNATURE + bytes(self.verify_key))
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def cosign(self, text: str, moment: int) -> str:
        """The cosignature line over the checkpoint text ``text`` at POSIX time ``moment``."""
        if self.signing_key is None:
            raise ValueError("this cosigner key can verify only")
        if not 0 <= moment < 2 ** 63:
            raise ValueError("a cosignature's time is a POSIX time below 2^63")
        signature = self.signing_key.sign(cosigned_message(text, moment)).signature
        return signature_line(self.name, self.key_id + struct.pack(">Q", moment) + signature)

    def verify(self, text: str, raw: bytes) -> int | None:
        """The time of the cosignature ``raw`` (key ID, timestamp, signature) over ``text``
        when it is this key's and valid, else None."""
        if len(raw) != 4 + 8 + 64 or raw[:4] != self.key_id:
            return None
        (moment,) = struct.unpack(">Q", raw[4:12])
        if moment >= 2 ** 63:
            return None
        try:
            self.verify_key.verify(cosigned_message(text, moment), raw[12:])
        except (BadSignatureError, ValueError):
            return None
        return int(moment)

    def cosignatures(self, note: str) -> tuple[str, list[tuple[int, str]]]:
        """The text of a signed note and this key's valid cosignatures on it (time, line);
        NoteError when the note cannot be read or one of this key's lines does not verify."""
        text, signatures = split_note(note)
        found = []
        for name, raw in signatures:
            if name != self.name or raw[:4] != self.key_id:
                continue  # another key's line: ignored (signed-note)
            moment = self.verify(text, raw)
            if moment is None:
                raise NoteError(f"a cosignature of {self.name} does not verify")
            found.append((moment, signature_line(name, raw)))
        return text, found


def _parse_verifier(text: str, signature_type: bytes) -> tuple[str, bytes]:
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise NoteError("a verifier key is <name>+<key id>+<base64 key>")
    name, hex_id, encoded = parts
    _check_name(name)
    raw = _unb64(encoded)
    if not _HEX8.fullmatch(hex_id):
        raise NoteError("a verifier key's key ID is 8 lowercase hex digits")
    if len(raw) != 33 or raw[:1] != signature_type:
        kind = "a log's Ed25519 key" if signature_type == SIGNATURE_TYPE_ED25519 \
            else "a witness's Ed25519 cosigning key"
        raise NoteError(f"the verifier key is not {kind} (type 0x{signature_type.hex()})")
    if _key_id(name, signature_type, raw[1:]).hex() != hex_id:
        raise NoteError("the verifier key's key ID does not match its name and key")
    return name, raw[1:]


def checkpoint_body(origin: str, size: int, root: bytes, at: datetime) -> str:
    """The checkpoint text: origin, size, base64 root, time (c2sp.org/tlog-checkpoint)."""
    return f"{origin}\n{size}\n{_b64(root)}\ntime {timestamp(at)}\n"


@dataclass(frozen=True)
class TreeHead:
    """What a checkpoint's text commits to."""

    origin: str
    size: int
    root: bytes


def parse_checkpoint(text: str) -> tuple[str, int, bytes]:
    """Origin, size and root of an opened checkpoint text; ValueError when malformed."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "" or not lines[0] or "" in lines[:-1] \
            or not _DECIMAL.fullmatch(lines[1]):
        raise NoteError("not a checkpoint: origin, tree size and root hash lines")
    try:
        root = _unb64(lines[2])
    except NoteError:
        root = b""
    if len(root) != 32:
        raise NoteError("a checkpoint's root hash is 32 bytes in standard base64")
    return lines[0], int(lines[1]), root


def tree_head(text: str) -> TreeHead:
    """:func:`parse_checkpoint` as a :class:`TreeHead`."""
    return TreeHead(*parse_checkpoint(text))
