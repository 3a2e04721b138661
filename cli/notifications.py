"""``whistle notifications``: a person's notifications (what the bell shows, and what went by e-mail, robot or SMS),
marking them read, and — for a worker-less demo or a test — the due-date scan and one delivery round."""
from __future__ import annotations

import argparse

from cli.arguments import engine_for
from cli.output import emit, table
from cli.registry import Commands
from engine.errors import InvalidInput

COLUMNS = ["id", "event", "instance_id", "task_id", "text", "channel", "state"]


def register(commands: Commands) -> None:
    p = commands.add("notifications", "a person's notifications: event, case, task, text, channel, state "
                                      "(--read marks them read; --deliver sends what is due, as the worker does)",
                     notifications)
    p.add_argument("--user", help="whose notifications (required unless --deliver)")
    p.add_argument("--unread", action="store_true", help="only inbox notifications not read yet")
    p.add_argument("--channel", choices=["inbox", "email", "webhook", "sms"])
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--read", metavar="ID", help="mark notification ID read, or 'all'")
    p.add_argument("--deliver", action="store_true", help="scan for due tasks and send what is pending, once")


def notifications(args: argparse.Namespace) -> int:
    engine = engine_for(args)
    if args.deliver:
        result = {"scan": engine.scan_notifications(), "delivery": engine.deliver_notifications()}
        emit(args, result, lambda v: f"scanned {v['scan']}; delivered {v['delivery']}")
        return 0
    if not args.user:
        raise InvalidInput("--user: whose notifications (or --deliver)")
    if args.read:
        if args.read != "all" and not args.read.isdigit():
            raise InvalidInput(f"--read: a notification id or 'all', not {args.read!r}")
        result = engine.mark_notification_read(args.user, None if args.read == "all" else int(args.read))
        emit(args, result, lambda v: f"marked {v['marked_read']} read; {v['unread']} unread")
        return 0
    rows = engine.notifications(args.user, args.unread, args.channel, args.limit)
    emit(args, rows, lambda found: table(found, COLUMNS))
    return 0
