"""Working-day calendars as data (engine.workdays): deployed from processes/calendars/, stored per year in the
database, loaded with `whistle calendar import`, shown with `whistle calendar show`, and shared by the server,
the workers and the command line; deadlines counted across a year that has only the statutory holidays are
provisional until the State Council's schedule is loaded. Every test runs on SQLite and PostgreSQL."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import chinese_calendar
import pytest

from cli.main import run as cli
from engine.errors import DeploymentInvalid
from engine.time import calendar_files, calendars, workdays

from conftest import FIXTURES, PROJECT
from process_helpers import Org

BEIJING = timezone(timedelta(hours=8))
CALENDARS = PROJECT / "processes" / "calendars"

# A made-up official schedule for 2027 (the real one is published in November 2026): the holidays stretched to
# a week, with make-up working days around them.
OFFICIAL_2027 = """date,kind,name
2027,official,国务院办公厅关于2027年部分节假日安排的通知（测试用）
2027-01-01,holiday,元旦
2027-01-02,holiday,元旦
2027-01-03,holiday,元旦
2027-02-05,holiday,春节
2027-02-06,holiday,春节
2027-02-07,holiday,春节
2027-02-08,holiday,春节
2027-02-09,holiday,春节
2027-02-10,holiday,春节
2027-02-11,holiday,春节
2027-02-12,holiday,春节
2027-02-20,workday,春节调休上班
2027-09-26,workday,国庆节调休上班
2027-10-01,holiday,国庆节
2027-10-02,holiday,国庆节
2027-10-03,holiday,国庆节
2027-10-04,holiday,国庆节
2027-10-05,holiday,国庆节
2027-10-06,holiday,国庆节
2027-10-07,holiday,国庆节
2027-10-09,workday,国庆节调休上班
"""


def beijing(*args) -> datetime:
    return datetime(*args, tzinfo=BEIJING)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = cli([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def official_2027(tmp_path: Path) -> Path:
    path = tmp_path / "2027-official.csv"
    path.write_text(OFFICIAL_2027, encoding="utf-8")
    return path


def by_year(rows: list[dict]) -> dict[int, dict]:
    return {row["year"]: row for row in rows}


# -- deploying, showing ---------------------------------------------------------------------------------------

def test_the_shipped_calendars_deploy_as_versioned_years_and_show_their_coverage(whistle, db_url, capsys):
    first = [d for d in whistle.deploy([CALENDARS]) if d.kind == "calendar"]
    assert [(d.key, d.version, d.status, d.name) for d in first] == [
        ("2026", 1, "new", "official"), ("2027", 1, "new", "statutory only"), ("2028", 1, "new", "statutory only"),
        ("2029", 1, "new", "statutory only"), ("2030", 1, "new", "statutory only")]
    # Administrators hear about the coming year (the clock says 28 September 2026), not yet about 2028–2030.
    [warning] = [w for d in first for w in d.warnings]
    assert warning["file"].endswith("calendars/2027.csv") and warning["line"] == 2
    assert "2027 has only the statutory holidays" in warning["message"] and "whistle calendar import" in \
        warning["message"]
    assert {d.status for d in whistle.deploy([CALENDARS])} == {"unchanged"}

    shown = by_year(whistle.calendar_show())
    assert list(shown) == [2026, 2027, 2028, 2029, 2030]
    assert (shown[2026]["status"], shown[2026]["origin"], shown[2026]["version"]) == ("official", "database", 1)
    assert (shown[2026]["holidays"], shown[2026]["workdays"]) == (33, 6)
    assert {shown[y]["status"] for y in range(2027, 2031)} == {"statutory only"}
    assert shown[2027]["source"].startswith("《全国年节及纪念日放假办法》")
    [unknown] = whistle.calendar_show(2031)
    assert (unknown["status"], unknown["origin"], unknown["holidays"]) == ("none", None, 0)
    assert [n["year"] for n in whistle.calendar_notices()] == [2027]

    code, out, _ = run_cli(capsys, "--db", db_url, "calendar", "show", "--json")
    assert code == 0 and by_year(json.loads(out)) == shown
    code, out, _ = run_cli(capsys, "--db", db_url, "calendar", "show")
    assert code == 0 and "2027  statutory only" in out and "warning: 2027 is statutory only" in out
    assert "warning: 2029" not in out


def test_calendar_loads_are_audited(whistle):
    whistle.deploy([CALENDARS])
    from sqlalchemy import select

    from engine.store.models import AuditEvent

    with whistle.db.read() as session:
        loaded = [json.loads(e.details) for e in session.execute(
            select(AuditEvent).where(AuditEvent.event_type == "calendar_loaded").order_by(AuditEvent.id)).scalars()]
    assert [(e["year"], e["version"], e["status"], e["via"]) for e in loaded] == [
        (2026, 1, "official", "deploy"), (2027, 1, "statutory only", "deploy"), (2028, 1, "statutory only", "deploy"),
        (2029, 1, "statutory only", "deploy"), (2030, 1, "statutory only", "deploy")]
    assert whistle.verify_audit().ok


def test_a_bad_line_stops_the_deployment_with_file_and_line(whistle, tmp_path):
    folder = tmp_path / "processes" / "calendars"
    folder.mkdir(parents=True)
    bad = folder / "2031.csv"
    bad.write_text("date,kind,name\n2031,statutory only,法定\n2031-01-01,holiday,元旦\n2031-13-01,holiday,x\n"
                   "2031-01-06,workday,调休\n2031-01-01,holiday,again\n2031-02-01,free,x\n2031,maybe,x\n",
                   encoding="utf-8")
    (folder / "2031-again.csv").write_text("date,kind,name\n2031-05-01,holiday,劳动节\n", encoding="utf-8")
    (folder / "columns.csv").write_text("day,type\n2032-01-01,holiday\n", encoding="utf-8")
    with pytest.raises(DeploymentInvalid) as caught:
        whistle.deploy([tmp_path / "processes"])
    problems = {(Path(p.file).name, p.line): p.message for p in caught.value.problems}
    assert "'2031-13-01' is not a date" in problems[("2031.csv", 4)]
    assert "2031-01-06 is a Monday, a working day anyway" in problems[("2031.csv", 5)]
    assert "2031-01-01 is already given on line 3" in problems[("2031.csv", 6)]
    assert "kind 'free' of 2031-02-01: write holiday" in problems[("2031.csv", 7)]
    assert "official" in problems[("2031.csv", 8)] and "statutory only" in problems[("2031.csv", 8)]
    assert "the first line names the columns date,kind,name" in problems[("columns.csv", 1)]
    assert all(message.startswith("calendar: ") for message in problems.values())
    assert whistle.calendar_show(2031)[0]["status"] == "none"  # nothing was stored
    # One year in two files of one deployment is refused too.
    bad.write_text("date,kind,name\n2031-01-01,holiday,元旦\n", encoding="utf-8")
    (folder / "columns.csv").unlink()
    with pytest.raises(DeploymentInvalid) as caught:
        whistle.deploy([tmp_path / "processes"])
    [twice] = caught.value.problems
    assert "2031 is also given by" in twice.message and twice.line == 2


# -- deadlines across 元旦, 春节 and 国庆 2027 ---------------------------------------------------------------------

def start_case(whistle, manual_clock, when: datetime) -> dict:
    manual_clock.set(when)
    instance = whistle.start("sandbox_deadline", data={"items": [{"kind": "噪音"}]})
    [task] = whistle.show(instance)["open_tasks"]
    return task


def test_deadlines_across_2027_follow_the_statutory_days_and_are_provisional_until_the_schedule_is_imported(
        whistle, manual_clock, tmp_path, capsys, db_url):
    whistle.deploy([CALENDARS, FIXTURES / "sandbox_deadline.bpmn"])  # deadline = iso(working_days(3))
    whistle.add_user("dept-clerk", ["dept-a"])
    # 元旦: from Wednesday 30 December 2026, 31 December, then (1 January off) Monday 4 and Tuesday 5 January.
    new_year = start_case(whistle, manual_clock, beijing(2026, 12, 30, 10, 0))
    assert at(new_year["due_at"]) == beijing(2027, 1, 5, 10, 0) and new_year["due_provisional"] is True
    # 春节: 除夕 to 初三 (5–8 February) and two days in lieu of the weekend (9, 10): 11, 12 and 15 February.
    spring = start_case(whistle, manual_clock, beijing(2027, 2, 4, 10, 0))
    assert at(spring["due_at"]) == beijing(2027, 2, 15, 10, 0) and spring["due_provisional"] is True
    # 国庆: 1–3 October and two days in lieu (4, 5): 6, 7 and 8 October.
    national = start_case(whistle, manual_clock, beijing(2027, 9, 30, 10, 0))
    assert at(national["due_at"]) == beijing(2027, 10, 8, 10, 0) and national["due_provisional"] is True
    # A deadline within 2026 is exact; the inbox says the same as the case.
    manual_clock.set(beijing(2026, 9, 28, 17, 0))
    exact = start_case(whistle, manual_clock, beijing(2026, 9, 28, 17, 0))
    assert at(exact["due_at"]) == beijing(2026, 10, 8, 17, 0) and exact["due_provisional"] is False
    inbox = {t["task_id"]: t["due_provisional"] for t in whistle.tasks("dept-clerk")}
    assert inbox == {new_year["task_id"]: True, spring["task_id"]: True, national["task_id"]: True,
                     exact["task_id"]: False}

    # The State Council's schedule arrives, through the command line.
    code, out, _ = run_cli(capsys, "--db", db_url, "calendar", "import", official_2027(tmp_path), "--user", "admin")
    assert code == 0, out
    assert "2027: official, 18 holidays and 3 make-up working days — loaded as version 2" in out
    assert "3 open tasks have deadlines set across 2027 before this schedule" in out
    year = by_year(whistle.calendar_show())[2027]
    assert (year["status"], year["version"], year["origin"], year["loaded_by"], year["loaded_via"]) == (
        "official", 2, "database", "admin", "import")
    # New deadlines follow it: from 30 September, 1–7 October off, Friday 8, Saturday 9 (worked) and Monday 11.
    after = start_case(whistle, manual_clock, beijing(2027, 9, 30, 10, 0))
    assert at(after["due_at"]) == beijing(2027, 10, 11, 10, 0) and after["due_provisional"] is False
    # Deadlines set before keep their dates; with the year official they are no longer marked provisional.
    kept = {t["task_id"]: t for t in whistle.tasks("dept-clerk")}
    assert at(kept[national["task_id"]]["due_at"]) == beijing(2027, 10, 8, 10, 0)
    assert not any(t["due_provisional"] for t in kept.values())
    assert [n["year"] for n in whistle.calendar_notices()] == [2028]  # in September 2027, next year is the news


def test_a_deployment_never_replaces_an_imported_official_schedule(whistle, tmp_path):
    whistle.deploy([CALENDARS])
    [loaded] = whistle.calendar_import(official_2027(tmp_path))
    assert (loaded["year"], loaded["version"], loaded["result"], loaded["warnings"]) == (2027, 2, "new", [])
    assert whistle.calendar_import(official_2027(tmp_path))[0]["result"] == "unchanged"
    redeployed = {d.key: (d.version, d.status, d.name) for d in whistle.deploy([CALENDARS])}
    assert redeployed["2027"] == (2, "unchanged", "official")  # the shipped statutory file is not loaded over it
    assert by_year(whistle.calendar_show())[2027]["status"] == "official"
    assert workdays.is_working_day(date(2027, 10, 9))  # the imported make-up Saturday


def test_import_refuses_a_bad_or_missing_file(whistle, tmp_path, capsys, db_url):
    code, _, err = run_cli(capsys, "--db", db_url, "calendar", "import", tmp_path / "nowhere.csv")
    assert code == 4 and "nowhere.csv" in err
    bad = tmp_path / "bad.csv"
    bad.write_text("date,kind,name\n2027-10-01,holiday,国庆节\n2027-10-04,workday,调休\n", encoding="utf-8")
    code, out, err = run_cli(capsys, "--db", db_url, "calendar", "import", bad)
    assert code == 1 and "nothing was loaded" in err and f"{bad}:3: calendar: 2027-10-04 is a Monday" in err
    assert whistle.calendar_show(2027)[0]["status"] == "none"


# -- one calendar for the server, the workers and the command line -------------------------------------------

DEADLINE_AFTER_TIMER = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs" targetNamespace="http://example">
  <bpmn:process id="deadline_after_timer" name="计时后定时限" isExecutable="true">
    <bpmn:startEvent id="start" name="受理"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
    <bpmn:intermediateCatchEvent id="wait" name="等一分钟">
      <bpmn:timerEventDefinition><bpmn:timeDuration>PT1M</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="compute"/>
    <bpmn:scriptTask id="compute" name="计算时限"><bpmn:script>deadline = iso(working_days(3))</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f3" sourceRef="compute" targetRef="reply"/>
    <bpmn:userTask id="reply" name="答复" camunda:candidateGroups="dept-a" camunda:dueDate="${deadline}"/>
    <bpmn:sequenceFlow id="f4" sourceRef="reply" targetRef="end"/>
    <bpmn:endEvent id="end" name="办结"/>
  </bpmn:process>
</bpmn:definitions>
"""


