"""Working time: when a department works, for SLA deadlines counted in working hours.

A department works on some weekdays between a start and an end time in its own time
zone, except on the public holidays of its country (and optional subdivision), which
come from the maintained ``holidays`` library. Deadlines are computed on the local
wall clock and converted to UTC per day, so a DST change moves the working hours with
the clock and never adds or loses an hour of work. A department without working time
works around the clock, in calendar hours.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from ccm_core.domain.errors import ValidationFailed

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WORKING_TIME_FIELDS = ("country", "subdivision", "timezone", "days", "start", "end")
_CLOCK_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_ONE_DAY = dt.timedelta(days=1)


class SlaCalendar(Protocol):
    """What an SLA deadline needs from a calendar: adding and measuring working hours."""

    def add_working_hours(self, start: dt.datetime, hours: float) -> dt.datetime: ...

    def working_hours_between(self, a: dt.datetime, b: dt.datetime) -> float: ...


class RoundTheClock:
    """Every hour counts: the calendar of a department without working time."""

    def add_working_hours(self, start: dt.datetime, hours: float) -> dt.datetime:
        return _utc(start) + dt.timedelta(hours=hours)

    def working_hours_between(self, a: dt.datetime, b: dt.datetime) -> float:
        return (_utc(b) - _utc(a)) / dt.timedelta(hours=1)


ROUND_THE_CLOCK = RoundTheClock()


@functools.lru_cache(maxsize=256)
def public_holidays(country: str, subdivision: str | None, year: int) -> frozenset[dt.date]:
    """The public holidays of one country (and subdivision) in one year, looked up once per process."""
    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year))


@dataclass(frozen=True)
class WorkingCalendar:
    """Working days and hours in a time zone, without the country's public holidays."""

    zone: ZoneInfo
    weekdays: frozenset[int]  # 0 = Monday … 6 = Sunday
    start: dt.time
    end: dt.time
    country: str
    subdivision: str | None = None

    def __post_init__(self) -> None:
        if not self.weekdays:
            raise ValueError("a working calendar needs at least one working day")
        if self.start >= self.end:
            raise ValueError("the working day must end after it starts")

    def is_working_day(self, day: dt.date) -> bool:
        return day.weekday() in self.weekdays and day not in public_holidays(
            self.country, self.subdivision, day.year
        )

    def add_working_hours(self, start: dt.datetime, hours: float) -> dt.datetime:
        """The UTC moment when ``hours`` of working time have passed since ``start``.

        Time outside working hours does not count, so a start in the evening, at a weekend
        or on a holiday begins at the next working minute. Zero hours is ``start`` itself.
        """
        if hours < 0:
            raise ValueError("working hours to add must not be negative")
        remaining = dt.timedelta(hours=hours)
        cursor = _utc(start)
        if not remaining:
            return cursor
        for opens, closes in self._working_periods(cursor.astimezone(self.zone).date()):
            begin = max(opens, cursor)
            if begin >= closes:
                continue
            if remaining <= closes - begin:
                return begin + remaining
            remaining -= closes - begin
        raise AssertionError("unreachable: working periods never end")

    def working_hours_between(self, a: dt.datetime, b: dt.datetime) -> float:
        """Working hours from ``a`` to ``b``; negative when ``b`` is before ``a``."""
        a, b = _utc(a), _utc(b)
        if b < a:
            return -self.working_hours_between(b, a)
        worked = dt.timedelta()
        for opens, closes in self._working_periods(a.astimezone(self.zone).date()):
            if opens >= b:
                break
            overlap = min(closes, b) - max(opens, a)
            if overlap > dt.timedelta():
                worked += overlap
        return worked / dt.timedelta(hours=1)

    def _working_periods(self, first_day: dt.date) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        """(opens, closes) in UTC for each working day from ``first_day`` on, in local wall-clock time."""
        day = first_day
        while True:
            if self.is_working_day(day):
                opens = dt.datetime.combine(day, self.start, tzinfo=self.zone).astimezone(dt.UTC)
                closes = dt.datetime.combine(day, self.end, tzinfo=self.zone).astimezone(dt.UTC)
                yield opens, closes
            day += _ONE_DAY


