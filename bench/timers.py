#!/usr/bin/env python
"""Timer throughput: a backlog of timers all due at the same instant, drained by 1 and by 2 worker processes.

    .venv/bin/python bench/timers.py [--instances 10000] [--workers 1 2] [--postgres-url URL]
                                     [--lone-samples 5] [--write-results]

What is measured, on PostgreSQL in a private schema the bench creates and drops:

setup     (not timed as part of the drain) N instances of ``bench/fixtures/timer_deadline.bpmn`` are started
          through the engine API (``Whistle.start``, in two helper processes): each waits in a user task with
          an interrupting boundary timer whose ``timeDate`` is the same instant T for all of them, so there are
          N ``timer_job`` rows due at T. The shared database clock (test mode) stands well before T.
drain     K real ``whistle worker`` processes (``python -m engine.cli worker``) are started and left idle;
          their RSS is read. Then the database clock is set to T + 1 s, and the bench polls until the
          ``timer_job`` table is empty. Reported: wall-clock drain time from the clock change to an empty job
          table (it includes the workers noticing the new time: their clock cache is 0.5 s, their idle poll
          0.5 s), the span between the first and last ``timer_fired`` audit event, timers/second for both,
          each worker's share (its own count, printed when it stops), and worker RSS at start, peak and end.
proof     every instance has exactly one ``timer_fired`` audit event, every job id appears once, N open
          "超时督办" tasks and N cancelled "现场处置" tasks exist, and the audit hash chain verifies.
lone lag  one idle worker (poll 0.5 s); an instance whose timer is due about 1.5–2 s ahead in real time is
          started; lag = audit time of its ``timer_fired`` − its due time. Repeated ``--lone-samples`` times.
raw       in the same run, the floor for one timer with SpiffWorkflow alone and no database: deserialize the
          full JSON state (spec included) → ``refresh_timers()`` + ``do_engine_steps()`` → serialize.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ["WHISTLE_MODE"] = "test"  # the shared database clock; inherited by helper and worker processes

from sqlalchemy import create_engine, text  # noqa: E402

from engine.api import Whistle  # noqa: E402
from engine.store.db import make_engine  # noqa: E402
from engine.store.migrate import upgrade  # noqa: E402
from engine.time import clock  # noqa: E402

FIXTURE = ROOT / "bench" / "fixtures" / "timer_deadline.bpmn"
PROCESS_ID = "bench_timer_deadline"
DEFAULT_POSTGRES_URL = os.environ.get("WHISTLE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
EPOCH = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)  # the engine time the backlog is built at
TARGET_RATE = 200.0
TARGET_LAG = 1.0


# -- database ------------------------------------------------------------------------------------------------

def private_schema(base_url: str) -> tuple[str, callable]:
    schema = f"whistle_bench_timers_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    base = base_url.replace("postgresql://", "postgresql+psycopg://", 1)
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return url, drop


def analyze(db) -> None:
    """Planner statistics, as autovacuum keeps them in a live database. Right after TRUNCATE + bulk setup
    PostgreSQL has none, and may pick ``ix_human_task_status_due`` for the per-instance open-task query,
    scanning every open task of the backlog on each firing (seen here: the drain gets slower than O(N))."""
    with db.begin() as conn:
        conn.execute(text("ANALYZE"))


def scalar(url_engine, sql: str, **params):
    with url_engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


# -- setup ---------------------------------------------------------------------------------------------------

def _start_many(url: str, count: int, deadline: str) -> int:
    whistle = Whistle(url)
    try:
        for _ in range(count):
            whistle.start(PROCESS_ID, data={"deadline": deadline})
    finally:
        whistle.close()
    return count


def build_backlog(url: str, n: int, deadline: datetime, helpers: int = 2) -> float:
    began = time.perf_counter()
    shares = [n // helpers + (1 if i < n % helpers else 0) for i in range(helpers)]
    with ProcessPoolExecutor(max_workers=helpers, mp_context=get_context("spawn")) as pool:
        done = sum(pool.map(_start_many, [url] * helpers, shares, [deadline.isoformat()] * helpers))
    assert done == n
    return time.perf_counter() - began


# -- workers -------------------------------------------------------------------------------------------------

def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


WORKER_APP = "whistle-bench-worker"


def server_cpu(db) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend serving a bench worker (same machine)."""
    with db.connect() as conn:
        pids = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE application_name = :app"),
                            {"app": WORKER_APP}).scalars().all()
    return {pid: cpu for pid in pids if (cpu := cpu_seconds(pid)) is not None}


