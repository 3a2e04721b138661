"""Production serving with waitress (a multi-threaded WSGI server)."""
from __future__ import annotations

import logging

from waitress import serve as waitress_serve

from engine.jobs import start_worker_thread

from . import create_app


def serve(database_url: str | None, host: str, port: int, threads: int = 8, worker: bool = True) -> None:
    """Serve the app; unless ``worker`` is false, one timer job executor runs in a background thread."""
    app = create_app({"DATABASE_URL": database_url} if database_url else None)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("spiff").setLevel(logging.WARNING)  # not a line per task state change (bench/http.py)
    stop = None
    if worker:
        engine = app.extensions["whistle"]
        _thread, stop = start_worker_thread(engine.executor)
        print(f"timer worker {engine.executor.owner} is running in this process", flush=True)
    print(f"Whistle is serving on http://{host}:{port}/  (health: http://{host}:{port}/health)", flush=True)
    _print_demo_logins(f"http://{host}:{port}/")
    try:
        waitress_serve(app, host=host, port=port, threads=threads)
    finally:
        if stop is not None:
            stop.set()


def _print_demo_logins(url: str) -> None:
    """In demo mode (``make run``), who to sign in as."""
    from engine import clock

    from .demo import banner

    if clock.mode() == "demo":
        print(banner(url), flush=True)
