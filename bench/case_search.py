"""Finding cases at district scale (issue 16, part 1): the administrators' case search (案件管理, ``whistle
instances``, ``GET /api/v1/instances``) over N cases on PostgreSQL — the first page of each kind of filter, through
the engine (``Whistle.search_instances``: the page's rows, their waiting elements, its total when there is more).

    .venv/bin/python bench/case_search.py [--cases 1000000] [--rounds 15] [--postgres-url URL]

The cases are written straight into a private schema with one INSERT … SELECT over generate_series (a million in
well under a minute): 70 % completed, 24 % running (each with an open task at one of ten elements), 3 % suspended,
2 % terminated, 1 % cancelled; six streets, twenty departments, start times over two years; an open incident on
one case in a thousand. Each filter is searched ``--rounds`` times after one warm-up; the figures are medians and
p95 in milliseconds, printed with the plan's top node so an index range can be told from a scan. No timing is
asserted anywhere: the targets live here ("a first page in tens of milliseconds with a million cases").
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, select, text

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from engine.api import Whistle  # noqa: E402
from engine.casework.cases import case_filters  # noqa: E402
from engine.casework.listing import CaseQuery  # noqa: E402
from engine.store.casework import _visible_query, narrowed  # noqa: E402
from engine.store.migrate import upgrade  # noqa: E402
from engine.store.models import ProcessInstance  # noqa: E402

DEFAULT_POSTGRES_URL = os.environ.get("WHISTLE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
STREETS = ["wudadao", "nanshi", "quanyechang", "xiaobailou", "xinxing", "nanyingmen"]
ELEMENTS = [f"task_{n}" for n in range(1, 11)]

FILTERS = {  # what an administrator asks, as the page's URL parameters
    "newest, no filter": {},
    "running": {"status": "running"},
    "suspended": {"status": "suspended"},
    "with an open incident": {"status": "with_incident"},
    "process + running": {"process": "ten_tasks", "status": "running"},
    "street": {"street": "nanshi"},
    "department": {"department": "dept-7"},
    "waiting at an element": {"waiting_at": "task_3"},
    "business key": {"business_key": "KEY-0000777"},
    "started in one month": {"from": "2026-03-01", "to": "2026-03-31"},
    "street + running": {"street": "nanshi", "status": "running"},
    "a street of 10 cases": {"street": "rare-street"},
    "a department of 10": {"department": "dept-rare"},
    "an element none waits at": {"waiting_at": "task_404"},
}


def generate(url: str, cases: int, version_id: int) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("""
            INSERT INTO process_instance (id, version_id, process_id, business_key, status, state, data, started_by,
                                          started_at, updated_at, completed_at, revision, street, department)
            SELECT n, :version, 'ten_tasks', 'KEY-' || lpad(n::text, 7, '0'),
                   CASE WHEN n % 100 < 70 THEN 'completed' WHEN n % 100 < 94 THEN 'running'
                        WHEN n % 100 < 97 THEN 'suspended' WHEN n % 100 < 99 THEN 'terminated' ELSE 'cancelled' END,
                   '{}', '{}', 'bench',
                   timestamptz '2025-01-01 00:00+08' + (n * (730.0 * 86400 / :cases)) * interval '1 second',
                   timestamptz '2025-01-01 00:00+08' + (n * (730.0 * 86400 / :cases)) * interval '1 second',
                   NULL, 1,
                   CASE WHEN n % 100000 = 5 THEN 'rare-street'
                        ELSE (ARRAY['wudadao','nanshi','quanyechang','xiaobailou','xinxing','nanyingmen'])[1 + n % 6]
                   END,
                   CASE WHEN n % 100000 = 5 THEN 'dept-rare' ELSE 'dept-' || (n % 20) END
            FROM generate_series(1, :cases) AS n"""), {"cases": cases, "version": version_id})
        conn.execute(text("""
            INSERT INTO human_task (id, instance_id, process_id, version_id, element_id, name, priority, status,
                                    created_at, suspended)
            SELECT md5(p.id::text), p.id, p.process_id, p.version_id, 'task_' || (1 + p.id % 10), '办理', 50, 'open',
                   p.started_at, p.status = 'suspended'
            FROM process_instance p WHERE p.status IN ('running', 'suspended')"""))
        conn.execute(text("""
            INSERT INTO incident (instance_id, process_id, version_id, command, error_type, message, traceback,
                                  created_at)
            SELECT id, process_id, version_id, 'timer', 'RuntimeError', 'bench', '', started_at
            FROM process_instance WHERE id % 1000 = 70 AND status = 'running'"""))
        conn.execute(text("SELECT setval(pg_get_serial_sequence('process_instance', 'id'), :n)"), {"n": cases})
        conn.execute(text("ANALYZE"))
    engine.dispose()


def plan_top(url: str, whistle: Whistle, args: dict) -> str:
    """The top of the plan of the page's query (the same statement the engine runs)."""
    query = CaseQuery.from_args(args)
    with whistle.db.read() as session:
        given = narrowed(session, case_filters(query))
    statement = _visible_query(select(ProcessInstance.id), None, **given) \
        .order_by(ProcessInstance.started_at.desc(), ProcessInstance.id.desc()).limit(51)
    compiled = statement.compile(whistle.db.engine, compile_kwargs={"literal_binds": True})
    with whistle.db.engine.connect() as conn:
        lines = [r[0] for r in conn.execute(text(f"EXPLAIN {compiled}"))]
    scans = [line.strip().split("  (")[0].lstrip("-> ") for line in lines if "Scan" in line]
    return "; ".join(dict.fromkeys(scans))[:110]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    options = parser.parse_args()
    base = options.postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)
    schema = f"whistle_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    try:
        engine = create_engine(url)
        upgrade(engine)
        engine.dispose()
        whistle = Whistle(url)
        whistle.deploy([PROJECT / "bench" / "fixtures" / "ten_tasks.bpmn"])
        whistle.add_user("bench-admin", ["admins"])
        version_id = whistle.definitions()[0]["version_id"] if "version_id" in whistle.definitions()[0] else 1
        began = time.perf_counter()
        generate(url, options.cases, version_id)
        print(f"{options.cases:,} cases generated in {time.perf_counter() - began:.1f} s (PostgreSQL, schema {schema})")
        print(f"{'filter':<24} {'median ms':>10} {'p95 ms':>8} {'total':>9}  plan")
        for label, args in FILTERS.items():
            query = CaseQuery.from_args(args)
            result = whistle.search_instances("bench-admin", query)  # warm-up
            times = []
            for _ in range(options.rounds):
                start = time.perf_counter()
                result = whistle.search_instances("bench-admin", query)
                times.append((time.perf_counter() - start) * 1000)
            times.sort()
            p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
            print(f"{label:<24} {statistics.median(times):>10.1f} {p95:>8.1f} {result['total']:>9,}  "
                  f"{plan_top(url, whistle, args)}")
        whistle.close()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    main()
