"""``whistle upgrade | repair``: administrators move running cases to another version of their process, or
repair a case (one command per case; the rules are the engine's, ``engine.management.repairs``)."""
from __future__ import annotations

import argparse

from cli.arguments import engine_for, json_object
from cli.output import emit, table
from cli.registry import Commands


def register(commands: Commands) -> None:
    p = commands.add("upgrade", "migrate running cases of a process to another version (a dry run with "
                                "--dry-run): per case whether it can move and why not", upgrade)
    p.add_argument("process_id")
    p.add_argument("--to-version", type=int, required=True)
    p.add_argument("--from-version", type=int, help="only the cases on this version")
    p.add_argument("--instance", type=int, action="append", dest="instances", metavar="ID",
                   help="only these cases (repeat)")
    p.add_argument("--map", action="append", dest="mapping", metavar="OLD=NEW", default=[],
                   help="an element renamed in the new version: old id = new id (repeat)")
    p.add_argument("--dry-run", action="store_true", help="only say which cases can move; change nothing")
    p.add_argument("--batch", action="store_true", help="move them as a persisted batch the workers share (see "
                                                          "`whistle batch show|wait ID`) instead of one by one here")
    p.add_argument("--user", required=True, help="the administrator")

    p = commands.add("repair", "repair a case: without options, move a case that has no way forward (a "
                               "'NoWayForward' incident) where the engine can; with --cancel/--start or "
                               "--back-to, move its token by hand (administrators)", repair)
    p.add_argument("instance_id", type=int)
    p.add_argument("--cancel", action="append", default=[], metavar="ELEMENT",
                   help="cancel the active task(s) of this element (repeat)")
    p.add_argument("--start", action="append", default=[], metavar="ELEMENT",
                   help="make this element ready (repeat)")
    p.add_argument("--back-to", metavar="ELEMENT", help="move the token back to this earlier task (退回)")
    p.add_argument("--data", help="data to merge into the case as the token moves, a JSON object")
    p.add_argument("--user", default="system")


def upgrade(args: argparse.Namespace) -> int:
    if args.batch and not args.dry_run:
        batch = engine_for(args).upgrade_as_batch(args.process_id, args.to_version, from_version=args.from_version,
                                                  instance_ids=args.instances, mapping=args.mapping, actor=args.user)
        emit(args, batch, lambda v: f"batch {v['batch_id']}: {v['total']} case(s) to move to version "
                                    f"{args.to_version}, queued for the workers; progress: whistle batch wait "
                                    f"{v['batch_id']}")
        return 0
    result = engine_for(args).upgrade_cases(args.process_id, args.to_version, from_version=args.from_version,
                                            instance_ids=args.instances, mapping=args.mapping, actor=args.user,
                                            dry_run=args.dry_run)
    emit(args, result, _upgrade_text)
    return 0


def _upgrade_text(v: dict) -> str:
    rows = [{**r, "can_move": "yes" if r["can_move"] else "no", "reason": r.get("reason") or "-"}
            for r in v["results"]]
    if v["dry_run"]:
        summary = f"dry run to version {v['to_version']}: {v['can_move']} can move, {v['cannot_move']} cannot"
        return summary + "\n" + table(rows, ["instance_id", "from_version", "can_move", "reason"])
    summary = (f"to version {v['to_version']}: {v['moved']} moved, {v['skipped']} skipped, "
               f"{v['failed']} failed")
    return summary + "\n" + table(rows, ["instance_id", "from_version", "outcome", "reason"])


def repair(args: argparse.Namespace) -> int:
    engine = engine_for(args)
    data = json_object(args.data, "--data")
    if not (args.cancel or args.start or args.back_to or data):
        emit(args, engine.repair(args.instance_id, args.user), lambda v: (
            f"instance {v['instance_id']} is {v['status']}; moved {', '.join(v['moved']) or 'nothing stuck'}; "
            f"resolved incidents {v['resolved_incidents']}"))
        return 0
    result = engine.modify_instance(args.instance_id, cancel=args.cancel, start=args.start, back_to=args.back_to,
                                    data=data, actor=args.user)
    emit(args, result, lambda v: (
        f"instance {v['instance_id']} is {v['status']}; cancelled {', '.join(v['cancelled']) or '-'}; "
        f"ready now {', '.join(v['ready']) or '-'}"))
    return 0
