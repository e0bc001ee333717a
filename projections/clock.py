"""Calendar rules for request clocks: the ICO's month, working days, the organisation's zone,
and which of the organisation's settings were in force at a moment."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays
from sqlalchemy import select
from sqlalchemy.engine import Connection

from ledger.config import Config
from ledger.core.durations import add_months as add_months  # the ICO's month

from . import facts


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


def legal_due(received: date, region: str, stopped: int = 0) -> date:
    """Art. 12(3) as the ICO counts it: one calendar month from *received* (the relevant time
    of Art. 12A), plus the *stopped* days of a clarification pause, then the next working day."""
    return next_working_day(add_months(received, 1) + timedelta(days=stopped), region)


def latest_extension(received: date, region: str, stopped: int = 0) -> date:
    """The furthest an extension may move the due date: two further months (three months from
    the relevant time), plus the *stopped* days, then the next working day."""
    return next_working_day(add_months(received, 3) + timedelta(days=stopped), region)


def stopped_total(spans: Iterable[tuple[date, date]], relevant: date) -> int:
    """The days that do not count for clarification pauses spanning *spans* (each from the
    day it was asked for to the day it arrived, both included), on or after the relevant
    time: a day counts once, however many pauses it falls in (one ending and another
    beginning on the same day stop that day once)."""
    days = 0
    last: date | None = None  # the latest day already counted
    for start, end in sorted((max(start, relevant), end) for start, end in spans):
        if last is not None:
            start = max(start, last + timedelta(days=1))
        if end >= start:
            days += (end - start).days + 1
        last = end if last is None else max(last, end)
    return days


def stopped_days(paused: date, resumed: date, relevant: date) -> int:
    """The days of a clarification pause that do not count (Art. 12A: the period beginning
    with the day it was asked for and ending with the day it arrived, both included), leaving
    out any before the relevant time, from which the month runs."""
    return max(0, (resumed - max(paused, relevant)).days + 1)


@dataclass(frozen=True)
class Settings:
    """The organisation's settings the clocks use."""

    name: str
    time_zone: str
    bank_holidays: str
    target_days: int

    @classmethod
    def of(cls, config: Config) -> Settings:
        return cls(config.name, config.time_zone, config.bank_holidays, config.target_days)


class SettingsInForce:
    """The organisation's settings as the ledger recorded them over time (each
    ``ledger.vocabulary`` record, at the time its writer recorded it), with the configuration
    where the ledger recorded none (records written before settings were recorded)."""

    def __init__(self, recorded: list[tuple[str, Settings | None]], fallback: Settings) -> None:
        self._times = [at for at, _ in recorded]
        self._settings = [found for _, found in recorded]
        self.fallback = fallback

    def at(self, moment: str) -> Settings:
        """The settings in force at *moment* (UTC text as the fact tables store it): the latest
        recorded at or before it; before the first record, the first (the ledger's earliest
        word on them); the configuration where that record carries none."""
        if not self._times:
            return self.fallback
        index = max(bisect.bisect_right(self._times, moment) - 1, 0)
        return self._settings[index] or self.fallback


def settings_in_force(conn: Connection, *, as_of: str, config: Config) -> SettingsInForce:
    """The settings recorded at or before *as_of*, falling back to *config*."""
    table = facts.settings
    query = select(table).where(table.c.at <= as_of).order_by(table.c.at, table.c.seq)
    fallback = Settings.of(config)
    recorded: list[tuple[str, Settings | None]] = []
    for row in conn.execute(query):
        if row.time_zone is None:  # recorded before settings were: the configuration's
            recorded.append((row.at, None))
            continue
        recorded.append(
            (
                row.at,
                Settings(
                    row.name if row.name is not None else fallback.name,
                    row.time_zone,
                    row.bank_holidays if row.bank_holidays is not None else fallback.bank_holidays,
                    row.target_days if row.target_days is not None else fallback.target_days,
                ),
            )
        )
    return SettingsInForce(recorded, fallback)
