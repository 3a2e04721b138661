"""Local accounts and groups. Passwords are hashed with scrypt (standard library, memory-hard).

Sign-in limits live here too: failed sign-ins are counted per account name and per client address in the
``sign_in_attempt`` table, so every server process sees the same counts, and a name or address that reaches
its limit is locked for a while (``SignInLimits``). Pages and HTTP Basic both go through ``login_state``,
``record_failure`` and ``record_success``.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import os
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from engine.audit.chain import AuditLog
from engine.errors import InvalidInput, NotFound
from engine.store import Session
from engine.store import accounts as stored
from engine.store.models import Membership, UserAccount, UserGroup
from engine.time import clock

# OWASP's scrypt parameters (N=2^17, r=8, p=1): 128 MiB and ≈0.3 s per hash on the 2-core machines. Hashes
# with other parameters still verify and are replaced on the next successful sign-in (``needs_rehash``).
_N, _R, _P = 2**17, 8, 1
_MAX_N = 2**20  # a stored hash asking for more memory than this is refused, not computed
# scrypt holds 128·r·N bytes while it runs: at most this many at once per process, so a burst of sign-ins
# (or of wrong passwords) cannot take the server's memory; the others wait their turn.
_SCRYPT_SLOTS = threading.BoundedSemaphore(max(2, os.cpu_count() or 2))
KEY_LENGTH = 128  # the longest account name (user_account.username); longer names cannot exist


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    # OpenSSL checks 128·r·(N + p + 2) bytes against maxmem, whose default (32 MiB) is below N=2^17.
    maxmem = 128 * r * (n + p + 2) + 1024 * 1024
    with _SCRYPT_SLOTS:
        return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=dklen, maxmem=maxmem)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, _N, _R, _P, 32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def _parse(stored: str | None) -> tuple[int, int, int, bytes, bytes] | None:
    try:
        algorithm, n, r, p, salt, digest = (stored or "").split("$")
        parsed = int(n), int(r), int(p), bytes.fromhex(salt), bytes.fromhex(digest)
    except ValueError:
        return None
    if algorithm != "scrypt" or not (1 < parsed[0] <= _MAX_N and 0 < parsed[1] <= 32 and 0 < parsed[2] <= 16):
        return None
    return parsed


def check_password(stored: str | None, password: str) -> bool:
    parsed = _parse(stored)
    if parsed is None:
        return False
    n, r, p, salt, digest = parsed
    return hmac.compare_digest(_scrypt(password, salt, n, r, p, len(digest)), digest)


def needs_rehash(stored: str | None) -> bool:
    """True when a (verified) hash was made with other scrypt parameters than today's."""
    parsed = _parse(stored)
    return parsed is not None and parsed[:3] != (_N, _R, _P)


_dummy: list[str] = []


def waste_a_check(password: str) -> None:
    """Spend what checking a real password costs, for a name without one: how long a wrong answer takes
    must not tell whether the account exists."""
    if not _dummy:
        _dummy.append(hash_password(secrets.token_hex(8)))
    check_password(_dummy[0], password)


