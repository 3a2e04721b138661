"""The administrators' directory (issue 16, part 7): accounts found, created, deactivated, reset and regrouped;
people loaded in bulk from CSV or JSON after a preview; the organisation as its groups carry it; API tokens; the
working-day calendar's coverage and a year's upload — through the facade, the command line and the pages, on
SQLite and PostgreSQL. Only administrators may do any of it, on every channel; a file with one bad row loads
nothing; the last administrator cannot be taken away.
"""
from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select
from test_web_pages import Client, text

from engine.errors import Conflict, DeploymentInvalid, Forbidden, InvalidInput
from engine.store.models import AuditEvent, UserAccount
from webui import create_app

from test_readable_pages import assert_readable

PASSWORD = "s3cret-pw"
ROOT = Path(__file__).resolve().parent.parent
CSV = ("账号,姓名,分组\n"
       "wangwu,王五,dept-housing;grid-a1\n"
       "zhaoliu,赵六,street-a-command、dept-housing\n"
       "clerk,办事员改名,dept-housing\n").encode()


@pytest.fixture
def people(whistle):
    whistle.add_user("admin", ["admins"], password=PASSWORD, display_name="管理员")
    whistle.add_user("clerk", ["street-a-command"], password=PASSWORD, display_name="办事员")
    return whistle


@pytest.fixture
def site(people):
    return create_app({"ENGINE": people, "TESTING": True})


def audit_events(w, kind: str) -> int:
    with w.db.read() as session:
        return session.execute(select(func.count()).where(AuditEvent.event_type == kind)).scalar_one()


def account(w, username: str) -> UserAccount | None:
    with w.db.read() as session:
        row = session.execute(select(UserAccount).where(UserAccount.username == username)).scalar()
        if row is not None:
            session.expunge(row)
        return row


# -- the rules, through the facade ----------------------------------------------------------------------------

def test_only_administrators_may_use_the_directory(people):
    for call in (lambda: people.accounts("clerk"), lambda: people.account_groups("clerk"),
                 lambda: people.create_account("clerk", "x1"), lambda: people.reset_password("clerk", "admin"),
                 lambda: people.set_account_groups("clerk", "clerk", ["admins"]),
                 lambda: people.set_account_active("clerk", "admin", False),
                 lambda: people.preview_people("clerk", "p.csv", CSV), lambda: people.load_people("clerk", "p.csv", CSV),
                 lambda: people.admin_tokens("clerk"), lambda: people.admin_create_token("clerk", "t", "clerk", []),
                 lambda: people.calendar_upload("2031.csv", b"date,kind,name\n", "clerk")):
        with pytest.raises(Forbidden, match="only administrators"):
            call()
    assert people.accounts("admin")["total"] == 2
    assert account(people, "x1") is None


def test_create_find_regroup_deactivate_and_reset(people):
    created = people.create_account("admin", "lisi", "李四", ["dept-housing"])
    assert len(created["password"]) >= 8
    signed = people.sign_in("lisi", created["password"], "10.0.0.1", "pages", _limits())
    assert signed.ok
    with pytest.raises(Conflict, match="exists already"):
        people.create_account("admin", "lisi")
    with pytest.raises(InvalidInput, match="username"):
        people.create_account("admin", "李 四")

    found = people.accounts("admin", text="李")
    assert [a["username"] for a in found["accounts"]] == ["lisi"]
    assert [a["username"] for a in people.accounts("admin", group="dept-housing")["accounts"]] == ["lisi"]

    people.set_account_groups("admin", "lisi", ["dept-roads", "grid-b2"])
    assert people.accounts("admin", text="lisi")["accounts"][0]["groups"] == ["dept-roads", "grid-b2"]

    people.set_account_active("admin", "lisi", False)
    assert people.session_user("lisi", 1) is None
    assert not people.sign_in("lisi", created["password"], "10.0.0.1", "pages", _limits()).ok
    assert [a["username"] for a in people.accounts("admin", active=False)["accounts"]] == ["lisi"]
    people.set_account_active("admin", "lisi", True)

    reset = people.reset_password("admin", "lisi")
    assert reset["password"] != created["password"]
    assert not people.sign_in("lisi", created["password"], "10.0.0.2", "pages", _limits()).ok
    assert people.sign_in("lisi", reset["password"], "10.0.0.2", "pages", _limits()).ok
    for kind in ("user_created", "user_groups_set", "user_deactivated", "user_activated", "password_reset"):
        assert audit_events(people, kind) >= 1, kind
    assert people.verify_audit().ok


