"""Working days on the Chinese official calendar, and the date/duration helpers designers use.

The calendar is data in the database (engine.workdays; deployment and import in tests/test_calendars.py): the
counting tests deploy the shipped processes/calendars/ and count through the helpers scripts use."""
from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta, timezone

import chinese_calendar
import pytest

from engine.scripting import helpers
from engine.scripting.sandbox import SandboxEnvironment
from engine.time import calendar_files, workdays
from engine.time import calendars as loaded_calendars
from engine.time.workdays import (
    add_working_days,
    is_working_day,
    next_working_day,
    working_days,
    working_days_at,
    working_days_between,
)

from conftest import PROJECT

BEIJING = timezone(timedelta(hours=8))
CALENDARS = PROJECT / "processes" / "calendars"


def beijing(*args) -> datetime:
    return datetime(*args, tzinfo=BEIJING)


@pytest.fixture(autouse=True)
def default_zone(monkeypatch):
    monkeypatch.delenv("WHISTLE_TIMEZONE", raising=False)


@pytest.fixture
def calendars(whistle):
    """The shipped calendars (2026 official, 2027–2030 statutory only), deployed to the test database."""
    whistle.deploy([CALENDARS])
    return whistle


# -- the 2026 National Day / Mid-Autumn schedule, as shipped in processes/calendars/2026.csv -----------------

def test_the_shipped_2026_is_the_official_schedule_of_the_package():
    """processes/calendars/2026.csv was generated from chinesecalendar 1.11.0: the same days, the same status."""
    schedules, problems = calendar_files.parse_calendar("2026.csv", (CALENDARS / "2026.csv").read_text(encoding="utf-8"))
    assert problems == [] and [(s.year, s.status) for s in schedules] == [(2026, "official")]
    days = schedules[0].days
    day = date(2026, 1, 1)
    while day.year == 2026:
        official = chinese_calendar.is_workday(day)
        assert (days[day][0] == "workday" if day in days else day.weekday() < 5) == official, day
        day += timedelta(days=1)
    makeup = sorted(d for d, (kind, _) in days.items() if kind == "workday")
    assert date(2026, 9, 20) in makeup and date(2026, 10, 10) in makeup  # Sunday 20 September, Saturday 10 October


def test_national_day_and_mid_autumn_2026(calendars):
    for day in range(1, 8):  # 1–7 October: National Day holiday
        assert not is_working_day(date(2026, 10, day))
        assert workdays.holiday_name(date(2026, 10, day)) == "国庆节"
    assert is_working_day(date(2026, 10, 8))  # Thursday, back at work
    for day in (25, 26, 27):  # Mid-Autumn Festival, Friday to Sunday
        assert not is_working_day(date(2026, 9, day))
        assert workdays.holiday_name(date(2026, 9, day)) == "中秋节"
    assert is_working_day(date(2026, 9, 20))  # a Sunday worked in exchange
    assert is_working_day(date(2026, 10, 10))  # a Saturday worked in exchange
    assert not is_working_day(date(2026, 10, 11))  # an ordinary Sunday
    assert workdays.holiday_name(date(2026, 10, 11)) is None
    assert is_working_day("2026-09-30") and not is_working_day(datetime(2026, 10, 1, 9, 0))
    assert loaded_calendars.year_status(2026) == "official" and loaded_calendars.year_calendar(2026).origin == "database"


def test_counting_across_the_holiday(calendars):
    assert add_working_days(date(2026, 9, 30), 1) == date(2026, 10, 8)
    assert add_working_days(date(2026, 9, 28), 3) == date(2026, 10, 8)
    assert add_working_days(date(2026, 10, 9), 1) == date(2026, 10, 10)  # the make-up Saturday counts
    assert add_working_days(date(2026, 10, 9), 2) == date(2026, 10, 12)
    assert add_working_days(date(2026, 10, 8), -1) == date(2026, 9, 30)
    assert add_working_days(date(2026, 10, 3), 0) == date(2026, 10, 3)
    assert working_days_between(date(2026, 9, 30), date(2026, 10, 10)) == 3
    assert working_days_between(date(2026, 10, 10), date(2026, 9, 30)) == -3
    assert next_working_day(date(2026, 9, 30)) == date(2026, 10, 8)
    assert next_working_day(beijing(2026, 10, 9, 15, 30)) == beijing(2026, 10, 10, 15, 30)


