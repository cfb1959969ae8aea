"""A witness served over real HTTP on 127.0.0.1, in a thread, that a test can stop and start."""

from __future__ import annotations

import threading
from pathlib import Path

from werkzeug.serving import BaseWSGIServer, make_server

from broker.core import Core
from broker.witness.app import create_witness_app
from broker.witness.home import initialise, open_service
from broker.witness.service import WitnessService


class RunningWitness:
    """A witness of ``core``'s audit log, with its own directory under ``directory``."""

    def __init__(self, directory: Path, core: Core, name: str = "witness.example/w1") -> None:
        self.directory = directory
        self.verifier = initialise(directory, name, [core.audit_key().verifier()]).verifier()
        self.port = 0
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.service: WitnessService | None = None

    @property
    def url(self) -> str:
        """The witness's URL prefix."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Serve (again, on the same port once it had one)."""
        self.service = open_service(self.directory)
        self._server = make_server("127.0.0.1", self.port, create_witness_app(self.service),
                                   threaded=True)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving: the port refuses connections."""
        assert self._server is not None and self._thread is not None and self.service
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self.service.store.close()
        self._server = None

    def configure(self, core: Core, **more: object) -> None:
        """Make ``core`` hand its checkpoints to this witness."""
        core.settings = core.settings.with_overrides(
            witness_urls=(self.url,), witness_keys=(self.verifier,), **more)
