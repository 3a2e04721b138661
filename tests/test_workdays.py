"""Working days on the Chinese official calendar, and the date/duration helpers designers use."""
from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta, timezone

import chinese_calendar
import pytest

from engine import helpers, workdays
from engine.sandbox import SandboxEnvironment
from engine.workdays import (add_working_days, is_working_day, next_working_day, working_days,
                             working_days_at, working_days_between)

BEIJING = timezone(timedelta(hours=8))


def beijing(*args) -> datetime:
    return datetime(*args, tzinfo=BEIJING)


@pytest.fixture(autouse=True)
def default_zone(monkeypatch):
    monkeypatch.delenv("WHISTLE_TIMEZONE", raising=False)
    yield
    workdays.clear_added_calendar()


# -- the 2026 National Day / Mid-Autumn schedule, as the official calendar package knows it -----------------

def test_calendar_package_knows_2026():
    assert workdays.is_known_year(2026)
    official = chinese_calendar.get_holidays(date(2026, 9, 1), date(2026, 10, 31))
    assert [d for d in official if d.month == 10 and d.weekday() < 5] == [
        date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 5), date(2026, 10, 6), date(2026, 10, 7)]
    makeup = [d for d in chinese_calendar.get_workdays(date(2026, 9, 1), date(2026, 10, 31)) if d.weekday() >= 5]
    assert makeup == [date(2026, 9, 20), date(2026, 10, 10)]  # Sunday 20 September, Saturday 10 October


def test_national_day_and_mid_autumn_2026():
    for day in range(1, 8):  # 1–7 October: National Day holiday
        assert not is_working_day(date(2026, 10, day))
        assert workdays.holiday_name(date(2026, 10, day)) == "National Day"
    assert is_working_day(date(2026, 10, 8))  # Thursday, back at work
    for day in (25, 26, 27):  # Mid-Autumn Festival, Friday to Sunday
        assert not is_working_day(date(2026, 9, day))
        assert workdays.holiday_name(date(2026, 9, day)) == "Mid-autumn Festival"
    assert is_working_day(date(2026, 9, 20))  # a Sunday worked in exchange
    assert is_working_day(date(2026, 10, 10))  # a Saturday worked in exchange
    assert not is_working_day(date(2026, 10, 11))  # an ordinary Sunday
    assert is_working_day("2026-09-30") and not is_working_day(datetime(2026, 10, 1, 9, 0))


def test_counting_across_the_holiday():
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


def test_working_days_keeps_the_time_of_day(manual_clock):
    manual_clock.set(beijing(2026, 9, 30, 10, 15))
    due = working_days(1)
    assert due == beijing(2026, 10, 8, 10, 15)
    assert due.tzinfo.key == "Asia/Shanghai"
    assert working_days(5) == beijing(2026, 10, 13, 10, 15)  # 8, 9, 10 (Saturday, worked), 12, 13
    assert working_days(2, start=beijing(2026, 10, 9, 8, 0)) == beijing(2026, 10, 12, 8, 0)


def test_working_days_at_across_a_weekend(manual_clock):
    manual_clock.set(beijing(2026, 10, 16, 15, 0))  # Friday afternoon
    assert working_days_at(1, "17:30") == beijing(2026, 10, 19, 17, 30)  # Monday
    assert working_days_at(5, "17:30") == beijing(2026, 10, 23, 17, 30)
    assert working_days_at(0, "09:00") == beijing(2026, 10, 16, 9, 0)
    assert working_days_at(1, time(8, 45)) == beijing(2026, 10, 19, 8, 45)
    assert working_days(1) == beijing(2026, 10, 19, 15, 0)


def test_dates_are_taken_in_the_deployment_time_zone(manual_clock):
    # 20:00 UTC on 30 September is already 04:00 on 1 October in Beijing: a holiday.
    manual_clock.set(datetime(2026, 9, 30, 20, 0, tzinfo=timezone.utc))
    assert helpers.today() == date(2026, 10, 1)
    assert not is_working_day(helpers.now())
    assert working_days(1) == beijing(2026, 10, 8, 4, 0)


def test_the_time_zone_is_configurable(monkeypatch, manual_clock):
    manual_clock.set(datetime(2026, 9, 30, 20, 0, tzinfo=timezone.utc))
    monkeypatch.setenv("WHISTLE_TIMEZONE", "Europe/Berlin")
    assert helpers.now().isoformat() == "2026-09-30T22:00:00+02:00"
    assert helpers.today() == date(2026, 9, 30)
    monkeypatch.setenv("WHISTLE_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ValueError, match="WHISTLE_TIMEZONE='Mars/Olympus'"):
        helpers.now()


def test_unknown_years_fall_back_to_weekdays_and_can_be_taught(caplog):
    assert not workdays.is_known_year(2099)
    with caplog.at_level(logging.WARNING, logger="engine.workdays"):
        assert is_working_day(date(2099, 1, 2))  # a Friday
        assert not is_working_day(date(2099, 1, 3))  # a Saturday
    assert "2099 is not known" in caplog.text
    workdays.add_calendar(holidays=["2099-01-02"], workdays=[date(2099, 1, 3)])
    assert not is_working_day(date(2099, 1, 2))
    assert is_working_day(date(2099, 1, 3))


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
