"""Who is calling the API, from the ``Authorization`` header only: HTTP Basic with a local account (counted
against the sign-in limits, ``webui.signin``), or ``Bearer <token>`` for a system client. Cookies are never
read, so a browser session cannot be ridden by another site and no CSRF token is needed."""
from __future__ import annotations

import hashlib
import hmac
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass

from flask import current_app, g, request
from flask.blueprints import BlueprintSetupState

from engine.identity.accounts import check_password
from webui import signin
from webui.rest.shell import ApiError, api, engine

REALM = "whistle"
PUBLIC_ENDPOINTS = {"api.openapi"}


@dataclass(frozen=True)
class Caller:
    user: str
    via: str  # basic | bearer
    scopes: frozenset[str] | None = None  # a token's scopes; None for an account (all its own rights)
    token: str | None = None  # the token's name

    def require_scope(self, scope: str) -> None:
        if self.via == "bearer" and scope not in (self.scopes or ()):
            raise ApiError(403, "forbidden", f"token '{self.token}' does not have the '{scope}' scope",
                           {"required_scope": scope, "token_scopes": sorted(self.scopes or ())})


class VerifiedPasswords:
    """Remembers, per process, which (account, stored hash, password) triples scrypt has already accepted, so
    that HTTP Basic costs one indexed read per request instead of ≈50 ms of scrypt. Keys are HMACs under a
    random per-process key; changing the password (the stored hash) or deactivating the account takes
    effect at once because both are read on every request."""

    def __init__(self, size: int = 4096) -> None:
        self._key = os.urandom(32)
        self._size = size
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()

    def _digest(self, username: str, stored: str, password: str) -> bytes:
        return hmac.new(self._key, "\0".join((username, stored, password)).encode("utf-8"), hashlib.sha256).digest()

    def known(self, username: str, stored: str, password: str) -> bool:
        """Accepted before (no scrypt needed)."""
        digest = self._digest(username, stored, password)
        with self._lock:
            if digest in self._seen:
                self._seen.move_to_end(digest)
                return True
        return False

    def remember(self, username: str, stored: str, password: str) -> None:
        """scrypt has just accepted this triple."""
        digest = self._digest(username, stored, password)
        with self._lock:
            self._seen[digest] = None
            while len(self._seen) > self._size:
                self._seen.popitem(last=False)

    def check(self, username: str, stored: str, password: str) -> bool:
        if self.known(username, stored, password):
            return True
        if not check_password(stored, password):
            return False
        self.remember(username, stored, password)
        return True


@api.record_once
def _setup(state: BlueprintSetupState) -> None:
    state.app.extensions.setdefault("whistle_api_passwords", VerifiedPasswords())


def _challenges(error: str | None = None) -> list[tuple[str, str]]:
    bearer = f'Bearer realm="{REALM}"' + (f', error="{error}"' if error else "")
    return [("WWW-Authenticate", f'Basic realm="{REALM}", charset="UTF-8"'), ("WWW-Authenticate", bearer)]


def _basic(username: str, password: str) -> Caller | None:
    """The account, when the password is right; counted against the sign-in limits like the sign-in page
    (``webui.signin``), and 429 while the name or the client address is locked."""
    outcome = signin.attempt(username, password, "basic", current_app.extensions["whistle_api_passwords"])
    if outcome.locked_until is not None:
        wait = outcome.retry_after()
        raise ApiError(429, "too_many_requests", f"too many failed sign-ins for this account or from this address; "
                                                 f"try again in {-(-wait // 60)} minutes",
                       {"retry_after": wait}, [("Retry-After", str(wait))])
    return Caller(username, "basic") if outcome.ok else None


def authenticate() -> Caller:
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        found = engine().authenticate_token(credentials.strip()) if credentials.strip() else None
        if found is None:
            raise ApiError(401, "unauthorized", "the bearer token is unknown or revoked", None,
                           _challenges("invalid_token"))
        return Caller(found["user"], "bearer", found["scopes"], found["name"])
    if scheme == "basic":
        auth = request.authorization
        if auth is not None and auth.type == "basic" and auth.username and auth.password:
            caller = _basic(auth.username, auth.password)
            if caller is not None:
                return caller
        raise ApiError(401, "unauthorized", "wrong user name or password", None, _challenges())
    raise ApiError(401, "unauthorized", "authenticate with HTTP Basic (a Whistle account) or a bearer token; "
                                        "cookies are not accepted by the API", None, _challenges())


@api.before_request
def _authenticate() -> None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    g.api_caller = authenticate()


def caller() -> Caller:
    return g.api_caller


def require_instance_visible(instance_id: int) -> None:
    """403 unless the caller may read the instance (and so its tasks)."""
    if not engine().can_see_instance(caller().user, instance_id):
        raise ApiError(403, "forbidden", f"{caller().user} may not read instance {instance_id}: only its starter, "
                                         f"the people and groups its tasks are or were offered to, supervisors "
                                         f"and admins may")
