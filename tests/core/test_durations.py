"""ISO 8601 durations and calendar months: hand-computed cases, and properties checked against
the three implementations this module replaced (the event contract's, the fact tables', the
request clocks'), kept below as references."""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.core.contract import validate
from ledger.core.durations import (
    Duration,
    add_duration,
    add_months,
    month_days,
    parse_duration,
    read_duration,
)
from ledger.core.vocabulary import Vocabulary
from ledger.errors import InvalidEvent

# -- the replaced implementations, as they were ------------------------------------------------

_CONTRACT_DURATION = re.compile(
    r"P(?:([0-9]{1,6})Y)?(?:([0-9]{1,6})M)?(?:([0-9]{1,6})W)?(?:([0-9]{1,6})D)?"
    r"(?:T(?=[0-9])(?:([0-9]{1,6})H)?(?:([0-9]{1,6})M)?(?:([0-9]{1,6})S)?)?"
)
_FACTS_DURATION = re.compile(
    r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?"
)


def _old_contract_accepts(text: str) -> bool:
    match = _CONTRACT_DURATION.fullmatch(text)
    return match is not None and any(match.groups()) and any(int(g) for g in match.groups() if g)


def _old_retention_ends(start: datetime, text: str) -> bool:
    """Whether the contract's old check let a retention of *text* from *start* through."""
    match = _CONTRACT_DURATION.fullmatch(text)
    assert match is not None
    years, months, weeks, days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    total = start.month - 1 + months + 12 * years
    year, month = start.year + total // 12, total % 12 + 1
    try:
        if year > 9999:
            raise OverflowError
        day = min(start.day, calendar.monthrange(year, month)[1])
        end = start.replace(year=year, month=month, day=day) + timedelta(
            weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds
        )
        end.astimezone(UTC)
    except OverflowError:
        return False
    return True


def _old_facts_add_duration(start: datetime, duration: str) -> datetime:
    match = _FACTS_DURATION.fullmatch(duration)
    if match is None:
        raise ValueError(f"not an ISO 8601 duration: {duration}")
    years, months, weeks, days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    total = start.month - 1 + months + 12 * years
    year, month = start.year + total // 12, total % 12 + 1
    day = min(start.day, _old_month_days(year, month))
    moved = start.replace(year=year, month=month, day=day)
    return moved + timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)


def _old_month_days(year: int, month: int) -> int:
    if month == 12:
        return 31
    return (datetime(year, month + 1, 1) - datetime(year, month, 1)).days


def _old_clock_add_months(start: date, months: int) -> date:
    total = start.month - 1 + months
    year, month = start.year + total // 12, total % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


# -- strategies ------------------------------------------------------------------------------

ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=-5)),
     timezone(timedelta(hours=5, minutes=30))]
)  # fmt: skip
MOMENTS = st.datetimes(datetime(1970, 1, 1), datetime(2200, 12, 31), timezones=ZONES)
FIELD = st.one_of(st.none(), st.integers(0, 40), st.integers(0, 999_999))


@st.composite
def duration_texts(draw: st.DrawFn) -> str:
    """Durations as the contract writes them, mostly well formed, some fields absent."""
    y, mo, w, d, h, mi, s = (draw(FIELD) for _ in range(7))
    date_part = "".join(
        f"{n}{u}" for n, u in ((y, "Y"), (mo, "M"), (w, "W"), (d, "D")) if n is not None
    )
    time_part = "".join(f"{n}{u}" for n, u in ((h, "H"), (mi, "M"), (s, "S")) if n is not None)
    return "P" + date_part + (f"T{time_part}" if time_part or draw(st.booleans()) else "")


TEXTS = st.one_of(duration_texts(), st.text("PYMWDTHS0123456789٣-.,", max_size=12))

RETENTION_EVENT = {
    "type": "collected", "at": "2026-03-01T09:30:00Z", "actor": "svc:helpdesk",
    "subject": "cust-1042", "categories": ["user.name"],
    "purpose": "essential.service.operations.support", "basis": "contract",
    "source": "support ticket form", "system": "helpdesk", "location": "GB",
}  # fmt: skip