def test_the_last_administrator_stays(people):
    with pytest.raises(Conflict, match="their own account"):
        people.set_account_active("admin", "admin", False)
    with pytest.raises(Conflict, match="last active administrator"):
        people.set_account_groups("admin", "admin", ["street-a-command"])
    people.create_account("admin", "admin2", groups=["admins"], password="another-pw")
    people.set_account_groups("admin", "admin", ["street-a-command"])  # now there is another
    with pytest.raises(Forbidden):
        people.accounts("admin")


def test_bulk_load_previews_then_loads_exactly_what_was_shown(people):
    preview = people.preview_people("admin", "people.csv", CSV)
    assert preview["ok"] and preview["counts"] == {"create": 2, "update": 1, "unchanged": 0, "error": 0}
    assert [(r["where"], r["action"]) for r in preview["people"]] == [
        ("line 2", "create"), ("line 3", "create"), ("line 4", "update")]
    assert preview["people"][1]["groups"] == ["street-a-command", "dept-housing"]
    assert account(people, "wangwu") is None  # a preview writes nothing

    with pytest.raises(Conflict, match="not the file that was previewed"):
        people.load_people("admin", "people.csv", CSV + b"sunqi,,\n", preview["sha256"])
    report = people.load_people("admin", "people.csv", CSV, preview["sha256"])
    assert report["counts"]["create"] == 2
    assert account(people, "wangwu").display_name == "王五"
    clerk = people.accounts("admin", text="clerk")["accounts"][0]
    assert clerk["display_name"] == "办事员改名" and clerk["groups"] == ["dept-housing", "street-a-command"]
    assert people.sign_in("clerk", PASSWORD, "10.0.0.3", "pages", _limits()).ok  # kept its password
    again = people.preview_people("admin", "people.csv", CSV)
    assert again["counts"] == {"create": 0, "update": 0, "unchanged": 3, "error": 0}


def test_a_file_with_one_bad_row_loads_nothing(people):
    bad = CSV + "bad name,坏,dept-x\nwangwu,重复,\n".encode()
    preview = people.preview_people("admin", "people.csv", bad)
    assert not preview["ok"]
    problems = {r["where"]: r["problems"] for r in preview["people"] if r["problems"]}
    assert list(problems) == ["line 5", "line 6"]
    assert "letters, digits" in problems["line 5"][0] and "line 2" in problems["line 6"][0]
    with pytest.raises(InvalidInput, match=r"people.csv: line 5: .*nothing was loaded"):
        people.load_people("admin", "people.csv", bad)
    assert account(people, "wangwu") is None

    no_column = people.preview_people("admin", "p.csv", "姓名,分组\n王五,x\n".encode())
    assert no_column["problems"] == ["p.csv:1: no username column (账号); columns: 姓名, 分组"]
    broken = people.preview_people("admin", "p.json", b'{"users": [\n{"username": }]}')
    assert broken["problems"][0].startswith("p.json:2: not valid JSON")
    assert people.preview_people("admin", "p.txt", b"x")["problems"] == ["p.txt: a people file is .csv or .json"]
    latin = people.preview_people("admin", "p.csv", "账号\n王".encode("gb18030"))
    assert latin["problems"][0].startswith("p.csv: not UTF-8 text")


def test_json_in_the_demo_format_loads_with_its_groups(people):
    document = {"groups": [{"name": "dept-housing", "display_name": "区住建委"}],
                "users": [{"username": "housing1", "display_name": "住建联络员", "groups": ["dept-housing"],
                           "password": "initial-pw"}]}
    report = people.load_people("admin", "people.json", json.dumps(document, ensure_ascii=False))
    assert report["counts"]["create"] == 1
    groups = {g["name"]: g for g in people.account_groups("admin")}
    assert groups["dept-housing"] == {"name": "dept-housing", "display_name": "区住建委", "kind": "department",
                                      "active_members": 1, "members": 1}
    assert groups["admins"]["kind"] == "role" and groups["street-a-command"]["kind"] == "street"
    assert people.sign_in("housing1", "initial-pw", "10.0.0.4", "pages", _limits()).ok


def test_tokens_by_an_administrator(people):
    created = people.admin_create_token("admin", "hotline", "clerk", ["tasks"])
    assert people.authenticate_token(created["token"])["user"] == "clerk"
    assert [t["name"] for t in people.admin_tokens("admin")] == ["hotline"]
    people.admin_revoke_token("admin", "hotline")
    assert people.authenticate_token(created["token"]) is None


