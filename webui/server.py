"""Production serving with waitress (a multi-threaded WSGI server)."""
from __future__ import annotations

import logging

from waitress import serve as waitress_serve

from . import create_app


def serve(database_url: str | None, host: str, port: int, threads: int = 8) -> None:
    app = create_app({"DATABASE_URL": database_url} if database_url else None)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(f"Whistle is serving on http://{host}:{port}/  (health: http://{host}:{port}/health)", flush=True)
    waitress_serve(app, host=host, port=port, threads=threads)
