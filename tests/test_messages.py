"""Messages from outside reach exactly the waiting instance(s); nobody waiting is a clear error."""
import pytest
from test_cli import as_json, whistle_cli

from engine.errors import NotFound

# Every case here also runs cold (a new engine per command, as after a restart) and must leave the same record.
pytestmark = pytest.mark.cold_warm


@pytest.fixture
def deployed(whistle, fixtures):
    whistle.deploy([fixtures / "messages.bpmn"])
    whistle.add_user("carol", ["clerks"])
    return whistle


def test_correlated_delivery_reaches_only_the_matching_instance(deployed):
    w = deployed
    first = w.start("ticket", data={"ticket_id": "T-1"}, business_key="case-1")
    second = w.start("ticket", data={"ticket_id": "T-2"}, business_key="case-2")
    assert w.show(first)["messages"] == [{"message": "ticket-reply", "key": "T-1", "element_id": "wait_reply",
                                          "since": w.show(first)["messages"][0]["since"]}]
    result = w.message("ticket-reply", key="T-2", data={"reply": "已处理"})
    assert result == {"message": "ticket-reply", "key": "T-2", "delivered_to": [second], "started": []}
    # The second instance moved on to its receive task, correlated by business key; the first still waits.
    assert [(m["message"], m["key"]) for m in w.show(second)["messages"]] == [("receipt", "case-2")]
    assert [(m["message"], m["key"]) for m in w.show(first)["messages"]] == [("ticket-reply", "T-1")]
    assert w.show(second)["data"]["reply"] == "已处理"
    w.message("receipt", key="case-2")
    [task] = w.tasks("carol")
    assert (task["instance_id"], task["name"]) == (second, "核实回复")
    events = [e["event"] for e in w.show(second)["audit"]]
    assert events.count("message_received") == 2


def test_nobody_waiting_is_a_clear_error_and_changes_nothing(deployed):
    w = deployed
    instance = w.start("ticket", data={"ticket_id": "T-1"})
    before = w.show(instance)
    with pytest.raises(NotFound, match="no instance is waiting for message 'ticket-reply' with key 'T-9'"):
        w.message("ticket-reply", key="T-9")
    with pytest.raises(NotFound, match="message 'nobody-sends-this'"):
        w.message("nobody-sends-this")
    after = w.show(instance)
    assert after["revision"] == before["revision"] and after["audit"] == before["audit"]
    # A message is consumed once: the same reply twice finds nobody the second time.
    w.message("ticket-reply", key="T-1")
    with pytest.raises(NotFound):
        w.message("ticket-reply", key="T-1")


def test_message_start_event_starts_the_latest_version(deployed):
    w = deployed
    result = w.message("hotline-case", key="12345-0042", data={"诉求": "小区路灯不亮"})
    [instance] = result["started"]
    shown = w.show(instance)
    assert (shown["process_id"], shown["business_key"]) == ("hotline_intake", "12345-0042")
    assert shown["data"]["诉求"] == "小区路灯不亮"
    assert [t["name"] for t in shown["open_tasks"]] == ["受理派单"]


@pytest.mark.fresh_process
def test_cli_message(db_url, deployed):
    deployed.start("ticket", data={"ticket_id": "T-7"})
    missing = whistle_cli(db_url, "message", "ticket-reply", "--key", "nope", check=False)
    assert missing.returncode == 4 and "no instance is waiting" in missing.stderr
    ok = as_json(whistle_cli(db_url, "message", "ticket-reply", "--key", "T-7", "--data", '{"a": 1}', "--json"))
    assert ok["delivered_to"] == [1]