def other_process(db_url: str, *args, mode: str = "test") -> subprocess.CompletedProcess:
    """A separate `whistle` process on the same database (a worker on another machine, say)."""
    env = {**os.environ, "WHISTLE_MODE": mode}
    return subprocess.run([sys.executable, "-m", "cli", "--db", db_url, *map(str, args)], cwd=PROJECT,
                          env=env, capture_output=True, text=True, timeout=120)


def test_a_worker_in_another_process_counts_with_the_calendar_imported_here(whistle, db_url, manual_clock,
                                                                              monkeypatch, tmp_path):
    path = tmp_path / "deadline_after_timer.bpmn"
    path.write_text(DEADLINE_AFTER_TIMER, encoding="utf-8")
    whistle.deploy([CALENDARS, path])
    monkeypatch.setenv("WHISTLE_MODE", "test")  # the shared clock: the other process reads its shift

    def fired_elsewhere() -> dict:
        """Start a case at 10:00 on 30 September 2027; the worker process fires its timer at 10:02."""
        manual_clock.set(beijing(2027, 9, 30, 10, 0))
        instance = whistle.start("deadline_after_timer")
        whistle.clock_set(beijing(2027, 9, 30, 10, 2).isoformat())
        result = other_process(db_url, "worker", "--once", "--json")
        assert result.returncode == 0 and json.loads(result.stdout)["fired"] == 1, result.stderr
        [task] = whistle.show(instance)["open_tasks"]
        return task

    before = fired_elsewhere()
    assert at(before["due_at"]).date() == date(2027, 10, 8) and before["due_provisional"] is True  # statutory
    whistle.calendar_import(official_2027(tmp_path))
    after = fired_elsewhere()
    assert at(after["due_at"]).date() == date(2027, 10, 11) and after["due_provisional"] is False  # the schedule
    shown = other_process(db_url, "calendar", "show", "--year", "2027", "--json")
    assert json.loads(shown.stdout)[0]["status"] == "official"


