"""The notification centre on the pages (the bell, the list, mark read, the channels form), the REST API's
notifications, and the live inbox's event stream (Server-Sent Events) read through the Flask test client while a
whistle is dispatched. SQLite and PostgreSQL."""
from __future__ import annotations

import json
import re

import pytest
from test_web_pages import PASSWORD, Site, text


@pytest.fixture
def site(whistle, tmp_path) -> Site:
    made = Site(whistle, tmp_path)
    made.app.config["LIVE_STREAM_SECONDS"] = 20  # a stream that hears nothing ends (the test then fails)
    return made


def _events(chunks, wanted: str, limit: int = 50):
    """Read the stream until an event named ``wanted`` arrives; its data."""
    buffer = ""
    for _ in range(limit):
        chunk = next(chunks)
        buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
            if fields.get("event") == wanted:
                return fields
    raise AssertionError(f"no {wanted} event in the stream")


def test_a_liaisons_stream_hears_of_a_new_whistle_and_the_bell_counts_it(site):
    liaison = site.client("liaison-housing")
    page = liaison.get("/inbox")
    assert 'id="bell"' in text(page) and 'id="bell-count" hidden' in text(page)
    response = liaison.get("/events/inbox", buffered=False)
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    chunks = iter(response.response)
    ready = _events(chunks, "ready")
    assert json.loads(ready["data"]) == {"after": 0}
    case = site.report()
    site.whistle(case, tier_override="red")  # housing and fire are called
    heard = json.loads(_events(chunks, "notification")["data"])
    assert heard["event"] == "task_offered" and heard["instance_id"] == case
    assert heard["title"].startswith("新待办：") and heard["unread"] >= 1
    response.close()
    bell = re.search(r'id="bell-count"\s*>(\d+)<', text(liaison.get("/inbox")))
    assert bell and bell.group(1) == "2"  # 签收哨令 and 到场报到


def test_the_notification_page_marks_read_one_and_all_and_saves_channels(site):
    liaison, other = site.client("liaison-housing"), site.client("liaison-fire")
    case = site.report()
    site.whistle(case)
    page = text(liaison.get("/notifications"))
    ids = [int(i) for i in re.findall(r'data-notification="(\d+)"', page)]
    assert len(ids) == 2 and page.count('class="notification unread"') == 2
    assert liaison.post(f"/notifications/{ids[0]}/read").status_code == 302
    page = text(liaison.get("/notifications"))
    assert page.count('class="notification unread"') == 1
    other.post(f"/notifications/{ids[1]}/read")  # not theirs: nothing changes
    assert text(liaison.get("/notifications")).count('class="notification unread"') == 1
    liaison.post("/notifications/read")
    assert 'class="notification unread"' not in text(liaison.get("/notifications"))
    saved = liaison.post("/notifications/settings", {"channels": ["inbox"], "mobile": "13800000001"})
    assert saved.status_code == 302
    assert site.w.notification_preferences("liaison-housing")["mobile"] == "13800000001"
    refused = liaison.post("/notifications/settings", {"channels": ["inbox"], "email": "not-an-address"},
                           follow_redirects=True)
    assert "is not an e-mail address" in text(refused)


def test_the_api_lists_and_marks_the_callers_notifications(site):
    import base64

    site.person("liaison-housing")
    site.person("liaison-fire")
    case = site.report()
    site.whistle(case)
    auth = {"Authorization": "Basic " + base64.b64encode(f"liaison-housing:{PASSWORD}".encode()).decode()}
    client = site.app.test_client()
    listed = client.get("/api/v1/notifications?unread=true", headers=auth).get_json()
    assert listed["user"] == "liaison-housing" and listed["unread"] == 2
    assert {n["event"] for n in listed["notifications"]} == {"task_offered"}
    first = listed["notifications"][0]["id"]
    assert client.post(f"/api/v1/notifications/{first}/read", headers=auth).get_json() == {
        "marked_read": 1, "unread": 1}
    other = {"Authorization": "Basic " + base64.b64encode(f"liaison-fire:{PASSWORD}".encode()).decode()}
    assert client.post(f"/api/v1/notifications/{first}/read", headers=other).status_code == 404
    assert client.get("/api/v1/notifications?unread=maybe", headers=auth).status_code == 400


def test_live_streams_are_bounded_per_process(site):
    site.app.config["LIVE_STREAMS"] = 1
    liaison = site.client("liaison-housing")
    first = liaison.get("/events/inbox", buffered=False)
    assert first.status_code == 200
    next(iter(first.response))
    second = site.client("liaison-fire").get("/events/inbox", buffered=False)
    assert second.status_code == 503 and second.headers["Retry-After"] == "30"
    first.close()
    third = site.client("liaison-fire").get("/events/inbox", buffered=False)
    assert third.status_code == 200
    third.close()
