"""``whistle audit | jobs | clock | calendar``: the audit chains and keys, timer jobs, the engine clock and the
working-day calendars."""
from __future__ import annotations

import argparse
import sys
from datetime import datetime

from cli import dossiers
from cli.arguments import engine_for
from cli.output import emit, problem_text, table
from cli.registry import Commands
from engine.audit.keys import AuditKeyError, audit_keyring, rotate_key_file
from engine.time.calendar_files import format_calendar, statutory_schedule
from engine.time.workdays import local

EXIT_TAMPERED = 7


def register(commands: Commands) -> None:
    audit = commands.group("audit", "audit log tools")
    audit.add("verify", "check the signed chains of the audit log; exit 7 if anything is wrong", verify_audit)
    audit.add("keys", "the audit key ids: the current one and the retired ones", audit_keys)
    audit.add("rotate-key", "retire the key in var/audit_key (kept in var/audit_key.old) and make a new one; "
                            "restart the server and workers after", rotate_audit_key)
    dossiers.register_audit(audit)

    p = commands.add("jobs", "list timer jobs that are due, locked by a worker, or failed", jobs)
    p.add_argument("--all", action="store_true", help="also list jobs scheduled for later")
    p.add_argument("--retry", type=int, metavar="JOB_ID", help="give a failed job new attempts, due now")

    clock = commands.group("clock", "show the engine clock, or move it (demo and test mode only)")
    clock.add("show", "the engine time, the system time and the shift", clock_show)
    p = clock.add("advance", "move the clock forward by an ISO 8601 duration, like PT31M or P3D", clock_advance)
    p.add_argument("duration")
    p.add_argument("--user", default="system")
    p = clock.add("set", "set the clock to a date-time with offset, like 2027-04-01T09:00:00+08:00", clock_set)
    p.add_argument("when")
    p.add_argument("--user", default="system")

    calendar = commands.group("calendar", "working-day calendars: which years have the official schedule; load one")
    p = calendar.add("show", "coverage per year: official, statutory only or none", calendar_show)
    p.add_argument("--year", type=int)
    p = calendar.add("import", "load the years of a CSV file (date,kind,name), e.g. the State Council's schedule",
                     calendar_import)
    p.add_argument("file")
    p.add_argument("--user", default="system", help="who loads it (recorded in the audit log)")
    p = calendar.add("statutory", "print a statutory-only calendar file (the holidays the law fixes) for years not "
                                  "yet published; no database needed", calendar_statutory)
    p.add_argument("years", nargs="+", type=int, metavar="YEAR")
    p.add_argument("--rules", help="the law's rules (default: processes/calendars/statutory-holidays.json)")


def verify_audit(args: argparse.Namespace) -> int:
    report = engine_for(args).verify_audit()
    emit(args, report.to_dict(), _verify_text)
    return 0 if report.ok else EXIT_TAMPERED


def audit_keys(args: argparse.Namespace) -> int:
    """No database needed, only the key files (engine.audit.keys)."""
    try:
        emit(args, audit_keyring().describe(), lambda v: f"current audit key {v['current']} (from {v['source']}); "
                                                         f"retired: {', '.join(v['retired']) or '(none)'}")
    except AuditKeyError as exc:
        print(f"whistle: {exc}", file=sys.stderr)
        return 1
    return 0


def rotate_audit_key(args: argparse.Namespace) -> int:
    try:
        emit(args, rotate_key_file(), lambda v: f"audit key {v['retired']} retired (kept in {v['retired_file']}); "
                                                f"new key {v['current']} in {v['file']}. Restart the server and "
                                                f"workers to sign with it.")
    except AuditKeyError as exc:
        print(f"whistle: {exc}", file=sys.stderr)
        return 1
    return 0


