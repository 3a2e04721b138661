"""The server's log lines: one format for waitress, gunicorn's master and its workers."""
from __future__ import annotations

import logging


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("spiff").setLevel(logging.WARNING)  # not a line per task state change (bench/http_api.py)
