"""The minimal web service: health and the inbox as JSON, behind sign-in."""
import base64

import pytest

from webui import create_app


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def client(whistle, fixtures):
    whistle.deploy([fixtures / "review.bpmn"])
    whistle.add_user("alice", ["command-centre"], password="s3cret")
    whistle.add_user("dora", ["dept-police"], password="s3cret")
    whistle.start("review", data={"situation": "police"})
    app = create_app({"ENGINE": whistle, "TESTING": True})
    return app.test_client()


def test_health(client):
    response = client.get("/health")
    assert response.status_code == 200 and response.json["status"] == "ok"


def test_inbox_requires_sign_in(client):
    assert client.get("/api/v1/tasks").status_code == 401
    assert client.get("/api/v1/tasks", headers=basic("alice", "wrong")).status_code == 401


def test_inbox_shows_only_the_users_work(client):
    alice = client.get("/api/v1/tasks", headers=basic("alice", "s3cret"))
    assert alice.status_code == 200
    assert [t["name"] for t in alice.json["tasks"]] == ["指挥中心审核"]
    assert "指挥中心审核" in alice.get_data(as_text=True)  # Chinese as written, not \u-escaped
    dora = client.get("/api/v1/tasks", headers=basic("dora", "s3cret"))
    assert dora.json["tasks"] == []
