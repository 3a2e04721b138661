"""``whistle start | tasks | claim | unclaim | complete | transfer | delegate | return | withdraw | urge | cc |
message | show``: casework."""
from __future__ import annotations

import argparse
import json

from cli.arguments import engine_for, json_object
from cli.output import emit, table
from cli.registry import Commands


def register(commands: Commands) -> None:
    p = commands.add("start", "start an instance of a process", start)
    p.add_argument("process_id")
    p.add_argument("--version", type=int)
    p.add_argument("--data", help="initial data as a JSON object")
    p.add_argument("--business-key")
    p.add_argument("--user")

    p = commands.add("tasks", "list open tasks (for a user: what they may work on)", tasks)
    p.add_argument("--user")
    p.add_argument("--limit", type=int, default=200)

    for name, help_text, handler in (("claim", "claim a task", claim),
                                     ("unclaim", "give a claimed task back to its groups", unclaim)):
        p = commands.add(name, help_text, handler)
        p.add_argument("task_id")
        p.add_argument("--user", required=True)

    p = commands.add("complete", "complete a task with data", complete)
    p.add_argument("task_id")
    p.add_argument("--user", required=True)
    p.add_argument("--data", help="submitted data as a JSON object")

    p = commands.add("transfer", "转办: hand a task to another person or group", transfer)
    p.add_argument("task_id")
    p.add_argument("--user", required=True)
    p.add_argument("--to", required=True, help="a user or a group (user:NAME / group:NAME when both exist)")
    p.add_argument("--reason", required=True)

    p = commands.add("delegate", "委派: give a task to a person; it comes back to you when they complete it", delegate)
    p.add_argument("task_id")
    p.add_argument("--user", required=True)
    p.add_argument("--to", required=True)
    p.add_argument("--note")

    p = commands.add("return", "退回: send a case back to an earlier step the diagram allows (returnTo)", return_task)
    p.add_argument("task_id")
    p.add_argument("--user", required=True)
    p.add_argument("--to", required=True, help="the element id of the earlier step")
    p.add_argument("--reason", required=True)

    p = commands.add("withdraw", "撤回: take back your completion while the next step has not started", withdraw)
    p.add_argument("task_id")
    p.add_argument("--user", required=True)

    p = commands.add("urge", "催办: urge whoever holds an open task (rate-limited)", urge)
    p.add_argument("task_id")
    p.add_argument("--user", required=True)
    p.add_argument("--note")

    p = commands.add("cc", "抄送: copy a case to a person or group for information", cc)
    p.add_argument("instance_id", type=int)
    p.add_argument("--user", required=True)
    p.add_argument("--to", required=True)
    p.add_argument("--note")

    p = commands.add("message", "deliver a message to the instances waiting for it (or start the processes it "
                                "starts)", message)
    p.add_argument("name")
    p.add_argument("--key", help="correlation key (e.g. a 12345 ticket id, a case number)")
    p.add_argument("--data", help="message payload as a JSON object")
    p.add_argument("--user", default="system")

    p = commands.add("show", "show an instance: status, data, open tasks, incidents, audit trail", show)
    p.add_argument("instance_id", type=int)


def start(args: argparse.Namespace) -> int:
    instance_id = engine_for(args).start(args.process_id, args.version, json_object(args.data, "--data"),
                                         args.business_key, args.user)
    emit(args, {"instance_id": instance_id}, lambda v: f"started instance {v['instance_id']}")
    return 0


def tasks(args: argparse.Namespace) -> int:
    emit(args, engine_for(args).tasks(args.user, limit=args.limit), lambda rows: table(
        rows, ["task_id", "instance_id", "process_id", "name", "candidate_groups", "assignee", "due_at"]))
    return 0


def claim(args: argparse.Namespace) -> int:
    emit(args, engine_for(args).claim(args.task_id, args.user), lambda v: f"claimed '{v['name']}'")
    return 0


def unclaim(args: argparse.Namespace) -> int:
    emit(args, engine_for(args).unclaim(args.task_id, args.user), lambda v: f"released '{v['name']}'")
    return 0


def complete(args: argparse.Namespace) -> int:
    result = engine_for(args).complete(args.task_id, args.user, json_object(args.data, "--data"))
    emit(args, result, lambda v: f"completed; instance {v['instance_id']} is {v['status']}")
    return 0


def transfer(args: argparse.Namespace) -> int:
    result = engine_for(args).transfer(args.task_id, args.user, args.to, args.reason)
    emit(args, result, lambda v: f"transferred '{v['name']}' to {v['assignee'] or ', '.join(v['candidate_groups'])}")
    return 0


def delegate(args: argparse.Namespace) -> int:
    result = engine_for(args).delegate(args.task_id, args.user, args.to, args.note)
    emit(args, result, lambda v: f"delegated '{v['name']}' to {v['assignee']}")
    return 0


def return_task(args: argparse.Namespace) -> int:
    result = engine_for(args).return_task(args.task_id, args.user, args.to, args.reason)
    emit(args, result, lambda v: f"returned instance {v['instance_id']} to {v['returned_to']}: "
                                 f"task {', '.join(v['new_task_ids'])}")
    return 0


def withdraw(args: argparse.Namespace) -> int:
    result = engine_for(args).withdraw(args.task_id, args.user)
    emit(args, result, lambda v: f"withdrawn; task {', '.join(v['new_task_ids'])} is yours again")
    return 0


def urge(args: argparse.Namespace) -> int:
    result = engine_for(args).urge(args.task_id, args.user, args.note)
    emit(args, result, lambda v: f"urged {', '.join(v['recipients'])}; again after {v['next_allowed_at']}")
    return 0


def cc(args: argparse.Namespace) -> int:
    result = engine_for(args).cc(args.instance_id, args.user, args.to, args.note)
    emit(args, result, lambda v: f"copied instance {v['instance_id']} to {v['to']}")
    return 0


def message(args: argparse.Namespace) -> int:
    result = engine_for(args).message(args.name, args.key, json_object(args.data, "--data"), args.user)
    emit(args, result, lambda v: f"message '{v['message']}' delivered to instances {v['delivered_to']}"
         if v["delivered_to"] else f"message '{v['message']}' started instances {v['started']}")
    return 0


def show(args: argparse.Namespace) -> int:
    emit(args, engine_for(args).show(args.instance_id), _case_text)
    return 0


def _case_text(v: dict) -> str:
    lines = [f"instance {v['instance_id']}: {v['process_id']} v{v['version']} — {v['status']}",
             f"business key: {v['business_key'] or '-'}   started by {v['started_by'] or '-'} at {v['started_at']}"]
    if v.get("suspended"):
        lines.append(f"suspended since {v['suspended_at']} by {v['suspended_by']}: {v['suspended_reason']}")
    if v.get("terminated"):
        lines.append(f"terminated at {v['completed_at']} by {v['terminated_by']}: {v['terminated_reason']}")
    lines += [f"data: {json.dumps(v['data'], ensure_ascii=False)}", "", "open tasks:",
              table(v["open_tasks"], ["task_id", "name", "candidate_groups", "assignee", "due_at"])]
    if v.get("timers"):
        lines += ["", "waiting timers:", table(v["timers"], ["element_id", "kind", "timer_type", "due_at", "state",
                                                              "last_error"])]
    if v["incidents"]:
        lines += ["", "incidents:", table(v["incidents"], ["incident_id", "command", "element_id", "error"])]
    lines += ["", "audit:", table([{**e, "details": json.dumps(e["details"], ensure_ascii=False)[:80]}
                                   for e in v["audit"]], ["at", "event", "actor", "details"])]
    return "\n".join(lines)
