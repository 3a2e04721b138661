"""Local test receivers for notifications: a real SMTP server (aiosmtpd) and an HTTP server that answers as a
DingTalk or WeCom robot does, each in a thread of the test process, on a free loopback port; and an SMS gateway
that records what it was given. Test mode (``WHISTLE_MODE=test``) sends only to receivers like these."""
from __future__ import annotations

import json
import socket
import threading
import urllib.parse
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Collect:
    def __init__(self) -> None:
        self.messages: list = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"


class SmtpReceiver:
    def __init__(self) -> None:
        self.port = free_port()
        self.handler = _Collect()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpReceiver:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()

    @property
    def messages(self) -> list:
        with self.handler.lock:
            return list(self.handler.messages)


class RobotReceiver:
    """Answers like a robot: ``{"errcode": 0}``; while ``down`` it answers 503."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.down = False
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's hook name
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                if receiver.down:
                    self.send_response(503)
                    self.end_headers()
                    return
                parts = urllib.parse.urlsplit(self.path)
                receiver.requests.append({"path": parts.path, "query": dict(urllib.parse.parse_qsl(parts.query)),
                                          "body": json.loads(body)})
                answer = b'{"errcode":0,"errmsg":"ok"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/robot/send?access_token=test-token"

    def __enter__(self) -> RobotReceiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


class RecordingGateway:
    """An SMS gateway for tests (``WHISTLE_SMS_GATEWAY=notification_receivers:RecordingGateway``)."""

    test_receiver = True
    sent: list[tuple[str, str]] = []

    def send(self, mobile: str, text: str) -> None:
        RecordingGateway.sent.append((mobile, text))


class RealGateway:
    """A gateway that would reach real phones: test mode must not use it."""

    def send(self, mobile: str, text: str) -> None:
        raise AssertionError("test mode sent an SMS through a real gateway")
