"""A person's notifications (the bell, the notification page, ``whistle notifications``, the REST API and the live
inbox's stream) and the channels they choose. Each reads or changes only the person's own rows; the rules are
here, the shells only show them."""
from __future__ import annotations

import re
from typing import Any

from engine.audit.chain import AuditLog
from engine.errors import InvalidInput, NotFound
from engine.identity.accounts import find_user
from engine.notifications import channels as channel_adapters
from engine.notifications import delivery
from engine.notifications.writer import CHANNELS, channels_of
from engine.runtime.commands import Runtime
from engine.runtime.context import CommandContext
from engine.store import Session
from engine.store import notifications as stored
from engine.store.db import Database
from engine.store.models import Notification
from engine.time import clock

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{1,60}$")
MOBILE = re.compile(r"^\+?[0-9]{6,20}$")
MAX_LIST = 200


def notification_dict(row: Notification, lang: str = "zh") -> dict:
    english = lang == "en"
    return {"id": row.id, "event": row.event, "instance_id": row.instance_id, "task_id": row.task_id,
            "title": (row.title_en if english and row.title_en else row.title),
            "text": (row.text_en if english and row.text_en else row.text), "channel": row.channel,
            "state": row.state, "attempts": row.attempts, "last_error": row.last_error,
            "created_at": row.created_at.isoformat(), "sent_at": row.sent_at.isoformat() if row.sent_at else None,
            "read_at": row.read_at.isoformat() if row.read_at else None}


class NotificationCenter:
    def __init__(self, db: Database, runtime: Runtime) -> None:
        self.db = db
        self.runtime = runtime

    def listing(self, user: str, unread: bool = False, channel: str | None = None, limit: int = 50,
                lang: str = "zh") -> list[dict]:
        """The person's notifications, newest first (``unread``: inbox ones not read yet)."""
        if channel is not None and channel not in CHANNELS:
            raise InvalidInput(f"channel: {channel!r} is not one of {', '.join(CHANNELS)}")
        if not 1 <= limit <= MAX_LIST:
            raise InvalidInput(f"limit: between 1 and {MAX_LIST}, got {limit}")
        with self.db.read() as session:
            find_user(session, user)
            return [notification_dict(r, lang) for r in stored.for_user(session, user, channel, unread, limit)]

    def unread_count(self, user: str) -> int:
        with self.db.read() as session:
            return stored.unread_count(session, user)

    def newest_id(self, user: str) -> int:
        """Where a live stream starts: the id of the person's newest inbox notification."""
        with self.db.read() as session:
            return stored.newest_inbox_id(session, user)

    def since(self, user: str, after_id: int, lang: str = "zh") -> list[dict]:
        """The person's inbox notifications newer than ``after_id``, oldest first (one indexed read)."""
        with self.db.read() as session:
            rows = stored.for_user(session, user, stored.INBOX, False, MAX_LIST, after_id=after_id)
        return [notification_dict(r, lang) for r in reversed(rows)]

    def mark_read(self, user: str, notification_id: int | None = None) -> dict:
        """Mark one of the person's inbox notifications read, or all of them; another person's is NotFound."""

        def work(session: Session, audit: AuditLog) -> dict:
            find_user(session, user)
            if notification_id is not None:
                row = stored.get(session, notification_id)
                if row is None or row.recipient != user:
                    raise NotFound(f"no notification {notification_id} of {user}")
                if row.channel != stored.INBOX:
                    raise InvalidInput(f"notification {notification_id} went by {row.channel}; only inbox "
                                       f"notifications are read here")
            changed = stored.mark_read(session, user, notification_id, clock.now())
            return {"marked_read": changed, "unread": stored.unread_count(session, user)}

        return self.runtime.executor.run(CommandContext("notifications read", user), work)

    # -- the person's channels ----------------------------------------------------------------------------------

    def preferences(self, user: str) -> dict:
        """The person's channels (chosen, or the default), addresses, and the channels this deployment offers."""
        with self.db.read() as session:
            find_user(session, user)
            contact = stored.contact_of(session, user)
            return _preferences(contact)

    def set_preferences(self, user: str, channels: list[str], email: str | None = None,
                        mobile: str | None = None) -> dict:
        """Choose channels (and the addresses they need); audited as ``notification_preferences_set``."""
        if not isinstance(channels, list) or any(c not in CHANNELS for c in channels):
            raise InvalidInput(f"channels: a list of {', '.join(CHANNELS)}")
        email = (email or "").strip() or None
        mobile = (mobile or "").strip().replace(" ", "") or None
        if email is not None and not EMAIL.match(email):
            raise InvalidInput(f"email: {email!r} is not an e-mail address")
        if mobile is not None and not MOBILE.match(mobile):
            raise InvalidInput(f"mobile: {mobile!r} is not a mobile number (digits, an optional +)")
        if "email" in channels and email is None:
            raise InvalidInput("email: e-mail is chosen but no address is given")
        if "sms" in channels and mobile is None:
            raise InvalidInput("mobile: SMS is chosen but no mobile number is given")

        def work(session: Session, audit: AuditLog) -> dict:
            find_user(session, user)
            chosen = [c for c in CHANNELS if c in channels]
            stored.set_contact(session, user, notify_channels=chosen, email=email, mobile=mobile)
            audit.record("notification_preferences_set", user, channels=chosen, email=bool(email),
                         mobile=bool(mobile))
            return _preferences(stored.contact_of(session, user))

        return self.runtime.executor.run(CommandContext("notification preferences", user), work)

    # -- the worker's part, on demand (tests, `whistle notifications --deliver`) -------------------------------

    def deliver(self) -> dict:
        """Send what is due now, one batch (the worker does this every second)."""
        return delivery.deliver_due(self.db).to_dict()

    def scan(self) -> dict:
        """Write the due-soon and overdue notifications of now (the worker does this every 15 s)."""
        return delivery.scan(self.db, self.runtime.instances.specs)


def _preferences(contact: Any) -> dict:
    return {"channels": channels_of(contact), "chosen": contact.notify_channels, "email": contact.email,
            "mobile": contact.mobile, "available": [c for c in CHANNELS if c in channel_adapters.configured()]}
