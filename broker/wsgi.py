"""WSGI entry point for production servers:
``gunicorn -c python:broker.gunicorn_conf broker.wsgi:app``.

Settings come from the ``BROKER_*`` environment variables (see broker.config). Under a gunicorn
started without the broker's config module the import stops (broker.serving).
"""

import atexit

from broker.app import create_app
from broker.door import core_of
from broker.serving import refuse_unchecked_gunicorn

refuse_unchecked_gunicorn()
app = create_app()
atexit.register(core_of(app).dispose)  # close the database connections when the worker stops