def ensure_user(session: Session, audit: AuditLog, username: str, groups: list[str], password: str | None = None,
                display_name: str | None = None, actor: str = "system",
                change_password: bool = True) -> tuple[UserAccount, bool]:
    """Create the user or add what is missing; running it twice changes nothing the second time. With
    ``change_password`` false an existing account keeps its password (an import provisions accounts)."""
    username = username.strip()
    if not username:
        raise InvalidInput("a user needs a name")
    user = stored.account_named(session, username)
    created = user is None
    if user is None:
        user = UserAccount(username=username, display_name=display_name, active=True, created_at=clock.now(),
                           password_hash=hash_password(password) if password else None)
        session.add(user)
        session.flush()
    else:
        if display_name and user.display_name != display_name:
            user.display_name = display_name
        if password and change_password and not check_password(user.password_hash, password):
            user.password_hash = hash_password(password)
            user.session_version = (user.session_version or 1) + 1  # a new password ends every session
            audit.record("password_changed", actor, user=username)
    have = stored.group_names(session, user.id)
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
    """Load groups and users from a JSON file: {"groups": [{name, display_name}], "users": [{username, ...}]}.
    A password in the file is the initial one: accounts that exist already keep theirs (and an import does
    not pay a password check per account: ``make run`` imports the 76 demo accounts every time)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFound(f"{path}: no such file") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
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
                                     entry.get("password"), entry.get("display_name"), actor,
                                     change_password=False)
        created += was_created
    return {"users": len(document.get("users", [])), "created": created, "groups": len(document.get("groups", []))}


def find_user(session: Session, username: str) -> UserAccount:
    """The active account of that name; NotFound for an unknown or inactive one."""
    user = stored.account_named(session, username)
    if user is None or not user.active:
        raise NotFound(f"no user '{username}'")
    return user


def identity(session: Session, username: str) -> tuple[str | None, set[str]]:
    """An active account's display name and groups in one query (a command checking a submission); NotFound
    for an unknown or inactive account."""
    rows = stored.name_and_groups(session, username)
    if not rows:
        raise NotFound(f"no user '{username}'")
    return rows[0][0], {group for _, group in rows if group}


def groups_of(session: Session, user: UserAccount) -> set[str]:
    return stored.group_names(session, user.id)


def authenticate(session: Session, username: str, password: str) -> UserAccount | None:
    """The active account when the password is right, else None."""
    user = stored.account_named(session, username)
    if user is None or not user.active or not check_password(user.password_hash, password):
        return None
    return user


# -- sign-in limits ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SignInLimits:
    """After ``user_failures`` wrong passwords for one account name, or ``address_failures`` from one client
    address, within ``window``, that name or address is locked for ``lockout`` (even the right password is
    refused). A limit of 0 turns that count off."""

    user_failures: int = 5
    address_failures: int = 50
    window: timedelta = timedelta(minutes=15)
    lockout: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class LoginState:
    """What signing in as ``username`` from an address needs to know, read in one statement."""

    username: str
    password_hash: str | None
    active: bool
    session_version: int | None
    failures: int  # the name's failures in its current window
    locked_until: datetime | None  # the later lock of the name and the address, when it has not run out

    @property
    def usable(self) -> bool:
        return bool(self.active and self.password_hash)


def address_key(address: str | None) -> str:
    """The counted form of a client address: IPv6 clients by their /64 (one host usually has a whole /64)."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return (address or "unknown")[:KEY_LENGTH]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def login_state(session: Session, username: str, address: str | None, now: datetime) -> LoginState:
    # One round trip, also on the hot path of HTTP Basic (a lock must stop even a cached right password).
    row = stored.login_row(session, username, username[:KEY_LENGTH], address_key(address))
    locks = [until for until in (row[4], row[5]) if until is not None and until > now]
    return LoginState(username, row[0], bool(row[1]), row[2], row[3] or 0, max(locks) if locks else None)


def record_failure(session: Session, audit: AuditLog, username: str, address: str | None, limits: SignInLimits,
                   channel: str, now: datetime) -> datetime | None:
    """Count a wrong password (or unknown name) against the name and the address, lock what reached its
    limit, and audit both; returns until when the attempt's name or address is now locked, if it is."""
    name, where = username[:KEY_LENGTH], address_key(address)
    audit.record("sign_in_failed", None, user=name, address=where, channel=channel)
    locked: list[datetime] = []
    # Name before address, in every transaction: two sign-ins never wait for each other in a circle.
    for scope, key, limit in (("user", name, limits.user_failures), ("address", where, limits.address_failures)):
        if limit <= 0:
            continue
        row = stored.locked_attempts(session, scope, key, now)
        if row.locked_until is not None and row.locked_until > now:  # locked by a sign-in that was faster
            locked.append(row.locked_until)
            continue
        if row.window_started_at is None or now - row.window_started_at >= limits.window:
            row.failures, row.window_started_at = 0, now
        row.failures += 1
        row.last_failure_at = now
        if row.failures >= limit:
            # The count starts again after the lockout: a locked name gets its full allowance back.
            row.locked_until, row.failures, row.window_started_at = now + limits.lockout, 0, None
            locked.append(row.locked_until)
            audit.record("sign_in_locked", None, scope=scope, key=key, until=row.locked_until.isoformat(),
                         channel=channel, failures=limit)
    # Forget counts that ran out, a hundred at a time. Last, once this sign-in holds its own rows: whoever
    # waits for a row deleted here waits for a transaction that waits for nobody any more (no deadlock), and
    # rows another sign-in holds are skipped.
    stored.forget_stale_attempts(session, now - max(limits.window, limits.lockout), now)
    return max(locked) if locked else None


def record_success(session: Session, username: str) -> None:
    """A right password forgets the name's failures (not the address's: one good account must not reset a
    guessing client's count)."""
    stored.forget_attempts(session, "user", username[:KEY_LENGTH])


def rehash_password(session: Session, username: str, old_hash: str, new_hash: str) -> bool:
    """Replace ``old_hash`` by ``new_hash`` (the same password with today's parameters, hashed by the caller
    before the transaction: scrypt must not hold the write lock), unless the password was changed meanwhile.
    Sessions stay valid: the password is the same."""
    return stored.replace_password_hash(session, username, old_hash, new_hash)


def end_sessions(session: Session, username: str) -> None:
    """Every session of the account ends: its cookies carry the old version (sign-out)."""
    stored.bump_session_version(session, username)


def session_account(session: Session, username: str, version: object) -> UserAccount | None:
    """The active account a session cookie names, when the cookie's session version is still current."""
    account = stored.account_named(session, username)
    if account is None or not account.active or not isinstance(version, int) or version != account.session_version:
        return None
    return account
