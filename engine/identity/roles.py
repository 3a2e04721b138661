"""Who may run the commands that are not casework: the groups behind the designer and administrator roles,
checked in the engine for every channel that names a person (pages, REST, the CLI's ``--user``)."""
from __future__ import annotations

from engine.errors import Forbidden
from engine.store import Session
from engine.store import accounts as stored

# The role each group gives on the pages (engine.casework.people.roles_of); a role's group name is the district's.
ROLE_GROUPS = {"designer": "designers", "admin": "admins", "supervisor": "district-supervision"}
ADMINS = frozenset({ROLE_GROUPS["admin"]})
DESIGNERS = frozenset({ROLE_GROUPS["designer"], ROLE_GROUPS["admin"]})  # administrators may do what designers do


def groups_of_active(session: Session, username: str) -> set[str]:
    """The groups of an active account; none for an unknown or inactive one."""
    return {group for _, group in stored.name_and_groups(session, username) if group}


def is_member(session: Session, actor: str, groups: frozenset[str]) -> bool:
    """Is ``actor`` an active account in one of ``groups``?"""
    return bool(groups_of_active(session, actor) & groups)


def require(session: Session, actor: str, groups: frozenset[str], doing: str) -> None:
    """Forbidden unless ``actor`` is an active member of one of ``groups``; ``doing`` says what was refused."""
    if not is_member(session, actor, groups):
        who = "administrators (只有系统管理员可以)" if groups == ADMINS else \
            "designers and administrators (只有流程设计人员和系统管理员可以)"
        raise Forbidden(f"'{actor}' may not {doing}: only {who} may")
