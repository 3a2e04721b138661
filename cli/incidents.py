"""``whistle incidents | incident show | retry | resolve``: what went wrong, and an administrator dealing with it
(the rules are the engine's, ``engine.management.repairs``)."""
from __future__ import annotations

import argparse
import json

from cli.arguments import engine_for
from cli.output import emit, table
from cli.registry import Commands


def register(commands: Commands) -> None:
    p = commands.add("incidents", "list incidents", incidents)
    p.add_argument("--instance", type=int)
    p.add_argument("--open", action="store_true", help="only those not resolved yet")

    incident = commands.group("incident", "one incident: show it, run it again, or resolve it with a note")
    p = incident.add("show", "an incident with its traceback and the command data it kept", incident_show)
    p.add_argument("incident_id", type=int)
    p.add_argument("--user", required=True, help="the administrator")
    p = incident.add("retry", "run again what failed: a timer job, a replayed command, a repair", incident_retry)
    p.add_argument("incident_id", type=int)
    p.add_argument("--user", required=True, help="the administrator")
    p = incident.add("resolve", "mark an incident dealt with, with a note", incident_resolve)
    p.add_argument("incident_id", type=int)
    p.add_argument("--note", required=True)
    p.add_argument("--user", required=True, help="the administrator")


def incidents(args: argparse.Namespace) -> int:
    rows = [i for i in engine_for(args).incidents(args.instance) if not (args.open and i["resolved_at"])]
    emit(args, rows, lambda rows: table(
        rows, ["incident_id", "instance_id", "process_id", "command", "element_id", "error", "created_at",
               "resolved_at"]))
    return 0


def incident_show(args: argparse.Namespace) -> int:
    emit(args, engine_for(args).incident(args.incident_id, args.user), _incident_text)
    return 0


def incident_retry(args: argparse.Namespace) -> int:
    emit(args, engine_for(args).retry_incident(args.incident_id, args.user),
         lambda v: f"incident {v['incident_id']}: {v['retry']} done; resolved")
    return 0


def incident_resolve(args: argparse.Namespace) -> int:
    emit(args, engine_for(args).resolve_incident(args.incident_id, args.note, args.user),
         lambda v: f"incident {v['incident_id']} resolved by {v['resolved_by']}: {v['resolution']}")
    return 0


def _incident_text(v: dict) -> str:
    state = "open" if v["open"] else \
        f"resolved {v['resolved_at']} by {v['resolved_by'] or '-'}: {v['resolution'] or ''}"
    lines = [f"incident {v['incident_id']} ({state})",
             f"case {v['instance_id'] or '-'}  process {v['process_id'] or '-'}  element {v['element_id'] or '-'}",
             f"command {v['command']} by {v['actor'] or '-'} at {v['created_at']}  retry: {v['retry'] or '-'}",
             f"error: {v['error']}"]
    if v["command_data"] is not None:
        lines += ["command data: " + json.dumps(v["command_data"], ensure_ascii=False)]
    if v["traceback"]:
        lines += ["", v["traceback"].rstrip()]
    return "\n".join(lines)
