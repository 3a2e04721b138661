"""The ``whistle`` command line: a thin shell over ``engine.api.Whistle``.

Every command takes ``--json`` for machine-readable output. Errors go to stderr as one sentence with a
non-zero exit code (1 invalid input, 2 usage, 3 conflict, 4 not found, 5 forbidden, 6 incident).
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable

from .errors import DeploymentInvalid, WhistleError


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

    p = command("audit", "audit log tools")
    audit_sub = p.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    audit_sub.add_parser("verify", help="check the hash chain of the audit log", parents=[common])

    p = command("serve", "serve the web application")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--threads", type=int, default=8)
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
    from .api import Whistle

    if args.command == "migrate":
        engine = Whistle(args.db, check_schema=False)
        revision = engine.migrate()
        _print(args, {"revision": revision}, lambda v: f"database is at revision {v['revision']}")
        return 0
    if args.command == "serve":
        from webui.server import serve

        serve(args.db, args.host, args.port, args.threads)
        return 0

    engine = Whistle(args.db)
    if args.command == "deploy":
        results = [r.to_dict() for r in engine.deploy(args.paths, actor=args.user)]
        _print(args, results, lambda rows: _table(rows, ["process_id", "kind", "version", "status", "name", "file"]))
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
        _print(args, engine.incidents(args.instance), lambda rows: _table(
            rows, ["incident_id", "instance_id", "process_id", "command", "element_id", "error", "created_at"]))
    elif args.command == "audit" and args.audit_command == "verify":
        report = engine.verify_audit()
        _print(args, report.to_dict(), lambda r: (
            f"audit log intact: {r['rows']} rows verified" if r["ok"]
            else f"audit log TAMPERED at row {r['first_bad_id']}: {r['reason']}"))
        return 0 if report.ok else 7
    return 0


def _show_text(v: dict) -> str:
    lines = [f"instance {v['instance_id']}: {v['process_id']} v{v['version']} — {v['status']}",
             f"business key: {v['business_key'] or '-'}   started by {v['started_by'] or '-'} at {v['started_at']}",
             f"data: {json.dumps(v['data'], ensure_ascii=False)}", "", "open tasks:",
             _table(v["open_tasks"], ["task_id", "name", "candidate_groups", "assignee", "due_at"])]
    if v["incidents"]:
        lines += ["", "incidents:", _table(v["incidents"], ["incident_id", "command", "element_id", "error"])]
    lines += ["", "audit:", _table([{**e, "details": json.dumps(e["details"], ensure_ascii=False)[:80]}
                                    for e in v["audit"]], ["at", "event", "actor", "details"])]
    return "\n".join(lines)


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
