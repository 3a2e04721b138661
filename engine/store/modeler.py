"""The statements behind the browser's modeler (``engine.management.modeler``): a designer's drafts, one per
process, saved as they edit and deleted once deployed."""
from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.orm import Session

from engine.store.models import ModelerDraft, SourceDraft


def draft(session: Session, username: str, process_id: str) -> ModelerDraft | None:
    """The designer's draft of the process; None if they have none."""
    return session.get(ModelerDraft, (username, process_id))


def save_draft(session: Session, username: str, process_id: str, base_version_id: int | None, xml: str,
               now: datetime) -> None:
    """Keep the designer's draft of the process, replacing the one before (the row is locked by the write
    transaction, so two tabs saving at once leave the last one's)."""
    row = session.get(ModelerDraft, (username, process_id), with_for_update=True)
    if row is None:
        session.add(ModelerDraft(username=username, process_id=process_id, base_version_id=base_version_id, xml=xml,
                                 updated_at=now))
    else:
        row.base_version_id, row.xml, row.updated_at = base_version_id, xml, now
    session.flush()


def delete_draft(session: Session, username: str, process_id: str) -> bool:
    """Drop the designer's draft of the process (after a deployment, or when they discard it)."""
    result = cast(CursorResult, session.execute(delete(ModelerDraft).where(
        ModelerDraft.username == username, ModelerDraft.process_id == process_id)))
    return bool(result.rowcount)


def drafts_of(session: Session, username: str) -> list[ModelerDraft]:
    """The designer's drafts, the latest first (the definitions page offers them again)."""
    return list(session.execute(select(ModelerDraft).where(ModelerDraft.username == username)
                                .order_by(ModelerDraft.updated_at.desc())).scalars())


# -- the form and decision editors' drafts (table source_draft, migration 0019) ----------------------------------

def source_draft(session: Session, username: str, process_id: str, file_name: str) -> SourceDraft | None:
    """The designer's draft of one file of the process; None if they have none."""
    return session.get(SourceDraft, (username, process_id, file_name))


def save_source_draft(session: Session, username: str, process_id: str, file_name: str, base_version_id: int,
                      content: str, now: datetime) -> None:
    """Keep the designer's draft of the file, replacing the one before (locked like ``save_draft``)."""
    row = session.get(SourceDraft, (username, process_id, file_name), with_for_update=True)
    if row is None:
        session.add(SourceDraft(username=username, process_id=process_id, file_name=file_name,
                                base_version_id=base_version_id, content=content, updated_at=now))
    else:
        row.base_version_id, row.content, row.updated_at = base_version_id, content, now
    session.flush()


def delete_source_draft(session: Session, username: str, process_id: str, file_name: str) -> bool:
    """Drop the designer's draft of the file (after a deployment, or when they discard it)."""
    result = cast(CursorResult, session.execute(delete(SourceDraft).where(
        SourceDraft.username == username, SourceDraft.process_id == process_id,
        SourceDraft.file_name == file_name)))
    return bool(result.rowcount)
