"""`whistle serve --processes N`: gunicorn workers, the timer executor as one child, a clean stop."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

from engine.api import Whistle
from engine.time import clock

from conftest import PROJECT
from process_helpers import wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> dict[int, str]:
    """The live child processes of ``pid``: {pid: command line} (Linux /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        # A child caught between fork and exec has no command line yet: it is not one of the settled children.
        if int(fields.get("PPid", "0").strip()) == pid and not fields.get("State", "").startswith("Z") and cmdline:
            found[int(entry.name)] = cmdline
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in state  # a zombie has stopped; only its exit status is left


def health(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as response:  # Connection: close
        assert response.status == 200
        return json.loads(response.read())


def serve_env(**extra) -> dict:
    return {**os.environ, "WHISTLE_MODE": "test", "WHISTLE_SECRET_KEY": "test-secret", **extra}


def cli(db_url: str, *args, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli", "--db", db_url, *map(str, args)],
                          capture_output=True, text=True, cwd=PROJECT, timeout=60, env=env or serve_env())


@pytest.fixture
def shared_whistle(db_url, monkeypatch):
    """An engine on the database clock (test mode), the clock the server's processes read too."""
    monkeypatch.setenv("WHISTLE_MODE", "test")
    clock.install(clock.SystemClock())
    engine = Whistle(db_url)
    engine.clock_set("2026-09-28T17:00:00+08:00")
    yield engine
    engine.close()
    clock.install(clock.SystemClock())


def test_several_processes_serve_fire_timers_and_stop_together(shared_whistle, db_url, fixtures, tmp_path):
    whistle = shared_whistle
    whistle.deploy([fixtures / "timer_wait.bpmn"])
    instance = whistle.start("timer_wait", data={"callback_at": "2026-09-28T17:10:00+08:00"})
    port = free_port()
    log_path = tmp_path / "serve.log"
    with open(log_path, "w") as log:  # a file, not a pipe nobody reads
        server = subprocess.Popen([sys.executable, "-m", "cli", "--db", db_url, "serve", "--host", "127.0.0.1",
                                   "--port", str(port), "--processes", "2", "--threads", "4"],
                                  cwd=PROJECT, env=serve_env(), stdout=log, stderr=subprocess.STDOUT)
    output = lambda: log_path.read_text()  # noqa: E731
    kids: dict[int, str] = {}
    try:
        def answering():
            assert server.poll() is None, f"serve exited with {server.returncode}:\n{output()}"
            try:
                return health(port)
            except OSError:
                return None

        first = wait_for(answering, "/health to answer", 60)
        assert (first["status"], first["database"]) == ("ok", whistle.db.dialect)

        # Two gunicorn workers and one `whistle worker` child, all children of the serve process.
        kids = wait_for(lambda: (lambda k: k if len(k) == 3 else None)(children(server.pid)),
                        "two server processes and the timer worker", 30)
        executors = [pid for pid, cmd in kids.items() if cmd.split()[-1] == "worker"]
        assert len(executors) == 1, kids
        workers = set(kids) - set(executors)

        # Requests are served by both worker processes (each a new connection; the kernel picks the worker).
        seen: set[int] = set()

        def burst():
            threads = [threading.Thread(target=lambda: seen.add(health(port)["pid"])) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return len(seen) >= 2

        wait_for(burst, "requests answered by a second process", 30)
        assert seen == workers, (seen, kids)

        # A timer fires through the executor child: move the shared clock past it with the CLI.
        moved = cli(db_url, "clock", "advance", "PT11M")
        assert moved.returncode == 0, moved.stderr
        wait_for(lambda: any(e["event"] == "timer_fired" for e in whistle.show(instance)["audit"]),
                 "the timer worker child to fire the timer", 30)
        assert [t["name"] for t in whistle.show(instance)["open_tasks"]] == ["回访"]

        # SIGTERM to serve stops everything: the workers, the executor, then serve itself.
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0, output()
        wait_for(lambda: not any(alive(pid) for pid in kids), "every child process to be gone", 15)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)
        for pid in kids:  # only the processes this test started
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    text = output()
    assert "2 server processes × 4 threads" in text
    assert f"Whistle is serving on http://127.0.0.1:{port}/  (health: http://127.0.0.1:{port}/health)" in text
    assert "timer worker stopped: fired 1, failed 0" in text  # the child fired it, and was stopped cleanly
    assert "Traceback" not in text, text


def test_serve_refuses_bad_settings_in_one_sentence(tmp_path):
    empty = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    cases = [
        (["--db", empty, "serve", "--processes", "2"], {},
         "whistle: the database is empty; run `whistle migrate` first"),
        (["--db", empty, "serve", "--processes", "0"], {},
         "whistle: the number of server processes must be at least 1, not 0"),
        (["--db", empty, "serve"], {"WHISTLE_SERVER_PROCESSES": "two"},
         "whistle: WHISTLE_SERVER_PROCESSES must be a whole number of server processes, not 'two'"),
        (["--db", "sqlite://", "serve", "--processes", "2"], {},
         "whistle: an in-memory SQLite database cannot be shared by several server processes: give it a file, "
         "or use PostgreSQL"),
    ]
    for args, env, message in cases:
        result = subprocess.run([sys.executable, "-m", "cli", *args, "--port", str(free_port())],
                                capture_output=True, text=True, cwd=PROJECT, timeout=60, env=serve_env(**env))
        assert (result.returncode, result.stderr.strip()) == (1, message), result.stderr
