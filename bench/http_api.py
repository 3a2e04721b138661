#!/usr/bin/env python
"""The REST API through the real server: inbox and complete-task requests with concurrent clients, beside
the engine-level figures measured in the same run.

    .venv/bin/python bench/http_api.py [--open-tasks 100000] [--closed-tasks 200000] [--clients 8]
                                       [--inbox-requests 200]
                                       [--completions 100] [--postgres-url URL] [--explain] [--auth bearer|basic]
                                       [--server-processes 2] [--server-threads 2]

On PostgreSQL, in a private schema the bench creates and drops (like tests/conftest.py):

setup    migrate; deploy ``processes/whistle/`` (the real 吹哨报到 process) and ``bench/fixtures/ten_tasks.bpmn``;
         import the demo accounts; give every client a bearer token with the ``tasks`` scope. Then
         bulk-load ``--open-tasks`` open inbox rows with COPY: ``human_task`` + ``task_candidate`` rows shaped
         like the whistle process's user tasks (command-centre review 15 %, street handling/verification
         20 %, department sign/report/lead 50 %, grid notices 10 %, supervision 5 %; six streets, 33
         departments with a skewed share; 10 % claimed; 75 % with a deadline, some overdue). Honest note:
         each inbox row gets a stub ``process_instance`` row (the foreign key needs one) whose state is
         never loaded; the inbox query reads projections only, so real instances behind them would not
         change what is measured. Beside them ``--closed-tasks`` completed tasks of earlier cases with
         their candidates: the history a group accumulates over the years, which the inbox must not read.
         ``ANALYZE`` afterwards, as autovacuum would.
server   ``whistle serve --no-worker --processes 2 --threads 2`` in a subprocess, on a free loopback port:
         gunicorn with 2 worker processes of 2 threads (``--server-processes 1``: waitress, one process).
inbox    ``GET /api/v1/tasks?limit=50`` (the first page) for 8 real demo accounts with large and small
         inboxes (a street command centre with ≈ 5 800 open tasks, the biggest department, supervision, a
         grid worker, small departments): 1 client, then ``--clients`` concurrent clients; next to
         ``Whistle.tasks(user, limit=50)`` called directly (engine level, 1 thread).
complete ``POST /api/v1/tasks/{id}/complete`` on fresh ten-task instances (the first task of each, so every
         completion does the same work), 1 client and ``--clients`` clients, each on its own instances; next
         to ``Whistle.complete`` called directly, 1 thread and ``--clients`` threads, in the same run.
         HTTP overhead = HTTP latency / engine latency at the same concurrency (target ≤ 2×).

Clients are separate processes (forked), each with one persistent HTTP/1.1 connection (``http.client``), on
the same 2-core machine as the server and PostgreSQL, so the figures include client CPU too. ``--explain`` prints
EXPLAIN ANALYZE of the inbox query for each inbox account.
"""
from __future__ import annotations

import argparse  # noqa: E402
import base64  # noqa: E402
import http.client  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, event, select, text  # noqa: E402

from engine.api import Whistle  # noqa: E402
from engine.store.migrate import upgrade  # noqa: E402
from engine.store.models import DefinitionVersion  # noqa: E402

