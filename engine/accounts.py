"""Local accounts and groups. Passwords are hashed with scrypt (standard library, memory-hard)."""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import clock
from .audit import AuditLog
from .errors import InvalidInput, NotFound
from .models import Membership, UserAccount, UserGroup

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def check_password(stored: str | None, password: str) -> bool:
    if not stored:
        return False
    try:
        algorithm, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if algorithm != "scrypt":
        return False
    candidate = hashlib.scrypt(password.encode("utf-8"), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                               dklen=len(bytes.fromhex(digest)))
    return hmac.compare_digest(candidate.hex(), digest)


def ensure_user(session: Session, audit: AuditLog, username: str, groups: list[str], password: str | None = None,
                display_name: str | None = None, actor: str = "system") -> tuple[UserAccount, bool]:
    """Create the user or add what is missing; running it twice changes nothing the second time."""
    username = username.strip()
    if not username:
        raise InvalidInput("a user needs a name")
    user = session.execute(select(UserAccount).where(UserAccount.username == username)).scalar()
    created = user is None
    if created:
        user = UserAccount(username=username, display_name=display_name, active=True, created_at=clock.now(),
                           password_hash=hash_password(password) if password else None)
        session.add(user)
        session.flush()
    else:
        if display_name and user.display_name != display_name:
            user.display_name = display_name
        if password and not check_password(user.password_hash, password):
            user.password_hash = hash_password(password)
    have = set(session.execute(select(Membership.group_name).where(Membership.user_id == user.id)).scalars())
    added = []
    for group in groups:
        group = group.strip()
        if not group or group in have:
            continue
        if session.get(UserGroup, group) is None:
            session.add(UserGroup(name=group))
            session.flush()
        session.add(Membership(user_id=user.id, group_name=group))
        have.add(group)
        added.append(group)
    if created or added:
        audit.record("user_created" if created else "user_groups_added", actor, user=username, groups=added)
    return user, created


def ensure_group(session: Session, name: str, display_name: str | None) -> None:
    group = session.get(UserGroup, name)
    if group is None:
        session.add(UserGroup(name=name, display_name=display_name))
    elif display_name and group.display_name != display_name:
        group.display_name = display_name


def import_accounts(session: Session, audit: AuditLog, path: Path, actor: str = "system") -> dict:
    """Load groups and users from a JSON file: {"groups": [{name, display_name}], "users": [{username, ...}]}."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFound(f"{path}: no such file")
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})")
    for index, group in enumerate(document.get("groups", [])):
        if "name" not in group:
            raise InvalidInput(f"{path}: groups[{index}] has no 'name'")
        ensure_group(session, group["name"], group.get("display_name"))
    session.flush()
    created = 0
    for index, entry in enumerate(document.get("users", [])):
        if "username" not in entry:
            raise InvalidInput(f"{path}: users[{index}] has no 'username'")
        _, was_created = ensure_user(session, audit, entry["username"], entry.get("groups", []),
                                     entry.get("password"), entry.get("display_name"), actor)
        created += was_created
    return {"users": len(document.get("users", [])), "created": created, "groups": len(document.get("groups", []))}


def find_user(session: Session, username: str) -> UserAccount:
    user = session.execute(select(UserAccount).where(UserAccount.username == username)).scalar()
    if user is None or not user.active:
        raise NotFound(f"no user '{username}'")
    return user


def groups_of(session: Session, user: UserAccount) -> set[str]:
    return set(session.execute(select(Membership.group_name).where(Membership.user_id == user.id)).scalars())


def authenticate(session: Session, username: str, password: str) -> UserAccount | None:
    user = session.execute(select(UserAccount).where(UserAccount.username == username)).scalar()
    if user is None or not user.active or not check_password(user.password_hash, password):
        return None
    return user
