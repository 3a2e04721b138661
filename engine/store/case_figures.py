"""What the figures services read (``engine.scripting.assessment``, ``engine.scripting.analysis``): the
organisation as the account groups name it, and the cases of a process started in a period."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.store.models import ProcessInstance, UserGroup


def group_names(session: Session) -> list[str]:
    """The name of every account group (departments, streets' command centres, party committees…)."""
    return list(session.execute(select(UserGroup.name)).scalars().all())


def cases_started(session: Session, process_id: str, start: datetime, end: datetime) -> list[tuple[int, Any, str]]:
    """(id, data, status) of every instance of ``process_id`` started in [``start``, ``end``), oldest first."""
    rows = session.execute(select(ProcessInstance.id, ProcessInstance.data, ProcessInstance.status)
                           .where(ProcessInstance.process_id == process_id, ProcessInstance.started_at >= start,
                                  ProcessInstance.started_at < end).order_by(ProcessInstance.id)).all()
    return [(instance_id, data, status) for instance_id, data, status in rows]