def start_workers(url: str, count: int, poll: float, batch: int) -> list[subprocess.Popen]:
    workers = []
    url = f"{url}&application_name={WORKER_APP}"
    for i in range(count):
        proc = subprocess.Popen([sys.executable, "-m", "cli", "--db", url, "worker", "--poll", str(poll),
                                 "--batch", str(batch), "--name", f"bench-worker-{i + 1}"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        workers.append(proc)
    for proc in workers:
        line = proc.stdout.readline()
        if "started" not in line:
            raise RuntimeError(f"worker did not start: {line}{proc.stderr.read()}")
    return workers


def stop_workers(workers: list[subprocess.Popen]) -> list[int]:
    fired = []
    for proc in workers:
        proc.send_signal(signal.SIGTERM)
    for proc in workers:
        out, err = proc.communicate(timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"worker exited with {proc.returncode}: {err}")
        last = [line for line in out.splitlines() if "stopped" in line][-1]
        fired.append(int(last.split("fired ")[1].split(",")[0]))
    return fired


# -- the drain -----------------------------------------------------------------------------------------------

def drain(base_url: str, n: int, worker_count: int, poll: float, batch: int) -> dict:
    url, drop = private_schema(base_url)  # a fresh schema per run: no leftovers from the previous one
    try:
        return _drain(url, n, worker_count, poll, batch)
    finally:
        drop()


def _drain(url: str, n: int, worker_count: int, poll: float, batch: int) -> dict:
    whistle = Whistle(url)
    db = whistle.db.engine
    whistle.clock_set(EPOCH.isoformat())
    whistle.deploy([FIXTURE])
    due = EPOCH + timedelta(days=1)
    setup_s = build_backlog(url, n, due)
    assert scalar(db, "SELECT count(*) FROM timer_job WHERE due_at = :due", due=due) == n
    analyze(db)

    workers = start_workers(url, worker_count, poll, batch)
    time.sleep(1.0)  # idle: the workers have connected and polled
    rss_start = [rss_mb(p.pid) for p in workers]
    rss_peak = list(rss_start)
    cpu_start = [cpu_seconds(p.pid) for p in workers]
    server_start = server_cpu(db)
    load_before = os.getloadavg()[0]

    whistle.clock_set((due + timedelta(seconds=1)).isoformat())
    began = time.monotonic()
    remaining = n
    while remaining:
        time.sleep(0.1)
        remaining = scalar(db, "SELECT count(*) FROM timer_job")
        rss_peak = [max(a or 0, rss_mb(p.pid) or 0) for a, p in zip(rss_peak, workers, strict=True)]
        if time.monotonic() - began > 600:
            raise RuntimeError(f"drain did not finish in 10 minutes ({remaining} jobs left)")
    wall = time.monotonic() - began
    rss_end = [rss_mb(p.pid) for p in workers]
    cpu_used = sum(b - a for a, b in zip(cpu_start, [cpu_seconds(p.pid) for p in workers], strict=True))
    server_used = sum(cpu - server_start.get(pid, 0.0) for pid, cpu in server_cpu(db).items())
    load_after = os.getloadavg()[0]
    shares = stop_workers(workers)

    proof = prove(whistle, db, n)
    first, last = proof.pop("first_fired"), proof.pop("last_fired")
    span = (last - first).total_seconds()
    whistle.close()
    return {"workers": worker_count, "instances": n, "setup_s": setup_s, "drain_wall_s": wall,
            "rate_wall": n / wall, "fired_span_s": span, "rate_span": n / span if span > 0 else float("inf"),
            "shares": shares, "rss_start_mb": rss_start, "rss_peak_mb": rss_peak, "rss_end_mb": rss_end,
            "worker_cpu_ms_per_timer": cpu_used * 1000 / n, "server_cpu_ms_per_timer": server_used * 1000 / n,
            "load_before": load_before, "load_after": load_after,
            **proof}


def prove(whistle: Whistle, db, n: int) -> dict:
    with db.connect() as conn:
        events, instances, worst = conn.execute(text(
            "SELECT count(*), count(DISTINCT instance_id), "
            "(SELECT max(c) FROM (SELECT count(*) AS c FROM audit_event WHERE event_type = 'timer_fired' "
            "GROUP BY instance_id) per_instance) "
            "FROM audit_event WHERE event_type = 'timer_fired'")).one()
        jobs, distinct_jobs = conn.execute(text(
            "SELECT count(*), count(DISTINCT (details::jsonb ->> 'job_id')) FROM audit_event "
            "WHERE event_type = 'timer_fired'")).one()
        escalations = conn.execute(text("SELECT count(*) FROM human_task WHERE element_id = 'escalate' "
                                        "AND status = 'open'")).scalar()
        cancelled = conn.execute(text("SELECT count(*) FROM human_task WHERE element_id = 'handle' "
                                      "AND status = 'cancelled'")).scalar()
        first, last = conn.execute(text("SELECT min(at), max(at) FROM audit_event "
                                        "WHERE event_type = 'timer_fired'")).one()
    chain = whistle.verify_audit()
    ok = (events == n and instances == n and worst == 1 and distinct_jobs == n and escalations == n
          and cancelled == n and chain.ok)
    return {"timer_fired_events": events, "instances_fired": instances, "max_fired_per_instance": worst,
            "distinct_job_ids": distinct_jobs, "open_escalations": escalations, "cancelled_tasks": cancelled,
            "audit_rows_verified": chain.rows, "audit_chain_ok": chain.ok, "exactly_once": ok,
            "first_fired": first, "last_fired": last}


# -- lone timer lag ------------------------------------------------------------------------------------------

def lone_lag(base_url: str, samples: int, poll: float) -> dict:
    url, drop = private_schema(base_url)
    try:
        return _lone_lag(url, samples, poll)
    finally:
        drop()


def _lone_lag(url: str, samples: int, poll: float) -> dict:
    whistle = Whistle(url)
    db = whistle.db.engine
    whistle.clock_set(EPOCH.isoformat())
    whistle.deploy([FIXTURE])
    [worker] = start_workers(url, 1, poll, 20)
    lags = []
    try:
        time.sleep(0.8)
        for _ in range(samples):
            due = clock.now() + timedelta(seconds=1.5 + random.random() * 0.5)
            instance = whistle.start(PROCESS_ID, data={"deadline": due.isoformat()})
            deadline = time.monotonic() + 30
            while True:
                row = scalar(db, "SELECT at FROM audit_event WHERE event_type = 'timer_fired' "
                                 "AND instance_id = :i", i=instance)
                if row is not None:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError("the lone timer did not fire within 30 s")
                time.sleep(0.02)
            fired_at = row if row.tzinfo else row.replace(tzinfo=UTC)
            lags.append((fired_at - due).total_seconds())
    finally:
        rss = rss_mb(worker.pid)
        stop_workers([worker])
        whistle.close()
    return {"samples": lags, "median_s": statistics.median(lags), "max_s": max(lags), "worker_rss_mb": rss}


# -- raw SpiffWorkflow floor ---------------------------------------------------------------------------------

def raw_fire_ms(samples: int = 300) -> float:
    from SpiffWorkflow.bpmn import BpmnWorkflow
    from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
    from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

    from engine.bpmn import timers
    from engine.bpmn.parser import WhistleParser
    from engine.scripting.script_engine import script_engine

    manual = clock.ManualClock(EPOCH)
    previous = clock.active()
    clock.install(manual)
    try:
        parser = WhistleParser()
        parser.add_bpmn_file(str(FIXTURE))
        spec = parser.get_spec(PROCESS_ID)
        registry = BpmnWorkflowSerializer.configure(SPIFF_CONFIG)
        timers.register_converters(registry)
        serializer = BpmnWorkflowSerializer(registry)
        workflow = BpmnWorkflow(spec, script_engine=script_engine())
        workflow.task_tree.data["deadline"] = (EPOCH + timedelta(hours=1)).isoformat()
        workflow.do_engine_steps()
        state = serializer.serialize_json(workflow)
        manual.advance(timedelta(hours=2))
        times = []
        for _ in range(samples):
            began = time.perf_counter()
            wf = serializer.deserialize_json(state)
            wf.script_engine = script_engine()
            wf.refresh_timers()
            wf.do_engine_steps()
            serializer.serialize_json(wf)
            times.append((time.perf_counter() - began) * 1000)
        return statistics.median(times)
    finally:
        clock.install(previous)


# -- report --------------------------------------------------------------------------------------------------

def environment() -> dict:
    import SpiffWorkflow
    import sqlalchemy

    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "spiff": getattr(SpiffWorkflow, "__version__", "3.2"), "sqlalchemy": sqlalchemy.__version__}


def markdown(runs: list[dict], lone: dict, raw_ms: float, env: dict, args) -> str:
    best = max((r for r in runs if r["workers"] == 2), key=lambda r: r["rate_wall"], default=None)
    lines = ["## Timers", "",
             f"`bench/timers.py`, measured on **{datetime.now().date().isoformat()}** on PostgreSQL (private schema, "
             f"same VM), {env['cores']} cores ({env['cpu']}), Python {env['python']}, SQLAlchemy {env['sqlalchemy']}.",
             "",
             f"Backlog: {args.instances:,} instances of `bench/fixtures/timer_deadline.bpmn` (a user task with an "
             "interrupting boundary timer → an escalation user task), all timers due at the same instant. Setup "
             "starts them through `Whistle.start` (2 helper processes) and is not part of the drain. Workers are "
             f"real `whistle worker` processes (`--poll {args.poll:g} --batch {args.batch}`), idle when the shared "
             "database clock is moved past the due time. Firing one timer = lock instance, load, "
             "`refresh_timers` + `do_engine_steps` (cancel the task, create the escalation), save state, inbox, "
             "job row and hash-chained audit, commit.", "",
             "| workers | drain (wall, clock change → empty job table) | timers/s (wall) | first → last `timer_fired` "
             "| timers/s (span) | per worker | CPU ms/timer: workers + PostgreSQL | load avg before → after "
             "| exactly once | worker RSS MB start → peak → end | setup |",
             "|---:|---:|---:|---:|---:|---|---|---|---|---|---:|"]
    for r in runs:
        rss = "; ".join(f"{a:.0f} → {b:.0f} → {c:.0f}" for a, b, c in zip(r["rss_start_mb"], r["rss_peak_mb"],
                                                                          r["rss_end_mb"], strict=True))
        proof = (f"yes ({r['timer_fired_events']:,} events, {r['instances_fired']:,} instances, "
                 f"max {r['max_fired_per_instance']}/instance, {r['distinct_job_ids']:,} job ids)"
                 if r["exactly_once"] else f"**NO** {r}")
        lines.append(f"| {r['workers']} | {r['drain_wall_s']:.1f} s | **{r['rate_wall']:.0f}** | "
                     f"{r['fired_span_s']:.1f} s | {r['rate_span']:.0f} | {' + '.join(map(str, r['shares']))} | "
                     f"{r['worker_cpu_ms_per_timer']:.2f} + {r['server_cpu_ms_per_timer']:.2f} | "
                     f"{r['load_before']:.1f} → {r['load_after']:.1f} | "
                     f"{proof} | {rss} | {r['setup_s']:.0f} s |")
    if best:
        cpu = best["worker_cpu_ms_per_timer"] + best["server_cpu_ms_per_timer"]
        lines += ["", f"CPU per timer with 2 workers: {best['worker_cpu_ms_per_timer']:.2f} ms in the workers + "
                      f"{best['server_cpu_ms_per_timer']:.2f} ms in their PostgreSQL backends = {cpu:.2f} ms, so "
                      f"{env['cores']} otherwise idle cores could fire at most ≈ {env['cores'] * 1000 / cpu:.0f} "
                      "timers/s; the wall-clock rate is lower by whatever else the machine was running (load "
                      "average columns)."]
    lags = ", ".join(f"{x * 1000:.0f}" for x in lone["samples"])
    lines += ["",
              f"Lone timer lag (due → `timer_fired`, one idle worker, poll {args.poll:g} s): median "
              f"**{lone['median_s'] * 1000:.0f} ms**, max **{lone['max_s'] * 1000:.0f} ms** "
              f"(samples: {lags} ms); worker RSS {lone['worker_rss_mb']:.0f} MB.", "",
              f"Raw SpiffWorkflow floor for one timer in the same run (deserialize full JSON → refresh_timers + "
              f"do_engine_steps → serialize, no database): {raw_ms:.2f} ms median"
              + (f"; Whistle with 2 workers spends {1000 / best['rate_wall']:.2f} ms of wall time per timer "
                 f"({1000 / best['rate_wall'] / raw_ms:.1f}× the raw floor)." if best else "."), ""]
    verdict_rate = best is not None and best["rate_wall"] >= TARGET_RATE
    verdict_lag = lone["max_s"] <= TARGET_LAG
    lines += [f"- ≥ {TARGET_RATE:.0f} timers/s with 2 workers: **{'met' if verdict_rate else 'missed'}**"
              + (f" ({best['rate_wall']:.0f}/s wall clock)" if best else ""),
              f"- lone timer lag ≤ {TARGET_LAG:.0f} s: **{'met' if verdict_lag else 'missed'}** "
              f"(max {lone['max_s'] * 1000:.0f} ms)",
              f"- each timer fired exactly once: **{'yes' if all(r['exactly_once'] for r in runs) else 'NO'}**",
              "- worker memory: start → end per worker in the table above.", "",
              f"Reproduce: `.venv/bin/python bench/timers.py --instances {args.instances} "
              f"--workers {' '.join(map(str, args.workers))}` (add `--write-results` to update this section).", ""]
    return "\n".join(lines)


def write_section(section: str) -> None:
    """Replace this bench's section of RESULTS.md, or append it; other sections are left as they are."""
    path = ROOT / "bench" / "RESULTS.md"
    current = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    start = current.find("\n## Timers\n")
    if start < 0:
        updated = current.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n"
    else:
        end = current.find("\n## ", start + 1)  # the section has no other level-2 heading inside
        rest = current[end:] if end >= 0 else ""
        updated = current[:start].rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n" + rest
    path.write_text(updated, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--poll", type=float, default=0.5)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--lone-samples", type=int, default=5)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--write-results", action="store_true", help="update the Timers section of bench/RESULTS.md")
    args = parser.parse_args()

    env = environment()
    clock.install(clock.SystemClock())
    raw_ms = raw_fire_ms()
    print(f"raw SpiffWorkflow timer cycle: {raw_ms:.2f} ms median", flush=True)
    runs = []
    for count in args.workers:
        result = drain(args.postgres_url, args.instances, count, args.poll, args.batch)
        runs.append(result)
        print(json.dumps({k: v for k, v in result.items()}, default=str), flush=True)
    lone = lone_lag(args.postgres_url, args.lone_samples, args.poll)
    print(json.dumps(lone), flush=True)
    section = markdown(runs, lone, raw_ms, env, args)
    print()
    print(section)
    if args.write_results:
        write_section(section)
        print("(written to bench/RESULTS.md)")


if __name__ == "__main__":
    main()
