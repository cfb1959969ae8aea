"""A webhook receiver and an SMTP sink on 127.0.0.1, real sockets both, for the delivery tests."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from broker_primitives.httpsig.signatures import VerifiedSignature, verify_request
from nacl.signing import VerifyKey

from broker.callers.keys import RESPONSE_KEY_ID
from broker.notifications.delivery import WEBHOOK_POLICY
from tests.replay_cache import InMemoryReplayCache


def free_port() -> int:
    """A port nobody listens on (yet)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Received:
    """One webhook as it arrived."""

    target_uri: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        """The body, parsed."""
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed

    def verify(self, broker_key: VerifyKey) -> VerifiedSignature:
        """Verify the signature as a receiver would, with the broker's public key."""
        return verify_request(
            method="POST", target_uri=self.target_uri, headers=self.headers, body=self.body,
            resolve_key=lambda key_id: broker_key if key_id == RESPONSE_KEY_ID else None,
            replay=InMemoryReplayCache(), policy=WEBHOOK_POLICY)


class Receiver:
    """A case system's webhook endpoint: records each POST, answers the scripted statuses
    (then ``default``), optionally slowly."""

    def __init__(self, statuses: list[int] | None = None, *, default: int = 200,
                 port: int = 0, delay: float = 0.0) -> None:
        self.received: list[Received] = []
        self.statuses = list(statuses or [])
        self.default = default
        self.delay = delay
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                time.sleep(receiver.delay)
                with receiver._lock:
                    receiver.received.append(Received(
                        f"http://{self.headers['Host']}{self.path}", dict(self.headers.items()),
                        body))
                    status = receiver.statuses.pop(0) if receiver.statuses else receiver.default
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        """Where to post."""
        return f"http://127.0.0.1:{self.server.server_port}/hooks/broker?secret=s3cr3t-path"

    def wait_for(self, count: int, timeout: float) -> list[Received]:
        """The requests once ``count`` have arrived (or whatever arrived by ``timeout``)."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.received)

    def close(self) -> None:
        """Stop listening."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@dataclass(frozen=True)
class Mail:
    """One message the sink accepted."""

    sender: str
    recipients: list[str]
    data: bytes


class _SmtpHandler(socketserver.StreamRequestHandler):
    server: SmtpSink

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self.reply("220 sink ESMTP")
        sender, recipients = "", []
        while line := self.rfile.readline():
            command = line.decode("ascii", "replace").strip()
            verb = command[:4].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 sink")
            elif verb == "MAIL":
                sender, recipients = command.partition(":")[2].strip(" <>"), []
                self.reply("250 OK")
            elif verb == "RCPT":
                recipients.append(command.partition(":")[2].strip(" <>"))
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 end with <CRLF>.<CRLF>")
                lines = []
                while (data := self.rfile.readline()) not in (b".\r\n", b""):
                    lines.append(data[1:] if data.startswith(b"..") else data)
                self.server.mails.append(Mail(sender, recipients, b"".join(lines)))
                self.reply("250 OK queued")
            elif verb in ("RSET", "NOOP"):
                self.reply("250 OK")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")


class SmtpSink(socketserver.ThreadingTCPServer):
    """A local SMTP relay that keeps every message it is given."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SmtpHandler)
        self.mails: list[Mail] = []
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        """``BROKER_SMTP_URL`` for this sink."""
        return f"smtp://127.0.0.1:{self.server_address[1]}"

    def close(self) -> None:
        """Stop listening."""
        self.shutdown()
        self.server_close()
        self.thread.join(timeout=5)
