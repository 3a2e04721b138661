"""``whistle batch operations | create | list | show | report | cancel | run | wait``: bulk operations over many
cases (``engine.management.batches``), worked by the job executor's workers (``engine.jobs.batches``)."""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Callable

from cli.arguments import engine_for, json_object
from cli.output import emit, table
from cli.registry import Commands
from engine.api import Whistle
from engine.errors import InvalidInput, WhistleError

BAR_WIDTH = 30
REFRESH_SECONDS = 0.25  # how often a progress bar on a terminal is redrawn


def register(commands: Commands) -> None:
    batch = commands.group("batch", "bulk operations over many cases: create (with confirmation), follow, cancel, "
                                    "work")
    batch.add("operations", "the operations a batch may run", operations)

    p = batch.add("create", "run an operation over cases chosen by id or by a filter (asks for confirmation)",
                  create)
    p.add_argument("operation", help="e.g. repair (see `whistle batch operations`)")
    p.add_argument("--instance", type=int, action="append", metavar="ID", dest="instances",
                   help="a case id (repeat for more)")
    p.add_argument("--filter", help='a case filter as a JSON object, e.g. \'{"process_id": "whistle", '
                                    '"status": "running"}\' (keys: process_id, version, status, business_key, '
                                    'with_incident)')
    p.add_argument("--user", required=True, help="the administrator who runs it")
    p.add_argument("--reason", help="why (required by some operations; in every case's audit trail)")
    p.add_argument("--params", help="the operation's parameters as a JSON object")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation (needed without a terminal)")

    p = batch.add("list", "the newest batches with their progress", listing)
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--user", help="an administrator (default: the server's command line)")

    p = batch.add("show", "a batch's progress (and with --items the outcome of each case)", show)
    p.add_argument("batch_id", type=int, metavar="ID")
    p.add_argument("--items", action="store_true", help="list each case with its outcome and reason")
    p.add_argument("--status", choices=["pending", "locked", "done", "skipped", "failed"],
                   help="only the items in this state")
    p.add_argument("--user", help="an administrator (default: the server's command line)")

    p = batch.add("report", "the outcome of each case as CSV (UTF-8 with BOM, for spreadsheets)", report)
    p.add_argument("batch_id", type=int, metavar="ID")
    p.add_argument("--output", metavar="FILE", help="write to FILE instead of standard output")
    p.add_argument("--lang", choices=["zh", "en"], default="zh", help="language of the column names")
    p.add_argument("--user", help="an administrator (default: the server's command line)")

    p = batch.add("cancel", "skip every case of a batch not done yet", cancel)
    p.add_argument("batch_id", type=int, metavar="ID")
    p.add_argument("--user", required=True)

    p = batch.add("run", "work batch items as a worker (`whistle worker` does too): what can be taken now, or "
                         "with --until-done until every batch is finished", run)
    p.add_argument("--until-done", action="store_true",
                   help="wait for items other workers hold (or held, before they died) until nothing is left")
    p.add_argument("--lock-seconds", type=float,
                   help="how long a taken item stays this worker's, renewed while it is alive (default 30)")
    p.add_argument("--poll", type=float, default=0.5, metavar="SECONDS", help="longest sleep when idle")
    p.add_argument("--name", help="lock owner name (default host:pid:random)")

    p = batch.add("wait", "follow a batch's progress until it is done or cancelled", wait)
    p.add_argument("batch_id", type=int, metavar="ID")
    p.add_argument("--poll", type=float, default=0.5, metavar="SECONDS")
    p.add_argument("--user", help="an administrator (default: the server's command line)")


def operations(args: argparse.Namespace) -> int:
    emit(args, engine_for(args).batch_operations(None),
         lambda rows: table(rows, ["operation", "label", "reason_required"]))
    return 0


def create(args: argparse.Namespace) -> int:
    engine = engine_for(args)
    filter_value = _json(args.filter, "--filter") if args.filter is not None else None
    selection = {"instance_ids": args.instances, "filter": filter_value,
                 "params": json_object(args.params, "--params"), "reason": args.reason}
    preview = engine.preview_batch(args.user, args.operation, **selection)
    if not args.yes:
        count, label, name = preview["count"], preview["operation_label"], preview["operation"]
        question = f"将对 {count} 个案件执行「{label}」（{name}），确认？Run {name} on {count} cases? [y/N] "
        if not sys.stdin.isatty():
            raise InvalidInput(f"this would run {preview['operation']} on {preview['count']} cases; there is no "
                               f"terminal to confirm on: add --yes")
        if input(question).strip().lower() not in ("y", "yes", "是"):
            print("nothing was created", file=sys.stderr)
            return 1
    created = engine.create_batch(args.user, args.operation, expected_count=preview["count"], **selection)
    emit(args, created, lambda v: f"batch {v['batch_id']}: {v['operation']} on {v['total']} cases, queued "
                                  f"(follow it with `whistle batch wait {v['batch_id']}`)")
    return 0


def listing(args: argparse.Namespace) -> int:
    emit(args, engine_for(args).batch_list(args.user, args.limit), lambda rows: table(
        rows, ["batch_id", "operation", "status", "total", "done", "skipped", "failed", "pending", "actor",
               "created_at"]))
    return 0


def show(args: argparse.Namespace) -> int:
    engine = engine_for(args)
    shown = engine.batch(args.user, args.batch_id)
    if args.items or args.status:
        shown["items"] = engine.batch_items(args.user, args.batch_id, args.status, limit=None)
    emit(args, shown, _show_text)
    return 0


def _show_text(shown: dict) -> str:
    lines = [f"batch {shown['batch_id']}: {shown['operation']} by {shown['actor']}, {shown['status']}",
             f"  {progress_line(shown)}"]
    if shown.get("reason"):
        lines.append(f"  reason: {shown['reason']}")
    if "items" in shown:
        lines.append(table(shown["items"], ["instance_id", "process_id", "status", "reason", "attempts",
                                            "finished_at"]))
    return "\n".join(lines)


def report(args: argparse.Namespace) -> int:
    text = engine_for(args).batch_report_csv(args.user, args.batch_id, args.lang)
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        emit(args, {"batch_id": args.batch_id, "file": args.output}, lambda v: f"wrote {v['file']}")
    else:
        sys.stdout.write(text)
    return 0


def cancel(args: argparse.Namespace) -> int:
    emit(args, engine_for(args).cancel_batch(args.user, args.batch_id),
         lambda v: f"batch {v['batch_id']} cancelled: {v['done']} done, {v['skipped']} skipped")
    return 0


def run(args: argparse.Namespace) -> int:
    """Work items; on SIGTERM/SIGINT the item in hand is finished, the rest of its chunk given back."""
    engine = engine_for(args)
    runner = engine.batch_runner(args.name, args.lock_seconds)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    on_item = _progress_printer(engine) if sys.stdout.isatty() and not args.json else None
    if args.until_done:
        result = runner.run(stop, args.poll, on_item, until_done=True)
    else:
        result = runner.work_all(stop, on_item)
    if on_item is not None:
        print()
    emit(args, {**result.to_dict(), "owner": runner.owner, "unfinished": runner.unfinished()},
         lambda v: f"worked {v['acquired']} items: {v['done']} done, {v['skipped']} skipped, {v['failed']} failed"
                   + (f"; {v['unfinished']} not finished yet" if v["unfinished"] else ""))
    return 0


def wait(args: argparse.Namespace) -> int:
    engine = engine_for(args)
    terminal = sys.stdout.isatty() and not args.json
    while True:
        shown = engine.batch(args.user, args.batch_id)
        if terminal:
            print(f"\r{progress_line(shown)}", end="", flush=True)
        if shown["status"] in ("done", "cancelled"):
            break
        time.sleep(args.poll)
    if terminal:
        print()
    emit(args, shown, lambda v: f"batch {v['batch_id']} {v['status']}: {v['done']} done, {v['skipped']} skipped, "
                                f"{v['failed']} failed")
    return 0


def progress_line(shown: dict) -> str:
    """``[#####-----] 500/1000 50% 12.5/s, about 40 s left``."""
    total, finished = shown["total"], shown["finished"]
    filled = BAR_WIDTH * finished // total if total else BAR_WIDTH
    line = f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {finished}/{total} {shown['percent']:g}%"
    if shown.get("rate_per_second"):
        line += f" {shown['rate_per_second']:g}/s"
    if shown.get("eta_seconds"):
        line += f", about {shown['eta_seconds']:g} s left"
    return line


def _progress_printer(engine: Whistle) -> Callable[[str], None]:
    """A progress bar over the unfinished batches, redrawn at most every REFRESH_SECONDS as items finish."""
    last = [0.0]

    def on_item(_outcome: str) -> None:
        now = time.monotonic()
        if now - last[0] < REFRESH_SECONDS:
            return
        last[0] = now
        batches = [b for b in engine.batch_list(None, 200) if b["status"] in ("queued", "running")]
        total = sum(b["total"] for b in batches)
        finished = sum(b["finished"] for b in batches)
        rates = [b["rate_per_second"] for b in batches if b["rate_per_second"]]
        line = progress_line({"total": total, "finished": finished,
                              "percent": round(100 * finished / total, 1) if total else 100.0,
                              "rate_per_second": round(sum(rates), 2) if rates else None, "eta_seconds": None})
        print(f"\r{line}", end="", flush=True)

    return on_item


def _json(text: str, what: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise WhistleError(f"{what} is not valid JSON: {exc.msg} at character {exc.pos}") from exc