DEFAULT_POSTGRES_URL = os.environ.get("WHISTLE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
STREETS = ["quanyechang", "xiaobailou", "wudadao", "xinxing", "nanshi", "nanyingmen"]
INBOX_USERS = ["command-quanyechang", "command-xiaobailou", "liaison-urban-management", "liaison-police",
               "supervisor", "grid-worker-quanyechang", "liaison-housing", "liaison-water"]
# (element id, name, candidate group kind, share)
WHISTLE_TASKS = [("command_review", "指挥中心审核", "street", 0.15), ("street_handle", "街道自行处置", "street", 0.10),
                 ("street_verify", "街道核验", "street", 0.10), ("sign_order", "签收哨令", "dept", 0.20),
                 ("report_on_site", "到场报到", "dept", 0.15), ("lead_handle", "牵头部门处置", "dept", 0.15),
                 ("notify_rejection", "驳回告知", "grid", 0.05), ("resident_feedback", "居民评价", "grid", 0.05),
                 ("supervise", "区委督查室督办", "supervision", 0.05)]
TARGET_INBOX_P95_MS = 50.0
TARGET_OVERHEAD = 2.0
BENCH_PASSWORD = "bench-pw"


# -- figures -------------------------------------------------------------------------------------------------

def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


class Series:
    def __init__(self, name: str, latencies: list[float], wall: float):
        self.name, self.latencies, self.wall = name, latencies, wall

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.wall if self.wall else float("nan")

    def row(self) -> str:
        ms = [x * 1000 for x in self.latencies]
        return (f"| {self.name} | {len(ms)} | {self.rate:,.0f} | {statistics.median(ms):.2f} | {pct(ms, .95):.2f} | "
                f"{pct(ms, .99):.2f} | {max(ms):.2f} |")

    def p(self, q: float) -> float:
        return pct([x * 1000 for x in self.latencies], q)


HEADER = ("| measurement | requests | per second | p50 ms | p95 ms | p99 ms | max ms |\n"
          "|---|---:|---:|---:|---:|---:|---:|")


def run_client_processes(jobs: list, worker) -> tuple[list[float], float]:
    """Run ``worker(job) -> list of latencies`` for each job in its own forked process, started together:
    HTTP clients are separate programs, as real clients are. (Threads in this process would share one GIL,
    and a response that has arrived would wait for its thread's turn — up to the 5 ms switch interval —
    inflating the latency measured at the client.) The children use only the HTTP client, never this
    process's database connections, and leave with ``os._exit``."""
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(len(jobs) + 1)
    results = context.Queue()

    def body(i, job):
        barrier.wait()
        try:
            results.put((i, worker(job), None))
        except BaseException as exc:  # reported below, the run is invalid
            results.put((i, [], f"{exc.__class__.__name__}: {exc}"))

    children = [context.Process(target=body, args=(i, job)) for i, job in enumerate(jobs)]
    for child in children:
        child.start()
    barrier.wait()
    started = time.perf_counter()
    collected = [results.get(timeout=600) for _ in jobs]
    wall = time.perf_counter() - started
    for child in children:
        child.join()
    errors = [error for _, _, error in collected if error]
    if errors:
        raise RuntimeError(f"{len(errors)} client(s) failed; first: {errors[0]}")
    return [x for _, latencies, _ in sorted(collected, key=lambda r: r[0]) for x in latencies], wall


def run_concurrently(jobs: list, worker) -> tuple[list[float], float]:
    """Run ``worker(job) -> list of latencies`` for each job in its own thread, started together."""
    barrier = threading.Barrier(len(jobs) + 1)
    results: list[list[float]] = [[] for _ in jobs]
    errors: list[BaseException] = []

    def body(i, job):
        barrier.wait()
        try:
            results[i] = worker(job)
        except BaseException as exc:  # reported below, the run is invalid
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    if errors:
        raise errors[0]
    return [x for r in results for x in r], wall


# -- the database --------------------------------------------------------------------------------------------

class PostgresSchema:
    def __init__(self, base_url: str):
        self.base = base_url.replace("postgresql://", "postgresql+psycopg://", 1)
        self.schema = f"whistle_bench_http_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.admin = create_engine(self.base)

    def __enter__(self) -> str:
        with self.admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{self.schema}"'))
        return f"{self.base}{'&' if '?' in self.base else '?'}options=-csearch_path%3D{self.schema}"

    def __exit__(self, *exc) -> None:
        with self.admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{self.schema}" CASCADE'))
        self.admin.dispose()


def load_open_tasks(whistle: Whistle, count: int, closed: int = 0, seed: int = 7) -> dict:
    """COPY ``count`` open inbox rows and ``closed`` completed ones of earlier cases (the history every group
    accumulates), with their stub instances and candidates; returns the open tasks' group sizes."""
    rng = random.Random(seed)
    with whistle.db.read() as session:
        version = session.execute(select(DefinitionVersion).where(DefinitionVersion.key == "whistle")
                                  .order_by(DefinitionVersion.version.desc())).scalars().first()
        departments = sorted(r[0] for r in session.execute(text(
            "SELECT name FROM user_group WHERE name LIKE 'dept-%' AND name NOT LIKE '%-party'")))
        members = {}
        for group, user in session.execute(text("SELECT m.group_name, u.username FROM membership m "
                                                "JOIN user_account u ON u.id = m.user_id")):
            members.setdefault(group, []).append(user)
    # A skewed share per department (urban management and law enforcement carry the most whistles).
    heavy = ["dept-urban-management", "dept-law-enforcement", "dept-housing", "dept-market", "dept-police"]
    dept_weights = [8.0 if d in heavy[:2] else 3.0 if d in heavy else 1.0 for d in departments]
    dept_weights = [w * (0.6 if d in ("dept-housing", "dept-water") else 1.0) for d, w in zip(departments,
                                                                                            dept_weights, strict=True)]
    kinds = [t[3] for t in WHISTLE_TASKS]
    now = datetime.now(UTC)
    first_id = 1
    instance_buf, task_buf, cand_buf = io.StringIO(), io.StringIO(), io.StringIO()
    sizes: dict[str, int] = {}
    for n in range(count + closed):
        is_open = n < count
        instance_id = first_id + n
        element, name, kind, _ = rng.choices(WHISTLE_TASKS, weights=kinds)[0]
        street = rng.choice(STREETS)
        if kind == "street":
            group = f"street-{street}-command"
        elif kind == "grid":
            group = f"grid-{street}"
        elif kind == "supervision":
            group = "district-supervision"
        else:
            group = rng.choices(departments, weights=dept_weights)[0]
        if is_open:
            sizes[group] = sizes.get(group, 0) + 1
        created = now - timedelta(minutes=rng.randint(1, 60 * 24 * 60))
        due = "\\N" if rng.random() < 0.25 else (now + timedelta(minutes=rng.randint(-60 * 24 * 3, 60 * 24 * 20))
                                                 ).isoformat()
        assignee = rng.choice(members.get(group, ["\\N"])) if rng.random() < 0.10 or not is_open else "\\N"
        priority = rng.choices([50, 70, 90], weights=[85, 10, 5])[0]
        task_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        status, case = ("open", "running") if is_open else ("completed", "completed")
        done_at, done_by = ("\\N", "\\N") if is_open else (created.isoformat(), assignee)
        instance_buf.write(f"{instance_id}\t{version.id}\twhistle\t12345-{instance_id:07d}\t{case}\t{{}}\t"
                           f"{{}}\tgrid-worker-{street}\t{created.isoformat()}\t{created.isoformat()}\t\\N\t1\n")
        task_buf.write(f"{task_id}\t{instance_id}\twhistle\t{version.id}\t{element}\t{name}\t\\N\t{element}\t\\N\t"
                       f"{priority}\t{status}\t{assignee}\t{created.isoformat()}\t{due}\t{done_at}\t{done_by}\n")
        offered = "t" if is_open and assignee == "\\N" else "f"  # as Runtime keeps it: open and unclaimed
        cand_buf.write(f"{task_id}\tgroup\t{group}\t{offered}\twhistle\t{due}\t{priority}\t{created.isoformat()}\n")
    raw = whistle.db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        for table, columns, buf in [
            ("process_instance", "id, version_id, process_id, business_key, status, state, data, started_by, "
                                 "started_at, updated_at, completed_at, revision", instance_buf),
            ("human_task", "id, instance_id, process_id, version_id, element_id, name, lane, form_key, "
                           "documentation, priority, status, assignee, created_at, due_at, completed_at, "
                           "completed_by", task_buf),
            ("task_candidate", "task_id, kind, name, offered, process_id, due_at, priority, created_at", cand_buf)]:
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                copy.write(buf.getvalue())
        cursor.execute("SELECT setval(pg_get_serial_sequence('process_instance', 'id'), %s)",
                       (first_id + count + closed,))
        raw.commit()
    finally:
        raw.close()
    # What autovacuum does after a bulk load (statistics, visibility map); outside a transaction.
    with whistle.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for table in ("process_instance", "human_task", "task_candidate"):
            connection.exec_driver_sql(f"VACUUM ANALYZE {table}")
    return sizes


# -- HTTP clients --------------------------------------------------------------------------------------------

class Client:
    def __init__(self, port: int, headers: dict):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = headers

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict, float]:
        payload = json.dumps(body).encode() if body is not None else None
        headers = dict(self.headers)
        if payload is not None:
            headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        self.connection.request(method, path, body=payload, headers=headers)
        response = self.connection.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - started
        return response.status, json.loads(data) if data else {}, elapsed

    def close(self) -> None:
        self.connection.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_configuration(processes: int, threads: int) -> str:
    kind = "waitress, one process" if processes == 1 else f"gunicorn gthread, {processes} processes"
    return f"`whistle serve --no-worker --processes {processes} --threads {threads}` ({kind} × {threads} threads)"


