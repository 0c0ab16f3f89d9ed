"""WSGI entry point: `gunicorn clinic.wsgi:app`."""

import logging

from . import create_app

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
app = create_app()
