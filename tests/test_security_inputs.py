"""Issue 19, findings 6 and 9 — edge inputs are refused with 422 before anything commits, an answer cannot fail after
a commit, and a lost database connection is read again once or answered 503 with Retry-After. Through the API and
the pages (Flask test client) and the engine, on SQLite and PostgreSQL."""
from __future__ import annotations

import base64
import re

import pytest
from sqlalchemy import create_engine, event, func, select, text, update

from engine.errors import InvalidInput
from engine.forms.limits import check_data
from engine.identity import accounts
from engine.store.models import ProcessInstance
from webui import create_app

from conftest import POSTGRES_URL

PASSWORD = "s3cret-pw"
BEYOND_64_BITS = "18446744073709551616"  # 2**64: what schemathesis sent (an integer beyond 64 bits)


def basic(user: str = "alice", password: str = PASSWORD) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def app(whistle, fixtures, monkeypatch):
    monkeypatch.setattr(accounts, "_N", 2**4)  # cheap hashes for the test accounts
    whistle.deploy([fixtures / "review.bpmn", fixtures / "messages.bpmn"])
    whistle.add_user("alice", ["command-centre", "admins"], password=PASSWORD)
    return create_app({"ENGINE": whistle, "TESTING": True})


@pytest.fixture
def api(app):
    return app.test_client()


def instances(whistle) -> int:
    with whistle.db.read() as session:
        return session.execute(select(func.count()).select_from(ProcessInstance)).scalar()


