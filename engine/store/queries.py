"""The statements behind the read models of ``engine.queries`` (what the pages and the REST API show)."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.store.models import DefinitionVersion, Membership, ProcessInstance, UserAccount


def group_names_of(session: Session, username: str) -> set[str]:
    """The groups of the account named ``username`` (none for an unknown name), active or not."""
    return set(session.execute(select(Membership.group_name)
                               .join(UserAccount, UserAccount.id == Membership.user_id)
                               .where(UserAccount.username == username)).scalars())


def instance_version_id(session: Session, instance_id: int) -> int | None:
    """The id of the definition version an instance runs on; None for an unknown instance."""
    return session.execute(select(ProcessInstance.version_id)
                           .where(ProcessInstance.id == instance_id)).scalar()


def version_ids(session: Session) -> dict[tuple[str, int], int]:
    """Every deployed definition version's id by its key and version number."""
    rows = session.execute(select(DefinitionVersion.key, DefinitionVersion.version, DefinitionVersion.id))
    return {(key, version): version_id for key, version, version_id in rows}
