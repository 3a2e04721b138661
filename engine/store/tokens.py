"""The statements of API tokens (``engine.identity.tokens``); a token is found by its hash (a unique index)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Row, select, update

from engine.store import Session
from engine.store.models import ApiToken, UserAccount


def token_named(session: Session, name: str, *, for_update: bool = False) -> ApiToken | None:
    query = select(ApiToken).where(ApiToken.name == name)
    return session.execute(query.with_for_update() if for_update else query).scalar()


def all_tokens(session: Session) -> list[ApiToken]:
    return list(session.execute(select(ApiToken).order_by(ApiToken.name)).scalars())


def valid_token(session: Session, digest: str) -> Row | None:
    """(id, name, username, scopes, last used) of the unrevoked token with this hash, if its account is active."""
    return session.execute(select(ApiToken.id, ApiToken.name, ApiToken.username, ApiToken.scopes,
                                  ApiToken.last_used_at)
                           .join(UserAccount, UserAccount.username == ApiToken.username)
                           .where(ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None),
                                  UserAccount.active.is_(True))).first()


def mark_used(session: Session, token_id: int, now: datetime) -> None:
    session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
