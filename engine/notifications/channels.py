"""The channels a notification travels by, each an adapter with one method, ``send(message) -> None``, that raises
when the message did not go (the worker then tries again later; ``engine.notifications.delivery``).

* ``inbox`` — nothing to send: the row is the message (the bell, the notification page, the live inbox).
* ``email`` — SMTP (``smtplib``): ``WHISTLE_SMTP_HOST``, ``WHISTLE_SMTP_PORT`` (25), ``WHISTLE_SMTP_FROM``,
  ``WHISTLE_SMTP_USER`` / ``WHISTLE_SMTP_PASSWORD`` (optional), ``WHISTLE_SMTP_STARTTLS=1`` (optional).
* ``webhook`` — a group robot of 政务钉钉/DingTalk (``msgtype: markdown``, ``@`` the person's mobile; with
  ``WHISTLE_NOTIFY_WEBHOOK_SECRET`` the URL carries ``timestamp`` and ``sign``, the Base64 HMAC-SHA256 of
  ``"{timestamp}\\n{secret}"`` keyed by the secret, as DingTalk documents) or of 企业微信/WeCom (``msgtype:
  markdown``; the key is in the URL): ``WHISTLE_NOTIFY_WEBHOOK_URL``, ``WHISTLE_NOTIFY_WEBHOOK_FORMAT``
  (``dingtalk``, the default, or ``wecom``). An answer other than 2xx with ``errcode`` 0 is a failure.
* ``sms`` — a gateway adapter named by ``WHISTLE_SMS_GATEWAY``: ``log`` (writes the message to the log) or a
  class path ``package.module:Class`` whose instances have ``send(mobile, text) -> None``.

A channel that is not configured is not written at all (:func:`configured`), so nothing waits for a setting.

**Test mode** (``WHISTLE_MODE=test``) sends nothing except to test receivers: e-mail and webhooks only to a loopback
host (``127.0.0.1``, ``::1``, ``localhost``), SMS only through a gateway whose class says ``test_receiver = True``
(the ``log`` gateway does). Anything else fails at once with a message saying so, and is never retried.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import importlib
import ipaddress
import json
import logging
import os
import smtplib
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Protocol

from engine.time import clock

log = logging.getLogger("whistle.notifications")
DEFAULT_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Message:
    """What a channel sends: one notification row as it was written."""

    id: int
    event: str
    recipient: str
    channel: str
    address: str | None  # the e-mail address or mobile number
    title: str
    text: str
    title_en: str | None
    text_en: str | None
    instance_id: int | None
    task_id: str | None


class Channel(Protocol):
    def send(self, message: Message) -> None: ...


class NotSent(Exception):
    """A channel refused a message; ``final``: trying again will not help (test mode, no address)."""

    def __init__(self, text: str, final: bool = False) -> None:
        super().__init__(text)
        self.final = final


def test_mode() -> bool:
    return clock.mode() == "test"


def _timeout() -> float:
    return max(0.1, float(os.environ.get("WHISTLE_NOTIFY_TIMEOUT", DEFAULT_TIMEOUT_SECONDS)))


def _require_loopback(host: str, setting: str) -> None:
    if not test_mode():
        return
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise NotSent(f"test mode (WHISTLE_MODE=test) sends only to local test receivers; {setting} is {host!r}",
                      final=True)


def body_text(message: Message) -> str:
    """The text with its English beside it, and where to find the case."""
    parts = [message.text]
    if message.text_en:
        parts.append(message.text_en)
    if message.instance_id is not None:
        link = os.environ.get("WHISTLE_BASE_URL", "").rstrip("/")
        where = f"{link}/tasks/{message.task_id}" if message.task_id and link else (
            f"{link}/cases/{message.instance_id}" if link else f"案件 / case {message.instance_id}")
        parts.append(where)
    return "\n\n".join(parts)


class InboxChannel:
    """The in-page notification centre: the row is the message."""

    def send(self, message: Message) -> None:
        return None


class EmailChannel:
    def send(self, message: Message) -> None:
        host = os.environ.get("WHISTLE_SMTP_HOST", "").strip()
        if not host:
            raise NotSent("not sent: set WHISTLE_SMTP_HOST", final=True)
        if not message.address:
            raise NotSent(f"{message.recipient} has no e-mail address", final=True)
        _require_loopback(host, "WHISTLE_SMTP_HOST")
        mail = EmailMessage()
        mail["From"] = os.environ.get("WHISTLE_SMTP_FROM", "whistle@localhost")
        mail["To"] = message.address
        mail["Subject"] = message.title + (f" / {message.title_en}" if message.title_en else "")
        mail["X-Whistle-Notification"] = str(message.id)
        mail.set_content(body_text(message))
        port = int(os.environ.get("WHISTLE_SMTP_PORT", "25"))
        with smtplib.SMTP(host, port, timeout=_timeout()) as smtp:
            if os.environ.get("WHISTLE_SMTP_STARTTLS", "").strip() in ("1", "true", "yes"):
                smtp.starttls()
            user = os.environ.get("WHISTLE_SMTP_USER", "").strip()
            if user:
                smtp.login(user, os.environ.get("WHISTLE_SMTP_PASSWORD", ""))
            smtp.send_message(mail)


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's robot signature: Base64 of HMAC-SHA256 over ``"{timestamp}\\n{secret}"`` keyed by the secret
    (URL-encoded by the caller when put into the URL)."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def dingtalk_body(message: Message, mobile: str | None) -> dict:
    text = f"#### {message.title}\n\n{body_text(message)}" + (f"\n\n@{mobile}" if mobile else "")
    return {"msgtype": "markdown", "markdown": {"title": message.title, "text": text},
            "at": {"atMobiles": [mobile] if mobile else [], "isAtAll": False}}


def wecom_body(message: Message, mobile: str | None) -> dict:
    return {"msgtype": "markdown", "markdown": {"content": f"**{message.title}**\n{body_text(message)}"}}


class WebhookChannel:
    def send(self, message: Message) -> None:
        url = os.environ.get("WHISTLE_NOTIFY_WEBHOOK_URL", "").strip()
        if not url:
            raise NotSent("not sent: set WHISTLE_NOTIFY_WEBHOOK_URL", final=True)
        _require_loopback(urllib.parse.urlsplit(url).hostname or "", "WHISTLE_NOTIFY_WEBHOOK_URL")
        kind = os.environ.get("WHISTLE_NOTIFY_WEBHOOK_FORMAT", "dingtalk").strip().lower() or "dingtalk"
        if kind not in ("dingtalk", "wecom"):
            raise NotSent(f"WHISTLE_NOTIFY_WEBHOOK_FORMAT={kind!r}: write dingtalk or wecom", final=True)
        body = (dingtalk_body if kind == "dingtalk" else wecom_body)(message, message.address)
        secret = os.environ.get("WHISTLE_NOTIFY_WEBHOOK_SECRET", "").strip()
        if kind == "dingtalk" and secret:
            timestamp = int(clock.now().timestamp() * 1000)
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(
                {"timestamp": timestamp, "sign": dingtalk_sign(secret, timestamp)})
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(url, data=data, method="POST",
                                         headers={"Content-Type": "application/json; charset=utf-8"})
        try:
            with urllib.request.urlopen(request, timeout=_timeout()) as response:  # noqa: S310 (configured URL)
                answer = response.read(65536)
        except urllib.error.HTTPError as exc:
            exc.close()
            raise NotSent(f"HTTP {exc.code}") from None
        try:
            errcode = json.loads(answer or b"{}").get("errcode", 0)
        except (ValueError, AttributeError):
            errcode = 0  # a receiver that answers 2xx without the robots' JSON
        if errcode not in (0, None):
            raise NotSent(f"the robot answered errcode {errcode}: {answer[:200].decode('utf-8', 'replace')}")


class SmsGateway(Protocol):
    def send(self, mobile: str, text: str) -> None: ...


class LogGateway:
    """Writes the message to the log instead of sending it (demos, and a deployment's first steps)."""

    test_receiver = True

    def send(self, mobile: str, text: str) -> None:
        log.info("sms to %s: %s", mobile, text)


def sms_gateway() -> Any:
    """The gateway ``WHISTLE_SMS_GATEWAY`` names, made once per send (a changed setting takes effect at once)."""
    name = os.environ.get("WHISTLE_SMS_GATEWAY", "").strip()
    if not name:
        raise NotSent("not sent: set WHISTLE_SMS_GATEWAY", final=True)
    if name == "log":
        return LogGateway()
    module_name, _, class_name = name.partition(":")
    try:
        gateway_class = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise NotSent(f"WHISTLE_SMS_GATEWAY={name!r} cannot be loaded ({exc}); write package.module:Class or log",
                      final=True) from None
    return gateway_class()


class SmsChannel:
    def send(self, message: Message) -> None:
        if not message.address:
            raise NotSent(f"{message.recipient} has no mobile number", final=True)
        gateway = sms_gateway()
        if test_mode() and not getattr(gateway, "test_receiver", False):
            raise NotSent("test mode (WHISTLE_MODE=test) sends SMS only through a test gateway (test_receiver = True)",
                          final=True)
        gateway.send(message.address, f"【{message.title}】{message.text}")


ADAPTERS: dict[str, Channel] = {"inbox": InboxChannel(), "email": EmailChannel(), "webhook": WebhookChannel(),
                                "sms": SmsChannel()}


def configured() -> set[str]:
    """The channels this deployment has set up (only they are written): the inbox always, e-mail with
    ``WHISTLE_SMTP_HOST``, webhooks with ``WHISTLE_NOTIFY_WEBHOOK_URL``, SMS with ``WHISTLE_SMS_GATEWAY``."""
    found = {"inbox"}
    for channel, variable in (("email", "WHISTLE_SMTP_HOST"), ("webhook", "WHISTLE_NOTIFY_WEBHOOK_URL"),
                              ("sms", "WHISTLE_SMS_GATEWAY")):
        if os.environ.get(variable, "").strip():
            found.add(channel)
    return found