# -- hand-computed cases ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [(date(2026, 1, 31), 1, date(2026, 2, 28)),  # no 31 February: its last day
     (date(2028, 1, 31), 1, date(2028, 2, 29)),  # 2028 is a leap year
     (date(2100, 1, 31), 1, date(2100, 2, 28)),  # 2100 is not (a century)
     (date(2000, 1, 31), 1, date(2000, 2, 29)),  # 2000 is (divisible by 400)
     (date(2026, 3, 31), 1, date(2026, 4, 30)),
     (date(2026, 11, 30), 3, date(2027, 2, 28)),  # across a year end
     (date(2026, 12, 15), 1, date(2027, 1, 15)),
     (date(2028, 2, 29), 12, date(2029, 2, 28)),  # a leap day a year on
     (date(2026, 3, 31), -1, date(2026, 2, 28)),  # backwards too
     (date(2026, 6, 16), 0, date(2026, 6, 16))],
)  # fmt: skip
def test_adding_months_moves_the_calendar_date_and_clamps_to_the_month_end(
    start: date, months: int, expected: date
) -> None:
    assert add_months(start, months) == expected


@pytest.mark.parametrize(
    ("start", "text", "expected"),
    [(datetime(2026, 1, 31, 9, 30, tzinfo=UTC), "P1M", datetime(2026, 2, 28, 9, 30, tzinfo=UTC)),
     (datetime(2024, 2, 29, tzinfo=UTC), "P1Y", datetime(2025, 2, 28, tzinfo=UTC)),
     (datetime(2024, 2, 29, tzinfo=UTC), "P4Y", datetime(2028, 2, 29, tzinfo=UTC)),
     (datetime(2026, 1, 31, tzinfo=UTC), "P1M1D", datetime(2026, 3, 1, tzinfo=UTC)),  # clamp first
     (datetime(2026, 3, 1, 9, 30, tzinfo=UTC), "P6Y", datetime(2032, 3, 1, 9, 30, tzinfo=UTC)),
     (datetime(2026, 3, 1, tzinfo=UTC), "P2W", datetime(2026, 3, 15, tzinfo=UTC)),
     (datetime(2026, 12, 31, 23, tzinfo=UTC), "PT1H", datetime(2027, 1, 1, tzinfo=UTC)),
     (datetime(2026, 3, 1, tzinfo=UTC), "P1Y2M3DT4H5M6S",
      datetime(2027, 5, 4, 4, 5, 6, tzinfo=UTC))],
)  # fmt: skip
def test_adding_a_duration_by_hand(start: datetime, text: str, expected: datetime) -> None:
    assert add_duration(start, read_duration(text)) == expected


def test_a_datetime_keeps_its_time_and_zone_when_months_are_added() -> None:
    start = datetime(2026, 1, 31, 17, 45, 12, 345, tzinfo=timezone(timedelta(hours=1)))
    moved = add_months(start, 1)
    assert moved == datetime(2026, 2, 28, 17, 45, 12, 345, tzinfo=timezone(timedelta(hours=1)))
    assert type(moved) is datetime and moved.tzinfo == start.tzinfo


@pytest.mark.parametrize(
    ("text", "expected"),
    [("P6Y", Duration(years=6)), ("P1Y6M", Duration(years=1, months=6)),
     ("PT12H", Duration(hours=12)), ("P0D", Duration()), ("P1DT2M", Duration(days=1, minutes=2)),
     ("P", None), ("PT", None), ("P1DT", None), ("P1000000D", None), ("p30d", None),
     ("P1H", None), ("P-1D", None), ("P٣D", None)],
)  # fmt: skip
def test_the_contract_grammar(text: str, expected: Duration | None) -> None:
    assert parse_duration(text) == expected


