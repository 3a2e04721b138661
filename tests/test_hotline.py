"""The 12345 round trip: a hotline ticket comes in by message, and its response, resolution and satisfaction go back to
the hotline through the outbox — written with the step that causes each, delivered signed, retried with backoff,
failed (an incident) after the last attempt.

A real HTTP receiver (``http.server`` on 127.0.0.1, a random port, in a thread) plays the hotline. Scenarios run on
SQLite and PostgreSQL, warm and cold; the backoff moves with ``manual_clock`` (never a sleep); only the test of the
worker's own thread waits, a bounded poll, for the receiver.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from cli.main import run as cli_run
from engine.audit import ledger
from engine.deploy.lint import lint_paths
from engine.errors import IncidentRaised
from engine.jobs.executor import start_worker_thread
from engine.outbox import delivery as outbox
from engine.store.models import OutboxDelivery, ProcessInstance
from engine.time import clock

from process_helpers import PROCESSES, Org, diagram_problems, dmn_problems, wait_for

pytestmark = pytest.mark.cold_warm

HOTLINE = PROCESSES / "hotline"
BEIJING = timezone(timedelta(hours=8))
SECRET = "hotline-shared-secret-for-tests"
TICKET = {"street": "wudadao", "community": "sanshengli", "location": "睦南道20号", "urgency": "general",
          "description": "小区路灯不亮，夜间出行不便", "caller": "resident-a", "category": "市政设施"}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


class Receiver:
    """The hotline's webhook endpoint: records every request and answers with the next status in ``answers``
    (then 200)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.answers: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/12345/webhook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self) -> list[tuple[str, str]]:
        return [(json.loads(r["body"])["event"], r["headers"]["X-Whistle-Event-Id"]) for r in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(monkeypatch):
    found = Receiver()
    monkeypatch.setenv("WHISTLE_HOTLINE_WEBHOOK_URL", found.url)
    monkeypatch.setenv("WHISTLE_HOTLINE_WEBHOOK_SECRET", SECRET)
    yield found
    found.close()


@pytest.fixture
def org(whistle) -> Org:
    return Org(whistle)


def dispatch(org: Org, ticket: str = "12345-0042", **changes) -> int:
    data = {k: v for k, v in dict(TICKET, **changes).items() if v is not None}
    [case] = org.w.message("hotline-case", key=ticket, data=data, actor="hotline-12345")["started"]
    return case


def deliver(org: Org) -> dict:
    return {k: v for k, v in outbox.deliver_due(org.w.db).to_dict().items() if v}


def deliveries(org: Org, case: int) -> list[OutboxDelivery]:
    with org.w.db.read() as session:
        rows = session.execute(select(OutboxDelivery).where(OutboxDelivery.instance_id == case)
                               .order_by(OutboxDelivery.id)).scalars().all()
        session.expunge_all()
        return rows


def test_files_are_complete_for_modelers_and_lint_clean():
    assert diagram_problems(HOTLINE / "hotline.bpmn") == []
    assert dmn_problems(HOTLINE / "hotline-deadlines.dmn") == []
    assert [str(p) for p in lint_paths([HOTLINE])] == []


def test_the_hotline_hears_the_response_the_resolution_and_the_satisfaction(org, receiver, manual_clock):
    case = dispatch(org)
    shown = org.w.show(case)
    assert (shown["process_id"], shown["business_key"], shown["started_by"]) == ("hotline", "12345-0042", "hotline-12345")
    data = shown["data"]
    assert data["ticket_id"] == "12345-0042"  # the message's key, through the correlation property
    # A general request: respond within one working day, answer within 7 days (hotline-deadlines.dmn).
    assert at(data["respond_due"]) == datetime(2026, 9, 29, 17, 0, tzinfo=BEIJING)
    assert at(data["resolve_due"]) == datetime(2026, 10, 5, 17, 0, tzinfo=BEIJING)
    [task] = org.open("command-wudadao", "街道签收响应", case)
    assert task["candidate_groups"] == ["street-wudadao-command"] and at(task["due_at"]) == at(data["respond_due"])
    assert deliver(org) == {} and receiver.requests == []  # nothing happened yet that the hotline must hear

    org.do("command-wudadao", "街道签收响应", {"acceptance": "accepted", "response_note": "已电话联系诉求人，今晚到场查看"}, case)
    [response] = deliveries(org, case)
    assert (response.event_id, response.status, response.attempts) == (f"hotline-{case}-response", "pending", 0)
    # The hotline answers 500 the first time: the delivery is tried again after the backoff, not before.
    receiver.answers = [500]
    assert deliver(org) == {"retrying": 1}
    assert deliver(org) == {}
    manual_clock.advance(timedelta(seconds=29))
    assert deliver(org) == {}
    manual_clock.advance(timedelta(seconds=2))
    assert deliver(org) == {"delivered": 1}
    first, second = receiver.requests
    assert first["body"] == second["body"] and first["headers"]["X-Whistle-Event-Id"] == f"hotline-{case}-response"
    assert second["path"] == "/12345/webhook" and second["headers"]["X-Whistle-Event"] == "response"
    expected = "sha256=" + hmac.new(SECRET.encode(), second["body"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(second["headers"]["X-Whistle-Signature"], expected)
    body = json.loads(second["body"])
    assert (body["event"], body["key"], body["case_id"], body["process_id"]) == ("response", "12345-0042", case, "hotline")
    assert body["data"]["accepted"] is True and body["data"]["on_time"] is True
    assert body["data"]["note"] == "已电话联系诉求人，今晚到场查看"
    assert deliver(org) == {}  # delivered once: never again

    org.do("command-wudadao", "街道办理答复", {"resolution": "resolved", "resolution_note": "已更换灯泡，恢复照明"}, case)
    assert deliver(org) == {"delivered": 1}
    org.do("resident-a", "居民评价", {"satisfaction": 5, "feedback_comment": "处理及时"}, case)
    assert deliver(org) == {"delivered": 1}
    assert receiver.events() == [("response", f"hotline-{case}-response"), ("response", f"hotline-{case}-response"),
                                 ("resolution", f"hotline-{case}-resolution"),
                                 ("satisfaction", f"hotline-{case}-satisfaction")]
    resolution, satisfaction = (json.loads(r["body"])["data"] for r in receiver.requests[2:])
    assert (resolution["resolution"], resolution["resolution_label"], resolution["on_time"]) == ("resolved", "已解决", True)
    assert (satisfaction["satisfaction"], satisfaction["feedback"], satisfaction["comment"]) == (5, "已评价", "处理及时")

    shown = org.w.show(case)
    assert shown["status"] == "completed" and shown["data"]["hotline_record"]["status"] == "已办结"
    assert [(d.event, d.status, d.attempts) for d in deliveries(org, case)] == [
        ("response", "delivered", 2), ("resolution", "delivered", 1), ("satisfaction", "delivered", 1)]
    # Every attempt is on the case's audit trail; the street's obligations are in the ledger.
    events = [(e["event"], e["details"].get("event")) for e in shown["audit"] if e["event"].startswith("webhook")]
    assert events == [("webhook_failed", "response"), ("webhook_delivered", "response"),
                      ("webhook_delivered", "resolution"), ("webhook_delivered", "satisfaction")]
    assert org.w.verify_audit().ok
    with org.w.db.read() as session:
        found = {o.kind: o.state for o in ledger.obligations(session, clock.now(), instance_ids=[case])}
    assert found == {"respond": ledger.DONE_ON_TIME, "resolve": ledger.DONE_ON_TIME}


def test_a_returned_ticket_and_a_ticket_never_rated(org, receiver, manual_clock):
    returned = dispatch(org, "12345-0100", street="nanshi")
    org.do("command-nanshi", "街道签收响应", {"acceptance": "returned", "response_note": "经核实不在本街道辖区",
                                         "return_reason": "地址属南营门街"}, returned)
    assert org.w.show(returned)["data"]["hotline_record"]["status"] == "已退单"
    silent = dispatch(org, "12345-0101", caller=None)  # no account: the street's grid workers record the rating
    org.do("command-wudadao", "街道签收响应", {"acceptance": "accepted", "response_note": "已联系"}, silent)
    org.do("command-wudadao", "街道办理答复", {"resolution": "explained", "resolution_note": "已向诉求人解释说明"}, silent)
    assert [t["candidate_groups"] for t in org.open("grid-worker-wudadao", "居民评价", silent)] == [["grid-wudadao"]]
    manual_clock.advance(timedelta(days=3, minutes=1))
    org.w.fire_due_jobs()  # nobody rated it: 未评价 goes back to the hotline
    assert deliver(org) == {"delivered": 4}
    by_ticket = {}
    for request in receiver.requests:
        body = json.loads(request["body"])
        by_ticket.setdefault(body["key"], []).append((body["event"], body["data"]))
    [(event, data)] = by_ticket["12345-0100"]
    assert (event, data["accepted"], data["return_reason"]) == ("response", False, "地址属南营门街")
    assert [e for e, _ in by_ticket["12345-0101"]] == ["response", "resolution", "satisfaction"]
    assert by_ticket["12345-0101"][2][1] == {"satisfaction": None, "feedback": "未评价", "comment": "", "rated_at": None}


def test_a_refused_ticket_sends_nothing(org, receiver):
    # No street: the script refuses it, the hotline's message gets the error, no case and no delivery exist.
    with pytest.raises(IncidentRaised, match="须写明街道"):
        org.w.message("hotline-case", key="12345-0200", data={"description": "噪音扰民"}, actor="hotline-12345")
    with org.w.db.read() as session:
        assert session.execute(select(ProcessInstance).where(ProcessInstance.process_id == "hotline")).first() is None
        assert session.execute(select(OutboxDelivery)).first() is None
    assert deliver(org) == {} and receiver.requests == []


def test_the_last_failed_attempt_is_an_incident_and_retry_sends_it_again(org, receiver, manual_clock, monkeypatch):
    monkeypatch.setenv("WHISTLE_WEBHOOK_MAX_ATTEMPTS", "3")
    case = dispatch(org)
    org.do("command-wudadao", "街道签收响应", {"acceptance": "accepted", "response_note": "已联系"}, case)
    receiver.answers = [503, 503, 503]
    assert deliver(org) == {"retrying": 1}
    manual_clock.advance(timedelta(seconds=31))  # 30 s after the first failure
    assert deliver(org) == {"retrying": 1}
    manual_clock.advance(timedelta(seconds=119))  # then 2 minutes (x4)
    assert deliver(org) == {}
    manual_clock.advance(timedelta(seconds=2))
    assert deliver(org) == {"failed": 1}
    [row] = deliveries(org, case)
    assert (row.status, row.attempts, row.last_status, row.last_error) == ("failed", 3, 503, "HTTP 503")
    [incident] = [i for i in org.w.incidents(case) if i["command"] == "outbox"]
    assert incident["error"].startswith("WebhookFailed: webhook hotline-") and incident["resolved_at"] is None
    manual_clock.advance(timedelta(days=1))
    assert deliver(org) == {}  # failed stays failed
    # An administrator sends it again: new attempts, due now, the incident resolved.
    assert cli_run(["--db", org.w.db.url, "outbox", "retry", str(row.id)]) == 0
    assert [i["resolved_at"] is not None for i in org.w.incidents(case) if i["command"] == "outbox"] == [True]
    assert deliver(org) == {"delivered": 1}
    assert len(receiver.requests) == 4 and len({r["body"] for r in receiver.requests}) == 1
    assert cli_run(["--db", org.w.db.url, "outbox", "retry", str(row.id)]) == 3  # delivered: nothing to retry


def test_a_channel_without_a_url_keeps_its_deliveries_until_configured(org, manual_clock, monkeypatch):
    monkeypatch.delenv("WHISTLE_HOTLINE_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("WHISTLE_HOTLINE_WEBHOOK_SECRET", raising=False)
    case = dispatch(org)
    org.do("command-wudadao", "街道签收响应", {"acceptance": "accepted", "response_note": "已联系"}, case)
    assert deliver(org) == {"waiting": 1}
    [row] = deliveries(org, case)
    assert (row.status, row.attempts) == ("pending", 0)  # not an attempt
    assert row.last_error == "not sent: set WHISTLE_HOTLINE_WEBHOOK_URL and WHISTLE_HOTLINE_WEBHOOK_SECRET"
    late = Receiver()
    try:
        monkeypatch.setenv("WHISTLE_HOTLINE_WEBHOOK_URL", late.url)
        monkeypatch.setenv("WHISTLE_HOTLINE_WEBHOOK_SECRET", SECRET)
        manual_clock.advance(timedelta(seconds=61))
        assert deliver(org) == {"delivered": 1}
        assert late.events() == [("response", f"hotline-{case}-response")]
    finally:
        late.close()


def test_the_worker_delivers_by_itself(org, receiver):
    case = dispatch(org)
    org.do("command-wudadao", "街道签收响应", {"acceptance": "accepted", "response_note": "已联系"}, case)
    thread, stop = start_worker_thread(org.w.executor, poll_interval=0.05)
    try:
        wait_for(lambda: receiver.requests, "the worker's outbox thread to deliver", seconds=20)
        wait_for(lambda: deliveries(org, case)[0].status == "delivered", "the delivery to be recorded", seconds=20)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert receiver.events() == [("response", f"hotline-{case}-response")]
    assert cli_run(["--db", org.w.db.url, "outbox", "list"]) == 0
