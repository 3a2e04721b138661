"""Accounts and the bearer tokens that act as them: adding and importing accounts, creating, revoking and
checking tokens. A checked token is trusted for a moment without reading the database again."""
from __future__ import annotations

import time
from pathlib import Path

from engine.audit.chain import AuditLog
from engine.identity import tokens as api_tokens
from engine.identity.accounts import ensure_user, groups_of, import_accounts
from engine.runtime.commands import Runtime
from engine.runtime.context import CommandContext
from engine.store import Session
from engine.store.db import Database
from engine.time import clock

TOKEN_CACHE_SECONDS = 2.0  # how long a checked bearer token is trusted without reading the database again
TOKEN_CACHE_SIZE = 10_000  # checked tokens remembered at most (then forgotten all at once)


class Identity:
    """Accounts and API tokens."""

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
