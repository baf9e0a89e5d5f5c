"""SLA arithmetic in working hours around weekends, public holidays and DST, checked by hand."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccm_core.domain.errors import ValidationFailed
from ccm_core.domain.sla import SlaPolicy, SlaStep
from ccm_core.domain.working_time import (
    ROUND_THE_CLOCK,
    WorkingCalendar,
    calendar_for,
    validated_working_time,
)

ISTANBUL = ZoneInfo("Europe/Istanbul")
BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
TURKEY = {"country": "TR", "timezone": "Europe/Istanbul", "days": WEEKDAYS, "start": "09:00", "end": "18:00"}
GERMANY = {"country": "DE", "timezone": "Europe/Berlin", "days": WEEKDAYS, "start": "08:00", "end": "17:00"}


def at(local: str, zone: ZoneInfo) -> dt.datetime:
    """A local wall-clock time ("2026-10-09 17:00") as the UTC moment the core stores."""
    return dt.datetime.fromisoformat(local).replace(tzinfo=zone).astimezone(dt.UTC)


def calendar(**working_time: object) -> WorkingCalendar:
    built = calendar_for(validated_working_time(working_time, "working_time"))
    assert isinstance(built, WorkingCalendar)
    return built


TR = calendar(**TURKEY)
DE_BERLIN = calendar(**GERMANY, subdivision="BE")


@pytest.mark.parametrize(
    ("start", "hours", "due"),
    [
        pytest.param("2026-10-09 17:00", 2, "2026-10-12 10:00", id="friday-17:00-plus-2h-is-monday-10:00"),
        pytest.param("2026-10-09 17:00", 1, "2026-10-09 18:00", id="ending-at-closing-time-stays-on-friday"),
        pytest.param("2026-10-09 18:00", 1, "2026-10-12 10:00", id="start-at-closing-time"),
        pytest.param("2026-10-10 11:00", 1, "2026-10-12 10:00", id="start-on-saturday"),
        pytest.param("2026-10-12 07:30", 1, "2026-10-12 10:00", id="start-before-opening"),
        pytest.param("2026-10-05 17:45", 0.5, "2026-10-06 09:15", id="half-an-hour-over-the-night"),
        pytest.param("2026-10-05 12:00", 0.25, "2026-10-05 12:15", id="a-quarter-hour"),
        pytest.param("2026-10-28 17:00", 2, "2026-10-30 10:00", id="republic-day-thursday-29-oct"),
        pytest.param("2026-05-26 17:00", 2, "2026-06-01 10:00", id="eid-al-adha-27-to-30-may"),
        pytest.param("2026-10-05 12:00", 72, "2026-10-15 12:00", id="72h-is-eight-working-days"),
        pytest.param("2026-10-05 12:00", 168, "2026-10-30 18:00", id="168h-skips-republic-day"),
        pytest.param("2026-04-02 17:00", 2, "2026-04-03 10:00", id="no-easter-holidays-in-turkey"),
    ],
)
def test_turkish_working_hours(start: str, hours: float, due: str) -> None:
    assert TR.add_working_hours(at(start, ISTANBUL), hours) == at(due, ISTANBUL)


@pytest.mark.parametrize(
    ("start", "hours", "due"),
    [
        pytest.param("2026-12-24 16:00", 3, "2026-12-28 10:00", id="christmas-fri-25-and-sat-26-dec"),
        pytest.param("2026-04-02 16:00", 2, "2026-04-07 09:00", id="good-friday-to-easter-monday"),
        pytest.param("2026-10-29 16:00", 2, "2026-10-30 09:00", id="no-republic-day-in-germany"),
        pytest.param("2026-10-23 16:00", 2, "2026-10-26 09:00", id="over-the-dst-change-of-25-oct"),
        pytest.param("2027-03-05 16:00", 2, "2027-03-09 09:00", id="berlin-womens-day-mon-8-mar-2027"),
    ],
)
def test_german_working_hours_in_berlin(start: str, hours: float, due: str) -> None:
    assert DE_BERLIN.add_working_hours(at(start, BERLIN), hours) == at(due, BERLIN)


def test_the_subdivision_adds_its_own_holidays_only() -> None:
    germany = calendar(**GERMANY)
    assert germany.add_working_hours(at("2027-03-05 16:00", BERLIN), 2) == at("2027-03-08 09:00", BERLIN)


def test_the_dst_change_neither_adds_nor_loses_an_hour_of_work() -> None:
    # Friday 16:00 CEST is 14:00 UTC; Monday 09:00 CET is 08:00 UTC: 18 hours later on the wall clock,
    # 18 hours later in UTC too, though the night between them was an hour longer.
    friday = at("2026-10-23 16:00", BERLIN)
    monday = DE_BERLIN.add_working_hours(friday, 2)
    assert (friday, monday) == (
        dt.datetime(2026, 10, 23, 14, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 10, 26, 8, 0, tzinfo=dt.UTC),
    )
    whole_days = at("2026-10-23 08:00", BERLIN), at("2026-10-26 17:00", BERLIN)
    assert DE_BERLIN.working_hours_between(*whole_days) == 18


@pytest.mark.parametrize(
    ("day", "real_hours"),
    [
        pytest.param("2026-10-25", 5, id="clocks-back-repeat-02:00-03:00"),
        pytest.param("2026-03-29", 3, id="clocks-forward-skip-02:00-03:00"),
    ],
)
def test_a_night_shift_across_the_dst_change_counts_the_real_hours(day: str, real_hours: float) -> None:
    night = calendar(**{**GERMANY, "days": [*WEEKDAYS, "sat", "sun"], "start": "01:00", "end": "05:00"})
    opens, closes = at(f"{day} 00:00", BERLIN), at(f"{day} 06:00", BERLIN)
    assert night.working_hours_between(opens, closes) == real_hours
    assert night.add_working_hours(opens, real_hours) == at(f"{day} 05:00", BERLIN)


def test_working_hours_between_skips_weekends_and_holidays_and_is_signed() -> None:
    tuesday, monday = at("2026-05-26 09:00", ISTANBUL), at("2026-06-01 18:00", ISTANBUL)
    assert TR.working_hours_between(tuesday, monday) == 18  # Tue 26 May and Mon 1 June; Eid in between
    assert TR.working_hours_between(monday, tuesday) == -18
    saturday, sunday = at("2026-10-10 09:00", ISTANBUL), at("2026-10-11 18:00", ISTANBUL)
    assert TR.working_hours_between(saturday, sunday) == 0


def test_zero_hours_is_the_start_itself() -> None:
    saturday = at("2026-10-10 11:00", ISTANBUL)
    assert TR.add_working_hours(saturday, 0) == saturday


def test_a_department_without_working_time_counts_every_hour() -> None:
    assert calendar_for(None) is ROUND_THE_CLOCK
    friday_evening = dt.datetime(2026, 10, 9, 17, 0, tzinfo=dt.UTC)
    assert ROUND_THE_CLOCK.add_working_hours(friday_evening, 2) == dt.datetime(2026, 10, 9, 19, tzinfo=dt.UTC)
    assert ROUND_THE_CLOCK.working_hours_between(friday_evening, friday_evening + dt.timedelta(days=3)) == 72
    policy = SlaPolicy({("*", SlaStep.DECISION): 72})
    assert policy.due(SlaStep.DECISION, "normal", friday_evening, ROUND_THE_CLOCK) == dt.datetime(
        2026, 10, 12, 17, tzinfo=dt.UTC
    )


def test_the_sla_policy_counts_its_hours_in_the_departments_calendar() -> None:
    policy = SlaPolicy({("*", SlaStep.DECISION): 72, ("urgent", SlaStep.DECISION): 24})
    friday_evening = at("2026-10-09 19:00", ISTANBUL)
    assert policy.due(SlaStep.DECISION, "normal", friday_evening, TR) == at("2026-10-21 18:00", ISTANBUL)
    assert policy.due(SlaStep.DECISION, "urgent", friday_evening, TR) == at("2026-10-14 15:00", ISTANBUL)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        TR.add_working_hours(dt.datetime(2026, 10, 9, 17, 0), 1)


@settings(max_examples=60, deadline=None)
@given(
    start=st.datetimes(
        min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2027, 12, 31), timezones=st.just(dt.UTC)
    ),
    minutes=st.integers(min_value=0, max_value=200 * 60),
)
def test_adding_working_hours_and_measuring_them_agree(start: dt.datetime, minutes: int) -> None:
    hours = minutes / 60
    for working in (TR, DE_BERLIN):
        due = working.add_working_hours(start, hours)
        assert due >= start
        assert working.working_hours_between(start, due) == pytest.approx(hours, abs=1e-9)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param({"country": "XX"}, "working_time.country", id="unknown-country"),
        pytest.param({"subdivision": "ZZ"}, "working_time.subdivision", id="unknown-subdivision"),
        pytest.param({"timezone": "Mars/Olympus"}, "working_time.timezone", id="unknown-zone"),
        pytest.param({"days": ["mon", "funday"]}, "working_time.days", id="unknown-day"),
        pytest.param({"days": []}, "working_time.days", id="no-days"),
        pytest.param({"start": 540}, "working_time.start", id="unquoted-9:00-read-as-minutes"),
        pytest.param({"end": 1080}, "working_time.end", id="unquoted-18:00-read-as-minutes"),
        pytest.param({"end": "25:00"}, "working_time.end", id="hour-out-of-range"),
        pytest.param({"start": "18:00", "end": "09:00"}, "working_time.end", id="end-before-start"),
        pytest.param({"hours": "09-18"}, "working_time.hours", id="unknown-key"),
    ],
)
def test_a_bad_working_time_is_refused_naming_the_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        validated_working_time({**GERMANY, **change}, "working_time")
    assert refused.value.field == field
    assert field in refused.value.message("en")
