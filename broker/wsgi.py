"""WSGI entry point for production servers: ``gunicorn 'broker.wsgi:app'``.

Settings come from the ``BROKER_*`` environment variables (see broker.config).
"""

import atexit

from broker.app import core_of, create_app

app = create_app()
atexit.register(core_of(app).dispose)  # the last audit checkpoint when the worker stops
