"""``whistle report whistle``: the whistle's dashboards as a file — every table of the year (or of a street or
a department) as one XLSX workbook, or one table as CSV (``engine.casework.dashboard``,
``engine.queries.exports``). Without ``--user`` the operator sees the district; with it, the engine's rule of
who sees which street or department applies."""
from __future__ import annotations

import argparse
from pathlib import Path

from cli.arguments import engine_for
from cli.output import emit
from cli.registry import Commands
from engine.casework.dashboard import TABLES, DashboardQuery
from engine.queries.exports import FORMATS


def register(commands: Commands) -> None:
    p = commands.add("report", "the whistle's dashboards as CSV or XLSX (吹哨报到数据看板): cases by tier, status, "
                               "street, category and month, 吹哨率 per street, departments' rates and times, "
                               "overdue now, the departments most often late", report)
    p.add_argument("report", choices=("whistle",), help="which report")
    p.add_argument("--year", type=int, required=True)
    p.add_argument("--street", help="a street id (wudadao)")
    p.add_argument("--department", help="a department group (dept-housing)")
    p.add_argument("--format", choices=FORMATS, default="xlsx")
    p.add_argument("--table", choices=TABLES, help="one table (CSV holds one table: default 'departments')")
    p.add_argument("--out", required=True, type=Path, help="the file to write")
    p.add_argument("--user", help="read as this account (its street or department only)")


def report(args: argparse.Namespace) -> int:
    w = engine_for(args)
    query = DashboardQuery.of(year=args.year, street=args.street, department=args.department)
    table = args.table or ("departments" if args.format == "csv" else None)
    data = w.dashboard_export(args.user, query, args.format, (table,) if table else None)
    args.out.write_bytes(data)
    emit(args, {"report": args.report, "format": args.format, "out": str(args.out), "bytes": len(data),
                "tables": [table] if table else list(TABLES)},
         lambda r: f"wrote {r['out']} ({r['format']}, {r['bytes']} bytes; {', '.join(r['tables'])})")
    return 0
