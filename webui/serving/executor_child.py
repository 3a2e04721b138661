"""The timer executor as one ``whistle worker`` child of gunicorn's master (``webui.serving.processes``):
started once the workers are forked, restarted with a back-off (1 s doubling to 60 s) when it dies, stopped
with SIGTERM (it finishes the job in hand) when the server stops, and sent SIGTERM by Linux if the master dies
outright (``PR_SET_PDEATHSIG``)."""
from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

log = logging.getLogger("whistle.server")


class ExecutorChild:
    """One ``whistle worker`` child process: started, restarted after a back-off when it dies, stopped.
    Only the process that created it acts on it (a forked gunicorn worker carries a copy)."""

    MIN_BACKOFF = 1.0
    MAX_BACKOFF = 60.0
    HEALTHY_AFTER = 60.0  # a child that ran this long before dying is restarted after MIN_BACKOFF again

    def __init__(self, database_url: str | None) -> None:
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
