"""The notification centre (通知): the bell's list with mark-read, the person's channels, and the live inbox's
event stream (Server-Sent Events).

The stream (``GET /events/inbox``) reads the database, never the process's memory, so it works behind gunicorn
with several processes: every ~0.5 s it asks for the person's inbox notifications newer than the last one sent
(``ix_notification_recipient``: one index range), and sends each as an ``event: notification``. A stream holds a
server thread for its life, so both are bounded: at most ``WHISTLE_LIVE_STREAMS`` open streams per process (default
half the server's threads, at least 1; another gets 503 and the page keeps polling) and ``WHISTLE_LIVE_STREAM_SECONDS``
(default 55 s) per stream, after which the browser reconnects by itself (``retry:``) with ``Last-Event-ID``, signing
in again — so a signed-out session's stream ends within a minute.
"""
from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator

from flask import Response, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from engine.errors import InvalidInput, NotFound
from webui.i18n import current
from webui.i18n import gettext as _
from webui.staff.frame import engine, login_required, pages, signed_in_user

POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0
DEFAULT_STREAM_SECONDS = 55.0
CHANNEL_LABELS = (("inbox", "站内通知"), ("email", "电子邮件"), ("webhook", "钉钉 / 企业微信群机器人"), ("sms", "短信"))

_slots_lock = threading.Lock()


def stream_limit() -> int:
    text = os.environ.get("WHISTLE_LIVE_STREAMS", "").strip()
    return max(1, int(text)) if text.isdigit() else 4


def _semaphore() -> threading.BoundedSemaphore:
    """The app's open-stream slots (one app per server process)."""
    with _slots_lock:
        slots = current_app.extensions.get("whistle_live_streams")
        if slots is None:
            slots = threading.BoundedSemaphore(int(current_app.config.get("LIVE_STREAMS") or stream_limit()))
            current_app.extensions["whistle_live_streams"] = slots
        return slots


@pages.get("/notifications")
@login_required
def notifications() -> str:
    user = signed_in_user()["username"]
    w = engine()
    rows = w.notifications(user, channel="inbox", limit=100, lang=current())
    return render_template("notifications.html", notifications=rows, unread=w.unread_notifications(user),
                           preferences=w.notification_preferences(user), channel_labels=CHANNEL_LABELS)


@pages.post("/notifications/<int:notification_id>/read")
@login_required
def notification_read(notification_id: int) -> ResponseReturnValue:
    try:
        engine().mark_notification_read(signed_in_user()["username"], notification_id)
    except (NotFound, InvalidInput) as exc:
        flash(exc.message, "error")
    target = request.form.get("next") or ""
    return redirect(target if target.startswith("/") and not target.startswith("//") else
                    url_for("pages.notifications"))


@pages.post("/notifications/read")
@login_required
def notifications_read_all() -> ResponseReturnValue:
    result = engine().mark_notification_read(signed_in_user()["username"])
    flash(_("已全部标为已读") + f"（{result['marked_read']}）", "ok")
    return redirect(url_for("pages.notifications"))


@pages.post("/notifications/settings")
@login_required
def notification_settings() -> ResponseReturnValue:
    try:
        engine().set_notification_preferences(signed_in_user()["username"], request.form.getlist("channels"),
                                              request.form.get("email"), request.form.get("mobile"))
        flash(_("通知方式已保存"), "ok")
    except InvalidInput as exc:
        flash(exc.message, "error")
    return redirect(url_for("pages.notifications") + "#settings")


@pages.get("/events/inbox")
@login_required
def inbox_events() -> Response:
    """The person's new inbox notifications as Server-Sent Events (see the module)."""
    user = signed_in_user()["username"]
    w = engine()
    slots = _semaphore()
    if not slots.acquire(blocking=False):
        return Response("too many live streams on this server process; the page keeps polling\n", 503,
                        {"Retry-After": "30", "Content-Type": "text/plain; charset=utf-8"})
    given = request.headers.get("Last-Event-ID") or request.args.get("after") or ""
    try:
        after = int(given) if given.isdigit() else w.newest_notification_id(user)
    except Exception:
        slots.release()
        raise
    lifetime = float(current_app.config.get("LIVE_STREAM_SECONDS")
                     or os.environ.get("WHISTLE_LIVE_STREAM_SECONDS") or DEFAULT_STREAM_SECONDS)
    lang = current()

    def stream() -> Iterator[str]:
        last = after
        try:
            yield f"retry: 1000\nid: {last}\nevent: ready\ndata: {json.dumps({'after': last})}\n\n"
            ends = time.monotonic() + lifetime
            quiet_since = time.monotonic()
            while time.monotonic() < ends:
                rows = w.notifications_since(user, last, lang)
                if rows:
                    unread = w.unread_notifications(user)
                    for row in rows:
                        last = row["id"]
                        payload = {"id": row["id"], "event": row["event"], "title": row["title"],
                                   "text": row["text"], "task_id": row["task_id"], "instance_id": row["instance_id"],
                                   "unread": unread}
                        yield f"id: {last}\nevent: notification\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n"
                    quiet_since = time.monotonic()
                elif time.monotonic() - quiet_since > KEEPALIVE_SECONDS:
                    yield ": keep-alive\n\n"
                    quiet_since = time.monotonic()
                time.sleep(POLL_SECONDS)  # a server-side poll interval, not a timer: the engine clock is not involved
        finally:
            slots.release()

    return Response(stream(), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
