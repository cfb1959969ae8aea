"""``python -m tests.notifications.serve PORT``: the broker as a real process, with its
notification deliverer running, for the crash test. Settings come from ``BROKER_*``."""

from __future__ import annotations

import sys

from werkzeug.serving import make_server

from broker.app import create_app
from broker.door import core_of
from broker.notifications.delivery import start_delivery


def main() -> None:
    """Serve on 127.0.0.1:PORT until killed."""
    app = create_app()
    start_delivery(core_of(app))  # a no-op once create_app starts it itself
    server = make_server("127.0.0.1", int(sys.argv[1]), app, threaded=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
