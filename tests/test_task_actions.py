"""Task actions (issue 17, part 3; docs/task-actions.md): 转办, 委派, 退回, 撤回, 催办, 抄送 through the facade, the
CLI and REST, on SQLite and PostgreSQL — each working where it must, refused where it must, each leaving an
audit event (with the notification it calls for) and the audit chain verifying."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from cli.main import run as cli_run
from engine.audit import ledger
from engine.deploy.lint import lint_paths
from engine.errors import Conflict, Forbidden, InvalidInput, NotFound
from engine.time import clock


@pytest.fixture
def case(whistle, fixtures) -> int:
    whistle.deploy([fixtures / "task_actions.bpmn"])
    for name, groups in (("ann", ["dept-a"]), ("amy", ["dept-a"]), ("bob", ["dept-b"]), ("cat", ["checkers"]),
                         ("dan", ["checkers"]), ("eve", ["others"]), ("boss", ["admins"])):
        whistle.add_user(name, groups)
    return whistle.start("task_actions", user="ann")


def open_task(whistle, instance_id: int, element_id: str) -> dict:
    [task] = [t for t in whistle.show(instance_id)["open_tasks"] if t["element_id"] == element_id]
    return whistle.task(task["task_id"])


def events(whistle, instance_id: int, kind: str) -> list[dict]:
    return [e for e in whistle.history(instance_id) if e["event"] == kind]


def audit_ok(whistle) -> None:
    report = whistle.verify_audit()
    assert report.ok, report


def test_transfer_to_a_group_and_to_a_person_moves_the_inbox_but_not_the_obligation(whistle, case):
    task = open_task(whistle, case, "handle")
    with pytest.raises(Forbidden):
        whistle.transfer(task["task_id"], "eve", "dept-b", "不是我的")  # not a candidate
    with pytest.raises(InvalidInput, match="reason"):
        whistle.transfer(task["task_id"], "ann", "dept-b", " ")
    with pytest.raises(NotFound, match="nobody"):
        whistle.transfer(task["task_id"], "ann", "nobody", "转给不存在的人")
    moved = whistle.transfer(task["task_id"], "ann", "dept-b", "属于乙部门职责")
    assert moved["candidate_groups"] == ["dept-b"] and moved["assignee"] is None
    assert [t["task_id"] for t in whistle.tasks("bob")] == [task["task_id"]]
    assert whistle.tasks("ann") == []
    with pytest.raises(Forbidden):
        whistle.claim(task["task_id"], "ann")
    moved = whistle.transfer(task["task_id"], "bob", "user:eve", "请 eve 办理")
    assert moved["assignee"] == "eve" and moved["candidate_users"] == ["eve"]
    whistle.complete(task["task_id"], "eve", {"result": "已处置"})
    [first, second] = events(whistle, case, "task_transferred")
    assert first["details"]["to"] == "dept-b" and first["details"]["reason"] == "属于乙部门职责"
    assert first["details"]["notify"] == "task_transferred" and first["details"]["recipients"] == ["dept-b"]
    assert second["actor"] == "bob" and second["details"]["to_kind"] == "user"
    with whistle.db.read() as session:
        [obligation] = ledger.obligations(session, clock.now(), instance_ids=[case])
    assert (obligation.party, obligation.done_by, obligation.state) == ("dept-a", "eve", ledger.DONE_ON_TIME)
    audit_ok(whistle)


def test_delegation_comes_back_to_the_owner_who_completes_it(whistle, case):
    task = open_task(whistle, case, "handle")
    whistle.claim(task["task_id"], "ann")
    with pytest.raises(Forbidden):
        whistle.delegate(task["task_id"], "amy", "bob")  # claimed by ann
    with pytest.raises(InvalidInput, match="group"):
        whistle.delegate(task["task_id"], "ann", "dept-b")
    delegated = whistle.delegate(task["task_id"], "ann", "bob", "请协助核实")
    assert (delegated["assignee"], delegated["delegated_by"], delegated["delegation_state"]) == \
        ("bob", "ann", "pending")
    with pytest.raises(Forbidden):
        whistle.complete(task["task_id"], "ann", {"result": "x"})  # it is bob's until he hands it back
    with pytest.raises(Conflict, match="delegated"):
        whistle.transfer(task["task_id"], "bob", "dept-b", "转走")
    back = whistle.complete(task["task_id"], "bob", {"result": "已核实"})
    assert back["delegation_state"] == "resolved" and back["assignee"] == "ann"
    again = whistle.task(task["task_id"])
    assert again["status"] == "open" and again["assignee"] == "ann"
    assert whistle.task_data(task["task_id"])["result"] == "已核实"
    whistle.complete(task["task_id"], "ann", {"result": "已处置"})
    assert whistle.task(task["task_id"])["completed_by"] == "ann"
    assert open_task(whistle, case, "verify")["status"] == "open"
    [resolved] = events(whistle, case, "task_delegation_resolved")
    assert resolved["actor"] == "bob" and resolved["details"]["recipients"] == ["ann"]
    assert events(whistle, case, "task_delegated")[0]["details"]["notify"] == "task_delegated"
    audit_ok(whistle)


def test_return_only_to_a_step_the_diagram_allows_with_its_deadline_evaluated_again(whistle, case, manual_clock):
    handle = open_task(whistle, case, "handle")
    whistle.complete(handle["task_id"], "ann", {"result": "已处置"})
    verify = open_task(whistle, case, "verify")
    with pytest.raises(InvalidInput, match="only to handle"):
        whistle.return_task(verify["task_id"], "cat", "close", "退到别处")
    with pytest.raises(InvalidInput, match="reason"):
        whistle.return_task(verify["task_id"], "cat", "handle", "")
    with pytest.raises(Forbidden):
        whistle.return_task(verify["task_id"], "ann", "handle", "不是核验人")
    manual_clock.advance(timedelta(minutes=30))
    returned = whistle.return_task(verify["task_id"], "cat", "handle", "处置不到位，请重新处置")
    assert returned["returned_to"] == "handle"
    assert whistle.task(verify["task_id"])["status"] == "cancelled"
    again = open_task(whistle, case, "handle")
    assert again["task_id"] == returned["new_task_ids"][0] != handle["task_id"]
    assert again["due_at"] == (clock.now() + timedelta(hours=2)).isoformat()  # PT2H from now, as declared
    [event] = events(whistle, case, "task_returned")
    assert event["details"]["reason"] == "处置不到位，请重新处置" and event["details"]["recipients"] == ["ann"]
    with whistle.db.read() as session:
        states = sorted(o.state for o in ledger.obligations(session, clock.now(), instance_ids=[case]))
    assert states == [ledger.DONE_ON_TIME, ledger.OPEN]  # the first handling stays done; a new one is open
    whistle.complete(again["task_id"], "ann", {"result": "已重新处置"})
    whistle.complete(open_task(whistle, case, "verify")["task_id"], "cat", {})
    with pytest.raises(InvalidInput, match="no earlier step"):
        whistle.return_task(open_task(whistle, case, "close")["task_id"], "cat", "verify", "结案前退回")
    audit_ok(whistle)


def test_withdraw_while_the_next_step_has_not_started(whistle, case, manual_clock):
    handle = open_task(whistle, case, "handle")
    whistle.complete(handle["task_id"], "ann", {"result": "已处置"})
    with pytest.raises(Forbidden, match="completed by ann"):
        whistle.withdraw(handle["task_id"], "amy")
    with pytest.raises(Conflict, match="only a completed task"):
        whistle.withdraw(open_task(whistle, case, "verify")["task_id"], "cat")
    withdrawn = whistle.withdraw(handle["task_id"], "ann")
    again = open_task(whistle, case, "handle")
    assert again["task_id"] == withdrawn["new_task_ids"][0] and again["assignee"] == "ann"
    assert withdrawn["cancelled"] == ["街道核验"]
    assert [e["details"]["notify"] for e in events(whistle, case, "task_withdrawn")] == ["task_withdrawn"]

    whistle.complete(again["task_id"], "ann", {"result": "已处置"})
    whistle.claim(open_task(whistle, case, "verify")["task_id"], "cat")  # the next step started
    with pytest.raises(Conflict, match="task_claimed"):
        whistle.withdraw(again["task_id"], "ann")
    audit_ok(whistle)


def test_withdraw_is_refused_after_a_timer_fired_since(whistle, case, manual_clock):
    handle = open_task(whistle, case, "handle")
    whistle.complete(handle["task_id"], "ann", {"result": "已处置"})
    manual_clock.advance(timedelta(hours=1, seconds=1))
    assert whistle.fire_due_jobs() == 1
    with pytest.raises(Conflict, match="timer_fired"):
        whistle.withdraw(handle["task_id"], "ann")


def test_a_suspended_case_refuses_the_actions(whistle, case):
    handle = open_task(whistle, case, "handle")
    whistle.suspend_instance(case, "核查中", "boss")
    for act in (lambda: whistle.transfer(handle["task_id"], "ann", "dept-b", "转"),
                lambda: whistle.delegate(handle["task_id"], "ann", "amy"),
                lambda: whistle.urge(handle["task_id"], "ann")):
        with pytest.raises(Conflict, match="suspended"):
            act()
    whistle.resume_instance(case, "boss")
    whistle.complete(handle["task_id"], "ann", {"result": "已处置"})
    whistle.suspend_instance(case, "核查中", "boss")
    with pytest.raises(Conflict, match="suspended"):
        whistle.withdraw(handle["task_id"], "ann")


def test_urge_is_rate_limited_and_cc_gives_read_access(whistle, case, manual_clock):
    handle = open_task(whistle, case, "handle")
    with pytest.raises(Forbidden):
        whistle.urge(handle["task_id"], "eve")  # may not see the case
    urged = whistle.urge(handle["task_id"], "boss", "请尽快处置")
    assert urged["recipients"] == ["dept-a"]
    manual_clock.advance(timedelta(minutes=29))
    with pytest.raises(Conflict, match="again after"):
        whistle.urge(handle["task_id"], "boss")
    manual_clock.advance(timedelta(minutes=1))
    whistle.urge(handle["task_id"], "boss")
    assert [e["details"]["note"] for e in events(whistle, case, "task_urged")] == ["请尽快处置", None]

    assert not whistle.can_see_instance("eve", case)
    with pytest.raises(Forbidden):
        whistle.cc(case, "eve", "bob")
    copy = whistle.cc(case, "ann", "eve", "供参阅")
    assert whistle.can_see_instance("eve", case)
    whistle.cc(case, "ann", "group:dept-b")
    assert whistle.can_see_instance("bob", case)
    assert [c["copy_id"] for c in whistle.copies("eve")] == [copy["copy_id"]]
    assert whistle.tasks("eve") == []  # read only: nothing to work on
    with pytest.raises(Forbidden):
        whistle.claim(handle["task_id"], "eve")
    assert [e["details"]["notify"] for e in events(whistle, case, "case_copied")] == ["case_copied"] * 2
    audit_ok(whistle)


def test_cli_and_rest(whistle, case, db_url, capsys):
    from webui import create_app

    handle = open_task(whistle, case, "handle")
    assert cli_run(["--db", db_url, "transfer", handle["task_id"], "--user", "ann", "--to", "dept-b",
                    "--reason", "转乙部门", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["candidate_groups"] == ["dept-b"]
    assert cli_run(["--db", db_url, "urge", handle["task_id"], "--user", "ann", "--json"]) == 0
    assert cli_run(["--db", db_url, "urge", handle["task_id"], "--user", "ann", "--json"]) == 3  # too often
    assert cli_run(["--db", db_url, "cc", str(case), "--user", "ann", "--to", "eve", "--json"]) == 0
    capsys.readouterr()

    client = create_app({"ENGINE": whistle, "TESTING": True}).test_client()
    token = whistle.create_token("bob-token", "bob", ["tasks"])["token"]
    bob = {"Authorization": f"Bearer {token}"}
    tid = handle["task_id"]
    assert client.post(f"/api/v1/tasks/{tid}/delegate", json={"to": "dept-a"}, headers=bob).status_code == 422
    delegated = client.post(f"/api/v1/tasks/{tid}/delegate", json={"to": "amy", "note": "协助"}, headers=bob)
    assert delegated.status_code == 200 and delegated.json["assignee"] == "amy", delegated.json
    whistle.complete(tid, "amy", {"result": "已核实"})
    assert client.post(f"/api/v1/tasks/{tid}/transfer", json={"to": "ann"}, headers=bob).status_code == 422
    assert client.post(f"/api/v1/tasks/{tid}/urge", json={}, headers=bob).status_code == 200
    assert client.post(f"/api/v1/tasks/{tid}/complete", json={"data": {"result": "好"}}, headers=bob).status_code \
        == 200
    assert client.post(f"/api/v1/tasks/{tid}/withdraw", json={}, headers=bob).status_code == 200
    [again] = [t for t in whistle.show(case)["open_tasks"] if t["element_id"] == "handle"]
    whistle.complete(again["task_id"], "bob", {"result": "好"})
    verify = open_task(whistle, case, "verify")
    cat = {"Authorization": f"Bearer {whistle.create_token('cat-token', 'cat', ['tasks'])['token']}"}
    refused = client.post(f"/api/v1/tasks/{verify['task_id']}/return", json={"to": "close", "reason": "x"},
                          headers=cat)
    assert refused.status_code == 422 and "only to handle" in refused.json["message"]
    returned = client.post(f"/api/v1/tasks/{verify['task_id']}/return", json={"to": "handle", "reason": "重办"},
                           headers=cat)
    assert returned.status_code == 200 and returned.json["returned_to"] == "handle"
    copied = client.post(f"/api/v1/instances/{case}/cc", json={"to": "dan"}, headers=cat)
    assert copied.status_code == 200 and copied.json["to"] == "dan"
    assert client.post(f"/api/v1/instances/{case}/cc", json={"to": "dan"}, headers={}).status_code == 401
    audit_ok(whistle)


def test_lint_names_a_return_to_an_unknown_or_later_element(fixtures):
    path = fixtures / "lint" / "return_to.bpmn"
    found = {(p.element_id, p.line) for p in lint_paths([path]) if "[return-to]" in p.message}
    text = path.read_text(encoding="utf-8").splitlines()
    line_of = {element: next(i for i, line in enumerate(text, 1) if f'id="{element}"' in line)
               for element in ("first", "second")}
    assert found == {("first", line_of["first"]), ("second", line_of["second"])}
    messages = " ".join(p.message for p in lint_paths([path]) if "[return-to]" in p.message)
    assert "'nowhere', which is not an element" in messages and "does not come before it" in messages
    assert "start event" in messages
    assert not [p for p in lint_paths([fixtures / "task_actions.bpmn"]) if p.severity == "error"]


def test_the_pages_offer_the_actions_and_show_copies_in_the_inbox(whistle, case):
    from test_web_pages import PASSWORD, Client, text

    from webui import create_app

    whistle.add_user("fay", ["dept-a"], password=PASSWORD)
    whistle.add_user("gus", ["others"], password=PASSWORD)
    app = create_app({"ENGINE": whistle, "TESTING": True})
    fay, gus = Client(app, "fay"), Client(app, "gus")
    handle = open_task(whistle, case, "handle")
    page = text(fay.get(f"/tasks/{handle['task_id']}"))
    assert "更多操作" in page and f'action="/tasks/{handle["task_id"]}/transfer"' in page
    assert "退回到" not in page  # handle declares no returnTo
    refused = fay.http.post(f"/tasks/{handle['task_id']}/cc", data={"to": "gus"})
    assert refused.status_code == 400  # no CSRF token
    assert fay.post(f"/tasks/{handle['task_id']}/cc", {"to": "gus", "note": "供参阅"}).status_code == 302
    inbox = text(gus.get("/inbox"))
    assert "抄送我的" in inbox and f'data-instance-id="{case}"' in inbox and "供参阅" in inbox
    shown = gus.get(f"/cases/{case}")
    assert shown.status_code == 200 and "抄送给 gus" in text(shown)  # the timeline's sentence
    done = fay.post(f"/tasks/{handle['task_id']}/transfer", {"to": "gus", "reason": ""})
    assert done.status_code == 302 and whistle.task(handle["task_id"])["assignee"] is None  # refused: no reason
    fay.post(f"/tasks/{handle['task_id']}/transfer", {"to": "gus", "reason": "请 gus 办理"})
    assert whistle.task(handle["task_id"])["assignee"] == "gus"
    assert "转办给 gus：请 gus 办理" in text(gus.get(f"/cases/{case}"))
    audit_ok(whistle)


def test_the_whistles_verification_returns_to_the_lead_department(whistle, manual_clock):
    from process_helpers import Org

    org = Org(whistle)
    reporter = org.person("grid-worker-wudadao")
    case = whistle.start("whistle", user=reporter, data={
        "street": "wudadao", "community": "sanshengli", "situation": "building-repair-no-property",
        "location": "睦南道12号", "description": "消防设施失修，楼道堆物", "photos": [], "resident": "resident-a"})
    org.do("command-wudadao", "指挥中心审核", {"decision": "whistle"}, case)
    for dept in ("housing", "fire"):
        org.do(f"liaison-{dept}", "签收哨令", {}, case)
        org.do(f"liaison-{dept}", "到场报到", {"acted": True, "action": "到场核查"}, case)
    first = org.do("liaison-housing", "牵头部门处置", {"handling_result": "已维修"}, case)
    [verify] = org.open("command-wudadao", "街道核验", case)
    returned = whistle.return_task(verify["task_id"], "command-wudadao", "lead_handle", "楼道堆物未清理")
    [again] = org.open("liaison-housing", "牵头部门处置", case)
    assert again["task_id"] == returned["new_task_ids"][0] != first["task_id"]
    assert again["due_at"] == whistle.task(first["task_id"])["due_at"]  # ${handling_deadline}, evaluated again
    assert org.open("command-wudadao", "街道核验", case) == []
    audit_ok(whistle)


def test_each_action_tells_the_person_or_group_it_names(whistle, case, manual_clock):
    """转办, 委派 (and its hand-back), 催办 (every urge) and 抄送 write their notifications in the action's command."""
    def told(user: str) -> list[str]:
        return [n["event"] for n in whistle.notifications(user) if n["channel"] == "inbox"]

    task = open_task(whistle, case, "handle")
    whistle.transfer(task["task_id"], "ann", "dept-b", "属于乙部门职责")
    assert told("bob").count("task_transferred") == 1
    assert "task_transferred" not in told("ann")  # whoever acts is never told of it
    whistle.claim(task["task_id"], "bob")
    whistle.delegate(task["task_id"], "bob", "eve", "请协助核实")
    assert told("eve").count("task_delegated") == 1
    whistle.complete(task["task_id"], "eve", {"result": "已核实"})
    assert told("bob").count("task_delegation_resolved") == 1
    whistle.urge(task["task_id"], "boss", "请尽快")
    manual_clock.advance(timedelta(minutes=31))
    whistle.urge(task["task_id"], "boss")
    assert told("bob").count("task_urged") == 2  # each urge, not only the first
    whistle.cc(case, "ann", "group:checkers", "供参阅")
    assert told("cat").count("case_copied") == 1 and told("dan").count("case_copied") == 1
    [urge] = [n for n in whistle.notifications("bob") if n["event"] == "task_urged"][:1]
    assert "催办" in urge["title"] and urge["task_id"] == task["task_id"]