def assert_api_error(response, status: int, kind: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    body = response.get_json()
    assert set(body) <= {"error", "message", "details"} and body["error"] == kind and body["message"]
    return body


def signed_in(app):
    client = app.test_client()
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    signed = client.post("/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token})
    assert signed.status_code == 302
    return client


# -- integers in paths and queries ---------------------------------------------------------------------------

@pytest.mark.parametrize("instance_id", ["2147483648", "9223372036854775808", "99999999999999999999999"])
def test_an_instance_id_beyond_int4_is_a_422(api, instance_id):
    for path in (f"/api/v1/instances/{instance_id}", f"/api/v1/instances/{instance_id}/history"):
        body = assert_api_error(api.get(path, headers=basic()), 422, "invalid")
        assert body["details"] == {"parameter": "instance_id"}


def test_the_largest_int4_instance_id_is_just_not_found(api):
    assert_api_error(api.get("/api/v1/instances/2147483647", headers=basic()), 404, "not_found")


def test_a_case_page_beyond_int4_is_a_422(app):
    browser = signed_in(app)
    response = browser.get("/cases/2147483648")
    assert response.status_code == 422 and "没有做任何更改" in response.get_data(as_text=True)


@pytest.mark.parametrize("offset", ["9223372036854775808", "99999999999999999999999", "9223372036854775807"])
def test_an_offset_beyond_bigint_is_a_422(api, offset):
    body = assert_api_error(api.get(f"/api/v1/tasks?offset={offset}", headers=basic()), 422, "invalid")
    assert body["details"] == {"parameter": "offset"}


def test_the_largest_offset_allowed_answers_an_empty_page(api):
    response = api.get(f"/api/v1/tasks?offset={2**63 - 501}&limit=500", headers=basic())
    assert response.status_code == 200 and response.json["tasks"] == []


@pytest.mark.parametrize("url", ["/inbox?page=9999999999999999999999", "/cases?page=9999999999999999999999",
                                 "/inbox?view=group&page=307445734561825861"])
def test_a_page_number_beyond_bigint_is_a_422(app, url):
    response = signed_in(app).get(url)
    assert response.status_code == 422, response.get_data(as_text=True)[:300]


def test_nul_characters_in_paths_queries_and_forms_are_a_422(app, api):
    assert_api_error(api.get("/api/v1/tasks/%00", headers=basic()), 422, "invalid")
    assert_api_error(api.get("/api/v1/tasks?process_id=%00", headers=basic()), 422, "invalid")
    assert_api_error(api.post("/api/v1/messages/a%00b", headers=basic(), json={}), 422, "invalid")
    browser = signed_in(app)
    assert browser.get("/cases?q=%00").status_code == 422
    page = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get("/login").get_data(as_text=True)).group(1)
    assert page.post("/login", data={"username": "\x00", "password": "x", "csrf_token": token}).status_code == 422
    assert page.post("/login", data={"username": "alice", "password": PASSWORD, "next": "/\x00/evil",
                                     "csrf_token": token}).status_code == 422


def test_a_nul_character_in_an_http_basic_name_is_just_wrong(api):
    assert_api_error(api.get("/api/v1/tasks", headers=basic("al\x00ice")), 401, "unauthorized")


# -- integers and other values in JSON bodies ----------------------------------------------------------------

def post_json(api, path: str, raw: str):
    return api.post(path, data=raw, content_type="application/json", headers=basic())


def test_start_data_with_an_integer_beyond_64_bits_is_refused_before_anything_commits(api, whistle):
    response = post_json(api, "/api/v1/processes/review/instances",
                         '{"data": {"situation": "police", "count": %s}}' % BEYOND_64_BITS)
    body = assert_api_error(response, 422, "invalid")
    assert body["details"] == {"field": "body.data.count", "reason": body["details"]["reason"]}
    assert "64 bits" in body["message"]
    assert instances(whistle) == 0
    deep = post_json(api, "/api/v1/processes/review/instances",
                     '{"data": {"rows": [{"n": 1}, {"n": -%s}]}}' % BEYOND_64_BITS)
    assert assert_api_error(deep, 422, "invalid")["details"]["field"] == "body.data.rows[1].n"
    assert instances(whistle) == 0


def test_completion_and_message_data_beyond_64_bits_are_refused(api, whistle):
    instance_id = whistle.start("review", data={"situation": "police"})
    [task] = whistle.show(instance_id)["open_tasks"]
    response = post_json(api, f"/api/v1/tasks/{task['task_id']}/complete",
                         '{"data": {"decision": %s}}' % BEYOND_64_BITS)
    assert_api_error(response, 422, "invalid")
    assert whistle.task(task["task_id"])["status"] == "open"
    message = post_json(api, "/api/v1/messages/ticket-reply", '{"key": "T-1", "data": {"n": %s}}' % BEYOND_64_BITS)
    assert_api_error(message, 422, "invalid")


@pytest.mark.parametrize("raw, status", [('{"data": {"x": 1e400}}', 422), ('{"data": {"x": NaN}}', 400),
                                         ('{"data": {"x": -Infinity}}', 400), ('{"data": {"x": "a\\u0000b"}}', 422),
                                         ('{"data": {"a\\u0000": 1}}', 422),
                                         ('{"data": ' + "[" * 100 + "]" * 100 + "}", 422),
                                         ('{"data": ' + "[" * 100000 + "]" * 100000 + "}", 400)])
def test_numbers_json_cannot_hold_nul_characters_and_deep_nesting_are_refused(api, whistle, raw, status):
    response = post_json(api, "/api/v1/processes/review/instances", raw)
    assert_api_error(response, status, "invalid" if status == 422 else "bad_request")
    assert instances(whistle) == 0


def test_the_engine_refuses_such_data_for_every_channel(whistle, fixtures):
    """Start, complete and message check their data in the engine, so the CLI and the pages get the same rule."""
    whistle.deploy([fixtures / "review.bpmn"])
    whistle.add_user("alice", ["command-centre"])
    with pytest.raises(InvalidInput, match="64 bits"):
        whistle.start("review", data={"situation": "police", "count": 2**64})
    assert instances(whistle) == 0
    instance_id = whistle.start("review", data={"situation": "police"})
    [task] = whistle.show(instance_id)["open_tasks"]
    with pytest.raises(InvalidInput, match="64 bits"):
        whistle.complete(task["task_id"], "alice", {"decision": {"n": [2**64]}})
    with pytest.raises(InvalidInput, match="NUL"):
        whistle.message("ticket-reply", "T-1", {"reply": "a\x00"})
    assert whistle.task(task["task_id"])["status"] == "open"


def test_check_data_names_where_and_why():
    check_data({"ok": [1, 2.5, "text", None, True, {"n": -(2**63), "m": 2**63 - 1}]})
    for value, where in (({"a": [0, 2**63]}, "data.a[1]"), ({"b": float("inf")}, "data.b"),
                         ({"c": {"d": "\x00"}}, "data.c.d")):
        with pytest.raises(InvalidInput) as raised:
            check_data(value)
        assert raised.value.field == where


def test_an_answer_cannot_fail_on_data_stored_before_the_check(api, app, whistle):
    """An instance that already holds an integer beyond 64 bits (committed by an older version) still reads."""
    instance_id = whistle.start("review", data={"situation": "police"})
    with whistle.db.write() as session:
        session.execute(update(ProcessInstance).where(ProcessInstance.id == instance_id)
                        .values(data={"situation": "police", "count": 2**64}))
    response = api.get(f"/api/v1/instances/{instance_id}", headers=basic())
    assert response.status_code == 200 and BEYOND_64_BITS in response.get_data(as_text=True)
    assert response.json["data"]["count"] == 2**64
    assert signed_in(app).get(f"/cases/{instance_id}").status_code == 200


# -- losing the database ----------------------------------------------------------------------------------

class Outage:
    """Breaks the app's database connections the way a restarted server or ``pg_terminate_backend`` does: on
    PostgreSQL the backend is terminated; on SQLite the handle is closed under SQLAlchemy's feet or, with
    ``disk=True``, the statement fails as on a failing disk (SQLite's own way of losing its database)."""

    def __init__(self, whistle):
        self.engine = whistle.db.engine
        self.postgres = self.engine.dialect.name == "postgresql"
        self.admin = create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1)) \
            if self.postgres else None
        self.pooled: list = []
        self.broken = 0  # connections broken during statements so far
        self.remaining = 0  # how many more statements to break
        self.engine.dispose()  # from now on every connection is seen being made
        event.listen(self.engine, "connect", lambda dbapi_connection, _record: self.pooled.append(dbapi_connection))

    def kill(self, dbapi_connection) -> None:
        if self.postgres:
            with self.admin.connect() as conn:
                conn.execute(text("SELECT pg_terminate_backend(:pid, 5000)"),
                             {"pid": dbapi_connection.info.backend_pid})
        else:
            dbapi_connection.close()

    def kill_idle(self) -> None:
        for dbapi_connection in self.pooled:
            self.kill(dbapi_connection)
        self.pooled.clear()

    def drop_during(self, matches, times: int, disk: bool = False) -> None:
        """Break the connection just before each of the next ``times`` statements that ``matches``."""
        self.remaining = times

        def before(conn, _cursor, statement, parameters, *_args):
            if self.remaining > 0 and matches(statement):
                self.remaining -= 1
                self.broken += 1
                if disk and not self.postgres:  # the driver itself fails the statement (OperationalError)
                    marks = ", ".join(["?"] * len(parameters)) if isinstance(parameters, (tuple, list)) else "1"
                    return f"SELECT {marks or 1} FROM whistle_lost_database_file", parameters
                self.kill(conn.connection.dbapi_connection)
            return statement, parameters

        event.listen(self.engine, "before_cursor_execute", before, retval=True)

    def close(self) -> None:
        if self.admin is not None:
            self.admin.dispose()


