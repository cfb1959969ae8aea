"""nginx in front of the broker (deploy/nginx.conf.template) logs no secret token: a contact
link's token (``/v1/contact-links/<token>``) and a second-factor enrolment link's
(``/enrol/<token>``) are masked in the access log, in the path and in a Referer alike; other
paths are logged as they are. The config is rendered as ``scripts/deploy-local`` renders it and
served by a real nginx against a small upstream."""

from __future__ import annotations

import http.server
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from broker.app import MAX_BODY
from deploy.local import Deployment, make_certificate, render_nginx

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
LINK_TOKEN = "Lk7xq2SECRETlinkTOKENv9Z3"
ENROL_TOKEN = "Ee4rtySECRETenrolTOKENp0Q"


class _Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.do_GET()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Deployment]:
    """nginx with the deployment's config, in front of an upstream that answers 200."""
    if NGINX is None:
        pytest.skip("nginx is not installed (apt-get install -y nginx)")
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    deployment = Deployment(state=tmp_path, ports={"broker": upstream.server_address[1],
                                                   "https": _free_port()})
    (tmp_path / "logs").mkdir()
    make_certificate(deployment)
    render_nginx(deployment)
    process = subprocess.Popen([NGINX, "-c", str(tmp_path / "nginx" / "nginx.conf"), "-p",
                                str(tmp_path / "nginx")], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", deployment.ports["https"]), 0.2).close()
                break
            except OSError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.1)
        yield deployment
    finally:
        process.send_signal(signal.SIGQUIT)  # a graceful stop: the log is written out
        process.wait(timeout=10)
        upstream.shutdown()


def _get(deployment: Deployment, path: str, referer: str | None = None) -> int:
    answer = httpx.get(deployment.base_url + path, verify=deployment.tls(), timeout=5,
                       headers={"Referer": referer} if referer else {})
    return answer.status_code


def test_the_access_log_masks_link_and_enrolment_tokens(nginx: Deployment) -> None:
    assert _get(nginx, f"/v1/contact-links/{LINK_TOKEN}") == 200
    assert _get(nginx, f"/enrol/{ENROL_TOKEN}?lang=en") == 200
    assert _get(nginx, "/check", referer=f"https://localhost/enrol/{ENROL_TOKEN}") == 200
    assert _get(nginx, f"/v1/%63ontact-links/{LINK_TOKEN}") == 200  # the same path to Flask
    assert _get(nginx, "/v1/inbox?professional=vt-1") == 200
    time.sleep(0.2)
    log = (nginx.state / "logs" / "nginx-access.log").read_text()
    assert LINK_TOKEN not in log and ENROL_TOKEN not in log
    assert log.count("GET /v1/contact-links/[token] HTTP/1.1") == 2
    assert "GET /enrol/[token] HTTP/1.1" in log
    assert "GET /v1/inbox?professional=vt-1 HTTP/1.1" in log  # the rest as it is
    assert "GET /check HTTP/1.1" in log


def test_a_body_over_the_brokers_limit_reaches_the_broker(nginx: Deployment) -> None:
    """The broker answers a too-large body itself (a signed 413 problem document, broker.app's
    MAX_CONTENT_LENGTH); nginx's own bound sits above it, so it never answers with its unsigned
    HTML page for a body the broker would refuse."""
    body = b"[" + b"{}," * (2 * 1024 * 1024 // 3) + b"{}]"
    assert len(body) > MAX_BODY
    answer = httpx.post(nginx.base_url + "/v1/involvements", content=body, timeout=10,
                        verify=nginx.tls(), headers={"Content-Type": "application/json"})
    assert answer.status_code == 200  # the upstream's answer, not nginx's 413

