"""The statements of accounts, groups and sign-in limits (``engine.identity.accounts``).

The sign-in state is one statement built once: HTTP Basic reads it on every request.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Row, and_, bindparam, case, delete, func, literal, or_, select, tuple_, update
from sqlalchemy.orm import aliased
from sqlalchemy.sql import ColumnElement

from engine.store import Session, statements
from engine.store.models import Membership, SignInAttempt, UserAccount, UserGroup


def account_named(session: Session, username: str) -> UserAccount | None:
    """The account of that name, active or not."""
    return session.execute(select(UserAccount).where(UserAccount.username == username)).scalar()


def group_names(session: Session, user_id: int) -> set[str]:
    """The groups the account is a member of."""
    return set(session.execute(select(Membership.group_name).where(Membership.user_id == user_id)).scalars())


def name_and_groups(session: Session, username: str) -> list[Row]:
    """(display name, group) of an active account, a row per group (one with no group for a user in none);
    no row for an unknown or inactive account."""
    return list(session.execute(select(UserAccount.display_name, Membership.group_name)
                                .outerjoin(Membership, Membership.user_id == UserAccount.id)
                                .where(UserAccount.username == username, UserAccount.active.is_(True))).all())


def group_labels(session: Session) -> dict[str, str]:
    """Every group's display name (its name when it has none)."""
    return {name: label or name for name, label in session.execute(select(UserGroup.name, UserGroup.display_name))}


def display_names(session: Session, usernames: list[str]) -> dict[str, str]:
    """The display names of the accounts among ``usernames`` (their names when they have none)."""
    return {name: label or name for name, label in session.execute(
        select(UserAccount.username, UserAccount.display_name).where(UserAccount.username.in_(usernames)))}


def replace_password_hash(session: Session, username: str, old_hash: str, new_hash: str) -> bool:
    """Replace the hash unless it is no longer ``old_hash`` (the password was changed meanwhile)."""
    result = cast(CursorResult, session.execute(
        update(UserAccount).where(UserAccount.username == username, UserAccount.password_hash == old_hash)
        .values(password_hash=new_hash)))
    return bool(result.rowcount == 1)


def bump_session_version(session: Session, username: str) -> None:
    session.execute(update(UserAccount).where(UserAccount.username == username)
                    .values(session_version=UserAccount.session_version + 1))


# -- sign-in limits -------------------------------------------------------------------------------------------

def _login_statement() -> Any:
    # Outer joins from a one-row select: a row (of NULLs) also for an unknown name, with the address's lock.
    name_row, address_row = aliased(SignInAttempt), aliased(SignInAttempt)
    one = select(literal(1).label("one")).subquery()
    return (select(UserAccount.password_hash, UserAccount.active, UserAccount.session_version, name_row.failures,
                   name_row.locked_until, address_row.locked_until)
            .select_from(one)
            .outerjoin(UserAccount, UserAccount.username == bindparam("username"))
            .outerjoin(name_row, and_(name_row.scope == "user", name_row.key == bindparam("name")))
            .outerjoin(address_row, and_(address_row.scope == "address", address_row.key == bindparam("address"))))


# Built once: HTTP Basic reads it on every request. Measured as fast as the plain account read it replaced
# (≈270 µs a read session on the local PostgreSQL, best of 15 rounds of 200).
_LOGIN_STATE = _login_statement()


def login_row(session: Session, username: str, name_key: str, address_key: str) -> Row:
    """(password hash, active, session version, the name's failures, the name's lock, the address's lock) of
    signing in as ``username``: one row even for an unknown name, in one round trip."""
    return session.execute(_LOGIN_STATE, {"username": username, "name": name_key, "address": address_key}).one()


def _attempt_is(scope: str, key: str) -> ColumnElement[bool]:
    return and_(SignInAttempt.scope == scope, SignInAttempt.key == key)


def locked_attempts(session: Session, scope: str, key: str, now: datetime) -> SignInAttempt:
    """The failure count of a name or an address, created at zero when there is none, locked for the rest
    of the transaction and read afresh (another sign-in may have counted meanwhile)."""
    statements(session).insert_ignoring_duplicates(session, SignInAttempt, {
        "scope": scope, "key": key, "failures": 0, "window_started_at": now, "last_failure_at": now})
    return session.execute(select(SignInAttempt).where(_attempt_is(scope, key)).with_for_update()
                           .execution_options(populate_existing=True)).scalar_one()