@pytest.fixture
def outage(whistle):
    breaker = Outage(whistle)
    yield breaker
    breaker.close()


def is_select(statement: str) -> bool:
    return statement.lstrip().upper().startswith("SELECT")


def test_a_connection_that_died_in_the_pool_is_replaced_before_use(api, whistle, outage):
    instance_id = whistle.start("review", data={"situation": "police"})
    [task] = whistle.show(instance_id)["open_tasks"]
    assert api.get(f"/api/v1/instances/{instance_id}", headers=basic()).status_code == 200
    assert outage.pooled
    outage.kill_idle()  # the database restarted while the connections sat in the pool
    claimed = api.post(f"/api/v1/tasks/{task['task_id']}/claim", headers=basic())  # a write: never retried
    assert claimed.status_code == 200, claimed.get_data(as_text=True)[:500]
    assert whistle.task(task["task_id"])["assignee"] == "alice"


def test_a_read_whose_connection_drops_is_read_once_more(app, api, whistle, outage):
    instance_id = whistle.start("review", data={"situation": "police"})
    outage.drop_during(is_select, times=1)
    response = api.get(f"/api/v1/instances/{instance_id}", headers=basic())
    assert response.status_code == 200 and response.json["instance_id"] == instance_id
    assert outage.broken == 1
    browser = signed_in(app)
    outage.remaining = 1
    page = browser.get(f"/cases/{instance_id}")
    assert page.status_code == 200 and outage.broken == 2


def test_a_read_that_fails_again_answers_503_with_retry_after(app, api, whistle, outage):
    instance_id = whistle.start("review", data={"situation": "police"})
    browser = signed_in(app)
    outage.drop_during(is_select, times=2)
    response = api.get(f"/api/v1/instances/{instance_id}", headers=basic())
    body = assert_api_error(response, 503, "unavailable")
    assert response.headers["Retry-After"] == "5" and body["details"] == {"retry_after": 5}
    outage.remaining = 2
    page = browser.get("/inbox")
    assert page.status_code == 503 and page.headers["Retry-After"] == "5"
    assert "数据库暂时无法连接" in page.get_data(as_text=True)
    assert api.get(f"/api/v1/instances/{instance_id}", headers=basic()).status_code == 200  # and back
    outage.remaining = 2
    health = api.get("/health")  # what a load balancer asks
    assert_api_error(health, 503, "unavailable")
    assert health.headers["Retry-After"] == "5"
    assert api.get("/health").status_code == 200


def test_a_write_whose_connection_drops_answers_503_and_is_not_retried(api, whistle, outage):
    instance_id = whistle.start("review", data={"situation": "police"})
    [task] = whistle.show(instance_id)["open_tasks"]
    outage.drop_during(lambda statement: "human_task" in statement, times=5, disk=True)
    response = api.post(f"/api/v1/tasks/{task['task_id']}/claim", headers=basic())
    assert_api_error(response, 503, "unavailable")
    assert response.headers["Retry-After"] == "5"
    assert outage.broken == 1  # run once: a write is never repeated behind the caller's back
    outage.remaining = 0
    assert whistle.task(task["task_id"])["assignee"] is None
