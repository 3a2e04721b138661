"""Who the screens show and who may see which case.

Authorization lives here, not in templates: a user sees a case if they started it, are or were the assignee,
completer or a candidate (user, or member of a candidate group) of one of its tasks, or belong to a group that
sees everything (admins, district supervision).
"""
from __future__ import annotations

import time
from collections.abc import Iterable

from engine.errors import Forbidden, NotFound
from engine.identity.accounts import find_user, groups_of
from engine.identity.roles import ROLE_GROUPS
from engine.store import Session
from engine.store import accounts as stored_accounts
from engine.store import casework as stored
from engine.store.db import Database
from engine.store.models import ProcessInstance, UserAccount

SEE_ALL_GROUPS = frozenset({"admins", "district-supervision", "org-dept"})  # the district (audiences)
GROUP_LABELS_SECONDS = 60  # how long group display names are kept (they change with an accounts import)


def see_all_groups() -> frozenset:
    """Groups whose members may read every case (administrators, district supervision, the organisation
    department, which assesses the departments by the cases behind the dashboards' numbers)."""
    return SEE_ALL_GROUPS


def roles_of(groups: Iterable[str]) -> list[str]:
    """The roles the pages know a user by (staff, designer, admin, supervisor), from their groups."""
    groups = set(groups)
    return ["staff"] + [role for role, group in ROLE_GROUPS.items() if group in groups]


def account_groups(session: Session, user: str) -> set[str]:
    """The groups of an active account; NotFound for an unknown or inactive one."""
    return groups_of(session, find_user(session, user))


class People:
    """Accounts as the screens show them, and the visibility of cases."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._group_labels: tuple[float, dict[str, str]] | None = None

    def user_info(self, username: str) -> dict | None:
        """Name, groups and roles of an active user (None when unknown or deactivated)."""
        with self.db.read() as session:
            account = stored_accounts.account_named(session, username)
            if account is None or not account.active:
                return None
            return _user_info(session, account)

    def group_labels(self) -> dict[str, str]:
        """Display names of groups (``dept-police`` → 公安和平分局联络员…), refreshed every minute."""
        cached = self._group_labels
        if cached and cached[0] > time.monotonic():
            return cached[1]
        with self.db.read() as session:
            labels = stored_accounts.group_labels(session)
        self._group_labels = (time.monotonic() + GROUP_LABELS_SECONDS, labels)
        return labels

    def user_labels(self, usernames: Iterable[str | None]) -> dict[str, str]:
        """Display names of these users (a name without an account stands for itself)."""
        names = sorted({u for u in usernames if u})
        if not names:
            return {}
        with self.db.read() as session:
            found = stored_accounts.display_names(session, names)
        return {name: found.get(name, name) for name in names}

    def can_see_instance(self, user: str, instance_id: int) -> bool:
        """May ``user`` read this case? Yes if they started it, are or were the assignee, completer or a
        candidate (user or group) of one of its tasks, or belong to ``SEE_ALL_GROUPS``. NotFound when there
        is no such case; False for an unknown or inactive user."""
        with self.db.read() as session:
            instance = session.get(ProcessInstance, instance_id)
            if instance is None:
                raise NotFound(f"no instance {instance_id}")
            account = stored_accounts.account_named(session, user)
            if account is None or not account.active:
                return False
            groups = groups_of(session, account)
            if instance.started_by == user or groups & see_all_groups():
                return True
            return stored.involved_in(session, instance_id, user, groups)

    def require_case(self, user: str, instance_id: int) -> None:
        """NotFound if there is no such case, Forbidden if the user may not see it."""
        if not self.can_see_instance(user, instance_id):
            raise Forbidden(f"{user} may not see case {instance_id}")


def _user_info(session: Session, account: UserAccount) -> dict:
    groups = sorted(groups_of(session, account))
    return {"username": account.username, "display_name": account.display_name or account.username,
            "groups": groups, "roles": roles_of(groups)}
