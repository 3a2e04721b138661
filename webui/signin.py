"""Signing in, for the staff pages and for HTTP Basic on the API, and which session cookies still hold: the
web side of ``engine.management.identity`` (the request's address and the app's sign-in limits; the rules and
the writes are the engine's, the same for every channel)."""
from __future__ import annotations

from flask import current_app, request

from engine.api import Whistle
from engine.identity.accounts import SignInLimits
from engine.management.identity import PasswordCache
from engine.management.identity import SignInOutcome as Outcome

__all__ = ["Outcome", "PasswordCache", "attempt", "end_sessions", "limits", "session_user"]


def _engine() -> Whistle:
    return current_app.extensions["whistle"]


def limits() -> SignInLimits:
    return current_app.config.get("SIGN_IN_LIMITS") or SignInLimits()


def attempt(username: str, password: str, channel: str, cache: PasswordCache | None = None) -> Outcome:
    """Check a name and password from ``request.remote_addr`` (``engine.management.identity.Identity.sign_in``)."""
    return _engine().sign_in(username, password, request.remote_addr, channel, limits(), cache)


def session_user(username: str, version: object) -> dict | None:
    """The account a session cookie names, while the cookie's session version is the account's."""
    return _engine().session_user(username, version)


def end_sessions(username: str) -> None:
    """Sign out everywhere: every cookie of the account, saved or not, stops opening pages."""
    _engine().end_sessions(username)