def start_server(url: str, port: int, log, processes: int = 2, threads: int = 8) -> subprocess.Popen:
    """``whistle serve --no-worker`` on ``port``; its output goes to ``log`` (a file: a pipe nobody reads
    would fill up and stall the server)."""
    env = {**os.environ, "WHISTLE_MODE": "production"}
    server = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--no-worker", "--db", url,
                               "--host", "127.0.0.1", "--port", str(port), "--processes", str(processes),
                               "--threads", str(threads)],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}; see {log.name}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                connection.close()
                return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise RuntimeError("the server did not answer /health within 60 s")


# -- measurements --------------------------------------------------------------------------------------------

def engine_inbox(whistle: Whistle, users: list[str], per_user: int, by_user: dict | None = None) -> Series:
    latencies = []
    started = time.perf_counter()
    for _ in range(per_user):
        for user in users:
            t = time.perf_counter()
            whistle.tasks(user, limit=50)
            latencies.append(time.perf_counter() - t)
            if by_user is not None:
                by_user.setdefault(user, []).append(latencies[-1] * 1000)
    return Series("engine `Whistle.tasks(user, limit=50)`, 1 thread", latencies, time.perf_counter() - started)


def http_inbox(port: int, tokens: dict, users: list[str], clients: int, per_client: int, label: str,
               auth: str) -> Series:
    def worker(user):
        client = Client(port, auth_header(tokens, user, auth))
        latencies = []
        try:
            for _ in range(per_client):
                status, body, elapsed = client.request("GET", "/api/v1/tasks?limit=50")
                assert status == 200 and body["tasks"], (status, body)
                latencies.append(elapsed)
        finally:
            client.close()
        return latencies

    latencies, wall = run_client_processes([users[i % len(users)] for i in range(clients)], worker)
    return Series(label, latencies, wall)


