"""The administrators' directory of people: accounts listed and changed one by one, and loaded in bulk from a
CSV or JSON file after a preview.

A bulk file is read the same way for the preview and for the load (``read_people``), and the load refuses a file
whose preview had errors, so what an administrator confirmed is what is written — in one transaction, or not at
all. Rows name their line (CSV) or index (JSON), the way ``whistle deploy`` names a file's line.

CSV columns (a header row, UTF-8 with or without BOM, comma separated): ``username``, ``display_name``,
``groups`` (separated by ``;``, ``|``, ``、`` or spaces) and, optionally, ``password`` (the initial one: an
account that exists keeps its own). Chinese headers are accepted too: 账号, 姓名, 分组, 初始密码. JSON: the
format of ``processes/demo-accounts.json`` (``{"groups": [...], "users": [...]}``).
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

from engine.audit.chain import AuditLog
from engine.errors import Conflict, InvalidInput, NotFound
from engine.identity.accounts import KEY_LENGTH, ensure_group, ensure_user, hash_password
from engine.identity.roles import ADMINS
from engine.store import Session
from engine.store import accounts as stored

HEADERS = {"username": "username", "账号": "username", "用户名": "username",
           "display_name": "display_name", "姓名": "display_name", "名称": "display_name",
           "groups": "groups", "分组": "groups", "用户组": "groups",
           "password": "password", "初始密码": "password", "密码": "password"}
GROUP_SEPARATORS = re.compile(r"[;|、,，\s]+")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")
MAX_ROWS = 20_000
MIN_PASSWORD = 8


@dataclass
class PersonRow:
    """One person of a bulk file, where it was, and what loading it would do."""

    where: str  # "line 3" or "users[2]"
    username: str
    display_name: str | None
    groups: list[str]
    password: str | None = None
    action: str = ""  # create | update | unchanged | error
    problems: list[str] = field(default_factory=list)
    added_groups: list[str] = field(default_factory=list)

    def view(self) -> dict:
        return {"where": self.where, "username": self.username, "display_name": self.display_name,
                "groups": self.groups, "action": self.action, "problems": self.problems,
                "added_groups": self.added_groups, "sets_password": bool(self.password)}


@dataclass
class PeopleFile:
    name: str
    digest: str
    groups: list[tuple[str, str | None]]  # (name, display name) declared by a JSON file
    people: list[PersonRow]
    problems: list[str]  # of the file as a whole


def check_username(username: str) -> str | None:
    """Why ``username`` cannot name an account, or None."""
    if not username:
        return "a user needs a name"
    if len(username) > KEY_LENGTH:
        return f"the name is longer than {KEY_LENGTH} characters"
    if not NAME_PATTERN.match(username):
        return "the name may hold letters, digits and . _ @ - only, and starts with a letter or digit"
    return None


def check_password(password: str) -> str | None:
    return f"a password has at least {MIN_PASSWORD} characters" if len(password) < MIN_PASSWORD else None


def split_groups(text: str | None) -> list[str]:
    return [g for g in GROUP_SEPARATORS.split(text or "") if g]


def new_password() -> str:
    """A one-time password an administrator hands over (shown once; never stored in the clear)."""
    return secrets.token_urlsafe(9)


def read_people(name: str, content: bytes | str) -> PeopleFile:
    """The rows of a CSV or JSON file, each with its own problems; nothing is looked up yet."""
    raw = content.encode("utf-8") if isinstance(content, str) else content
    digest = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return PeopleFile(name, digest, [], [], [f"{name}: not UTF-8 text (byte {exc.start})"])
    if name.lower().endswith(".json"):
        return _read_json(name, digest, text)
    if name.lower().endswith(".csv"):
        return _read_csv(name, digest, text)
    return PeopleFile(name, digest, [], [], [f"{name}: a people file is .csv or .json"])


def _read_csv(name: str, digest: str, text: str) -> PeopleFile:
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        return PeopleFile(name, digest, [], [], [f"{name}: empty file (the first line names the columns)"])
    columns = [HEADERS.get(h.strip().lower()) or HEADERS.get(h.strip()) for h in header]
    unknown = [h for h, c in zip(header, columns, strict=True) if c is None and h.strip()]
    if "username" not in columns:
        return PeopleFile(name, digest, [], [], [f"{name}:1: no username column (账号); columns: {', '.join(header)}"])
    problems = [f"{name}:1: unknown column {h!r} (known: username, display_name, groups, password)" for h in unknown]
    people: list[PersonRow] = []
    for values in reader:
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(people) >= MAX_ROWS:
            problems.append(f"{name}:{line}: more than {MAX_ROWS} people; split the file")
            break
        cells = {c: v.strip() for c, v in zip(columns, values, strict=False) if c}
        people.append(PersonRow(f"line {line}", cells.get("username", ""), cells.get("display_name") or None,
                                split_groups(cells.get("groups")), cells.get("password") or None))
    return PeopleFile(name, digest, [], people, problems)


def _read_json(name: str, digest: str, text: str) -> PeopleFile:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        return PeopleFile(name, digest, [], [], [f"{name}:{exc.lineno}: not valid JSON ({exc.msg})"])
    if not isinstance(document, dict):
        return PeopleFile(name, digest, [], [], [f"{name}: the file is an object with 'groups' and 'users'"])
    problems, groups, people = [], [], []
    for index, group in enumerate(document.get("groups") or []):
        if not isinstance(group, dict) or not isinstance(group.get("name"), str):
            problems.append(f"{name}: groups[{index}] has no 'name'")
            continue
        groups.append((group["name"], group.get("display_name")))
    users = document.get("users") or []
    if len(users) > MAX_ROWS:
        problems.append(f"{name}: more than {MAX_ROWS} users; split the file")
        users = users[:MAX_ROWS]
    for index, entry in enumerate(users):
        if not isinstance(entry, dict):
            problems.append(f"{name}: users[{index}] is not an object")
            continue
        listed = entry.get("groups") or []
        people.append(PersonRow(f"users[{index}]", str(entry.get("username") or "").strip(),
                                entry.get("display_name"), [str(g) for g in listed] if isinstance(listed, list)
                                else split_groups(str(listed)), entry.get("password")))
    return PeopleFile(name, digest, groups, people, problems)


def plan(session: Session, found: PeopleFile) -> dict:
    """What loading the file would do, row by row (``create``, ``update``, ``unchanged``, ``error``)."""
    seen: dict[str, str] = {}
    for row in found.people:
        problem = check_username(row.username)
        if problem:
            row.problems.append(problem)
        elif row.username in seen:
            row.problems.append(f"{row.username} is already in {seen[row.username]}")
        else:
            seen[row.username] = row.where
        if row.password and check_password(row.password):
            row.problems.append(str(check_password(row.password)))
        for group in row.groups:
            if len(group) > KEY_LENGTH or not NAME_PATTERN.match(group):
                row.problems.append(f"group {group!r}: letters, digits and . _ @ - only")
        if row.problems:
            row.action = "error"
            continue
        account = stored.account_named(session, row.username)
        if account is None:
            row.action, row.added_groups = "create", list(dict.fromkeys(row.groups))
            continue
        have = stored.group_names(session, account.id)
        row.added_groups = [g for g in dict.fromkeys(row.groups) if g not in have]
        renamed = bool(row.display_name) and row.display_name != account.display_name
        row.action = "update" if row.added_groups or renamed else "unchanged"
    counts = {kind: sum(1 for r in found.people if r.action == kind)
              for kind in ("create", "update", "unchanged", "error")}
    return {"file": found.name, "sha256": found.digest, "problems": found.problems, "counts": counts,
            "groups": [g for g, _ in found.groups], "people": [r.view() for r in found.people],
            "ok": not found.problems and not counts["error"]}


def load(session: Session, audit: AuditLog, found: PeopleFile, actor: str, expected_hash: str | None) -> dict:
    """Load a file whose plan has no error, atomically; with ``expected_hash`` only the file previewed."""
    if expected_hash is not None and expected_hash != found.digest:
        raise Conflict(f"{found.name} is not the file that was previewed; preview it again")
    report = plan(session, found)
    if not report["ok"]:
        first = (found.problems or [f"{r.where}: {'; '.join(r.problems)}" for r in found.people if r.problems])[0]
        raise InvalidInput(f"{found.name}: {first} (nothing was loaded)")
    for group, label in found.groups:
        ensure_group(session, group, label)
    session.flush()
    for row in found.people:
        if row.action in ("create", "update"):
            ensure_user(session, audit, row.username, row.groups, row.password, row.display_name, actor,
                        change_password=False)
    audit.record("people_imported", actor, file=found.name, sha256=found.digest, **report["counts"])
    return report


# -- one account at a time ---------------------------------------------------------------------------------------

def create_account(session: Session, audit: AuditLog, username: str, display_name: str | None, groups: list[str],
                   password: str | None, actor: str) -> dict:
    """A new account; without ``password`` a one-time one, returned once in ``password``."""
    username = username.strip()
    problem = check_username(username)
    if problem:
        raise InvalidInput(f"username: {problem}")
    if password and check_password(password):
        raise InvalidInput(f"password: {check_password(password)}")
    if stored.account_named(session, username) is not None:
        raise Conflict(f"an account named '{username}' exists already")
    given = password or new_password()
    ensure_user(session, audit, username, groups, given, (display_name or "").strip() or None, actor)
    return {"username": username, "groups": sorted(set(groups)), "password": None if password else given}


def set_groups(session: Session, audit: AuditLog, username: str, groups: Iterable[str], actor: str) -> dict:
    """The account's groups become exactly ``groups``; an administrator cannot take the last one's rights."""
    account = _account(session, username)
    wanted = {g.strip() for g in groups if g.strip()}
    have = stored.group_names(session, account.id)
    if have & ADMINS and not wanted & ADMINS:
        _keep_an_administrator(session, username)
    for group in sorted(wanted - have):
        ensure_group(session, group, None)
    session.flush()
    stored.replace_memberships(session, account.id, wanted)
    audit.record("user_groups_set", actor, user=username, added=sorted(wanted - have), removed=sorted(have - wanted))
    return {"username": username, "groups": sorted(wanted)}


def set_active(session: Session, audit: AuditLog, username: str, active: bool, actor: str) -> dict:
    """Deactivate (every session and token of the account stops working) or reactivate an account."""
    account = _account(session, username)
    if not active and username == actor:
        raise Conflict("an administrator cannot deactivate their own account")
    if not active and account.active and stored.group_names(session, account.id) & ADMINS:
        _keep_an_administrator(session, username)
    if account.active != active:
        stored.set_active(session, username, active)
        audit.record("user_activated" if active else "user_deactivated", actor, user=username)
    return {"username": username, "active": active}


def reset_password(session: Session, audit: AuditLog, username: str, actor: str) -> dict:
    """A new one-time password (returned once); every session of the account ends."""
    account = _account(session, username)
    given = new_password()
    stored.set_password_hash(session, account.username, hash_password(given))
    audit.record("password_reset", actor, user=username)
    return {"username": username, "password": given}


def _account(session: Session, username: str):  # noqa: ANN202 - the ORM row
    account = stored.account_named(session, username)
    if account is None:
        raise NotFound(f"no account '{username}'")
    return account


def _keep_an_administrator(session: Session, username: str) -> None:
    if not stored.active_members(session, ADMINS, excluding=username):
        raise Conflict(f"'{username}' is the last active administrator; make another one first")