def test_stored_durations_are_read_as_earlier_contracts_admitted_them() -> None:
    assert read_duration("P1000000D") == Duration(days=1_000_000)
    assert read_duration("P٣D") == Duration(days=3)  # any decimal digit, as \d reads them
    assert read_duration("P") == Duration() == read_duration("PT")
    with pytest.raises(ValueError, match="not an ISO 8601 duration: P1H"):
        read_duration("P1H")


def test_months_beyond_the_year_9999_are_refused_as_dates_refuse_them() -> None:
    with pytest.raises(ValueError, match="year 10000 is out of range"):
        add_months(date(9999, 12, 1), 1)
    with pytest.raises(ValueError, match="year 0 is out of range"):
        add_months(date(1, 1, 1), -1)
    assert add_months(date(9999, 11, 30), 1) == date(9999, 12, 30)


# -- properties ------------------------------------------------------------------------------


@given(start=st.dates(date(1, 1, 1), date(9990, 12, 31)), months=st.integers(-60, 60))
def test_adding_months_lands_in_the_right_month_on_the_same_or_last_day(
    start: date, months: int
) -> None:
    if not 1 <= start.year + (start.month - 1 + months) // 12 <= 9999:
        return
    moved = add_months(start, months)
    assert (moved.year - start.year) * 12 + moved.month - start.month == months
    assert moved.day == min(start.day, month_days(moved.year, moved.month))
    assert moved == _old_clock_add_months(start, months)
    if start.day <= 28:  # every month has the day: the move can be undone
        assert add_months(moved, -months) == start


@given(year=st.integers(1, 9999), month=st.integers(1, 12))
def test_month_days_is_the_calendar_s(year: int, month: int) -> None:
    last = month_days(year, month)
    if (year, month) == (9999, 12):  # no day after it to compare with
        assert last == 31
        return
    assert date(year, month, last) + timedelta(days=1) == add_months(date(year, month, 1), 1)


@given(start=MOMENTS, text=duration_texts())
def test_adding_a_duration_is_what_the_fact_tables_computed(start: datetime, text: str) -> None:
    try:
        expected: datetime | type[Exception] = _old_facts_add_duration(start, text)
    except (OverflowError, ValueError) as exc:
        expected = type(exc)
    try:
        got: datetime | type[Exception] = add_duration(start, read_duration(text))
    except (OverflowError, ValueError) as exc:
        got = type(exc)
    assert got == expected


@given(start=MOMENTS)
def test_one_month_later_is_the_clocks_month(start: datetime) -> None:
    later = add_duration(start, read_duration("P1M"))
    assert later.date() == _old_clock_add_months(start.date(), 1)
    assert later.timetz() == start.timetz()
    assert later == _old_facts_add_duration(start, "P1M")


@given(text=TEXTS)
def test_parsing_and_the_contract_agree(text: str) -> None:
    duration = parse_duration(text)
    assert (duration is not None and any(duration)) == _old_contract_accepts(text)
    event = {**RETENTION_EVENT, "retention": text}
    try:
        validate(event, vocabulary=Vocabulary.default())
        accepted = True
    except InvalidEvent as exc:
        assert exc.key == "retention", str(exc)
        accepted = False
    at = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)  # RETENTION_EVENT's
    assert accepted == (_old_contract_accepts(text) and _old_retention_ends(at, text))
    if duration is not None:
        assert read_duration(text) == duration  # what is admitted reads back the same


@given(start=st.datetimes(datetime(9900, 1, 1), datetime(9999, 12, 31), timezones=ZONES),
       text=duration_texts())  # fmt: skip
def test_the_year_9999_limit_is_where_the_contract_put_it(start: datetime, text: str) -> None:
    duration = parse_duration(text)
    if duration is None or not any(duration):
        return
    event = {**RETENTION_EVENT, "at": start.isoformat(), "retention": text}
    try:
        validate(event, vocabulary=Vocabulary.default())
        accepted = True
    except InvalidEvent as exc:
        assert "past the year 9999" in str(exc)
        accepted = False
    assert accepted == _old_retention_ends(start, text)