def calendar_for(working_time: dict[str, Any] | None) -> SlaCalendar:
    """The calendar of a department's stored working time; none stored means round the clock."""
    if working_time is None:
        return ROUND_THE_CLOCK
    return WorkingCalendar(
        zone=ZoneInfo(working_time["timezone"]),
        weekdays=frozenset(WEEKDAYS.index(day) for day in working_time["days"]),
        start=dt.time.fromisoformat(working_time["start"]),
        end=dt.time.fromisoformat(working_time["end"]),
        country=working_time["country"],
        subdivision=working_time.get("subdivision"),
    )


def validated_working_time(entry: dict[str, Any], where: str) -> dict[str, Any]:
    """The working time as stored on a department, or ``ValidationFailed`` naming the bad field.

    ``where`` prefixes the field name (``department finance: working_time``) so the organisation
    file's author finds the line to correct.
    """
    if not isinstance(entry, dict):
        raise ValidationFailed(field=where, problem="invalid_value", detail="expected a mapping")
    unknown = sorted(set(entry) - set(WORKING_TIME_FIELDS))
    if unknown:
        raise ValidationFailed(
            field=f"{where}.{unknown[0]}",
            problem="unknown_choice",
            value=unknown[0],
            choices=", ".join(WORKING_TIME_FIELDS),
        )
    country = str(entry.get("country") or "").strip().upper()
    subdivision = entry.get("subdivision")
    subdivision = str(subdivision).strip().upper() if subdivision else None
    supported = holidays.list_supported_countries()
    if country not in supported:
        raise ValidationFailed(
            field=f"{where}.country",
            problem="invalid_value",
            detail=f"'{country}' is not a country with a holiday calendar (ISO 3166 code, e.g. TR or DE)",
        )
    if subdivision is not None and subdivision not in supported[country]:
        raise ValidationFailed(
            field=f"{where}.subdivision",
            problem="unknown_choice",
            value=subdivision,
            choices=", ".join(supported[country]),
        )
    timezone = str(entry.get("timezone") or "").strip()
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(
            field=f"{where}.timezone",
            problem="invalid_value",
            detail=f"'{timezone}' is not an IANA time zone (e.g. Europe/Istanbul)",
        ) from None
    days = entry.get("days")
    if not isinstance(days, list) or not days:
        raise ValidationFailed(field=f"{where}.days", problem="required")
    for day in days:
        if str(day).strip().lower() not in WEEKDAYS:
            raise ValidationFailed(
                field=f"{where}.days", problem="unknown_choice", value=day, choices=", ".join(WEEKDAYS)
            )
    start, end = (_clock_time(entry.get(name), f"{where}.{name}") for name in ("start", "end"))
    if start >= end:
        raise ValidationFailed(
            field=f"{where}.end", problem="invalid_value", detail=f"{end} is not after the start {start}"
        )
    return {
        "country": country,
        "subdivision": subdivision,
        "timezone": timezone,
        "days": sorted({str(day).strip().lower() for day in days}, key=WEEKDAYS.index),
        "start": start,
        "end": end,
    }


def _clock_time(value: object, field: str) -> str:
    """``HH:MM`` as a quoted string: YAML reads an unquoted 18:00 as the number 1080 (base 60)."""
    if not isinstance(value, str) or not _CLOCK_TIME.match(value.strip()):
        raise ValidationFailed(
            field=field, problem="invalid_value", detail=f"'{value}' is not a quoted time \"HH:MM\""
        )
    return value.strip()


def _utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime given; working time is computed from UTC times")
    return moment.astimezone(dt.UTC)
