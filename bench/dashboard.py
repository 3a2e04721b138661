"""Dashboard benchmark (issue 18, ADR 13): how long the whistle's dashboards take to read on PostgreSQL with N
closed cases of a year in the aggregates.

    .venv/bin/python bench/dashboard.py [--cases 200000] [--repeat 20] [--postgres-url URL]

Cases, their ``case_fact`` and ``obligation_fact`` rows (two departments called to most cases: a sign and an
on-site obligation each, a handle for the lead; some late, some never) are written directly with SQL
(``generate_series``), as the engine would have left them, into a private schema that is dropped afterwards.
Then ``Whistle.dashboard`` is timed for a district supervisor (the whole district), a street's command centre
and a department: one full page's figures each. Figures only — nothing is asserted.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text  # noqa: E402

from engine.api import Whistle  # noqa: E402
from engine.casework.dashboard import DashboardQuery  # noqa: E402
from engine.store.db import make_engine  # noqa: E402
from engine.store.migrate import upgrade  # noqa: E402

DEFAULT_POSTGRES_URL = os.environ.get("WHISTLE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
STREETS = 12
DEPARTMENTS = 30
YEAR = 2026

FILL = """
INSERT INTO definition_version (id, key, kind, version, name, content_hash, source_file, deployed_at, deployed_by,
                                warnings)
VALUES (1, 'whistle', 'process', 1, '吹哨报到', 'x', 'whistle.bpmn', now(), 'bench', '[]');
INSERT INTO process_instance (id, version_id, process_id, status, state, data, started_at, updated_at, completed_at,
                              revision, street, department)
SELECT g, 1, 'whistle', 'completed', '{}', '{}',
       timestamptz '2026-01-01 00:00+08' + (g % 360) * interval '1 day' + (g % 600) * interval '1 minute',
       now(), now(), 1, 'street-' || (g % :streets), 'dept-' || (g % :departments)
FROM generate_series(1, :cases) g;
INSERT INTO case_fact (instance_id, process_id, started_at, month, status, street, tier, category, decision,
                       whistled, satisfaction, resolved)
SELECT id, 'whistle', started_at, to_char(started_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM'), status, street,
       (ARRAY['red', 'yellow', 'blue'])[1 + id % 3],
       (ARRAY['矛盾排查', '服务群众', '综合执法', '重点工作', '应急处置'])[1 + id % 5],
       CASE WHEN id % 10 < 7 THEN 'whistle' WHEN id % 10 < 9 THEN 'self' ELSE 'reject' END,
       id % 10 < 7, CASE WHEN id % 10 < 9 THEN 1 + id % 5 END, CASE WHEN id % 10 < 7 THEN id % 13 <> 0 END
FROM process_instance;
INSERT INTO obligation_fact (task_id, instance_id, process_id, element_id, kind, party, assigned_at, due_at,
                             closed_event, closed_at, seconds)
SELECT md5(c.instance_id || k.kind || p.n), c.instance_id, 'whistle', k.kind, k.kind,
       'dept-' || ((c.instance_id + p.n) % :departments), c.started_at, c.started_at + interval '1 hour',
       CASE WHEN (c.instance_id + p.n) % 17 = 0 THEN 'cancelled' ELSE 'done' END,
       c.started_at + ((c.instance_id * 7 + p.n) % 90) * interval '1 minute',
       ((c.instance_id * 7 + p.n) % 90) * 60
FROM case_fact c
CROSS JOIN (VALUES ('sign'), ('on_site'), ('handle')) AS k(kind)
CROSS JOIN (VALUES (0), (1)) AS p(n)
WHERE c.whistled AND NOT (k.kind = 'handle' AND p.n = 1);
INSERT INTO human_task (id, instance_id, process_id, version_id, element_id, name, priority, status, created_at,
                        department, street, suspended)
SELECT task_id, instance_id, 'whistle', 1, element_id, element_id, 50, 'completed', assigned_at, party,
       NULL, false
FROM obligation_fact;
"""


def private_schema(base_url: str):
    schema = f"whistle_bench_dashboard_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    base = base_url.replace("postgresql://", "postgresql+psycopg://", 1)
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    upgrade(engine)

    def drop() -> None:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return url, engine, drop


def timed(call, repeat: int) -> tuple[float, float, float]:
    call()  # warm: plans and caches, as a page seen before
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, int(0.95 * len(samples)))]
    return statistics.median(samples), p95, samples[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    args = parser.parse_args()
    url, engine, drop = private_schema(args.postgres_url)
    try:
        start = time.perf_counter()
        with engine.begin() as conn:
            for statement in FILL.split(";\n"):
                if statement.strip():
                    conn.execute(text(statement), {"cases": args.cases, "streets": STREETS,
                                                   "departments": DEPARTMENTS})
            conn.execute(text("ANALYZE"))
            obligations = conn.execute(text("SELECT count(*) FROM obligation_fact")).scalar()
        print(f"filled {args.cases} cases, {obligations} obligations in {time.perf_counter() - start:.1f} s")
        w = Whistle(url.replace("postgresql+psycopg://", "postgresql://", 1))
        w.add_user("bench-supervisor", ["district-supervision"])
        w.add_user("bench-street", ["street-street-3-command"])
        w.add_user("bench-dept", ["dept-dept-7"])
        query = DashboardQuery.of(start=date(YEAR, 1, 1), end=date(YEAR, 12, 31))
        print(f"{'reader':<28}{'median ms':>12}{'p95 ms':>10}{'max ms':>10}")
        for reader in ("bench-supervisor", "bench-street", "bench-dept"):
            median, p95, worst = timed(lambda r=reader: w.dashboard(r, query), args.repeat)
            print(f"{reader:<28}{median:>12.1f}{p95:>10.1f}{worst:>10.1f}")
        w.close()
    finally:
        drop()


if __name__ == "__main__":
    main()