def jobs(args: argparse.Namespace) -> int:
    engine = engine_for(args)
    if args.retry is not None:
        emit(args, engine.retry_job(args.retry), lambda v: f"job {v['job_id']} will be tried again "
                                                           f"({v['retries']} attempts), due {v['due_at']}")
    else:
        emit(args, engine.jobs(include_scheduled=args.all), lambda rows: table(
            rows, ["job_id", "state", "instance_id", "process_id", "element_id", "kind", "due_at", "lock_owner",
                   "retries", "last_error"]))
    return 0


def clock_show(args: argparse.Namespace) -> int:
    emit(args, engine_for(args).clock_show(), _clock_text)
    return 0


def clock_advance(args: argparse.Namespace) -> int:
    emit(args, engine_for(args).clock_advance(args.duration, actor=args.user), _clock_text)
    return 0


def clock_set(args: argparse.Namespace) -> int:
    emit(args, engine_for(args).clock_set(args.when, actor=args.user), _clock_text)
    return 0


def calendar_show(args: argparse.Namespace) -> int:
    emit(args, engine_for(args).calendar_show(args.year), _calendar_text)
    return 0


def calendar_import(args: argparse.Namespace) -> int:
    emit(args, engine_for(args).calendar_import(args.file, actor=args.user), _calendar_import_text)
    return 0


def calendar_statutory(args: argparse.Namespace) -> int:
    """The CSV of the holidays the law fixes, on stdout; no database needed."""
    try:
        schedules = [statutory_schedule(year, args.rules) for year in args.years]
    except ValueError as exc:
        print(f"whistle: {exc}", file=sys.stderr)
        return 1
    if args.json:
        emit(args, [{"year": s.year, "status": s.status, "source": s.source,
                     "days": [{"date": d.isoformat(), "kind": k, "name": n} for d, (k, n) in sorted(s.days.items())]}
                    for s in schedules], str)
    else:
        sys.stdout.write(format_calendar(schedules))
    return 0


def _verify_text(r: dict) -> str:
    if r["ok"]:
        return f"audit log intact: {r['rows']} rows in {r['chains']} chains verified"
    at = f" at row {r['first_bad_id']}" if r["first_bad_id"] is not None else ""
    return f"audit log TAMPERED{at}: {r['reason']}"


def _clock_text(v: dict) -> str:
    lines = [f"engine time: {v['now']}", f"system time: {v['system_time']}",
             f"shift:       {v['offset']} ({v['source']}; mode {v['mode']})"]
    if not v["shift_allowed"] and v["offset_seconds"]:
        lines.append("(the stored shift is ignored outside demo and test mode)")
    return "\n".join(lines)


def _calendar_text(rows: list[dict]) -> str:
    def loaded(at: str | None) -> str:  # in the deployment's time zone, to the minute
        return f"{local(datetime.fromisoformat(at)):%Y-%m-%d %H:%M}" if at else ""

    lines = [table([{**r, "version": r["version"] or "", "loaded": loaded(r["loaded_at"]),
                     "origin": r["origin"] or "-"} for r in rows],
                   ["year", "status", "version", "holidays", "workdays", "origin", "file", "loaded", "loaded_by"])]
    for r in rows:  # this year and next are the years deadlines reach
        if r["status"] != "official" and (r["year"] <= local().year + 1 or len(rows) == 1):
            lines.append(f"warning: {r['year']} is {r['status']}: deadlines counted across it are provisional; "
                         f"load the State Council's schedule with `whistle calendar import FILE`")
    return "\n".join(lines)


def _calendar_import_text(rows: list[dict]) -> str:
    lines = []
    for r in rows:
        what = {"new": f"loaded as version {r['version']}", "unchanged": f"unchanged (version {r['version']})"}
        lines.append(f"{r['year']}: {r['status']}, {r['holidays']} holidays and {r['workdays']} make-up working days "
                     f"— {what.get(r['result'], r['result'])}")
        if r.get("open_deadlines_before"):
            lines.append(f"  {r['open_deadlines_before']} open tasks have deadlines set across {r['year']} before "
                         f"this schedule; they keep their dates")
        lines += [f"warning: {problem_text(w)}" for w in r["warnings"]]
    return "\n".join(lines)