def auth_header(tokens: dict, user: str, auth: str) -> dict:
    if auth == "basic":
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{BENCH_PASSWORD}".encode()).decode()}
    return {"Authorization": f"Bearer {tokens[user]}"}


def fresh_first_tasks(whistle: Whistle, count: int) -> list[str]:
    task_ids = []
    for _ in range(count):
        instance_id = whistle.start("bench_ten_tasks", data={"n": 1}, user="bench-clerk-0")
        [task] = whistle.show(instance_id)["open_tasks"]
        task_ids.append(task["task_id"])
    return task_ids


def engine_complete(whistle: Whistle, task_lists: list[list[str]], label: str) -> Series:
    def worker(job):
        user, task_ids = job
        latencies = []
        for task_id in task_ids:
            t = time.perf_counter()
            whistle.complete(task_id, user, {"ok": True})
            latencies.append(time.perf_counter() - t)
        return latencies

    latencies, wall = run_concurrently([(f"bench-clerk-{i}", ids) for i, ids in enumerate(task_lists)], worker)
    return Series(label, latencies, wall)


def http_complete(port: int, tokens: dict, task_lists: list[list[str]], label: str, auth: str) -> Series:
    def worker(job):
        user, task_ids = job
        client = Client(port, auth_header(tokens, user, auth))
        latencies = []
        try:
            for task_id in task_ids:
                status, body, elapsed = client.request("POST", f"/api/v1/tasks/{task_id}/complete",
                                                       {"data": {"ok": True}})
                assert status == 200, (status, body)
                latencies.append(elapsed)
        finally:
            client.close()
        return latencies

    latencies, wall = run_client_processes([(f"bench-clerk-{i}", ids) for i, ids in enumerate(task_lists)], worker)
    return Series(label, latencies, wall)