def test_an_import_by_another_process_reaches_this_one_at_its_next_check(whistle, db_url, manual_clock, tmp_path):
    whistle.deploy([CALENDARS])
    manual_clock.set(beijing(2027, 9, 30, 10, 0))
    assert calendars.year_status(2027) == "statutory only"  # read and kept in memory
    assert workdays.add_working_days(date(2027, 9, 30), 1) == date(2027, 10, 6)
    result = other_process(db_url, "calendar", "import", official_2027(tmp_path), mode="production")
    assert result.returncode == 0, result.stderr
    manual_clock.advance(timedelta(seconds=2))  # past the check interval: the number of versions has changed
    assert calendars.year_status(2027) == "official"
    assert workdays.add_working_days(date(2027, 9, 30), 1) == date(2027, 10, 8)


# -- the whistle's working-day tiers -------------------------------------------------------------------------

def report_and_whistle(org: Org, situation: str = "building-repair-no-property") -> int:
    reporter = org.person("grid-worker-wudadao")
    case = org.w.start("whistle", data={"street": "wudadao", "community": "sanshengli", "situation": situation,
                                        "location": "睦南道12号", "description": "楼道消防设施损坏", "photos": [],
                                        "reporter": reporter}, user=reporter)
    org.do("command-wudadao", "指挥中心审核", {"decision": "whistle"}, case)
    return case


