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
writers queue on ``BEGIN IMMEDIATE`` with a 30 s busy timeout (``engine.db``), and the executor acquires jobs
inside such a write transaction. Serving from several *machines* needs PostgreSQL.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter

from engine.errors import InvalidInput

from .server import configure_logging, print_banner

log = logging.getLogger("whistle.server")


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
    from engine.time import clock
    from engine.api import Whistle
    from engine.store.db import default_url

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
    from engine.store.db import PROJECT_ROOT

    from .web import persistent_secret

    persistent_secret(Path(os.environ.get("WHISTLE_SECRET_KEY_FILE") or PROJECT_ROOT / "var" / "secret_key"))


class WhistleArbiter(Arbiter):
    """gunicorn's master, which also supervises the timer executor child."""

    executor: "ExecutorChild | None" = None
    banner: Callable[[], None] | None = None

    def start(self):
        super().start()  # listening from here on
        if self.banner is not None:
            self.banner()

    def manage_workers(self):
        super().manage_workers()  # a forked worker never returns from here (it exits)
        if self.executor is not None:
            self.executor.supervise()  # start it, or restart it after a back-off if it died

    def reap_workers(self):
        if self.executor is not None:
            self.executor.poll()  # claim its exit status before gunicorn's waitpid(-1) reaps it as unknown
        super().reap_workers()

    def stop(self, graceful=True):
        if self.executor is not None:
            self.executor.signal_stop()  # it stops alongside the workers
        super().stop(graceful)
        if self.executor is not None:
            self.executor.stop(timeout=self.cfg.graceful_timeout if graceful else 5.0)


class WhistleApplication(BaseApplication):
    """gunicorn's programmatic interface, serving ``webui.create_app``."""

    def __init__(self, options: dict[str, Any], database_url: str | None, executor: "ExecutorChild | None",
                 banner: Callable[[], None] | None = None):
        self.options = options
        self.database_url = database_url
        self.executor = executor
        self.banner = banner
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            if key in self.cfg.settings:  # the settings this gunicorn version knows
                self.cfg.set(key, value)

    def load(self):
        """Called in each worker, after the fork."""
        from . import create_app

        return create_app({"DATABASE_URL": self.database_url} if self.database_url else None)

    def run(self):
        arbiter = WhistleArbiter(self)
        arbiter.executor, arbiter.banner = self.executor, self.banner
        try:
            arbiter.run()
        except RuntimeError as exc:  # as BaseApplication.run reports it
            print(f"\nError: {exc}\n", file=sys.stderr, flush=True)
            sys.exit(1)


class ExecutorChild:
    """One ``whistle worker`` child process: started, restarted after a back-off when it dies, stopped.
    Only the process that created it acts on it (a forked gunicorn worker carries a copy)."""

    MIN_BACKOFF = 1.0
    MAX_BACKOFF = 60.0
    HEALTHY_AFTER = 60.0  # a child that ran this long before dying is restarted after MIN_BACKOFF again

    def __init__(self, database_url: str | None):
        self.command = [sys.executable, "-m", "cli", *(["--db", database_url] if database_url else []),
                        "worker"]
        self.owner_pid = os.getpid()
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0
        self.restart_at: float | None = None
        self.backoff = self.MIN_BACKOFF
        self.stopping = False

    def _mine(self) -> bool:
        return os.getpid() == self.owner_pid

    def start(self) -> None:
        self.process = subprocess.Popen(self.command, preexec_fn=_parent_death_signal())
        self.started_at = time.monotonic()
        log.info("timer worker child started (pid %s)", self.process.pid)

    def poll(self) -> int | None:
        """The child's exit status once it has exited (without blocking), else None."""
        if self.process is None or not self._mine():
            return None
        return self.process.poll()

    def supervise(self) -> None:
        if self.stopping or not self._mine():
            return
        if self.process is None:
            self.start()
            return
        code = self.poll()
        if code is None:
            return
        now = time.monotonic()
        if self.restart_at is None:  # just noticed
            if now - self.started_at >= self.HEALTHY_AFTER:
                self.backoff = self.MIN_BACKOFF
            self.restart_at = now + self.backoff
            log.warning("timer worker child (pid %s) exited (%s); restarting it in %.0f s", self.process.pid,
                        _describe(code), self.backoff)
            self.backoff = min(self.backoff * 2, self.MAX_BACKOFF)
        if now >= self.restart_at:
            self.restart_at = None
            self.start()

    def signal_stop(self) -> None:
        """Ask the child to stop (it finishes the job in hand); no restarts from now on."""
        if not self._mine():
            return
        self.stopping = True
        if self.process is not None and self.process.poll() is None:
            try:
                self.process.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the child and wait for it; kill it if it has not stopped within ``timeout`` seconds."""
        if not self._mine():
            return
        self.signal_stop()
        if self.process is None:
            return
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log.warning("timer worker child (pid %s) did not stop within %.0f s; killing it", self.process.pid,
                        timeout)
            self.process.kill()
            self.process.wait()


def _describe(code: int) -> str:
    if code < 0:
        try:
            return signal.Signals(-code).name
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def _parent_death_signal() -> Callable[[], None] | None:
    """On Linux, a ``preexec_fn`` that has the child sent SIGTERM when this process dies, even by SIGKILL,
    so the executor never outlives the server (the master runs no other thread). Elsewhere None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()
    pr_set_pdeathsig = 1

    def arm() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGTERM))
        if os.getppid() != parent:  # the master died before the signal was armed
            os.kill(os.getpid(), signal.SIGTERM)

    return arm
