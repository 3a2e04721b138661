"""Bearer tokens for system clients (a 12345 hotline, a grid platform) calling the REST API.

A token is shown once, when it is created; the database keeps only its SHA-256 (a token is 256 random
bits, so a fast hash is enough: there is nothing to brute-force). A token acts as one local account and
only within its scopes: reading is always allowed (what that account may read), writing needs a scope.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from engine.audit.chain import AuditLog
from engine.errors import Conflict, InvalidInput, NotFound
from engine.identity.accounts import find_user
from engine.store import Session
from engine.store import tokens as stored
from engine.store.models import ApiToken
from engine.time import clock

PREFIX = "wht_"
SCOPES = {
    "tasks": "claim, unclaim and complete tasks offered to the token's account",
    "start": "start process instances",
    "message": "send messages to waiting instances (or start the processes a message starts)",
    "batches": "create and cancel bulk operations over cases (the account must be an administrator)",
    "deploy": "check and deploy uploaded process files (the account must be a designer or an administrator)",
}
# ``last_used_at`` is written at most this often per token, so that reading with a token is not a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_dict(row: ApiToken) -> dict:
    return {"name": row.name, "user": row.username, "scopes": sorted(row.scopes or []),
            "created_at": row.created_at.isoformat(), "created_by": row.created_by,
            "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None,
            "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None}


def create(session: Session, audit: AuditLog, name: str, username: str, scopes: list[str], actor: str) -> dict:
    name = (name or "").strip()
    if not name:
        raise InvalidInput("a token needs a name")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise InvalidInput(f"unknown scope {', '.join(unknown)}; scopes are {', '.join(sorted(SCOPES))}")
    find_user(session, username)
    existing = stored.token_named(session, name)
    if existing is not None:
        state = f"revoked at {existing.revoked_at.isoformat()}" if existing.revoked_at else "active"
        raise Conflict(f"a token named '{name}' already exists ({state}); choose another name")
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name, token_hash=token_hash(token), username=username, scopes=sorted(set(scopes)),
                   created_at=clock.now(), created_by=actor)
    session.add(row)
    session.flush()
    audit.record("token_created", actor, token=name, user=username, scopes=row.scopes)
    return {**token_dict(row), "token": token}


def revoke(session: Session, audit: AuditLog, name: str, actor: str) -> dict:
    row = stored.token_named(session, name, for_update=True)
    if row is None:
        raise NotFound(f"no token named '{name}'")
    if row.revoked_at is None:
        row.revoked_at = clock.now()
        audit.record("token_revoked", actor, token=name, user=row.username)
    return token_dict(row)


def listing(session: Session) -> list[dict]:
    return [token_dict(r) for r in stored.all_tokens(session)]


def lookup(session: Session, token: str) -> dict | None:
    """The valid, unrevoked token of an active account with this value, or None."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    found = stored.valid_token(session, token_hash(token))
    if found is None:
        return None
    return {"id": found.id, "name": found.name, "user": found.username, "scopes": frozenset(found.scopes or []),
            "last_used_at": found.last_used_at}


def needs_touch(found: dict, now: datetime) -> bool:
    return found["last_used_at"] is None or now - found["last_used_at"] >= LAST_USED_RESOLUTION


def touch(session: Session, token_id: int, now: datetime) -> None:
    stored.mark_used(session, token_id, now)
