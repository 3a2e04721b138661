"""``whistle serve --processes N``: gunicorn with N worker processes, and the timer executor as a child.

This process becomes gunicorn's master (``WhistleArbiter``): it binds the socket and forks N ``gthread``
workers of ``--threads`` threads each. Each worker builds the Flask app — its own engine, database pool
and spec cache — *after* the fork (no preload). Before forking, the master only checks the database (so a
database that is not migrated is one sentence, as with one process) and closes every connection it opened;
it runs no thread of its own.

The timer job executor is one child process, a plain ``whistle worker`` with the same ``--db`` (fork +
exec: it inherits the environment, nothing else). The master starts it once the workers are forked,
restarts it with a back-off (1 s doubling to 60 s) if it dies, and stops it with SIGTERM — it finishes the
job in hand — when the server stops (SIGTERM: graceful; SIGINT/Ctrl-C: quick). On Linux the child is also
sent SIGTERM if the master dies outright (``PR_SET_PDEATHSIG``), as gunicorn's workers leave a vanished
master. ``--no-worker``: no executor here (run ``whistle worker`` elsewhere).

SQLite works with several processes on one machine: it is in WAL mode (readers do not wait for the writer),
writers queue on ``BEGIN IMMEDIATE`` with a 30 s busy timeout (``engine.store.db``), and the executor acquires jobs
inside such a write transaction. Serving from several *machines* needs PostgreSQL.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter

from engine.api import Whistle
from engine.audit.keys import persistent_key
from engine.errors import InvalidInput
from engine.store.db import default_url
from engine.time import clock
from webui import create_app
from webui.config import secret_key_file
from webui.serving.banner import print_banner
from webui.serving.executor_child import ExecutorChild
from webui.serving.logs import configure_logging


def serve_processes(database_url: str | None, host: str, port: int, threads: int, worker: bool,
                    processes: int) -> None:
    check_database(database_url)
    ensure_secret_key()
    configure_logging()  # after the check, as with one process; the workers inherit it
    executor = ExecutorChild(database_url) if worker else None
    options = {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": processes,
        "worker_class": "gthread",
        "threads": threads,
        "preload_app": False,  # each worker builds the app, its engine and its pool after the fork
        "keepalive": 75,  # seconds an idle keep-alive connection stays open (gunicorn's default is 2)
        "graceful_timeout": 30,  # SIGTERM: requests in flight (and the timer job in hand) get this long
        "proc_name": "whistle",
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
        "control_socket_disable": True,  # gunicorn ≥ 24 would open ~/.gunicorn/gunicorn.ctl, shared by all servers
    }
    print(f"{processes} server processes × {threads} threads (gunicorn gthread)", flush=True)
    if executor is not None:
        print("timer worker: one `whistle worker` child process, started and stopped with the server", flush=True)
    try:
        WhistleApplication(options, database_url, executor, banner=lambda: print_banner(host, port)).run()
    finally:
        if executor is not None:
            executor.stop()  # a backstop: normally stopped already, with the workers (WhistleArbiter.stop)


def check_database(database_url: str | None) -> None:
    """Fail fast with the engine's own one-sentence error (e.g. not migrated) before forking. The probe's
    connections are closed again, so no worker inherits one."""
    url = database_url or default_url()
    if url.startswith("sqlite") and url.split(":///", 1)[-1] in ("", ":memory:", url):
        raise InvalidInput("an in-memory SQLite database cannot be shared by several server processes: "
                           "give it a file, or use PostgreSQL")
    previous = clock.active()
    probe = Whistle(database_url)  # raises NotMigrated and the like
    probe.close()
    clock.install(previous)  # the probe's database clock (demo and test mode) is not handed to the workers


def ensure_secret_key() -> None:
    """Create ``var/secret_key`` (when ``WHISTLE_SECRET_KEY`` is not set) before the workers start, so they
    do not race to create it and sign sessions with different keys."""
    if os.environ.get("WHISTLE_SECRET_KEY"):
        return
    persistent_key(secret_key_file())


class WhistleArbiter(Arbiter):
    """gunicorn's master, which also supervises the timer executor child."""

    executor: ExecutorChild | None = None
    banner: Callable[[], None] | None = None

    def start(self) -> None:
        super().start()  # listening from here on
        if self.banner is not None:
            self.banner()

    def manage_workers(self) -> None:
        super().manage_workers()  # a forked worker never returns from here (it exits)
        if self.executor is not None:
            self.executor.supervise()  # start it, or restart it after a back-off if it died

    def reap_workers(self) -> None:
        if self.executor is not None:
            self.executor.poll()  # claim its exit status before gunicorn's waitpid(-1) reaps it as unknown
        super().reap_workers()

    def stop(self, graceful: bool = True) -> None:
        if self.executor is not None:
            self.executor.signal_stop()  # it stops alongside the workers
        super().stop(graceful)
        if self.executor is not None:
            self.executor.stop(timeout=self.cfg.graceful_timeout if graceful else 5.0)


class WhistleApplication(BaseApplication):
    """gunicorn's programmatic interface, serving ``webui.create_app``."""

    def __init__(self, options: dict[str, Any], database_url: str | None, executor: ExecutorChild | None,
                 banner: Callable[[], None] | None = None) -> None:
        self.options = options
        self.database_url = database_url
        self.executor = executor
        self.banner = banner
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:  # the settings this gunicorn version knows
                self.cfg.set(key, value)

    def load(self) -> Flask:
        """Called in each worker, after the fork."""
        return create_app({"DATABASE_URL": self.database_url} if self.database_url else None)

    def run(self) -> None:
        arbiter = WhistleArbiter(self)
        arbiter.executor, arbiter.banner = self.executor, self.banner
        try:
            arbiter.run()
        except RuntimeError as exc:  # as BaseApplication.run reports it
            print(f"\nError: {exc}\n", file=sys.stderr, flush=True)
            sys.exit(1)
