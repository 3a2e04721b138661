"""Accounts and the bearer tokens that act as them: adding and importing accounts, signing in and out, creating,
revoking and checking tokens. A checked token is trusted for a moment without reading the database again.

A sign-in (the staff pages and HTTP Basic on the API alike) reads the account and the sign-in limits in one
statement (``engine.queries.accounts``): a locked name or address is refused before any password is checked; a
wrong password (or an unknown name, which costs the same scrypt time) is counted and audited
(``record_failure``); a right one forgets the name's failures and, when the stored hash has old scrypt
parameters, replaces it. A session names the account and its session version; ``session_user`` accepts it only
while that version is the account's, so signing out (``end_sessions``) or a new password ends every saved one."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from engine.audit.chain import AuditLog
from engine.casework.dashboard import viewer_of as dashboard_viewer
from engine.casework.people import roles_of
from engine.identity import accounts
from engine.identity import tokens as api_tokens
from engine.identity.accounts import SignInLimits, ensure_user, groups_of, import_accounts
from engine.queries import accounts as account_queries
from engine.runtime.commands import Runtime
from engine.runtime.context import CommandContext
from engine.store import Session
from engine.store.db import Database
from engine.time import clock

TOKEN_CACHE_SECONDS = 2.0  # how long a checked bearer token is trusted without reading the database again
TOKEN_CACHE_SIZE = 10_000  # checked tokens remembered at most (then forgotten all at once)


@dataclass(frozen=True)
class SignInOutcome:
    username: str | None = None  # signed in as, when the password was right
    session_version: int | None = None
    locked_until: datetime | None = None  # refused because the name or the address is locked (until then)

    @property
    def ok(self) -> bool:
        return self.username is not None

    def retry_after(self) -> int:
        """Whole seconds until the lock runs out (for Retry-After)."""
        if self.locked_until is None:
            return 0
        return max(1, math.ceil((self.locked_until - clock.now()).total_seconds()))


class PasswordCache(Protocol):
    """Verified passwords remembered per process (``webui.rest.auth.VerifiedPasswords``)."""

    def known(self, username: str, stored: str, password: str) -> bool: ...

    def remember(self, username: str, stored: str, password: str) -> None: ...


class Identity:
    """Accounts, signing in and out, and API tokens."""

    def __init__(self, db: Database, runtime: Runtime) -> None:
        self.db, self.runtime = db, runtime
        self._token_cache: dict[str, tuple[float, dict]] = {}  # token hash -> (checked at, who)

    def add_user(self, username: str, groups: list[str], password: str | None = None,
                 display_name: str | None = None, actor: str = "system") -> dict:
        """Create the account or add the groups it lacks (a second run changes nothing)."""
        def work(session: Session, audit: AuditLog) -> dict:
            user, created = ensure_user(session, audit, username, groups, password, display_name, actor)
            return {"username": user.username, "created": created, "groups": sorted(groups_of(session, user))}

        return self.runtime.run_command(CommandContext("user add", actor), work)

    def import_users(self, path: str | Path, actor: str = "system") -> dict:
        """Load groups and accounts from a JSON file (``engine.identity.accounts.import_accounts``)."""
        return self.runtime.run_command(CommandContext("user import", actor),
                                        lambda s, a: import_accounts(s, a, Path(path), actor))

    def create_token(self, name: str, user: str, scopes: list[str] | None = None, actor: str = "system") -> dict:
        """A new bearer token acting as ``user`` within ``scopes``; the result's ``token`` is shown only now."""
        return self.runtime.run_command(CommandContext("token create", actor),
                                        lambda s, a: api_tokens.create(s, a, name, user, list(scopes or []), actor))

    def revoke_token(self, name: str, actor: str = "system") -> dict:
        result = self.runtime.run_command(CommandContext("token revoke", actor),
                                          lambda s, a: api_tokens.revoke(s, a, name, actor))
        self._token_cache.clear()
        return result

    def forget_tokens(self) -> None:
        """Check every token again on its next use (one was revoked elsewhere in this process)."""
        self._token_cache.clear()

    def list_tokens(self) -> list[dict]:
        with self.db.read() as session:
            return api_tokens.listing(session)

    def authenticate_token(self, token: str) -> dict | None:
        """``{"user", "scopes", "name"}`` for a valid bearer token, else None.

        A positive answer is remembered for ``TOKEN_CACHE_SECONDS`` (keyed by the token's hash): a token
        revoked, or an account deactivated, in another process stops working within that time; in this
        process at once (``revoke_token`` clears the cache)."""
        key = api_tokens.token_hash(token)
        moment = time.monotonic()
        cached = self._token_cache.get(key)
        if cached is not None and moment - cached[0] < TOKEN_CACHE_SECONDS:
            return cached[1]
        with self.db.read() as session:
            found = api_tokens.lookup(session, token)
        if found is None:
            self._token_cache.pop(key, None)
            return None
        now = clock.now()
        if api_tokens.needs_touch(found, now):
            with self.db.write() as session:
                api_tokens.touch(session, found["id"], now)
        result = {"user": found["user"], "scopes": found["scopes"], "name": found["name"]}
        if len(self._token_cache) > TOKEN_CACHE_SIZE:
            self._token_cache.clear()
        self._token_cache[key] = (moment, result)
        return result

    # -- signing in and out -----------------------------------------------------------------------------------
    def sign_in(self, username: str, password: str, address: str | None, channel: str, limits: SignInLimits,
                cache: PasswordCache | None = None) -> SignInOutcome:
        """Check a name and password from ``address``; ``cache`` lets HTTP Basic skip scrypt for a password it
        has verified before."""
        if not username or not password or "\x00" in username:
            return SignInOutcome()  # no account has such a name; nothing to count
        state = account_queries.sign_in_state(self.db, username, address, clock.now())
        if state.locked_until is not None:
            return SignInOutcome(locked_until=state.locked_until)
        stored = state.password_hash if state.usable else None  # None: no password can be right
        if stored is not None and cache is not None and cache.known(username, stored, password):
            right = True
        elif stored is not None:
            right = accounts.check_password(stored, password)
            if right:
                # Guesses sent side by side all pass the lock check above before the first is counted: a right
                # one must not get in after the others have locked the name while scrypt was running.
                locked = account_queries.sign_in_state(self.db, username, address, clock.now()).locked_until
                if locked is not None:
                    return SignInOutcome(locked_until=locked)
                if cache is not None:
                    cache.remember(username, stored, password)
        else:
            accounts.waste_a_check(password)
            right = False
        if not right or stored is None:
            until = self.runtime.run_command(
                CommandContext("sign in", None),
                lambda session, audit: accounts.record_failure(session, audit, username, address, limits, channel,
                                                               clock.now()))
            return SignInOutcome(locked_until=until)
        new_hash = accounts.hash_password(password) if accounts.needs_rehash(stored) else None
        if state.failures or new_hash:  # a right password usually writes nothing (HTTP Basic: every request)
            def work(session: Session, _audit: AuditLog) -> None:
                if state.failures:
                    accounts.record_success(session, username)
                if new_hash:
                    accounts.rehash_password(session, username, stored, new_hash)

            self.runtime.run_command(CommandContext("sign in", username), work)
        return SignInOutcome(username, state.session_version)

    def session_user(self, username: str, version: object) -> dict | None:
        """Name, groups and roles of the account a session names, or None when the account is gone or inactive
        or the session was ended (its version is not the account's any more). One read."""
        account = account_queries.session_account(self.db, username, version)
        if account is None:
            return None
        return {"username": account.username, "display_name": account.display_name, "groups": account.groups,
                "roles": roles_of(account.groups),
                "dashboard": dashboard_viewer(set(account.groups)) is not None}  # the 数据看板 link

    def end_sessions(self, username: str) -> None:
        """Sign out everywhere: every session of the account, saved or not, stops opening pages."""
        self.runtime.run_command(CommandContext("sign out", username),
                                 lambda session, _audit: accounts.end_sessions(session, username))