def test_a_blue_whistle_on_29_september_is_due_on_site_on_12_october(whistle, manual_clock):
    manual_clock.set(beijing(2026, 9, 29, 10, 0))
    org = Org(whistle)  # the processes with their calendars
    case = report_and_whistle(org)  # blue: sign within 1 working day, on site within 5, reminded after 4
    [sign] = org.open("liaison-housing", "签收哨令", case)
    [on_site] = org.open("liaison-housing", "到场报到", case)
    assert at(sign["due_at"]) == beijing(2026, 9, 30, 10, 0)
    # 30 September, 8 and 9 October, Saturday 10 (a make-up working day) and Monday 12 — not Sunday 4 October.
    assert at(on_site["due_at"]) == beijing(2026, 10, 12, 10, 0) and on_site["due_provisional"] is False
    timers = {t["element_id"]: at(t["due_at"]) for t in whistle.show(case)["timers"]}
    assert timers["remind_timer"] == beijing(2026, 10, 10, 10, 0) and timers["onsite_timer"] == beijing(2026, 10, 12,
                                                                                                       10, 0)
    manual_clock.set(beijing(2026, 10, 4, 10, 1))  # where five calendar days used to end
    whistle.fire_due_jobs()
    assert org.open("supervisor", "区委督查室督办") == []
    manual_clock.set(beijing(2026, 10, 12, 10, 1))
    whistle.fire_due_jobs()
    assert len(org.open("supervisor", "区委督查室督办", case)) == 1


