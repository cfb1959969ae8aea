"""WSGI entry point of the pseudonym service:
``gunicorn broker.pseudonym_service.wsgi:app`` with ``BROKER_PSEUDONYM_SERVICE_DIR`` (its own
directory) and, optionally, ``BROKER_PSEUDONYM_SERVICE_DATABASE_URL`` (default: ``service.db`` in
that directory). ``broker pseudonym-service serve`` runs exactly this."""

import os
from pathlib import Path

from broker.pseudonym_service.app import create_service_app
from broker.pseudonym_service.home import open_service, signing_key

_directory = Path(os.environ.get("BROKER_PSEUDONYM_SERVICE_DIR") or "pseudonym-service")
app = create_service_app(
    open_service(_directory, os.environ.get("BROKER_PSEUDONYM_SERVICE_DATABASE_URL") or None),
    signing_key(_directory))
