"""Production serving: waitress in one process (the default), or gunicorn with several processes.

``whistle serve`` runs waitress, a multi-threaded WSGI server, in this one process, with the timer job
executor in a background thread. All its threads share one GIL. ``whistle serve --processes N`` (N > 1, or
``WHISTLE_SERVER_PROCESSES``) serves with gunicorn instead, the executor then being one supervised
``whistle worker`` child process (``webui.serving.processes``).
"""
from __future__ import annotations

import os

from waitress import serve as waitress_serve

from engine.errors import InvalidInput
from engine.jobs.executor import start_worker_thread
from webui import create_app
from webui.serving.banner import print_banner
from webui.serving.logs import configure_logging
from webui.serving.processes import serve_processes

PROCESSES_ENV = "WHISTLE_SERVER_PROCESSES"


def configured_processes(value: int | None = None) -> int:
    """``--processes`` if given, else ``WHISTLE_SERVER_PROCESSES``, else 1."""
    if value is None:
        text = (os.environ.get(PROCESSES_ENV) or "").strip()
        try:
            value = int(text) if text else 1
        except ValueError:
            raise InvalidInput(f"{PROCESSES_ENV} must be a whole number of server processes, not '{text}'") from None
    if value < 1:
        raise InvalidInput(f"the number of server processes must be at least 1, not {value}")
    return value


SINGLE_PROCESS_THREADS = 8
THREADS_PER_PROCESS = 2  # with several processes: pages are CPU-bound, more threads mostly wait for the GIL


def serve(database_url: str | None, host: str, port: int, threads: int | None = None, worker: bool = True,
          processes: int = 1) -> None:
    """Serve the app; unless ``worker`` is false, one timer job executor runs beside it: a background
    thread with one process, a supervised ``whistle worker`` child process with several. ``threads`` per
    process defaults to 8 with one process and 2 with several."""
    if threads is None:
        threads = SINGLE_PROCESS_THREADS if processes == 1 else THREADS_PER_PROCESS
    if threads < 1:
        raise InvalidInput(f"the number of threads must be at least 1, not {threads}")
    # An open live inbox (Server-Sent Events, webui.staff.notifications) holds a thread: at most half of them.
    os.environ.setdefault("WHISTLE_LIVE_STREAMS", str(max(1, threads // 2)))
    if processes > 1:
        serve_processes(database_url, host, port, threads, worker, processes)
        return
    app = create_app({"DATABASE_URL": database_url} if database_url else None)
    configure_logging()
    stop = None
    if worker:
        engine = app.extensions["whistle"]
        _thread, stop = start_worker_thread(engine.executor)
        print(f"timer worker {engine.executor.owner} is running in this process", flush=True)
    print_banner(host, port)
    try:
        waitress_serve(app, host=host, port=port, threads=threads)
    finally:
        if stop is not None:
            stop.set()