def test_calendar_upload_by_an_administrator(people):
    content = (ROOT / "processes" / "calendars" / "2031.csv")
    assert not content.exists()
    loaded = people.calendar_upload("2031.csv", "date,kind,name\n2031-01-01,holiday,元旦\n".encode(), "admin")
    assert [(r["year"], r["result"]) for r in loaded] == [(2031, "new")]
    assert people.calendar_show(2031)[0]["holidays"] == 1
    with pytest.raises(DeploymentInvalid) as refused:
        people.calendar_upload("2032.csv", b"date,kind,name\n2032-13-01,holiday,x\n", "admin")
    assert refused.value.problems[0].file == "2032.csv" and refused.value.problems[0].line == 2


# -- the command line ---------------------------------------------------------------------------------------------

def whistle_cli(db_url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli", "--db", db_url, *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def test_the_command_line_checks_the_administrator(people, db_url, tmp_path):
    refused = whistle_cli(db_url, "user", "list", "--user", "clerk")
    assert refused.returncode == 5 and "only administrators" in refused.stderr
    made = whistle_cli(db_url, "user", "create", "lisi", "--user", "admin", "--group", "dept-roads", "--json")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["password"]
    listed = json.loads(whistle_cli(db_url, "user", "list", "--user", "admin", "--group", "dept-roads",
                                    "--json").stdout)
    assert [a["username"] for a in listed["accounts"]] == ["lisi"]
    people_file = tmp_path / "people.csv"
    people_file.write_bytes(CSV + b"bad name,,\n")
    preview = whistle_cli(db_url, "user", "import", str(people_file), "--user", "admin", "--preview")
    assert preview.returncode == 1 and "line 5: bad name" in preview.stdout
    people_file.write_bytes(CSV)
    loaded = whistle_cli(db_url, "user", "import", str(people_file), "--user", "admin", "--json")
    assert loaded.returncode == 0 and json.loads(loaded.stdout)["counts"]["create"] == 2
    off = whistle_cli(db_url, "user", "deactivate", "lisi", "--user", "admin")
    assert off.returncode == 0 and "deactivated" in off.stdout
    assert account(people, "lisi").active is False


# -- the pages --------------------------------------------------------------------------------------------------

def test_the_pages_are_for_administrators(site):
    clerk = Client(site, "clerk")
    for url in ("/admin/people", "/admin/people/import", "/admin/organisation", "/admin/tokens", "/admin/calendar"):
        assert clerk.get(url).status_code == 403, url
    assert clerk.post("/admin/people", {"username": "x2"}).status_code == 403


def test_an_administrator_creates_an_account_and_sees_its_password_once(site, people):
    admin = Client(site, "admin")
    page = admin.post("/admin/people", {"username": "lisi", "display_name": "李四", "more_groups": "dept-roads"})
    assert page.status_code == 200
    html = text(page)
    password = re.search(r'id="one-time-password">([^<]+)<', html).group(1)
    assert people.sign_in("lisi", password, "10.0.0.9", "pages", _limits()).ok
    assert password not in text(admin.get("/admin/people"))
    with admin.http.session_transaction() as session:
        assert password not in json.dumps(dict(session), default=str)  # never in the cookie
    people.load_people("admin", "groups.json", json.dumps({"groups": [  # as processes/demo-accounts.json names them
        {"name": "admins", "display_name": "系统管理员"}, {"name": "dept-roads", "display_name": "区市政道路管理处"},
        {"name": "street-a-command", "display_name": "甲街道指挥中心"}]}))
    listing = text(admin.get("/admin/people?group=dept-roads"))
    assert 'data-user="lisi"' in listing and 'data-user="clerk"' not in listing
    assert_readable(listing, where="/admin/people")
    refused = admin.post("/admin/people", {"username": "lisi"}, follow_redirects=True)
    assert "exists already" in text(refused)


def test_bulk_import_page_previews_then_confirms(site, people):
    admin = Client(site, "admin")
    preview = admin.post("/admin/people/import", {"file": (io.BytesIO(CSV), "people.csv")},
                         content_type="multipart/form-data")
    html = text(preview)
    assert preview.status_code == 200 and 'data-action="create"' in html and 'id="confirm-import"' in html
    assert account(people, "wangwu") is None
    form = {name: re.search(rf'name="{name}" value="([^"]*)"', html).group(1) for name in ("name", "sha256", "payload")}
    assert base64.b64decode(form["payload"]) == CSV
    done = admin.post("/admin/people/import", form)
    assert done.status_code == 302 and account(people, "wangwu") is not None

    bad = admin.post("/admin/people/import", {"file": (io.BytesIO(CSV + b"bad name,,\n"), "people.csv")},
                     content_type="multipart/form-data")
    assert 'id="confirm-import"' not in text(bad) and "line 5" in text(bad)


def test_organisation_tokens_and_calendar_pages(site, people):
    admin = Client(site, "admin")
    organisation = text(admin.get("/admin/organisation"))
    assert 'data-group="street-a-command"' in organisation and "街道" in organisation
    made = text(admin.post("/admin/tokens", {"name": "hotline", "user": "clerk", "scopes": ["tasks"]}))
    token = re.search(r'id="new-token">([^<]+)<', made).group(1)
    assert people.authenticate_token(token)["user"] == "clerk"
    assert admin.post("/admin/tokens/hotline/revoke", {}).status_code == 302
    assert people.authenticate_token(token) is None
    calendar = admin.post("/admin/calendar", {"file": (io.BytesIO("date,kind,name\n2031-10-01,holiday,国庆节\n"
                                                                  .encode()), "2031.csv")},
                          content_type="multipart/form-data")
    assert 'data-year="2031"' in text(calendar)
    refused = admin.post("/admin/calendar", {"file": (io.BytesIO(b"date,kind\n2031-02-30,holiday\n"), "x.csv")},
                         content_type="multipart/form-data")
    assert 'id="refused"' in text(refused) and "x.csv" in text(refused)
    assert_readable(text(admin.get("/admin/calendar")), where="/admin/calendar")


def _limits():
    from engine.identity.accounts import SignInLimits
    return SignInLimits()


# -- the REST API ---------------------------------------------------------------------------------------------

def basic(username: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{PASSWORD}".encode()).decode()}


def test_rest_accounts_for_administrators_only(site, people):
    http = site.test_client()
    assert http.get("/api/v1/accounts", headers=basic("clerk")).status_code == 403
    assert http.post("/api/v1/accounts", json={"username": "x3"}, headers=basic("clerk")).status_code == 403
    made = http.post("/api/v1/accounts", json={"username": "lisi", "groups": ["dept-roads"]}, headers=basic("admin"))
    assert made.status_code == 201 and made.get_json()["password"]
    assert http.post("/api/v1/accounts", json={"username": "lisi"}, headers=basic("admin")).status_code == 409
    assert http.post("/api/v1/accounts", json={"username": "lisi", "shoe": 1},
                     headers=basic("admin")).status_code == 422
    found = http.get("/api/v1/accounts?group=dept-roads", headers=basic("admin")).get_json()
    assert [a["username"] for a in found["accounts"]] == ["lisi"]
    assert http.get("/api/v1/accounts?active=maybe", headers=basic("admin")).status_code == 400
    assert http.put("/api/v1/accounts/lisi/groups", json={"groups": ["grid-b2"]},
                    headers=basic("admin")).get_json()["groups"] == ["grid-b2"]
    assert http.post("/api/v1/accounts/lisi/deactivate", headers=basic("admin")).get_json()["active"] is False
    assert http.post("/api/v1/accounts/admin/deactivate", headers=basic("admin")).status_code == 409
    assert http.post("/api/v1/accounts/nobody/reset-password", headers=basic("admin")).status_code == 404

    preview = http.post("/api/v1/accounts/import?preview=true", data={"file": (io.BytesIO(CSV), "people.csv")},
                        headers=basic("admin"), content_type="multipart/form-data").get_json()
    assert preview["counts"]["create"] == 2 and account(people, "wangwu") is None
    loaded = http.post(f"/api/v1/accounts/import?sha256={preview['sha256']}",
                       data={"file": (io.BytesIO(CSV), "people.csv")}, headers=basic("admin"),
                       content_type="multipart/form-data")
    assert loaded.status_code == 200 and account(people, "wangwu") is not None
    groups = {g["name"]: g for g in http.get("/api/v1/groups", headers=basic("admin")).get_json()["groups"]}
    assert groups["dept-housing"]["active_members"] == 3  # wangwu, zhaoliu and clerk


def test_rest_tokens_need_the_admin_scope(site, people):
    reader = people.create_token("reader", "admin", [])["token"]
    admin = people.create_token("ops", "admin", ["admin"])["token"]
    http = site.test_client()
    refused = http.get("/api/v1/accounts", headers={"Authorization": f"Bearer {reader}"})
    assert refused.status_code == 403 and "admin" in refused.get_json()["message"]
    assert http.get("/api/v1/accounts", headers={"Authorization": f"Bearer {admin}"}).status_code == 200
    clerk_token = people.create_token("clerk-ops", "clerk", ["admin"])["token"]
    assert http.get("/api/v1/accounts", headers={"Authorization": f"Bearer {clerk_token}"}).status_code == 403
    spec = http.get("/api/v1/openapi.json").get_json()
    assert {"/accounts", "/accounts/import", "/groups"} <= set(spec["paths"])
