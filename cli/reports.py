"""``whistle report KIND`` and ``whistle evaluation whatif``: the whistle's dashboards as a file (every table of
the year, of a street or of a department, as one XLSX workbook, or one table as CSV: ``engine.casework.dashboard``,
``engine.queries.exports``), the evaluation's workbook, and a year recomputed with other weights. Reports are
functions keyed by kind and format (``REPORTS``). Without ``--user`` the operator reads the district; with it,
the engine's rule of who sees which street or department applies."""
from __future__ import annotations

import argparse
import io
from collections.abc import Callable
from pathlib import Path

from cli.arguments import engine_for, json_object
from cli.output import emit, table
from cli.registry import Commands
from engine.api import Whistle
from engine.casework.dashboard import TABLES, DashboardQuery
from engine.errors import InvalidInput

GRADES = ("优秀", "良好", "一般")


def evaluation_xlsx(w: Whistle, args: argparse.Namespace) -> bytes:
    """The year's evaluation as a workbook: 排名 (ranking), 部门明细 (per department: the cases behind the
    completion part), 扣分 (the streets' deductions with their reasons)."""
    from openpyxl import Workbook

    found = w.evaluation_explained(getattr(args, "user", None), args.year)
    book = Workbook()
    ranking = book.active
    ranking.title = "排名"
    ranking.append(["名次", "部门", "事项完成度", "群众满意度", "履职服务感知度", "总分", "等次", "申诉"])
    for r in found["ranking"]:
        if args.department and r["department"] != args.department:
            continue
        ranking.append([r["rank"], r["department"], r["completion"], r["satisfaction"], r["perceived"], r["total"],
                        r["grade"], r["appeal"]])
    detail = book.create_sheet("部门明细")
    detail.append(["部门", "考核记录", "按时报到", "迟到", "未报到", "按时报到案件", "迟到案件", "未报到案件"])
    deductions = book.create_sheet("扣分")
    deductions.append(["部门", "街道", "评分", "扣分", "扣分原因"])
    for department, why in found["departments"].items():
        if args.department and department != args.department:
            continue
        detail.append([department, why["records"], len(why["on_time"]), len(why["late"]), len(why["never"]),
                       "、".join(map(str, why["on_time"])), "、".join(map(str, why["late"])),
                       "、".join(map(str, why["never"]))])
        for d in why["deductions"]:
            if args.street and d["street"] != args.street:
                continue
            deductions.append([department, d["street"], d["score"], d["deducted"], d["reason"]])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def whistle_report(fmt: str) -> Callable[[Whistle, argparse.Namespace], bytes]:
    """The dashboards' tables: a workbook of them all, or one table (CSV holds one: by default 'departments')."""
    def write(w: Whistle, args: argparse.Namespace) -> bytes:
        query = DashboardQuery.of(year=args.year, street=args.street, department=args.department)
        table = args.table or ("departments" if fmt == "csv" else None)
        return w.dashboard_export(args.user, query, fmt, (table,) if table else None)
    return write


REPORTS: dict[str, dict[str, Callable[[Whistle, argparse.Namespace], bytes]]] = {
    "whistle": {"xlsx": whistle_report("xlsx"), "csv": whistle_report("csv")},
    "evaluation": {"xlsx": evaluation_xlsx},
}


def register(commands: Commands) -> None:
    p = commands.add("report", "write a report file: the whistle's dashboards as CSV or XLSX (吹哨报到数据看板), or "
                               "the evaluation's workbook (ranking, per-department detail, deductions)", report)
    p.add_argument("kind", choices=sorted(REPORTS))
    p.add_argument("--year", type=int, required=True)
    p.add_argument("--street", help="a street id (wudadao)")
    p.add_argument("--department", help="a department group (dept-housing)")
    p.add_argument("--format", default="xlsx")
    p.add_argument("--table", choices=TABLES, help="whistle: one table (CSV holds one table: default 'departments')")
    p.add_argument("--out", required=True)
    p.add_argument("--user", help="as this person may read it (default: the district)")

    evaluation = commands.group("evaluation", "the yearly evaluation of the departments")
    p = evaluation.add("whatif", "recompute a year with other weights or bands and show who would move; publishes "
                                 "nothing", whatif)
    p.add_argument("--year", type=int, required=True)
    p.add_argument("--weights", help='a JSON object, like \'{"w_completion": 0.6, "w_perceived": 0.2}\'')
    p.add_argument("--dmn", help="a draft of evaluation-weights.dmn")


def report(args: argparse.Namespace) -> int:
    writers = REPORTS[args.kind]
    if args.format not in writers:
        raise InvalidInput(f"--format: the {args.kind} report comes as {', '.join(sorted(writers))}")
    content = writers[args.format](engine_for(args), args)
    Path(args.out).write_bytes(content)
    emit(args, {"kind": args.kind, "file": args.out, "bytes": len(content)},
         lambda v: f"{v['kind']} report written to {v['file']} ({v['bytes']} bytes)")
    return 0


def whatif(args: argparse.Namespace) -> int:
    if (args.weights is None) == (args.dmn is None):
        raise InvalidInput("give --weights JSON or --dmn FILE")
    dmn = None
    if args.dmn is not None:
        try:
            dmn = Path(args.dmn).read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(f"cannot read {args.dmn}: {exc.strerror}") from exc
    result = engine_for(args).evaluation_whatif(None, args.year, weights=json_object(args.weights, "--weights"),
                                                dmn=dmn)
    emit(args, result, lambda v: table(v["rows"], ["department", "rank_before", "rank_after", "grade_before",
                                                   "grade_after", "total_before", "total_after", "moved"])
         + f"\n{len(v['moved'])} would move; nothing was published")
    return 0