def test_working_days_keeps_the_time_of_day(calendars, manual_clock):
    manual_clock.set(beijing(2026, 9, 30, 10, 15))
    due = working_days(1)
    assert due == beijing(2026, 10, 8, 10, 15)
    assert due.tzinfo.key == "Asia/Shanghai"
    assert working_days(5) == beijing(2026, 10, 13, 10, 15)  # 8, 9, 10 (Saturday, worked), 12, 13
    assert working_days(2, start=beijing(2026, 10, 9, 8, 0)) == beijing(2026, 10, 12, 8, 0)


def test_working_days_at_across_a_weekend(calendars, manual_clock):
    manual_clock.set(beijing(2026, 10, 16, 15, 0))  # Friday afternoon
    assert working_days_at(1, "17:30") == beijing(2026, 10, 19, 17, 30)  # Monday
    assert working_days_at(5, "17:30") == beijing(2026, 10, 23, 17, 30)
    assert working_days_at(0, "09:00") == beijing(2026, 10, 16, 9, 0)
    assert working_days_at(1, time(8, 45)) == beijing(2026, 10, 19, 8, 45)
    assert working_days(1) == beijing(2026, 10, 19, 15, 0)


def test_dates_are_taken_in_the_deployment_time_zone(calendars, manual_clock):
    # 20:00 UTC on 30 September is already 04:00 on 1 October in Beijing: a holiday.
    manual_clock.set(datetime(2026, 9, 30, 20, 0, tzinfo=UTC))
    assert helpers.today() == date(2026, 10, 1)
    assert not is_working_day(helpers.now())
    assert working_days(1) == beijing(2026, 10, 8, 4, 0)