def test_a_whistle_across_national_day_2027_is_provisional_in_the_inbox_and_the_case(whistle, manual_clock):
    manual_clock.set(beijing(2027, 9, 29, 10, 0))
    org = Org(whistle)
    case = report_and_whistle(org)
    [on_site] = org.open("liaison-housing", "到场报到", case)
    # 30 September; 1–5 October off by law (two days in lieu of the weekend); 6, 7, 8 and Monday 11.
    assert at(on_site["due_at"]) == beijing(2027, 10, 11, 10, 0) and on_site["due_provisional"] is True
    shown = {t["name"]: t["due_provisional"] for t in whistle.show(case)["open_tasks"]}
    assert shown == {"签收哨令": True, "到场报到": True}  # a day counted in 2027 is a day the schedule may move


# -- the holidays the law fixes ------------------------------------------------------------------------------

def test_the_statutory_years_are_the_laws_holidays_computed_with_the_lunar_calendar(capsys):
    # The shipped files are what `whistle calendar statutory` prints (no database needed).
    code, out, _ = run_cli(capsys, "calendar", "statutory", 2027, 2028)
    assert code == 0
    assert out == (CALENDARS / "2027.csv").read_text(encoding="utf-8") + \
        (CALENDARS / "2028.csv").read_text(encoding="utf-8").split("\n", 1)[1]
    for year in (2029, 2030):
        schedule = calendar_files.statutory_schedule(year)
        assert calendar_files.format_calendar([schedule]) == (CALENDARS / f"{year}.csv").read_text(encoding="utf-8")
    # The 2024 revision: 春节 is 除夕 to 初三 (four days), 劳动节 two; 清明 is the solar term.
    days = calendar_files.statutory_schedule(2027).days
    assert [d for d, (_, name) in sorted(days.items()) if name == "春节"] == [date(2027, 2, d) for d in (5, 6, 7, 8)]
    assert [d for d, (_, name) in sorted(days.items()) if name == "劳动节"] == [date(2027, 5, 1), date(2027, 5, 2)]
    assert days[date(2027, 4, 5)] == ("holiday", "清明节")
    # A holiday on a weekend, or on another holiday (中秋 on 3 October 2028), gives a weekday off after it.
    later = calendar_files.statutory_schedule(2028).days
    assert later[date(2028, 1, 3)] == ("holiday", "元旦（补假）")
    assert later[date(2028, 10, 3)] == ("holiday", "国庆节、中秋节")
    assert later[date(2028, 10, 4)][1] == "国庆节（补假）" and later[date(2028, 10, 5)][1] == "中秋节（补假）"
    # Checked against the years whose official schedule is known: every statutory day off was a day off.
    for year in (2025, 2026):
        for day in calendar_files.statutory_schedule(year).days:
            assert not chinese_calendar.is_workday(day), day