def forget_stale_attempts(session: Session, failed_before: datetime, now: datetime) -> None:
    """Delete up to a hundred counts whose last failure is before ``failed_before`` and that lock nothing now;
    rows another sign-in holds are skipped."""
    stale = (select(SignInAttempt.scope, SignInAttempt.key)
             .where(SignInAttempt.last_failure_at < failed_before,
                    or_(SignInAttempt.locked_until.is_(None), SignInAttempt.locked_until < now))
             .limit(100).with_for_update(skip_locked=True))
    session.execute(delete(SignInAttempt).where(tuple_(SignInAttempt.scope, SignInAttempt.key).in_(stale))
                    .execution_options(synchronize_session=False))


def forget_attempts(session: Session, scope: str, key: str) -> None:
    session.execute(delete(SignInAttempt).where(_attempt_is(scope, key)))


# -- the administrators' directory (engine.identity.directory) ------------------------------------------------

def replace_memberships(session: Session, user_id: int, groups: set[str]) -> None:
    session.execute(delete(Membership).where(Membership.user_id == user_id, Membership.group_name.not_in(groups)))
    have = group_names(session, user_id)
    for group in sorted(groups - have):
        session.add(Membership(user_id=user_id, group_name=group))
    session.flush()


def set_active(session: Session, username: str, active: bool) -> None:
    """(De)activate; a deactivated account's sessions end with it."""
    session.execute(update(UserAccount).where(UserAccount.username == username)
                    .values(active=active, session_version=UserAccount.session_version + 1))


def set_password_hash(session: Session, username: str, password_hash: str) -> None:
    session.execute(update(UserAccount).where(UserAccount.username == username)
                    .values(password_hash=password_hash, session_version=UserAccount.session_version + 1))


def active_members(session: Session, groups: frozenset[str], excluding: str | None = None) -> list[str]:
    query = (select(UserAccount.username).join(Membership, Membership.user_id == UserAccount.id)
             .where(Membership.group_name.in_(groups), UserAccount.active.is_(True)).distinct())
    if excluding is not None:
        query = query.where(UserAccount.username != excluding)
    return list(session.execute(query).scalars())


def accounts_page(session: Session, text: str | None, group: str | None, active: bool | None, offset: int,
                  limit: int) -> tuple[int, list[tuple[UserAccount, list[str]]]]:
    """Accounts by name, filtered by a part of the name or display name, a group and being active: the total
    and one page, each with its groups."""
    query = select(UserAccount)
    if text:
        pattern = f"%{text.replace('%', '').replace('_', '')}%"
        query = query.where(or_(UserAccount.username.ilike(pattern), UserAccount.display_name.ilike(pattern)))
    if group:
        query = query.where(UserAccount.id.in_(select(Membership.user_id).where(Membership.group_name == group)))
    if active is not None:
        query = query.where(UserAccount.active.is_(active))
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = list(session.execute(query.order_by(UserAccount.username).offset(offset).limit(limit)).scalars())
    memberships: dict[int, list[str]] = {r.id: [] for r in rows}
    if rows:
        for user_id, name in session.execute(select(Membership.user_id, Membership.group_name)
                                             .where(Membership.user_id.in_(list(memberships)))
                                             .order_by(Membership.group_name)):
            memberships[user_id].append(name)
    return total, [(r, memberships[r.id]) for r in rows]


def groups_with_counts(session: Session) -> list[tuple[str, str | None, int, int]]:
    """Every group: name, display name, active members, all members."""
    active = func.sum(case((UserAccount.active.is_(True), 1), else_=0))
    rows = session.execute(select(UserGroup.name, UserGroup.display_name, active, func.count(UserAccount.id))
                           .outerjoin(Membership, Membership.group_name == UserGroup.name)
                           .outerjoin(UserAccount, UserAccount.id == Membership.user_id)
                           .group_by(UserGroup.name, UserGroup.display_name).order_by(UserGroup.name))
    return [(name, label, int(on or 0), int(total or 0)) for name, label, on, total in rows]
