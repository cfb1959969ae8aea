"""The production command keeps HTTP connections alive (issue 13 §4): a client's second request
travels on the connection of its first, with no handshake of its own."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from broker.core import Core
from tests.api.processes import broker_environment
from tests.private_servers import gunicorn, wait_until_serving

pytestmark = pytest.mark.slow


def _answer(connection: socket.socket) -> bytes:
    """One HTTP/1.1 response read off the socket (its headers and Content-Length bytes)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            break
        body += chunk
    return head


def test_two_requests_travel_on_one_connection(core: Core, tmp_path: Path) -> None:
    env = broker_environment(core.settings)
    # The production command as `broker serve --workers 1` runs it: nothing but the config.
    with gunicorn(env, tmp_path / "gunicorn.log", "--config", "python:broker.gunicorn_conf",
                  workers=1) as server:
        assert wait_until_serving(server), (tmp_path / "gunicorn.log").read_text()
        port = int(server.base.rsplit(":", 1)[1])
        request = (b"GET /v1/openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   b"Accept: application/json\r\n\r\n")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            connection.sendall(request)
            first = _answer(connection)
            assert first.startswith(b"HTTP/1.1 200"), first
            assert b"connection: close" not in first.lower()
            connection.sendall(request)
            second = _answer(connection)
        assert second.startswith(b"HTTP/1.1 200"), second
