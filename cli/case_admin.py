"""``whistle instances | suspend | resume | terminate``: administrators find any case and hold or end one. The
engine checks that ``--user`` is an administrator (``engine.management.case_admin``)."""
from __future__ import annotations

import argparse
import sys
from datetime import date

from cli.arguments import engine_for
from cli.output import emit, table
from cli.registry import Commands
from engine.casework.listing import CASE_SORTS, CASE_STATUSES, CaseQuery
from engine.errors import InvalidInput


def register(commands: Commands) -> None:
    p = commands.add("instances", "find cases (administrators): by process, version, status, business key, the "
                                  "element they wait at, street, department, start dates", instances)
    p.add_argument("--process", help="process id")
    p.add_argument("--version", type=int, help="version number")
    p.add_argument("--status", choices=CASE_STATUSES)
    p.add_argument("--business-key")
    p.add_argument("--waiting-at", metavar="ELEMENT", help="an element id an open task, timer or message waits at")
    p.add_argument("--street")
    p.add_argument("--department")
    p.add_argument("--started-from", metavar="YYYY-MM-DD")
    p.add_argument("--started-to", metavar="YYYY-MM-DD")
    p.add_argument("--sort", choices=CASE_SORTS)
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--page", type=int, default=1)
    p.add_argument("--csv", action="store_true", help="every matching case as CSV (UTF-8 with BOM) on stdout")
    p.add_argument("--user", required=True, help="the administrator searching")

    p = commands.add("suspend", "suspend a running case with a written reason (administrators)", suspend)
    p.add_argument("instance_id", type=int)
    p.add_argument("--reason", required=True)
    p.add_argument("--user", required=True)

    p = commands.add("resume", "resume a suspended case; its due timers fire once (administrators)", resume)
    p.add_argument("instance_id", type=int)
    p.add_argument("--reason", help="a note, if any")
    p.add_argument("--user", required=True)

    p = commands.add("terminate", "terminate a running or suspended case with a written reason: its tasks, "
                                  "timers and messages end (administrators)", terminate)
    p.add_argument("instance_id", type=int)
    p.add_argument("--reason", required=True)
    p.add_argument("--user", required=True)


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{option} must be a date YYYY-MM-DD, got '{value[:40]}'") from None


def instances(args: argparse.Namespace) -> int:
    query = CaseQuery(process_id=args.process, version=args.version, status=args.status,
                      business_key=args.business_key, waiting_at=args.waiting_at, street=args.street,
                      department=args.department, started_from=_day(args.started_from, "--started-from"),
                      started_to=_day(args.started_to, "--started-to"), sort=args.sort)
    w = engine_for(args)
    if args.csv:
        sys.stdout.write(w.export_instances(args.user, query))
        return 0
    found = w.search_instances(args.user, query, limit=args.limit, page=args.page)
    emit(args, found, lambda v: table(
        v["instances"], ["instance_id", "process_id", "version", "status", "business_key", "started_at",
                         "waiting_at", "street", "department"])
        + f"\n{v['total']}{'+' if v.get('total_capped') else ''} case(s); page {v['page']}"
        + (" (more: --page {})".format(v["page"] + 1) if v["more"] else ""))
    return 0


def suspend(args: argparse.Namespace) -> int:
    emit(args, engine_for(args).suspend_instance(args.instance_id, args.reason, args.user),
         lambda v: f"instance {v['instance_id']} is suspended")
    return 0


def resume(args: argparse.Namespace) -> int:
    emit(args, engine_for(args).resume_instance(args.instance_id, args.user, args.reason),
         lambda v: f"instance {v['instance_id']} is running again")
    return 0


def terminate(args: argparse.Namespace) -> int:
    emit(args, engine_for(args).terminate_instance(args.instance_id, args.reason, args.user),
         lambda v: f"instance {v['instance_id']} is terminated")
    return 0
