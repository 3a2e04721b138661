"""Signing in, for the staff pages and for HTTP Basic on the API, and which session cookies still hold.

A sign-in reads the account and the sign-in limits in one statement (``engine.queries.accounts``): a
locked name or address is refused before any password is checked; a wrong password (or an unknown name,
which costs the same scrypt time) is counted and audited (``record_failure``); a right one forgets the
name's failures and, when the stored hash has old scrypt parameters, replaces it.

A session cookie names the account and its session version; ``session_user`` accepts it only while that
version is the account's, so signing out (``end_sessions``) or a new password ends every saved cookie.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from flask import current_app, request

from engine.api import Whistle
from engine.audit.chain import AuditLog
from engine.casework.people import roles_of
from engine.identity import accounts
from engine.identity.accounts import SignInLimits
from engine.queries import accounts as account_queries
from engine.runtime.context import CommandContext
from engine.store import Session
from engine.time import clock


@dataclass(frozen=True)
class Outcome:
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


def _engine() -> Whistle:
    return current_app.extensions["whistle"]


def limits() -> SignInLimits:
    return current_app.config.get("SIGN_IN_LIMITS") or SignInLimits()


def _state(username: str, address: str | None) -> accounts.LoginState:
    return account_queries.sign_in_state(_engine().db, username, address, clock.now())


def attempt(username: str, password: str, channel: str, cache: PasswordCache | None = None) -> Outcome:
    """Check a name and password from ``request.remote_addr``; ``cache`` lets HTTP Basic skip scrypt for a
    password it has verified before."""
    if not username or not password or "\x00" in username:
        return Outcome()  # no account has such a name; nothing to count
    engine, address = _engine(), request.remote_addr
    state = _state(username, address)
    if state.locked_until is not None:
        return Outcome(locked_until=state.locked_until)
    stored = state.password_hash if state.usable else None  # None: no password can be right
    if stored is not None and cache is not None and cache.known(username, stored, password):
        right = True
    elif stored is not None:
        right = accounts.check_password(stored, password)
        if right:
            # Guesses sent side by side all pass the lock check above before the first is counted: a right
            # one must not get in after the others have locked the name while scrypt was running.
            locked = _state(username, address).locked_until
            if locked is not None:
                return Outcome(locked_until=locked)
            if cache is not None:
                cache.remember(username, stored, password)
    else:
        accounts.waste_a_check(password)
        right = False
    if not right or stored is None:
        until = engine.runtime.run_command(
            CommandContext("sign in", None),
            lambda session, audit: accounts.record_failure(session, audit, username, address, limits(), channel,
                                                           clock.now()))
        return Outcome(locked_until=until)
    new_hash = accounts.hash_password(password) if accounts.needs_rehash(stored) else None
    if state.failures or new_hash:  # a right password usually writes nothing (HTTP Basic: every request)
        def work(session: Session, _audit: AuditLog) -> None:
            if state.failures:
                accounts.record_success(session, username)
            if new_hash:
                accounts.rehash_password(session, username, stored, new_hash)

        engine.runtime.run_command(CommandContext("sign in", username), work)
    return Outcome(username, state.session_version)


def session_user(username: str, version: object) -> dict | None:
    """Name, groups and roles of the account a session cookie names, or None when the account is gone or
    inactive or the session was ended (its version is not the account's any more). One read per request."""
    account = account_queries.session_account(_engine().db, username, version)
    if account is None:
        return None
    return {"username": account.username, "display_name": account.display_name, "groups": account.groups,
            "roles": roles_of(account.groups)}


def end_sessions(username: str) -> None:
    """Sign out everywhere: every cookie of the account, saved or not, stops opening pages."""
    _engine().runtime.run_command(CommandContext("sign out", username),
                                  lambda session, _audit: accounts.end_sessions(session, username))
