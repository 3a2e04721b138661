"""Notifications (engine.notifications): written in the step that causes them, once per person, event and channel;
delivered by the worker's function with retries against real local receivers (an aiosmtpd SMTP server, an HTTP
server answering as a DingTalk or WeCom robot, a recording SMS gateway); the due-date scan's reminders and overdue
notices at their times (the clock is moved, never slept on). SQLite and PostgreSQL."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from datetime import timedelta

import pytest

from engine.errors import DeploymentInvalid, InvalidInput, NotFound
from engine.notifications import delivery

from notification_receivers import RecordingGateway, RobotReceiver, SmtpReceiver
from process_helpers import PROCESSES
from test_processes_whistle import District

FIXTURES = PROCESSES.parent / "tests" / "fixtures"
SECRET = "SEC-test-secret"
LIAISONS = {"liaison-housing": ("housing@example.org", "13800000001"),
            "liaison-fire": ("fire@example.org", "13800000002")}


@pytest.fixture
def smtp(monkeypatch):
    with SmtpReceiver() as receiver:
        monkeypatch.setenv("WHISTLE_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("WHISTLE_SMTP_PORT", str(receiver.port))
        monkeypatch.setenv("WHISTLE_SMTP_FROM", "whistle@street.example")
        yield receiver


@pytest.fixture
def robot(monkeypatch):
    with RobotReceiver() as receiver:
        monkeypatch.setenv("WHISTLE_NOTIFY_WEBHOOK_URL", receiver.url)
        monkeypatch.setenv("WHISTLE_NOTIFY_WEBHOOK_SECRET", SECRET)
        yield receiver


def _rows(whistle, user, **kw):
    return whistle.notifications(user, limit=200, **kw)


def _red_whistle(district: District) -> int:
    case = district.report("building-repair-no-property", resident="resident-a")
    district.review(case, decision="whistle", tier_override="red")  # housing and fire, on site within 30 minutes
    return case


# ---------------------------------------------------------------------------------------------------------

def test_a_red_whistle_tells_the_liaisons_by_email_and_robot_once_and_retries_a_receiver_that_was_down(
        whistle, manual_clock, smtp, robot):
    district = District(whistle)
    for liaison, (email, mobile) in LIAISONS.items():
        district.person(liaison)
        whistle.set_notification_preferences(liaison, ["inbox", "email", "webhook"], email=email, mobile=mobile)
    robot.down = True
    case = _red_whistle(district)
    offered = {(n["event"], n["channel"], n["state"]) for n in _rows(whistle, "liaison-housing")}
    assert offered == {("task_offered", "inbox", "sent"), ("task_offered", "email", "pending"),
                       ("task_offered", "webhook", "pending")}  # written with the step, sent by the worker
    housing = [n for n in _rows(whistle, "liaison-housing") if n["channel"] == "inbox"]
    assert sorted(n["title"] for n in housing) == ["新待办：到场报到", "新待办：签收哨令"]
    assert {n["instance_id"] for n in housing} == {case}

    first = whistle.deliver_notifications()
    assert first == {"sent": 4, "retrying": 4, "failed": 0, "skipped": 0}  # the mails went, the robot was down
    mails = smtp.messages
    assert sorted(to for rcpt, _ in mails for to in rcpt) == sorted(
        [LIAISONS["liaison-housing"][0]] * 2 + [LIAISONS["liaison-fire"][0]] * 2)
    subjects = sorted(str(m["Subject"]) for _, m in mails)
    assert subjects[0].startswith("新待办：到场报到 / New task: ")
    assert all(m["From"] == "whistle@street.example" for _, m in mails)
    assert "请于" in mails[0][1].get_content()

    assert whistle.deliver_notifications() == {"sent": 0, "retrying": 0, "failed": 0, "skipped": 0}  # backoff
    robot.down = False
    manual_clock.advance(timedelta(seconds=31))  # the first backoff: 30 s
    assert whistle.deliver_notifications()["sent"] == 4
    assert len(robot.requests) == 4
    for request in robot.requests:
        timestamp, sign = request["query"]["timestamp"], request["query"]["sign"]
        expected = base64.b64encode(hmac.new(SECRET.encode(), f"{timestamp}\n{SECRET}".encode(),
                                             hashlib.sha256).digest()).decode()
        assert hmac.compare_digest(sign, expected)  # DingTalk's signing, checked as the robot checks it
        assert request["query"]["access_token"] == "test-token"
        body = request["body"]
        assert body["msgtype"] == "markdown" and body["markdown"]["title"].startswith("新待办：")
        assert body["at"]["atMobiles"][0] in {m for _, m in LIAISONS.values()}
    assert sorted(r["body"]["at"]["atMobiles"][0] for r in robot.requests) == sorted(
        [m for _, m in LIAISONS.values()] * 2)
    # Once each: more deliveries, a scan, another step of the case send nothing again.
    manual_clock.advance(timedelta(hours=1))
    whistle.deliver_notifications()
    assert len(smtp.messages) == 4 and len(robot.requests) == 4
    states = {(n["channel"], n["state"]) for n in _rows(whistle, "liaison-fire") if n["event"] == "task_offered"}
    assert states == {("inbox", "sent"), ("email", "sent"), ("webhook", "sent")}


def test_a_reminder_and_an_overdue_notice_arrive_at_their_times_and_a_supervision_is_told_as_one(
        whistle, manual_clock):
    district = District(whistle)
    for person in ("liaison-housing", "liaison-fire", "command-wudadao", "supervisor"):
        district.person(person)
    _red_whistle(district)  # 签收哨令 due in 15 minutes, 到场报到 in 30
    manual_clock.advance(timedelta(minutes=9))
    whistle.scan_notifications()
    assert [n for n in _rows(whistle, "liaison-fire") if n["event"] != "task_offered"] == []
    manual_clock.advance(timedelta(minutes=2))  # 11 min: two thirds of the sign task's 15 minutes have passed
    whistle.scan_notifications()
    soon = [n for n in _rows(whistle, "liaison-fire") if n["event"] == "task_due_soon"]
    assert [n["title"] for n in soon] == ["即将到期：签收哨令"]
    whistle.scan_notifications()  # idempotent
    assert len([n for n in _rows(whistle, "liaison-fire") if n["event"] == "task_due_soon"]) == 1
    assert [n for n in _rows(whistle, "command-wudadao") if n["event"] == "task_overdue"] == []
    manual_clock.advance(timedelta(minutes=5))  # 16 min: the sign tasks are overdue
    whistle.scan_notifications()
    overdue = [n for n in _rows(whistle, "liaison-fire") if n["event"] == "task_overdue"]
    assert [n["title"] for n in overdue] == ["已超期：签收哨令"]
    centre = [n for n in _rows(whistle, "command-wudadao") if n["event"] == "task_overdue"]
    assert sorted(n["title"] for n in centre) == ["已超期：签收哨令", "已超期：签收哨令"]  # both departments'
    # The diagram declares the supervision task's offer a supervision (notify: supervision_opened).
    district.arrive("housing", district.w.tasks("liaison-housing")[0]["instance_id"])
    manual_clock.advance(timedelta(minutes=16))  # 32 min: the on-site deadline passed; the district supervises
    district.w.fire_due_jobs()
    told = [(n["event"], n["title"]) for n in _rows(whistle, "supervisor")]
    assert told == [("supervision_opened", "督办：区委督查室督办")]
    assert whistle.unread_notifications("supervisor") == 1


def test_a_group_task_tells_each_active_member_except_whoever_caused_it(whistle, manual_clock):
    whistle.deploy([FIXTURES / "review.bpmn"])
    whistle.add_user("centre-a", ["command-centre"])
    whistle.add_user("centre-b", ["command-centre"])
    whistle.add_user("centre-gone", ["command-centre"])
    whistle.add_user("admin", ["admins"])
    whistle.set_account_active("admin", "centre-gone", False)
    whistle.add_user("reporter", ["command-centre"])
    case = whistle.start("review", user="reporter")
    for user in ("centre-a", "centre-b"):
        [note] = _rows(whistle, user)
        assert (note["event"], note["instance_id"], note["channel"], note["state"]) == (
            "task_offered", case, "inbox", "sent")
        assert note["title"] == "新待办：指挥中心审核"
    assert _rows(whistle, "reporter") == []  # who started it knows
    with whistle.db.read() as session:  # an inactive account is told nothing (and cannot read its list)
        from engine.store import notifications as stored

        assert stored.for_user(session, "centre-gone", None, False, 10) == []
    assert _rows(whistle, "centre-a", lang="en")[0]["title"] == "New task: 指挥中心审核"
    # Mark read: one, then all; another person's is not found.
    note_id = _rows(whistle, "centre-a")[0]["id"]
    with pytest.raises(NotFound):
        whistle.mark_notification_read("centre-b", note_id)
    assert whistle.mark_notification_read("centre-a", note_id) == {"marked_read": 1, "unread": 0}
    assert _rows(whistle, "centre-a", unread=True) == []
    assert whistle.mark_notification_read("centre-b") == {"marked_read": 1, "unread": 0}


def test_preferences_are_checked_and_the_default_is_inbox_and_email_with_an_address(whistle, smtp):
    whistle.add_user("clerk", ["command-centre"])
    assert whistle.notification_preferences("clerk")["channels"] == ["inbox"]
    with pytest.raises(InvalidInput, match="email"):
        whistle.set_notification_preferences("clerk", ["inbox", "email"])
    with pytest.raises(InvalidInput, match="channels"):
        whistle.set_notification_preferences("clerk", ["pigeon"])
    with pytest.raises(InvalidInput, match="mobile"):
        whistle.set_notification_preferences("clerk", ["sms"], mobile="call me")
    chosen = whistle.set_notification_preferences("clerk", ["inbox", "email"], email="clerk@example.org")
    assert chosen["channels"] == ["inbox", "email"] and chosen["available"] == ["inbox", "email"]
    assert whistle.notification_preferences("clerk")["email"] == "clerk@example.org"


def test_two_workers_delivering_at_once_send_each_message_once(whistle, manual_clock, smtp):
    whistle.deploy([FIXTURES / "review.bpmn"])
    for n in range(6):
        whistle.add_user(f"centre-{n}", ["command-centre"])
        whistle.set_notification_preferences(f"centre-{n}", ["email"], email=f"centre-{n}@example.org")
    for _ in range(4):
        whistle.start("review")
    barrier = threading.Barrier(2)
    results = []

    def work(owner: str) -> None:
        barrier.wait()
        total = 0
        while True:
            done = delivery.deliver_due(whistle.db, owner, limit=3).to_dict()
            total += done["sent"]
            if not any(done.values()):
                break
        results.append(total)

    threads = [threading.Thread(target=work, args=(f"worker-{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(results) == 24
    recipients = sorted(to for rcpt, _ in smtp.messages for to in rcpt)
    assert recipients == sorted(f"centre-{n}@example.org" for n in range(6) for _ in range(4))


def test_a_receiver_that_never_answers_is_failed_after_the_last_attempt(whistle, manual_clock, monkeypatch,
                                                                       robot):
    monkeypatch.setenv("WHISTLE_NOTIFY_MAX_ATTEMPTS", "3")
    whistle.deploy([FIXTURES / "review.bpmn"])
    whistle.add_user("centre-a", ["command-centre"])
    whistle.set_notification_preferences("centre-a", ["webhook"], mobile="13900000000")
    robot.down = True
    whistle.start("review")
    outcomes = []
    for _ in range(3):
        outcomes.append(whistle.deliver_notifications())
        manual_clock.advance(timedelta(minutes=10))  # past each backoff (30 s, 2 min)
    assert [o["retrying"] for o in outcomes] == [1, 1, 0] and outcomes[-1]["failed"] == 1
    [note] = _rows(whistle, "centre-a")
    assert (note["state"], note["attempts"], note["last_error"]) == ("failed", 3, "HTTP 503")


def test_wecom_robots_and_sms_gateways_and_test_mode_sends_only_to_test_receivers(whistle, manual_clock,
                                                                                 monkeypatch, robot):
    monkeypatch.setenv("WHISTLE_NOTIFY_WEBHOOK_FORMAT", "wecom")
    monkeypatch.setenv("WHISTLE_SMS_GATEWAY", "notification_receivers:RecordingGateway")
    RecordingGateway.sent.clear()
    whistle.deploy([FIXTURES / "review.bpmn"])
    whistle.add_user("centre-a", ["command-centre"])
    whistle.set_notification_preferences("centre-a", ["webhook", "sms"], mobile="13900000000")
    whistle.start("review")
    assert whistle.deliver_notifications()["sent"] == 2
    [request] = robot.requests
    assert request["body"]["msgtype"] == "markdown"
    assert request["body"]["markdown"]["content"].startswith("**新待办：指挥中心审核**")
    assert RecordingGateway.sent == [("13900000000", RecordingGateway.sent[0][1])]
    assert RecordingGateway.sent[0][1].startswith("【新待办：指挥中心审核】")
    # Test mode: a real mail server, a real robot, a real SMS gateway are refused at once, never retried.
    monkeypatch.setenv("WHISTLE_SMS_GATEWAY", "notification_receivers:RealGateway")
    monkeypatch.setenv("WHISTLE_NOTIFY_WEBHOOK_URL", "https://oapi.dingtalk.com/robot/send?access_token=x")
    whistle.add_user("centre-b", ["command-centre"])
    whistle.set_notification_preferences("centre-b", ["webhook", "sms"], mobile="13900000001")
    whistle.start("review")
    assert whistle.deliver_notifications()["failed"] == 4  # both people's new messages (centre-a's too)
    errors = {n["channel"]: n["last_error"] for n in _rows(whistle, "centre-b")}
    assert "test mode" in errors["webhook"] and "oapi.dingtalk.com" in errors["webhook"]
    assert "test mode" in errors["sms"]


def test_templates_are_checked_at_deploy_naming_the_file_and_the_key(whistle, tmp_path):
    folder = tmp_path / "notifications"
    folder.mkdir()
    (folder / "templates.json").write_text(json.dumps({
        "task_offered": {"title": "新待办：{task}", "text": "{nonsense}"},
        "task_teleported": {"title": "x", "text": "y"},
        "task_overdue": {"text": "超期"}}, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(DeploymentInvalid) as raised:
        whistle.deploy([tmp_path])
    text = "\n".join(str(p) for p in raised.value.problems)
    assert all(p.file.endswith("notifications/templates.json") for p in raised.value.problems)
    assert "'task_offered'.text: '{nonsense}' is not a value a template may name" in text
    assert "'task_teleported' is not a notification event" in text
    assert "'task_overdue'.title is required" in text
    # The shipped templates deploy, once; a second deploy changes nothing.
    first = [d for d in whistle.deploy([PROCESSES / "notifications"]) if d.kind == "notification-templates"]
    assert [(d.version, d.status) for d in first] == [(1, "new")]
    again = [d for d in whistle.deploy([PROCESSES / "notifications"]) if d.kind == "notification-templates"]
    assert [(d.version, d.status) for d in again] == [(1, "unchanged")]


def test_a_notify_declaration_naming_an_unknown_event_is_refused_at_deploy(whistle, tmp_path):
    source = (FIXTURES / "review.bpmn").read_text(encoding="utf-8").replace(
        'camunda:formKey="review-form">',
        'camunda:formKey="review-form"><bpmn:extensionElements><camunda:properties>'
        '<camunda:property name="notify" value="task_offered: everybody"/></camunda:properties>'
        '</bpmn:extensionElements>', 1)
    (tmp_path / "review.bpmn").write_text(source, encoding="utf-8")
    with pytest.raises(DeploymentInvalid) as raised:
        whistle.deploy([tmp_path / "review.bpmn"])
    [problem] = raised.value.problems
    assert "'everybody' (for task_offered) is not a recipient" in str(problem)
    assert "notify-declaration" in str(problem)


def test_the_command_line_lists_and_marks_notifications(whistle, db_url):
    from test_cli import as_json, whistle_cli

    whistle.deploy([FIXTURES / "review.bpmn"])
    whistle.add_user("centre-a", ["command-centre"])
    case = whistle.start("review")
    listed = as_json(whistle_cli(db_url, "notifications", "--user", "centre-a", "--unread", "--json"))
    assert [(n["event"], n["instance_id"], n["channel"], n["state"]) for n in listed] == [
        ("task_offered", case, "inbox", "sent")]
    assert listed[0]["task_id"] == whistle.tasks("centre-a")[0]["task_id"]
    assert listed[0]["text"].startswith("指挥中心审核") or "案件" in listed[0]["text"]
    marked = as_json(whistle_cli(db_url, "notifications", "--user", "centre-a", "--read", "all", "--json"))
    assert marked == {"marked_read": 1, "unread": 0}
    assert as_json(whistle_cli(db_url, "notifications", "--user", "centre-a", "--unread", "--json")) == []
    refused = whistle_cli(db_url, "notifications", "--user", "centre-a", "--read", "x", check=False)
    assert refused.returncode != 0 and "--read" in refused.stderr
