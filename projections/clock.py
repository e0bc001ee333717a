"""Calendar rules for request clocks: the ICO's month, working days, the organisation's zone."""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays


def add_months(start: date, months: int) -> date:
    """The corresponding date *months* later, or that month's last day where there is none."""
    total = start.month - 1 + months
    year, month = start.year + total // 12, total % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


@cache
def _bank_holidays(region: str, year: int) -> frozenset[date]:
    country, _, subdivision = region.partition("-")
    calendar_ = holidays.country_holidays(country, subdiv=subdivision or None, years=year)
    return frozenset(calendar_)


def next_working_day(day: date, region: str) -> date:
    """*day*, or the first day after it that is neither a weekend nor a bank holiday."""
    while day.weekday() >= 5 or day in _bank_holidays(region, day.year):
        day += timedelta(days=1)
    return day


def local_date(moment: datetime, time_zone: str) -> date:
    """The calendar date of *moment* in the organisation's time zone."""
    return moment.astimezone(ZoneInfo(time_zone)).date()


def legal_due(received: date, region: str) -> date:
    """Art. 12(3) as the ICO counts it: one calendar month, then the next working day."""
    return next_working_day(add_months(received, 1), region)


def latest_extension(received: date, region: str) -> date:
    """The furthest an extension may move the due date: two further months."""
    return next_working_day(add_months(received, 3), region)
