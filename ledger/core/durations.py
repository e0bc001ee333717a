"""ISO 8601 durations and calendar months: parsing, and adding them to dates and times.

Pure: no I/O, no clock reads. Months and years move the calendar date and clamp to the
month's last day where the day does not exist (31 January plus one month is 28 or 29
February); weeks, days, hours, minutes and seconds are then added as elapsed time.

One grammar, ``P[nY][nM][nW][nD][T[nH][nM][nS]]``, admitted two ways: :func:`parse_duration`
as the event contract admits new values (ASCII digits, at most six a field, a ``T`` only
before a time field), :func:`read_duration` as every stored value is read back (any run of
digits, as earlier contracts admitted them).
"""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta
from typing import NamedTuple, TypeVar

Day = TypeVar("Day", bound=date)  # a date, or a datetime (which keeps its time and zone)

_GRAMMAR = (
    "P(?:({n})Y)?(?:({n})M)?(?:({n})W)?(?:({n})D)?"  # years, months, weeks, days
    "(?:T{t}(?:({n})H)?(?:({n})M)?(?:({n})S)?)?"  # hours, minutes, seconds
)
_CONTRACT = re.compile(_GRAMMAR.format(n="[0-9]{1,6}", t="(?=[0-9])"))
_STORED = re.compile(_GRAMMAR.format(n=r"\d+", t=""))


class Duration(NamedTuple):
    """The fields of an ISO 8601 duration, each a whole number (0 where absent)."""

    years: int = 0
    months: int = 0
    weeks: int = 0
    days: int = 0
    hours: int = 0
    minutes: int = 0
    seconds: int = 0

    @property
    def elapsed(self) -> timedelta:
        """The part that is elapsed time, not calendar months: weeks down to seconds."""
        return timedelta(weeks=self.weeks, days=self.days, hours=self.hours,
                         minutes=self.minutes, seconds=self.seconds)  # fmt: skip


def _fields(match: re.Match[str]) -> Duration:
    return Duration(*(int(group or 0) for group in match.groups()))


def parse_duration(text: str) -> Duration | None:
    """*text* as the contract admits a duration (at least one field; zero fields allowed),
    or None when it is not one."""
    match = _CONTRACT.fullmatch(text)
    if match is None or not any(match.groups()):
        return None
    return _fields(match)


def read_duration(text: str) -> Duration:
    """A stored duration (it passed the contract of its time); ValueError if it is none."""
    match = _STORED.fullmatch(text)
    if match is None:
        raise ValueError(f"not an ISO 8601 duration: {text}")
    return _fields(match)


def month_days(year: int, month: int) -> int:
    """The number of days in *month* (1-12) of *year*."""
    return calendar.monthrange(year, month)[1]


def add_months(start: Day, months: int) -> Day:
    """The corresponding day *months* later (earlier when negative), or that month's last day
    where there is none; a datetime keeps its time and zone. ValueError beyond years 1-9999."""
    total = start.month - 1 + months
    year, month = start.year + total // 12, total % 12 + 1
    if not 1 <= year <= 9999:  # what date() itself says; monthrange would answer regardless
        raise ValueError(f"year {year} is out of range")
    return start.replace(year=year, month=month, day=min(start.day, month_days(year, month)))


def add_duration(start: Day, duration: Duration) -> Day:
    """*start* plus *duration*: years and months move the calendar date (clamped to the
    month's end), then the rest is added as elapsed time. ValueError or OverflowError when
    the result lies beyond the year 9999."""
    return add_months(start, duration.months + 12 * duration.years) + duration.elapsed
