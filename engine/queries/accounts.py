"""What the web layer reads about accounts: a sign-in's state, a session's account, an account's groups."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from engine.identity import accounts
from engine.store import queries
from engine.store.db import Database


@dataclass(frozen=True)
class SessionAccount:
    """The account a session cookie names, while the cookie is still valid."""

    username: str
    display_name: str
    groups: list[str]  # sorted


def group_names(db: Database, username: str) -> set[str]:
    """The groups of the account ``username`` (none for an unknown name)."""
    with db.read() as session:
        return queries.group_names_of(session, username)


def sign_in_state(db: Database, username: str, address: str | None, now: datetime) -> accounts.LoginState:
    """The account and the sign-in limits of a name and a client address, in one statement."""
    with db.read() as session:
        return accounts.login_state(session, username, address, now)


def session_account(db: Database, username: str, version: object) -> SessionAccount | None:
    """The active account a session cookie names while ``version`` is still its session version, else None."""
    with db.read() as session:
        account = accounts.session_account(session, username, version)
        if account is None:
            return None
        return SessionAccount(account.username, account.display_name or account.username,
                              sorted(accounts.groups_of(session, account)))
