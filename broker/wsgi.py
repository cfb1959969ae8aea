"""WSGI entry point for production servers: ``gunicorn 'broker.wsgi:app'``.

Settings come from the ``BROKER_*`` environment variables (see broker.config).
"""

from broker.app import create_app

app = create_app()