def explain_inbox(whistle: Whistle, users: list[str]) -> None:
    """EXPLAIN ANALYZE every statement ``Whistle.tasks(user, limit=50)`` runs, for each user."""
    captured = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            captured.append((statement, parameters))

    event.listen(whistle.db.engine, "before_cursor_execute", capture)
    try:
        for user in users:
            captured.clear()
            started = time.perf_counter()
            whistle.tasks(user, limit=50)
            elapsed = (time.perf_counter() - started) * 1000
            print(f"\n=== inbox of {user}: {len(captured)} statements, {elapsed:.1f} ms in Whistle.tasks ===")
            raw = whistle.db.engine.raw_connection()
            try:
                cursor = raw.cursor()
                for statement, parameters in captured:
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                    plan = [r[0] for r in cursor.fetchall()]
                    first = " ".join(statement.split())[:110]
                    print(f"--- {first} …\n    " + "\n    ".join(plan))
                raw.rollback()
            finally:
                raw.close()
    finally:
        event.remove(whistle.db.engine, "before_cursor_execute", capture)


# -- main ----------------------------------------------------------------------------------------------------

def machine() -> str:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--open-tasks", type=int, default=100_000)
    parser.add_argument("--closed-tasks", type=int, default=200_000,
                        help="completed tasks of earlier cases, with their candidates (default 200000)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--inbox-requests", type=int, default=200, help="per client (default 200)")
    parser.add_argument("--completions", type=int, default=100, help="per client (default 100)")
    parser.add_argument("--auth", choices=["bearer", "basic"], default="bearer")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the inbox queries")
    parser.add_argument("--server-processes", type=int, default=2,
                        help="`whistle serve --processes` (default 2: gunicorn; 1: waitress, one process)")
    parser.add_argument("--server-threads", type=int, default=2, help="`whistle serve --threads`, per process "
                                                                      "(default 2, as `whistle serve` uses with "
                                                                      "several processes)")
    args = parser.parse_args()

    print(f"machine: {machine()}")
    print(f"server: {server_configuration(args.server_processes, args.server_threads)}")
    with PostgresSchema(args.postgres_url) as url:
        setup_started = time.perf_counter()
        engine = create_engine(url)
        upgrade(engine)
        engine.dispose()
        whistle = Whistle(url)
        with whistle.db.read() as session:
            print("database:", session.execute(text("SELECT version()")).scalar().split(",")[0])
        whistle.deploy([ROOT / "processes" / "whistle", ROOT / "bench" / "fixtures" / "ten_tasks.bpmn"])
        whistle.import_users(ROOT / "processes" / "demo-accounts.json")
        tokens = {}
        for user in INBOX_USERS:
            whistle.add_user(user, [], password=BENCH_PASSWORD)
            tokens[user] = whistle.create_token(f"bench-{user}", user, ["tasks"])["token"]
        for i in range(args.clients):
            user = f"bench-clerk-{i}"
            whistle.add_user(user, ["hotline", "command-centre", "street", "dept-urban"], password=BENCH_PASSWORD)
            tokens[user] = whistle.create_token(f"bench-{user}", user, ["tasks"])["token"]
        sizes = load_open_tasks(whistle, args.open_tasks, args.closed_tasks)
        with whistle.db.read() as session:
            open_count = session.execute(text("SELECT count(*) FROM human_task WHERE status = 'open'")).scalar()
            all_count = session.execute(text("SELECT count(*) FROM human_task")).scalar()
        setup_seconds = time.perf_counter() - setup_started
        print(f"setup: {open_count:,} open tasks ({all_count:,} with the completed history) in {setup_seconds:.1f} s; "
              f"inbox accounts' group sizes: " + ", ".join(
                  f"{u}={sum(sizes.get(g, 0) for g in _groups(whistle, u))}" for u in INBOX_USERS))
        if args.explain:
            explain_inbox(whistle, INBOX_USERS)

        total = args.clients * args.completions
        sequential_n = max(args.completions * 2, 50)
        print(f"starting {2 * total + 2 * sequential_n + 20:,} ten-task instances for the completions …",
              flush=True)
        warmup = fresh_first_tasks(whistle, 20)
        engine_seq_ids = fresh_first_tasks(whistle, sequential_n)
        http_seq_ids = fresh_first_tasks(whistle, sequential_n)
        engine_par_ids = fresh_first_tasks(whistle, total)
        http_par_ids = fresh_first_tasks(whistle, total)

        port = free_port()
        server_log = tempfile.NamedTemporaryFile("w+", prefix="whistle-bench-server-", suffix=".log", delete=False)
        server = start_server(url, port, server_log, args.server_processes, args.server_threads)
        series: list[Series] = []
        try:
            # Warm up: the server's pools and spec cache, the engine's too.
            http_complete(port, tokens, [warmup[:10]], "warm-up", args.auth)
            engine_complete(whistle, [warmup[10:]], "warm-up")
            http_inbox(port, tokens, INBOX_USERS, 1, 20, "warm-up", args.auth)
            engine_inbox(whistle, INBOX_USERS, 2)

            per_user = max(args.inbox_requests // len(INBOX_USERS), 1)
            by_user: dict[str, list[float]] = {}
            series.append(engine_inbox(whistle, INBOX_USERS, per_user, by_user))
            series.append(http_inbox(port, tokens, INBOX_USERS, 1, args.inbox_requests,
                                     "HTTP `GET /api/v1/tasks?limit=50`, 1 client", args.auth))
            series.append(http_inbox(port, tokens, INBOX_USERS, args.clients, args.inbox_requests,
                                     f"HTTP `GET /api/v1/tasks?limit=50`, {args.clients} clients", args.auth))
            series.append(engine_complete(whistle, [engine_seq_ids], "engine `Whistle.complete`, 1 thread"))
            series.append(http_complete(port, tokens, [http_seq_ids],
                                        "HTTP `POST /api/v1/tasks/{id}/complete`, 1 client", args.auth))
            chunks = lambda ids: [ids[i::args.clients] for i in range(args.clients)]  # noqa: E731
            series.append(engine_complete(whistle, chunks(engine_par_ids),
                                          f"engine `Whistle.complete`, {args.clients} threads"))
            series.append(http_complete(port, tokens, chunks(http_par_ids),
                                        f"HTTP `POST /api/v1/tasks/{{id}}/complete`, {args.clients} clients",
                                        args.auth))
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
            server_log.close()
            errors = [line for line in Path(server_log.name).read_text().splitlines()
                      if " ERROR " in line or "[ERROR]" in line]  # [ERROR]: gunicorn's own log lines
            if errors:
                print(f"server log: {server_log.name} ({len(errors)} ERROR lines)")
            else:
                Path(server_log.name).unlink()
        whistle.close()

    print(f"\nserver: {server_configuration(args.server_processes, args.server_threads)}")
    print(f"authentication: {args.auth}; {open_count:,} open tasks\n")
    print(HEADER)
    for s in series:
        print(s.row())
    print("\nengine inbox p50 per account (ms): " + ", ".join(
        f"{user} {statistics.median(ms):.1f}" for user, ms in by_user.items()))
    inbox = series[2]
    e1, h1, en, hn = series[3], series[4], series[5], series[6]
    print()
    verdict = "met" if inbox.p(.95) <= TARGET_INBOX_P95_MS else "MISSED"
    print(f"inbox first page p95 with {args.clients} clients: {inbox.p(.95):.1f} ms "
          f"(target ≤ {TARGET_INBOX_P95_MS:.0f}) — {verdict}")
    print(f"inbox first page p95 with 1 client: {series[1].p(.95):.1f} ms")
    for label, engine_s, http_s in (("1 client", e1, h1), (f"{args.clients} clients", en, hn)):
        ratio50 = http_s.p(.5) / engine_s.p(.5)
        ratio95 = http_s.p(.95) / engine_s.p(.95)
        throughput = engine_s.rate / http_s.rate
        verdict = "met" if ratio50 <= TARGET_OVERHEAD else "MISSED"
        print(f"complete, {label}: HTTP/engine p50 {ratio50:.2f}×, p95 {ratio95:.2f}×, "
              f"throughput engine/HTTP {throughput:.2f}× (target ≤ {TARGET_OVERHEAD:.0f}×) — {verdict}")
    return 0


def _groups(whistle: Whistle, user: str) -> set[str]:
    with whistle.db.read() as session:
        return set(session.execute(text("SELECT m.group_name FROM membership m JOIN user_account u "
                                         "ON u.id = m.user_id WHERE u.username = :u"), {"u": user}).scalars())


if __name__ == "__main__":
    sys.exit(main())
