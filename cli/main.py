"""The ``whistle`` command line: a thin shell over ``engine.api.Whistle``.

Every command takes ``--json`` for machine-readable output. Errors go to stderr as one sentence with a
non-zero exit code (1 invalid input, 2 usage, 3 conflict, 4 not found, 5 forbidden, 6 incident).
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable

from engine.errors import DeploymentInvalid, WhistleError


def _json_arg(text: str | None, what: str) -> dict | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise WhistleError(f"{what} is not valid JSON: {exc.msg} at character {exc.pos}")
    if not isinstance(value, dict):
        raise WhistleError(f"{what} must be a JSON object, like '{{\"key\": \"value\"}}'")
    return value


def _print(args, value: Any, text: Callable[[Any], str]) -> None:
    if args.json:
        print(json.dumps(value, ensure_ascii=False, indent=2, default=str))
    else:
        output = text(value)
        if output:
            print(output)


def _table(rows: list[dict], columns: list[str]) -> str:
    if not rows:
        return "(none)"
    cells = [[("" if r.get(c) is None else ", ".join(r[c]) if isinstance(r.get(c), list) else str(r[c]))
              for c in columns] for r in rows]
    widths = [max(len(c), *(_width(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    for row in cells:
        lines.append("  ".join(cell + " " * (w - _width(cell)) for cell, w in zip(row, widths)))
    return "\n".join(lines)


def _width(text: str) -> int:
    # CJK characters take two columns in a terminal.
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", default=argparse.SUPPRESS, help="database URL (default: WHISTLE_DATABASE_URL "
                                                                "or var/whistle.sqlite)")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")

    parser = argparse.ArgumentParser(prog="whistle", description="Whistle workflow service", parents=[common])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, parents=[common], description=help_text)

    command("migrate", "create or upgrade the database schema")

    p = command("deploy", "deploy BPMN/DMN files or folders as new versions (all or nothing)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--user", default="system", help="who deploys (recorded in the audit log)")

    p = command("lint", "check BPMN/DMN files or folders as deploy would, without deploying (no database "
                        "needed); exit 1 if there are errors")
    p.add_argument("paths", nargs="+", metavar="PATH")

    command("definitions", "list deployed processes, decisions and their versions")

    p = command("user", "manage local accounts")
    user_sub = p.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    p = user_sub.add_parser("add", help="add a user or add groups to one (idempotent)", parents=[common])
    p.add_argument("name")
    p.add_argument("--group", action="append", default=[], dest="groups")
    p.add_argument("--password")
    p.add_argument("--display-name")
    p = user_sub.add_parser("import", help="load groups and users from a JSON file (idempotent)", parents=[common])
    p.add_argument("file")

    p = command("token", "bearer tokens for system clients of the REST API")
    token_sub = p.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    p = token_sub.add_parser("create", help="create a token (printed once; only its hash is stored)",
                             parents=[common])
    p.add_argument("name")
    p.add_argument("--user", required=True, help="the account the token acts as")
    p.add_argument("--scope", action="append", default=[], dest="scopes", metavar="SCOPE",
                   help="what it may change besides reading: tasks, start, message (repeat for several)")
    p = token_sub.add_parser("revoke", help="revoke a token by name", parents=[common])
    p.add_argument("name")
    token_sub.add_parser("list", help="list tokens (never their values)", parents=[common])

    p = command("start", "start an instance of a process")
    p.add_argument("process_id")
    p.add_argument("--version", type=int)
    p.add_argument("--data", help="initial data as a JSON object")
    p.add_argument("--business-key")
    p.add_argument("--user")

    p = command("tasks", "list open tasks (for a user: what they may work on)")
    p.add_argument("--user")
    p.add_argument("--limit", type=int, default=200)

    for name, help_text in (("claim", "claim a task"), ("unclaim", "give a claimed task back to its groups")):
        p = command(name, help_text)
        p.add_argument("task_id")
        p.add_argument("--user", required=True)

    p = command("complete", "complete a task with data")
    p.add_argument("task_id")
    p.add_argument("--user", required=True)
    p.add_argument("--data", help="submitted data as a JSON object")

    p = command("message", "deliver a message to the instances waiting for it (or start the processes it starts)")
    p.add_argument("name")
    p.add_argument("--key", help="correlation key (e.g. a 12345 ticket id, a case number)")
    p.add_argument("--data", help="message payload as a JSON object")
    p.add_argument("--user", default="system")

    p = command("show", "show an instance: status, data, open tasks, incidents, audit trail")
    p.add_argument("instance_id", type=int)

    p = command("incidents", "list incidents")
    p.add_argument("--instance", type=int)
    p.add_argument("--open", action="store_true", help="only those not resolved yet")

    p = command("repair", "move a case that has no way forward (a 'NoWayForward' incident) where the engine can")
    p.add_argument("instance_id", type=int)
    p.add_argument("--user", default="system")

    p = command("audit", "audit log tools")
    audit_sub = p.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    audit_sub.add_parser("verify", help="check the signed chains of the audit log; exit 7 if anything is wrong",
                         parents=[common])
    audit_sub.add_parser("keys", help="the audit key ids: the current one and the retired ones", parents=[common])
    audit_sub.add_parser("rotate-key", help="retire the key in var/audit_key (kept in var/audit_key.old) and make "
                                            "a new one; restart the server and workers after", parents=[common])

    p = command("serve", "serve the web application (with one timer worker unless --no-worker)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--processes", type=int, metavar="N",
                   help="server processes (default: WHISTLE_SERVER_PROCESSES or 1). 1: waitress in this process, "
                        "the timer worker a thread; more: gunicorn with N worker processes, the timer worker one "
                        "`whistle worker` child process")
    p.add_argument("--threads", type=int, help="threads per server process (default 8 with one process, 2 each "
                                               "with several: pages are CPU-bound, more mostly wait for the GIL)")
    p.add_argument("--no-worker", action="store_true", help="do not fire timers here (run `whistle worker` "
                                                              "elsewhere)")

    p = command("worker", "fire due timers: run until stopped (SIGTERM/SIGINT), or once with --once")
    p.add_argument("--once", action="store_true", help="fire what is due now, print how many, and exit")
    p.add_argument("--poll", type=float, default=0.5, metavar="SECONDS",
                   help="longest sleep when idle (default 0.5; it wakes earlier for a timer due sooner)")
    p.add_argument("--batch", type=int, help="jobs acquired per round (default 5: a worker killed holds few)")
    p.add_argument("--lock-seconds", type=float,
                   help="how long an acquired job stays locked to this worker, renewed while it is alive "
                        "(default 30)")
    p.add_argument("--name", help="lock owner name (default host:pid:random)")

    p = command("outbox", "outbound webhooks (the 12345 hotline's replies): list, deliver, retry")
    outbox_sub = p.add_subparsers(dest="outbox_command", required=True, metavar="ACTION")
    q = outbox_sub.add_parser("list", help="the newest deliveries: pending, delivered, failed", parents=[common])
    q.add_argument("--status", choices=["pending", "delivered", "failed"])
    q.add_argument("--limit", type=int, default=50)
    q = outbox_sub.add_parser("deliver", help="send what is due (the worker does this too): until stopped, or once "
                                              "with --once", parents=[common])
    q.add_argument("--once", action="store_true", help="send what is due now, print what happened, and exit")
    q.add_argument("--poll", type=float, default=1.0, metavar="SECONDS", help="sleep when idle (default 1)")
    q = outbox_sub.add_parser("retry", help="give a failed delivery new attempts, due now", parents=[common])
    q.add_argument("delivery_id", type=int, metavar="ID")
    q.add_argument("--user", default="system")

    p = command("jobs", "list timer jobs that are due, locked by a worker, or failed")
    p.add_argument("--all", action="store_true", help="also list jobs scheduled for later")
    p.add_argument("--retry", type=int, metavar="JOB_ID", help="give a failed job new attempts, due now")

    p = command("clock", "show the engine clock, or move it (demo and test mode only)")
    clock_sub = p.add_subparsers(dest="clock_command", required=True, metavar="ACTION")
    clock_sub.add_parser("show", help="the engine time, the system time and the shift", parents=[common])
    p = clock_sub.add_parser("advance", help="move the clock forward by an ISO 8601 duration, like PT31M or P3D",
                             parents=[common])
    p.add_argument("duration")
    p.add_argument("--user", default="system")
    p = clock_sub.add_parser("set", help="set the clock to a date-time with offset, like 2027-04-01T09:00:00+08:00",
                             parents=[common])
    p.add_argument("when")
    p.add_argument("--user", default="system")

    p = command("calendar", "working-day calendars: which years have the official schedule; load one")
    calendar_sub = p.add_subparsers(dest="calendar_command", required=True, metavar="ACTION")
    p = calendar_sub.add_parser("show", help="coverage per year: official, statutory only or none",
                                parents=[common])
    p.add_argument("--year", type=int)
    p = calendar_sub.add_parser("import", help="load the years of a CSV file (date,kind,name), e.g. the State "
                                               "Council's schedule", parents=[common])
    p.add_argument("file")
    p.add_argument("--user", default="system", help="who loads it (recorded in the audit log)")
    p = calendar_sub.add_parser("statutory", help="print a statutory-only calendar file (the holidays the law "
                                                  "fixes) for years not yet published; no database needed",
                                parents=[common])
    p.add_argument("years", nargs="+", type=int, metavar="YEAR")
    p.add_argument("--rules", help="the law's rules (default: processes/calendars/statutory-holidays.json)")
    return parser


def run(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.json = getattr(args, "json", False)
    args.db = getattr(args, "db", None)
    try:
        return _dispatch(args)
    except DeploymentInvalid as exc:
        if args.json:
            print(json.dumps(exc.to_dict(), ensure_ascii=False, indent=2))
        print(f"whistle: {exc.message}", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return exc.exit_code
    except WhistleError as exc:
        if args.json:
            print(json.dumps(exc.to_dict(), ensure_ascii=False, indent=2))
        print(f"whistle: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # never a bare traceback
        print(f"whistle: unexpected error: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        return 1


def _dispatch(args) -> int:
    from engine.api import Whistle

    if args.command == "migrate":
        engine = Whistle(args.db, check_schema=False)
        revision = engine.migrate()
        _print(args, {"revision": revision}, lambda v: f"database is at revision {v['revision']}")
        return 0
    if args.command == "serve":
        from webui.serving.server import configured_processes, serve

        serve(args.db, args.host, args.port, args.threads, worker=not args.no_worker,
              processes=configured_processes(args.processes))
        return 0
    if args.command == "lint":
        return _lint(args)
    if args.command == "calendar" and args.calendar_command == "statutory":
        return _statutory(args)
    if args.command == "audit" and args.audit_command in ("keys", "rotate-key"):
        return _audit_keys(args)

    engine = Whistle(args.db)
    if args.command == "worker":
        return _worker(args, engine)
    if args.command == "outbox":
        return _outbox(args, engine)
    if args.command == "deploy":
        results = [r.to_dict() for r in engine.deploy(args.paths, actor=args.user)]
        _print(args, results, lambda rows: "\n".join(
            [_table(rows, ["process_id", "kind", "version", "status", "name", "file"])]
            + [f"warning: {_problem_text(w)}" for r in rows if r["status"] == "new" for w in r["warnings"]]))
    elif args.command == "definitions":
        _print(args, engine.definitions(), lambda rows: _table(
            rows, ["process_id", "kind", "version", "name", "running_instances", "deployed_at", "file"]))
    elif args.command == "user" and args.user_command == "add":
        result = engine.add_user(args.name, args.groups, args.password, args.display_name)
        _print(args, result, lambda v: f"user {v['username']} {'created' if v['created'] else 'updated'}; "
                                       f"groups: {', '.join(v['groups']) or '(none)'}")
    elif args.command == "user" and args.user_command == "import":
        result = engine.import_users(args.file)
        _print(args, result, lambda v: f"{v['users']} users ({v['created']} new), {v['groups']} groups")
    elif args.command == "token" and args.token_command == "create":
        result = engine.create_token(args.name, args.user, args.scopes)
        _print(args, result, lambda v: f"token {v['name']} for {v['user']} (scopes: {', '.join(v['scopes']) or 'read only'})"
                                       f"\n{v['token']}\nstore it now: it is not shown again")
    elif args.command == "token" and args.token_command == "revoke":
        _print(args, engine.revoke_token(args.name), lambda v: f"token {v['name']} revoked at {v['revoked_at']}")
    elif args.command == "token":
        _print(args, engine.list_tokens(), lambda rows: _table(
            rows, ["name", "user", "scopes", "created_at", "last_used_at", "revoked_at"]))
    elif args.command == "start":
        instance_id = engine.start(args.process_id, args.version, _json_arg(args.data, "--data"),
                                   args.business_key, args.user)
        _print(args, {"instance_id": instance_id}, lambda v: f"started instance {v['instance_id']}")
    elif args.command == "tasks":
        _print(args, engine.tasks(args.user, limit=args.limit), lambda rows: _table(
            rows, ["task_id", "instance_id", "process_id", "name", "candidate_groups", "assignee", "due_at"]))
    elif args.command == "claim":
        _print(args, engine.claim(args.task_id, args.user), lambda v: f"claimed '{v['name']}'")
    elif args.command == "unclaim":
        _print(args, engine.unclaim(args.task_id, args.user), lambda v: f"released '{v['name']}'")
    elif args.command == "complete":
        result = engine.complete(args.task_id, args.user, _json_arg(args.data, "--data"))
        _print(args, result, lambda v: f"completed; instance {v['instance_id']} is {v['status']}")
    elif args.command == "message":
        result = engine.message(args.name, args.key, _json_arg(args.data, "--data"), args.user)
        _print(args, result, lambda v: f"message '{v['message']}' delivered to instances {v['delivered_to']}"
               if v["delivered_to"] else f"message '{v['message']}' started instances {v['started']}")
    elif args.command == "show":
        _print(args, engine.show(args.instance_id), _show_text)
    elif args.command == "incidents":
        rows = [i for i in engine.incidents(args.instance) if not (args.open and i["resolved_at"])]
        _print(args, rows, lambda rows: _table(
            rows, ["incident_id", "instance_id", "process_id", "command", "element_id", "error", "created_at",
                   "resolved_at"]))
    elif args.command == "repair":
        _print(args, engine.repair(args.instance_id, args.user), lambda v: (
            f"instance {v['instance_id']} is {v['status']}; moved {', '.join(v['moved']) or 'nothing stuck'}; "
            f"resolved incidents {v['resolved_incidents']}"))
    elif args.command == "jobs" and args.retry is not None:
        _print(args, engine.retry_job(args.retry), lambda v: f"job {v['job_id']} will be tried again "
                                                             f"({v['retries']} attempts), due {v['due_at']}")
    elif args.command == "jobs":
        _print(args, engine.jobs(include_scheduled=args.all), lambda rows: _table(
            rows, ["job_id", "state", "instance_id", "process_id", "element_id", "kind", "due_at", "lock_owner",
                   "retries", "last_error"]))
    elif args.command == "clock":
        if args.clock_command == "advance":
            result = engine.clock_advance(args.duration, actor=args.user)
        elif args.clock_command == "set":
            result = engine.clock_set(args.when, actor=args.user)
        else:
            result = engine.clock_show()
        _print(args, result, _clock_text)
    elif args.command == "calendar" and args.calendar_command == "import":
        _print(args, engine.calendar_import(args.file, actor=args.user), _calendar_import_text)
    elif args.command == "calendar":
        _print(args, engine.calendar_show(args.year), _calendar_text)
    elif args.command == "audit" and args.audit_command == "verify":
        report = engine.verify_audit()
        _print(args, report.to_dict(), _verify_text)
        return 0 if report.ok else 7
    return 0


def _problem_text(p: dict) -> str:
    where = p["file"] + (f":{p['line']}" if p.get("line") else "") + (f" [{p['element_id']}]" if p.get("element_id")
                                                                     else "")
    return f"{where}: {p['message']}"


def _verify_text(r: dict) -> str:
    if r["ok"]:
        return f"audit log intact: {r['rows']} rows in {r['chains']} chains verified"
    at = f" at row {r['first_bad_id']}" if r["first_bad_id"] is not None else ""
    return f"audit log TAMPERED{at}: {r['reason']}"


def _audit_keys(args) -> int:
    """``whistle audit keys`` / ``rotate-key``: no database needed, only the key files (``engine.keys``)."""
    from engine.audit.keys import AuditKeyError, audit_keyring, rotate_key_file

    try:
        if args.audit_command == "rotate-key":
            _print(args, rotate_key_file(), lambda v: f"audit key {v['retired']} retired (kept in "
                                                      f"{v['retired_file']}); new key {v['current']} in {v['file']}. "
                                                      f"Restart the server and workers to sign with it.")
        else:
            _print(args, audit_keyring().describe(), lambda v: f"current audit key {v['current']} (from "
                                                               f"{v['source']}); retired: "
                                                               f"{', '.join(v['retired']) or '(none)'}")
    except AuditKeyError as exc:
        print(f"whistle: {exc}", file=sys.stderr)
        return 1
    return 0


def _lint(args) -> int:
    """``whistle lint``: every problem deploy would report, errors and warnings; nothing is deployed."""
    from engine.deploy.lint import lint_paths

    problems = [p.to_dict() for p in lint_paths(args.paths)]
    errors = sum(p["severity"] == "error" for p in problems)
    warnings = len(problems) - errors
    summary = (f"{errors} error{'s' if errors != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''}"
               + ("" if errors else " — ready to deploy"))
    _print(args, {"ok": not errors, "errors": errors, "warnings": warnings, "problems": problems},
           lambda v: "\n".join([f"{p['severity']}: {_problem_text(p)}" for p in v["problems"]] + [summary]))
    return 1 if errors else 0


def _show_text(v: dict) -> str:
    lines = [f"instance {v['instance_id']}: {v['process_id']} v{v['version']} — {v['status']}",
             f"business key: {v['business_key'] or '-'}   started by {v['started_by'] or '-'} at {v['started_at']}",
             f"data: {json.dumps(v['data'], ensure_ascii=False)}", "", "open tasks:",
             _table(v["open_tasks"], ["task_id", "name", "candidate_groups", "assignee", "due_at"])]
    if v.get("timers"):
        lines += ["", "waiting timers:", _table(v["timers"], ["element_id", "kind", "timer_type", "due_at", "state",
                                                               "last_error"])]
    if v["incidents"]:
        lines += ["", "incidents:", _table(v["incidents"], ["incident_id", "command", "element_id", "error"])]
    lines += ["", "audit:", _table([{**e, "details": json.dumps(e["details"], ensure_ascii=False)[:80]}
                                    for e in v["audit"]], ["at", "event", "actor", "details"])]
    return "\n".join(lines)


def _calendar_text(rows: list[dict]) -> str:
    from engine.time.workdays import local

    from datetime import datetime

    def loaded(at: str | None) -> str:  # in the deployment's time zone, to the minute
        return f"{local(datetime.fromisoformat(at)):%Y-%m-%d %H:%M}" if at else ""

    lines = [_table([{**r, "version": r["version"] or "", "loaded": loaded(r["loaded_at"]),
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
        lines += [f"warning: {_problem_text(w)}" for w in r["warnings"]]
    return "\n".join(lines)


def _statutory(args) -> int:
    """``whistle calendar statutory YEAR...``: the CSV of the holidays the law fixes, on stdout."""
    from engine.time.calendar_files import format_calendar, statutory_schedule

    try:
        schedules = [statutory_schedule(year, args.rules) for year in args.years]
    except ValueError as exc:
        print(f"whistle: {exc}", file=sys.stderr)
        return 1
    if args.json:
        _print(args, [{"year": s.year, "status": s.status, "source": s.source,
                       "days": [{"date": d.isoformat(), "kind": k, "name": n} for d, (k, n) in sorted(s.days.items())]}
                      for s in schedules], str)
    else:
        sys.stdout.write(format_calendar(schedules))
    return 0


def _clock_text(v: dict) -> str:
    lines = [f"engine time: {v['now']}", f"system time: {v['system_time']}",
             f"shift:       {v['offset']} ({v['source']}; mode {v['mode']})"]
    if not v["shift_allowed"] and v["offset_seconds"]:
        lines.append("(the stored shift is ignored outside demo and test mode)")
    return "\n".join(lines)


def _worker(args, engine) -> int:
    """``whistle worker``: fire due timers; stop cleanly on SIGTERM/SIGINT (the job in hand is finished)."""
    import signal
    import threading

    from engine.jobs.executor import DEFAULT_BATCH, DEFAULT_LOCK_SECONDS, JobExecutor

    executor = JobExecutor(engine.db, engine.runtime, owner=args.name,
                           lock_seconds=args.lock_seconds or DEFAULT_LOCK_SECONDS)
    args.batch = args.batch or DEFAULT_BATCH
    if args.once:
        result = executor.fire_due(batch=args.batch)
        _print(args, {"fired": result.fired, "failed": result.failed, "skipped": result.skipped,
                      "owner": executor.owner},
               lambda v: f"fired {v['fired']} timer job{'s' if v['fired'] != 1 else ''}"
                         + (f", {v['failed']} failed" if v["failed"] else ""))
        return 0
    stop = threading.Event()

    def on_signal(signum, _frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if not args.json:
        print(f"timer worker {executor.owner} started (poll {args.poll:g} s, batch {args.batch}); "
              f"stop with Ctrl-C or SIGTERM", flush=True)
    total = executor.run(stop, poll_interval=args.poll, batch=args.batch)
    _print(args, {"fired": total.fired, "failed": total.failed, "skipped": total.skipped, "owner": executor.owner},
           lambda v: f"timer worker stopped: fired {v['fired']}, failed {v['failed']}")
    return 0


def _outbox(args, engine) -> int:
    """``whistle outbox list | deliver [--once] | retry ID`` (engine.outbox)."""
    from engine.outbox import delivery as outbox

    if args.outbox_command == "retry":
        _print(args, outbox.retry(engine.db, args.delivery_id, args.user),
               lambda v: f"delivery {v['delivery_id']} ({v['event_id']}) will be sent again, due now")
        return 0
    if args.outbox_command == "deliver" and args.once:
        result = outbox.deliver_due(engine.db)
        _print(args, result.to_dict(), lambda v: ", ".join(f"{k} {n}" for k, n in v.items() if n) or "nothing due")
        return 0
    if args.outbox_command == "deliver":
        import signal
        import threading

        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        if not args.json:
            print(f"outbox delivery started (poll {args.poll:g} s); stop with Ctrl-C or SIGTERM", flush=True)
        outbox.run_in_background(engine.db, stop, poll_seconds=args.poll).join()
        return 0
    with engine.db.read() as session:
        rows = outbox.listing(session, args.status, args.limit)
    _print(args, rows, lambda rows: _table(rows, ["delivery_id", "event_id", "key", "status", "attempts",
                                                  "next_attempt_at", "last_status", "last_error", "delivered_at"]))
    return 0


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
