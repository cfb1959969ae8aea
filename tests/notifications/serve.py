"""``python -m tests.notifications.serve PORT``: the broker as real processes' work in one
process for the crash test — the web server, and ``broker worker``'s jobs beside it — so that one
SIGKILL ends both. Settings come from ``BROKER_*``."""

from __future__ import annotations

import sys
import threading

from werkzeug.serving import make_server

from broker.app import create_app
from broker.cli.jobs import schedule
from broker.cli.worker import Worker
from broker.door import core_of


def main() -> None:
    """Serve on 127.0.0.1:PORT and run the background jobs until killed."""
    app = create_app()
    core = core_of(app)
    worker = Worker(core, schedule(core))
    threading.Thread(target=worker.run, name="worker", daemon=True).start()
    server = make_server("127.0.0.1", int(sys.argv[1]), app, threaded=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