def test_the_time_zone_is_configurable(monkeypatch, manual_clock):
    manual_clock.set(datetime(2026, 9, 30, 20, 0, tzinfo=UTC))
    monkeypatch.setenv("WHISTLE_TIMEZONE", "Europe/Berlin")
    assert helpers.now().isoformat() == "2026-09-30T22:00:00+02:00"
    assert helpers.today() == date(2026, 9, 30)
    monkeypatch.setenv("WHISTLE_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ValueError, match="WHISTLE_TIMEZONE='Mars/Olympus'"):
        helpers.now()


def test_without_calendars_in_the_database_the_package_still_knows_2026(whistle):
    assert whistle.calendar_show(2026)[0]["origin"].startswith("chinesecalendar")
    assert workdays.is_known_year(2026) and not is_working_day(date(2026, 10, 5))
    assert workdays.holiday_name(date(2026, 10, 5)) == "国庆节"  # the package's English name, as files name it


def test_a_year_nobody_knows_counts_weekdays_is_provisional_and_is_logged(caplog):
    assert not workdays.is_known_year(2150) and loaded_calendars.year_status(2150) == "none"
    with caplog.at_level(logging.WARNING, logger="engine.time.workdays"):
        assert is_working_day(date(2150, 1, 2))  # a Friday
        assert not is_working_day(date(2150, 1, 3))  # a Saturday
    assert "no working-day calendar for 2150" in caplog.text  # once per year and process
    assert workdays.is_provisional(beijing(2149, 12, 30, 9, 0), beijing(2150, 1, 5, 9, 0))


def test_provisional_means_counted_across_a_year_without_the_official_schedule(calendars):
    assert not workdays.is_provisional(beijing(2026, 9, 28, 17, 0), beijing(2026, 10, 10, 17, 0))
    assert workdays.is_provisional(beijing(2026, 12, 28, 17, 0), beijing(2027, 1, 4, 17, 0))  # into 2027
    assert workdays.is_provisional(beijing(2027, 3, 1, 9, 0), beijing(2027, 3, 2, 9, 0))
    # Within one day nothing is counted: a 30-minute deadline in 2027 is not provisional.
    assert not workdays.is_provisional(beijing(2027, 3, 1, 9, 0), beijing(2027, 3, 1, 9, 30))
    assert not workdays.is_provisional(None, beijing(2027, 3, 1, 9, 30))
    # Ending on New Year's Eve counts no day of 2027.
    assert not workdays.is_provisional(beijing(2026, 12, 28, 9, 0), beijing(2026, 12, 31, 23, 0))


def test_bad_arguments_are_clear():
    with pytest.raises(TypeError, match="whole number"):
        add_working_days(date(2026, 1, 5), 1.5)
    with pytest.raises(ValueError, match="at most 3660 working days"):
        add_working_days(date(2026, 1, 5), 10**9)
    with pytest.raises(ValueError, match="not a time of day"):
        working_days_at(1, "half past five")
    with pytest.raises(ValueError, match="not an ISO date"):
        is_working_day("next tuesday")


# -- the other date helpers -----------------------------------------------------------------------------------

def test_durations():
    assert helpers.duration("PT30M") == timedelta(minutes=30)
    assert helpers.duration("P3D") == timedelta(days=3)
    assert helpers.duration("p1dt12h") == timedelta(days=1, hours=12)
    assert helpers.duration("P2W") == timedelta(weeks=2)
    assert helpers.duration("PT0.5H") == timedelta(minutes=30)
    assert helpers.duration("-PT1M") == timedelta(minutes=-1)
    for bad in ("30M", "P", "PT", "P1H", "soon", ""):
        with pytest.raises(ValueError, match="not an ISO 8601 duration"):
            helpers.duration(bad)
    with pytest.raises(ValueError, match="use add_duration"):
        helpers.duration("P1M")


def test_add_duration_counts_months_on_the_calendar():
    start = helpers.parse_datetime("2026-01-31T09:00:00+08:00")
    assert helpers.add_duration(start, "P1M") == beijing(2026, 2, 28, 9, 0)
    assert helpers.add_duration(start, "P1Y2M3DT4H") == beijing(2027, 4, 3, 13, 0)
    assert helpers.add_duration(start, "PT30M") == beijing(2026, 1, 31, 9, 30)
    assert helpers.add_duration(date(2026, 3, 31), "-P1M") == date(2026, 2, 28)
    with pytest.raises(ValueError, match="time part"):
        helpers.add_duration(date(2026, 3, 31), "PT1H")


def test_iso_and_parse_datetime():
    assert helpers.iso(beijing(2026, 10, 8, 17, 30)) == "2026-10-08T17:30:00+08:00"
    assert helpers.iso(datetime(2026, 10, 8, 17, 30)) == "2026-10-08T17:30:00+08:00"  # naive: deployment zone
    assert helpers.iso(date(2026, 10, 8)) == "2026-10-08"
    assert helpers.iso(timedelta(days=3, hours=4, minutes=5, seconds=6)) == "P3DT4H5M6S"
    assert helpers.iso(timedelta(minutes=-30)) == "-PT30M"
    assert helpers.iso(timedelta(0)) == "PT0S"
    assert helpers.iso(timedelta(seconds=1.5)) == "PT1.5S"
    assert helpers.parse_datetime("2026-10-08T17:30") == beijing(2026, 10, 8, 17, 30)
    assert helpers.parse_datetime("2026-10-08T09:30:00Z") == beijing(2026, 10, 8, 17, 30)
    assert helpers.parse_datetime("2026-10-08") == beijing(2026, 10, 8, 0, 0)
    with pytest.raises(ValueError, match="not an ISO 8601 date/time"):
        helpers.parse_datetime("tomorrow")


def test_timer_expressions_can_use_the_helpers(manual_clock):
    """A timeDate timer says ``iso(working_days_at(5, "17:30"))``: SpiffWorkflow parses the result."""
    from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

    manual_clock.set(beijing(2026, 9, 29, 11, 0))
    env = SandboxEnvironment(timeout=1)
    text = env.evaluate('iso(working_days_at(5, "17:30"))', {})
    assert text == "2026-10-12T17:30:00+08:00"  # 30 September, 8, 9, 10 (Saturday, worked), 12 October
    assert TimerEventDefinition.get_datetime(text) == beijing(2026, 10, 12, 17, 30)
    assert env.evaluate('iso(duration("PT30M"))', {}) == "PT30M"
    assert env.evaluate("working_days_between(today(), parse_date('2026-10-09'))", {}) == 3
