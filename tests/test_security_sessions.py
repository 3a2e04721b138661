"""Issue 19, finding 5 — sessions end, sign-ins are limited, passwords are hashed at OWASP's scrypt cost, ``next``
stays on the site, HSTS on request. Through the pages and the API (Flask test client), on SQLite and PostgreSQL."""
from __future__ import annotations

import base64
import json
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine.api import Whistle
from engine.identity import accounts
from engine.identity.accounts import SignInLimits
from engine.store.models import AuditEvent, SignInAttempt, UserAccount
from webui import create_app

PASSWORD = "s3cret-pw"


def token_in(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def basic(user: str, password: str = PASSWORD) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


class Browser:
    def __init__(self, app, address: str = "192.0.2.10"):
        self.http = app.test_client()
        self.http.environ_base["REMOTE_ADDR"] = address

    def login(self, username: str, password: str = PASSWORD, next_url: str | None = None):
        page = self.http.get("/login")
        data = {"username": username, "password": password, "csrf_token": token_in(page.get_data(as_text=True))}
        if next_url is not None:
            data["next"] = next_url
        return self.http.post("/login", data=data)

    def logout(self):
        with self.http.session_transaction() as session:
            token = session["_csrf"]
        return self.http.post("/logout", data={"csrf_token": token})

    def cookie(self) -> str:
        return self.http.get_cookie("whistle_session").value


@pytest.fixture
def cheap_hashes(monkeypatch):
    monkeypatch.setattr(accounts, "_N", 2**4)  # the suite's accounts: cheap hashes, same format


@pytest.fixture
def app(whistle, fixtures, cheap_hashes):
    whistle.deploy([fixtures / "review.bpmn"])
    whistle.add_user("alice", ["command-centre"], password=PASSWORD)
    whistle.add_user("bob", ["command-centre"], password=PASSWORD)
    return create_app({"ENGINE": whistle, "TESTING": True})


def events(whistle, *types: str) -> list[dict]:
    with whistle.db.read() as session:
        rows = session.execute(select(AuditEvent).where(AuditEvent.event_type.in_(types))
                               .order_by(AuditEvent.id)).scalars().all()
        return [{"type": r.event_type, "actor": r.actor, **json.loads(r.details)} for r in rows]


def attempt_rows(whistle) -> int:
    with whistle.db.read() as session:
        return session.execute(select(func.count()).select_from(SignInAttempt)).scalar()


def stored_hash(whistle, username: str) -> str:
    with whistle.db.read() as session:
        return session.execute(select(UserAccount.password_hash).where(UserAccount.username == username)).scalar()


# -- sessions end ------------------------------------------------------------------------------------------

def test_a_cookie_saved_before_logout_no_longer_opens_the_inbox(app):
    browser = Browser(app)
    assert browser.login("alice").status_code == 302
    saved = browser.cookie()
    assert browser.http.get("/inbox").status_code == 200
    assert browser.logout().status_code == 302
    thief = app.test_client()
    thief.set_cookie("whistle_session", saved)
    replay = thief.get("/inbox")
    assert replay.status_code == 302 and replay.headers["Location"].startswith("/login")
    assert browser.login("alice").status_code == 302  # signing in again works, with a new session
    assert browser.http.get("/inbox").status_code == 200


def test_signing_out_ends_the_accounts_other_sessions_but_not_other_accounts(app):
    phone, desk, colleague = Browser(app), Browser(app), Browser(app)
    for browser, who in ((phone, "alice"), (desk, "alice"), (colleague, "bob")):
        assert browser.login(who).status_code == 302
    phone.logout()
    assert desk.http.get("/inbox").status_code == 302
    assert colleague.http.get("/inbox").status_code == 200


def test_a_new_password_ends_every_session(app, whistle):
    browser = Browser(app)
    browser.login("alice")
    saved = browser.cookie()
    whistle.add_user("alice", [], password="a-new-one")  # `whistle user add alice --password …`
    assert browser.http.get("/inbox").status_code == 302
    thief = app.test_client()
    thief.set_cookie("whistle_session", saved)
    assert thief.get("/inbox").status_code == 302
    assert browser.login("alice", "a-new-one").status_code == 302
    assert [e["user"] for e in events(whistle, "password_changed")] == ["alice"]


def test_a_cookie_without_a_session_version_is_not_accepted(app):
    """Cookies signed before sessions had versions (or forged with the key but without one) end."""
    client = app.test_client()
    with client.session_transaction() as session:
        session["user"] = "alice"
    assert client.get("/inbox").status_code == 302


# -- sign-in limits ------------------------------------------------------------------------------------------

def test_thirty_wrong_passwords_on_the_sign_in_page_lock_the_account(app, whistle, manual_clock):
    browser = Browser(app)
    answers = [browser.login("alice", f"guess-{n}").status_code for n in range(30)]
    assert answers[:4] == [401] * 4 and set(answers[4:]) == {429}  # the fifth locks
    right = browser.login("alice")
    assert right.status_code == 429 and int(right.headers["Retry-After"]) == 15 * 60
    assert "登录失败次数过多" in right.get_data(as_text=True)
    assert browser.http.get("/inbox").status_code == 302  # not signed in
    failed = events(whistle, "sign_in_failed")
    assert len(failed) == 5 and {(e["user"], e["address"], e["channel"]) for e in failed} == {
        ("alice", "192.0.2.10", "page")}  # attempts while locked are neither counted nor audited
    [locked] = events(whistle, "sign_in_locked")
    assert (locked["scope"], locked["key"], locked["failures"]) == ("user", "alice", 5)
    assert all(PASSWORD not in json.dumps(e) and "guess" not in json.dumps(e) for e in failed)
    assert Browser(app, "198.51.100.7").login("alice").status_code == 429  # the name is locked, from anywhere
    assert Browser(app).login("bob").status_code == 302  # other accounts are not
    manual_clock.advance(timedelta(minutes=15))
    assert browser.login("alice").status_code == 302
    assert browser.http.get("/inbox").status_code == 200


def test_thirty_wrong_passwords_over_http_basic_lock_the_account(app, whistle, manual_clock):
    api = app.test_client()
    answers = [api.get("/api/v1/tasks", headers=basic("alice", f"guess-{n}")).status_code for n in range(30)]
    assert answers[:4] == [401] * 4 and set(answers[4:]) == {429}
    right = api.get("/api/v1/tasks", headers=basic("alice"))
    assert right.status_code == 429 and right.headers["Retry-After"] == str(15 * 60)
    assert right.json["error"] == "too_many_requests" and set(right.json) == {"error", "message", "details"}
    assert right.json["details"] == {"retry_after": 900}
    assert [e["channel"] for e in events(whistle, "sign_in_failed")] == ["basic"] * 5
    assert len(events(whistle, "sign_in_locked")) == 1
    # The pages and the API share the count: the account is locked on the sign-in page too.
    assert Browser(app).login("alice").status_code == 429
    manual_clock.advance(timedelta(minutes=15, seconds=1))
    assert api.get("/api/v1/tasks", headers=basic("alice")).status_code == 200


def test_a_cached_right_password_is_refused_while_the_account_is_locked(app):
    """HTTP Basic remembers verified passwords per process; a lock must still stop them."""
    api = app.test_client()
    assert api.get("/api/v1/tasks", headers=basic("alice")).status_code == 200
    for n in range(5):
        api.get("/api/v1/tasks", headers=basic("alice", f"guess-{n}"))
    assert api.get("/api/v1/tasks", headers=basic("alice")).status_code == 429


def test_one_address_trying_many_names_is_locked(whistle, fixtures, cheap_hashes, manual_clock):
    app = create_app({"ENGINE": whistle, "TESTING": True,
                      "SIGN_IN_LIMITS": SignInLimits(user_failures=5, address_failures=8)})
    whistle.add_user("alice", [], password=PASSWORD)
    sprayer = Browser(app, "203.0.113.5")
    answers = [sprayer.login(name, "123456").status_code for name in
               ["root", "admin", "test", "user", "guest", "operator", "nobody", "alice", "alice"]]
    assert answers == [401] * 7 + [429, 429]  # unknown names count too
    [locked] = events(whistle, "sign_in_locked")
    assert (locked["scope"], locked["key"]) == ("address", "203.0.113.5")
    assert sprayer.login("alice").status_code == 429  # even the right password, from there
    assert Browser(app, "198.51.100.7").login("alice").status_code == 302  # alice herself is not locked
    manual_clock.advance(timedelta(minutes=15))
    assert sprayer.login("alice").status_code == 302


def test_ipv6_clients_are_counted_by_their_64_bit_prefix():
    assert accounts.address_key("2001:db8:1:2:aaaa::1") == accounts.address_key("2001:db8:1:2:ffff::9") \
        == "2001:db8:1:2::/64"
    assert accounts.address_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert accounts.address_key(None) == "unknown"


def test_the_lockout_is_shared_by_every_server_process(app, whistle, db_url, manual_clock):
    """Two engines on one database (two `whistle serve` processes): failures on one lock the other."""
    other = Whistle(db_url)
    try:
        second = create_app({"ENGINE": other, "TESTING": True})
        for n in range(3):
            Browser(app).login("alice", f"guess-{n}")
        for n in range(2):
            Browser(second).login("alice", f"guess-{n}")
        assert Browser(second).login("alice").status_code == 429
        assert Browser(app).login("alice").status_code == 429
    finally:
        other.close()


def test_failures_count_within_the_window_and_a_right_password_forgets_them(app, manual_clock):
    browser = Browser(app)
    for n in range(4):
        assert browser.login("alice", f"guess-{n}").status_code == 401
    manual_clock.advance(timedelta(minutes=16))  # the window has passed: the count starts again
    for n in range(4):
        assert browser.login("alice", f"guess-{n}").status_code == 401
    assert browser.login("alice").status_code == 302
    for n in range(4):  # a right password forgot the four before
        assert Browser(app).login("alice", f"guess-{n}").status_code == 401
    assert Browser(app).login("alice").status_code == 302


def test_concurrent_wrong_passwords_lock_once_and_never_fail(app, whistle):
    """Sixteen clients guessing at once, from eight addresses: the name is locked once, four attempts are told
    "wrong" before it, and no attempt errs (no deadlock between the name and address rows). Guesses already being
    checked when the lock lands are audited but not counted again."""
    def guess(n: int) -> list[int]:
        browser = Browser(app, f"192.0.2.{n % 8 + 1}")
        return [browser.login("alice", f"guess-{n}-{k}").status_code for k in range(3)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = [a for batch in pool.map(guess, range(16)) for a in batch]
    assert set(answers) <= {401, 429} and answers.count(401) == 4
    assert len(events(whistle, "sign_in_failed")) >= 5
    assert [e["key"] for e in events(whistle, "sign_in_locked")] == ["alice"]


def test_a_right_password_checked_while_others_lock_the_name_is_refused(app, monkeypatch):
    """Side-by-side guesses all pass the lock check before scrypt; one that turns out right after the others
    locked the name (here: while its scrypt ran) must not sign in."""
    real = accounts.check_password
    meanwhile = []

    def check_while_others_guess(stored, password):
        if password == PASSWORD and not meanwhile:
            meanwhile.append([Browser(app, "198.51.100.9").login("alice", f"guess-{n}").status_code
                              for n in range(5)])
        return real(stored, password)

    monkeypatch.setattr(accounts, "check_password", check_while_others_guess)
    right = Browser(app).login("alice")
    assert meanwhile == [[401, 401, 401, 401, 429]]
    assert right.status_code == 429


def test_counts_that_ran_out_are_forgotten(app, whistle, manual_clock):
    for n in range(20):
        Browser(app, f"198.51.100.{n}").login(f"nobody-{n}", "x")
    assert attempt_rows(whistle) == 40  # one per name, one per address
    manual_clock.advance(timedelta(minutes=16))
    Browser(app).login("alice", "x")
    assert attempt_rows(whistle) == 2  # only the newest failure's name and address are left


def test_limits_come_from_the_environment(whistle, monkeypatch):
    monkeypatch.setenv("WHISTLE_SIGNIN_MAX_FAILURES", "3")
    monkeypatch.setenv("WHISTLE_SIGNIN_MAX_ADDRESS_FAILURES", "0")
    monkeypatch.setenv("WHISTLE_SIGNIN_WINDOW_MINUTES", "10")
    monkeypatch.setenv("WHISTLE_SIGNIN_LOCKOUT_MINUTES", "30")
    app = create_app({"ENGINE": whistle, "TESTING": True})
    assert app.config["SIGN_IN_LIMITS"] == SignInLimits(3, 0, timedelta(minutes=10), timedelta(minutes=30))


def test_lockout_minutes_from_the_configuration(whistle, cheap_hashes, manual_clock):
    app = create_app({"ENGINE": whistle, "TESTING": True,
                      "SIGN_IN_LIMITS": SignInLimits(3, 0, timedelta(minutes=10), timedelta(minutes=30))})
    whistle.add_user("alice", [], password=PASSWORD)
    browser = Browser(app)
    assert [browser.login("alice", "x").status_code for _ in range(3)] == [401, 401, 429]
    manual_clock.advance(timedelta(minutes=29))
    assert browser.login("alice").status_code == 429
    manual_clock.advance(timedelta(minutes=1))
    assert browser.login("alice").status_code == 302


# -- password hashes ---------------------------------------------------------------------------------------

@pytest.mark.real_password_cost
def test_new_hashes_use_owasp_scrypt_parameters():
    stored = accounts.hash_password("correct horse")  # the real cost: 128 MiB, ≈0.3 s
    assert stored.startswith("scrypt$131072$8$1$")
    assert accounts.check_password(stored, "correct horse") and not accounts.check_password(stored, "wrong")
    assert not accounts.needs_rehash(stored)


def test_an_old_hash_is_replaced_on_the_next_sign_in(whistle, monkeypatch, manual_clock):
    monkeypatch.setattr(accounts, "_N", 2**4)
    whistle.add_user("alice", [], password=PASSWORD)  # hashed with the old cost
    old = stored_hash(whistle, "alice")
    assert old.startswith("scrypt$16$8$1$")
    monkeypatch.setattr(accounts, "_N", 2**5)  # today's cost is higher
    app = create_app({"ENGINE": whistle, "TESTING": True})
    other_session = Browser(app)
    other_session.login("alice")
    new = stored_hash(whistle, "alice")
    assert new.startswith("scrypt$32$8$1$") and accounts.check_password(new, PASSWORD)
    assert other_session.http.get("/inbox").status_code == 200  # the same password: no session ended
    assert Browser(app).login("alice").status_code == 302
    assert stored_hash(whistle, "alice") == new  # not rehashed again
    api = app.test_client()  # HTTP Basic rehashes too
    monkeypatch.setattr(accounts, "_N", 2**6)
    assert api.get("/api/v1/tasks", headers=basic("alice")).status_code == 200
    assert stored_hash(whistle, "alice").startswith("scrypt$64$8$1$")
    assert events(whistle, "sign_in_failed", "password_changed") == []


def test_a_stored_hash_demanding_absurd_memory_is_refused_not_computed():
    assert not accounts.check_password("scrypt$1073741824$8$1$00$00", "x")
    assert not accounts.check_password("bcrypt$whatever", "x")


# -- where a sign-in goes afterwards -------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["/\t/evil.example", "//evil", "\\evil", "/\\evil", "/\n/evil.example",
                                    "/\r\n/evil.example", " //evil", "https://evil.example/", "javascript:alert(1)",
                                    "/\u202e/evil", "evil.example"])
def test_next_must_be_a_plain_local_path(app, target):
    response = Browser(app).login("alice", next_url=target)
    assert response.status_code == 302 and response.headers["Location"] == "/inbox", target


def test_next_keeps_a_local_path_with_its_query(app):
    response = Browser(app).login("alice", next_url="/cases?status=running&q=%E8%B7%AF")
    assert response.headers["Location"] == "/cases?status=running&q=%E8%B7%AF"


# -- HSTS ----------------------------------------------------------------------------------------------------

def test_hsts_is_off_by_default_and_sent_when_configured(whistle, monkeypatch):
    plain = create_app({"ENGINE": whistle, "TESTING": True}).test_client()
    assert "Strict-Transport-Security" not in plain.get("/login").headers
    monkeypatch.setenv("WHISTLE_HSTS_SECONDS", "31536000")
    strict = create_app({"ENGINE": whistle, "TESTING": True}).test_client()
    for url in ("/login", "/api/v1/openapi.json", "/health"):
        assert strict.get(url).headers["Strict-Transport-Security"] == "max-age=31536000", url
