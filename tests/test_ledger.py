"""The accountability ledger (issue 11, item 2): obligations recorded from the tasks in the step's transaction;
lateness is the completion time against the due time, whatever the timers did; late signing is recorded; an
obligation open past its due time at a cut-off is overdue; the ledger only grows and the audit chain names it.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine.audit import ledger
from engine.errors import InvalidInput
from engine.store.models import LedgerEntry
from engine.time import clock

from process_helpers import Org

pytestmark = pytest.mark.cold_warm


@pytest.fixture
def org(whistle) -> Org:
    return Org(whistle)


def red_whistle(org: Org) -> int:
    reporter = org.person("grid-worker-wudadao")
    case = org.w.start("whistle", user=reporter, data={
        "situation": "building-repair-no-property", "location": "睦南道12号", "description": "消防设施失修，楼道堆物",
        "resident": "resident-a"})
    org.do("command-wudadao", "指挥中心审核", {"decision": "whistle", "tier_override": "red"}, case)
    return case


def states(org: Org, case: int) -> dict:
    """(party, kind) → the obligation's state now."""
    with org.w.db.read() as session:
        return {(o.party, o.kind): o.state for o in ledger.obligations(session, clock.now(), instance_ids=[case])}


def test_lateness_is_decided_by_when_the_department_reported_not_by_when_the_timer_ran(org, manual_clock):
    case = red_whistle(org)
    manual_clock.advance(timedelta(minutes=40))  # both are late; the worker is behind and has fired nothing
    for dept in ("housing", "fire"):
        org.do(f"liaison-{dept}", "签收哨令", {}, case)
        org.do(f"liaison-{dept}", "到场报到", {"acted": True, "action": "迟到后到场"}, case)
    org.w.fire_due_jobs()  # the timers catch up afterwards
    found = states(org, case)
    assert found[("dept-housing", "on_site")] == found[("dept-fire", "on_site")] == ledger.DONE_LATE
    assert found[("dept-housing", "sign")] == found[("dept-fire", "sign")] == ledger.DONE_LATE


def test_late_signing_is_recorded(org, manual_clock):
    case = red_whistle(org)  # sign within 15 minutes, on site within 30
    manual_clock.advance(timedelta(minutes=20))
    org.do("liaison-fire", "签收哨令", {}, case)
    org.do("liaison-fire", "到场报到", {"acted": True, "action": "到场"}, case)
    org.do("liaison-housing", "签收哨令", {}, case)
    manual_clock.advance(timedelta(minutes=5))
    org.do("liaison-housing", "到场报到", {"acted": True, "action": "到场"}, case)
    found = states(org, case)
    assert found[("dept-fire", "sign")] == ledger.DONE_LATE and found[("dept-fire", "on_site")] == ledger.DONE_ON_TIME
    assert found[("dept-housing", "sign")] == ledger.DONE_LATE
    with org.w.db.read() as session:
        [done] = [o for o in ledger.obligations(session, clock.now(), instance_ids=[case])
                  if (o.party, o.kind) == ("dept-fire", "on_site")]
    assert (done.done_by, done.detail["acted"]) == ("liaison-fire", True)


def test_an_obligation_open_past_its_due_time_is_overdue_at_the_cut_off(org, manual_clock):
    case = red_whistle(org)
    org.do("liaison-housing", "签收哨令", {}, case)
    org.do("liaison-housing", "到场报到", {"acted": True, "action": "到场"}, case)
    assert states(org, case)[("dept-fire", "on_site")] == ledger.OPEN  # not yet due
    manual_clock.advance(timedelta(minutes=31))
    org.w.fire_due_jobs()
    found = states(org, case)
    assert found[("dept-fire", "on_site")] == ledger.OVERDUE and found[("dept-fire", "sign")] == ledger.OVERDUE
    assert found[("dept-housing", "on_site")] == ledger.DONE_ON_TIME
    assert org.w.show(case)["status"] == "running"  # still open: the evaluation counts it anyway


def test_no_submission_writes_the_ledger_and_it_only_grows(org, manual_clock):
    case = red_whistle(org)
    [sign] = org.open("liaison-fire", "签收哨令", case)
    with pytest.raises(InvalidInput, match="ledger"):
        org.w.complete(sign["task_id"], "liaison-fire", {"ledger": {"overdue": []}})
    counts = []
    for dept in ("housing", "fire"):
        org.do(f"liaison-{dept}", "签收哨令", {}, case)
        with org.w.db.read() as session:
            counts.append(session.execute(select(func.count()).select_from(LedgerEntry)).scalar())
    assert counts[0] < counts[1]
    # The audit chain names each obligation where it was assigned.
    created = [e for e in org.w.show(case)["audit"] if e["event"] == "task_created" and "obligation" in e["details"]]
    assert {(e["details"]["party"], e["details"]["obligation"]) for e in created} >= {
        ("dept-housing", "sign"), ("dept-housing", "on_site"), ("dept-fire", "sign"), ("dept-fire", "on_site")}
