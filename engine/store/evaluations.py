"""What the evaluation pages read (``engine.casework.evaluations``): the cases of the evaluation process, newest
first, with their data (the year, the figures, the scores, the results and the appeals)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.store.models import ProcessInstance


def evaluation_cases(session: Session, process_id: str = "evaluation") -> list[tuple[int, str, Any, datetime]]:
    """(id, status, data, started_at) of every case of the evaluation process that is not terminated, newest
    first; the year is in the data (an evaluation is few rows a year, read whole)."""
    rows = session.execute(select(ProcessInstance.id, ProcessInstance.status, ProcessInstance.data,
                                  ProcessInstance.started_at)
                           .where(ProcessInstance.process_id == process_id, ProcessInstance.status != "terminated")
                           .order_by(ProcessInstance.id.desc())).all()
    return [(i, status, data, started) for i, status, data, started in rows]
