"""``whistle serve | worker | outbox``: the long-running processes (the web service, the timer worker, the
webhook delivery), each stopping cleanly on SIGTERM or SIGINT."""
from __future__ import annotations

import argparse
import signal
import threading

from cli.arguments import engine_for
from cli.output import emit, plural, table
from cli.registry import Commands
from engine.jobs.executor import DEFAULT_BATCH, DEFAULT_LOCK_SECONDS, JobExecutor
from engine.outbox import delivery as outbox


def register(commands: Commands) -> None:
    p = commands.add("serve", "serve the web application (with one timer worker unless --no-worker)", serve)
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

    p = commands.add("worker", "fire due timers and work batch items: run until stopped (SIGTERM/SIGINT), or once "
                               "with --once", worker)
    p.add_argument("--once", action="store_true", help="fire what is due now, print how many, and exit")
    p.add_argument("--poll", type=float, default=0.5, metavar="SECONDS",
                   help="longest sleep when idle (default 0.5; it wakes earlier for a timer due sooner)")
    p.add_argument("--batch", type=int, help="jobs acquired per round (default 5: a worker killed holds few)")
    p.add_argument("--lock-seconds", type=float,
                   help="how long an acquired job (or batch item) stays locked to this worker, renewed while it "
                        "is alive (default 30)")
    p.add_argument("--name", help="lock owner name (default host:pid:random)")

    deliveries = commands.group("outbox", "outbound webhooks (the 12345 hotline's replies): list, deliver, retry")
    p = deliveries.add("list", "the newest deliveries: pending, delivered, failed", outbox_list)
    p.add_argument("--status", choices=["pending", "delivered", "failed"])
    p.add_argument("--limit", type=int, default=50)
    p = deliveries.add("deliver", "send what is due (the worker does this too): until stopped, or once with --once",
                       outbox_deliver)
    p.add_argument("--once", action="store_true", help="send what is due now, print what happened, and exit")
    p.add_argument("--poll", type=float, default=1.0, metavar="SECONDS", help="sleep when idle (default 1)")
    p = deliveries.add("retry", "give a failed delivery new attempts, due now", outbox_retry)
    p.add_argument("delivery_id", type=int, metavar="ID")
    p.add_argument("--user", default="system")


def serve(args: argparse.Namespace) -> int:
    # Imported here, not at the top: the web stack (Flask, waitress, gunicorn) adds about 0.35 s to the start
    # of every other command, and only `whistle serve` uses it.
    from webui.serving.server import configured_processes
    from webui.serving.server import serve as serve_web

    serve_web(args.db, args.host, args.port, args.threads, worker=not args.no_worker,
              processes=configured_processes(args.processes))
    return 0


def worker(args: argparse.Namespace) -> int:
    """Fire due timers and work batch items; on SIGTERM/SIGINT the job in hand is finished, then the worker
    stops."""
    engine = engine_for(args)
    executor = JobExecutor(engine.db, engine.runtime, owner=args.name,
                           lock_seconds=args.lock_seconds or DEFAULT_LOCK_SECONDS)
    executor.batches = engine.batch_runner(executor.owner, args.lock_seconds)
    batch = args.batch or DEFAULT_BATCH
    if args.once:
        result = executor.fire_due(batch=batch)
        items = executor.batches.work_all()
        emit(args, {"fired": result.fired, "failed": result.failed, "skipped": result.skipped,
                    "batch_items": items.to_dict(), "owner": executor.owner},
             lambda v: f"fired {plural(v['fired'], 'timer job')}" + (f", {v['failed']} failed" if v["failed"] else "")
             + (f"; worked {plural(items.acquired, 'batch item')}" if items.acquired else ""))
        return 0
    stop = _stop_on_signals()
    if not args.json:
        print(f"timer worker {executor.owner} started (poll {args.poll:g} s, batch {batch}); "
              f"stop with Ctrl-C or SIGTERM", flush=True)
    total = executor.run(stop, poll_interval=args.poll, batch=batch)
    emit(args, {"fired": total.fired, "failed": total.failed, "skipped": total.skipped, "owner": executor.owner},
         lambda v: f"timer worker stopped: fired {v['fired']}, failed {v['failed']}")
    return 0


def outbox_list(args: argparse.Namespace) -> int:
    with engine_for(args).db.read() as session:
        rows = outbox.listing(session, args.status, args.limit)
    emit(args, rows, lambda rows: table(rows, ["delivery_id", "event_id", "key", "status", "attempts",
                                               "next_attempt_at", "last_status", "last_error", "delivered_at"]))
    return 0


def outbox_deliver(args: argparse.Namespace) -> int:
    engine = engine_for(args)
    if args.once:
        result = outbox.deliver_due(engine.db)
        emit(args, result.to_dict(), lambda v: ", ".join(f"{k} {n}" for k, n in v.items() if n) or "nothing due")
        return 0
    stop = _stop_on_signals()
    if not args.json:
        print(f"outbox delivery started (poll {args.poll:g} s); stop with Ctrl-C or SIGTERM", flush=True)
    outbox.run_in_background(engine.db, stop, poll_seconds=args.poll).join()
    return 0


def outbox_retry(args: argparse.Namespace) -> int:
    emit(args, outbox.retry(engine_for(args).db, args.delivery_id, args.user),
         lambda v: f"delivery {v['delivery_id']} ({v['event_id']}) will be sent again, due now")
    return 0


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    return stop
