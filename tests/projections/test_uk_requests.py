"""Request clocks under UK law as of 2026: the stop-the-clock of Art. 12A, partial fulfilment,
automated-decision requests and the organisation's target met or missed, each expectation
worked out by hand (the arithmetic in the docstring), on SQLite and PostgreSQL (the ``ledger``
fixture runs each test on both).

Sources (docs/law/requests.md has the rules as applied):
- UK GDPR Art. 12(3): one month of receipt, extendable by two further months, the subject
  told within one month.
- UK GDPR Art. 12A, inserted by the Data (Use and Access) Act 2025 (Part 5, ss.75-79; in
  force 5 February 2026, SI 2026/82): the month runs from the "relevant time" (the latest of
  receipt, the identity information asked for, the fee); while the controller waits for
  clarification it reasonably needs, the period beginning with the day it asks and ending
  with the day it receives the answer does not count. DPA 2018 s.54(3)-(3D) has the same
  wording (https://www.legislation.gov.uk/ukpga/2018/12/section/54): the clarification days
  count neither towards the time period nor towards the month in which an extension is told.
- ICO, "How long do we have to comply?" (https://ico.org.uk/for-organisations/uk-gdpr-
  guidance-and-resources/individual-rights/right-of-access/what-should-we-consider-when-
  responding-to-a-request/): from the day the request, fee or requested information arrives
  to the corresponding date of the next month (or its last day), then the next working day;
  an extension is three months from that start date.
- Bank holidays in England and Wales, 2026: 1 Jan, 3 Apr (Good Friday), 6 Apr (Easter Monday),
  4 May, 25 May, 31 Aug, 25 and 28 Dec; 2027: 1 Jan.
"""

from __future__ import annotations

import dataclasses
import itertools
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import Ledger
from ledger.cli.main import cli
from ledger.projections import Projections
from ledger.projections.report import render_report

DPO = "staff:dpo"


def received(request: str, at: str, kind: str = "access") -> dict[str, Any]:
    return {"type": "request_received", "at": at, "actor": DPO, "subject": "cust-7",
            "request": request, "kind": kind}  # fmt: skip


def paused(request: str, at: str, awaiting: str) -> dict[str, Any]:
    return {"type": "request_paused", "at": at, "actor": DPO, "subject": "cust-7",
            "request": request, "awaiting": awaiting}  # fmt: skip


def resumed(request: str, at: str, awaiting: str) -> dict[str, Any]:
    return {"type": "request_resumed", "at": at, "actor": DPO, "subject": "cust-7",
            "request": request, "awaiting": awaiting}  # fmt: skip


def extended(request: str, at: str, due: str) -> dict[str, Any]:
    return {"type": "request_extended", "at": at, "actor": DPO, "subject": "cust-7",
            "request": request, "reason": "complex", "due": due}  # fmt: skip


def closed(request: str, at: str, outcome: str = "fulfilled", **extra: Any) -> dict[str, Any]:
    return {"type": "request_closed", "at": at, "actor": DPO, "subject": "cust-7",
            "request": request, "outcome": outcome, **extra}  # fmt: skip


def clocks_of(ledger: Ledger, as_of: str, **options: Any) -> dict[str, Any]:
    with Projections(ledger) as p:
        return {c.request: c for c in p.requests(as_of=as_of, **options)}


def effects(clock: Any) -> list[tuple[str, date, date | None, int | None, bool]]:
    return [(p.awaiting, p.paused_on, p.resumed_on, p.days, p.counted) for p in clock.pauses]


# -- clarification: the paused days move the due date and the target --------------------------


def test_a_clarification_pause_moves_the_due_date_and_the_target_by_its_days(
    ledger: Ledger,
) -> None:
    """Art. 12A / DPA 2018 s.54(3C): the period from the day clarification is asked for to the
    day it arrives, both included, does not count. Received Mon 2 Mar 2026; asked Wed 4 Mar,
    answered Mon 9 Mar: 9 - 4 + 1 = 6 days. One month: 2 Apr; + 6 = Wed 8 Apr, a working day.
    Target: 2 Mar + 28 = 30 Mar, + 6 = 5 Apr. On 7 Apr: open, not overdue, target passed."""
    ledger.record_many([
        received("R-1", "2026-03-02T09:00:00Z"),
        paused("R-1", "2026-03-04T10:00:00Z", "clarification"),
        resumed("R-1", "2026-03-09T15:00:00Z", "clarification"),
    ])  # fmt: skip
    clock = clocks_of(ledger, "2026-04-07T12:00:00Z")["R-1"]
    assert (clock.relevant, clock.legal_due, clock.due, clock.target) == (
        date(2026, 3, 2), date(2026, 4, 8), date(2026, 4, 8), date(2026, 4, 5),
    )  # fmt: skip
    assert (clock.status, clock.overdue, clock.target_passed, clock.flags) == (
        "open", False, True, [],
    )  # fmt: skip
    assert effects(clock) == [("clarification", date(2026, 3, 4), date(2026, 3, 9), 6, True)]
    assert clock.pauses[0].effect == "due date and target moved by 6 day(s)"


def test_the_working_day_rule_applies_after_the_paused_days_are_added(ledger: Ledger) -> None:
    """Our reading of Art. 12A with the ICO's count: the unadjusted one-month date plus the
    paused days, then the next working day. Received Mon 23 Feb 2026; clarification 2 to 12 Mar
    = 11 days. 23 Mar + 11 = Fri 3 Apr, Good Friday; Sat, Sun, Easter Monday 6 Apr: due Tue 7
    Apr. (Adjusting first and adding after would give 3 Apr, a bank holiday.) Target: 23 Feb
    + 28 = 23 Mar, + 11 = 3 Apr (the target is a promise in days, not moved to a working day).
    """
    ledger.record_many([
        received("R-2", "2026-02-23T09:00:00Z"),
        paused("R-2", "2026-03-02T09:00:00Z", "clarification"),
        resumed("R-2", "2026-03-12T09:00:00Z", "clarification"),
    ])  # fmt: skip
    clock = clocks_of(ledger, "2026-03-20T12:00:00Z")["R-2"]
    assert (clock.legal_due, clock.due, clock.target) == (
        date(2026, 4, 7), date(2026, 4, 7), date(2026, 4, 3),
    )  # fmt: skip
    assert clock.pauses[0].days == 11


def test_a_pause_across_easter_counts_the_bank_holidays_as_calendar_days(
    ledger: Ledger,
) -> None:
    """The paused period is counted in calendar days (Art. 12A: "the period beginning with the
    day ... and ending with the day ..."), bank holidays included, as local dates: asked at
    23:30Z on 1 Apr, which is 00:30 on Thu 2 Apr in London (BST); answered Tue 7 Apr. 2 Apr to
    7 Apr = 6 days (Good Friday and Easter Monday among them). Received Mon 16 Mar: one month
    16 Apr, + 6 = Wed 22 Apr. Target 16 Mar + 28 = 13 Apr, + 6 = 19 Apr."""
    ledger.record_many([
        received("R-3", "2026-03-16T09:00:00Z"),
        paused("R-3", "2026-04-01T23:30:00Z", "clarification"),
        resumed("R-3", "2026-04-07T08:00:00Z", "clarification"),
    ])  # fmt: skip
    clock = clocks_of(ledger, "2026-04-20T12:00:00Z")["R-3"]
    assert effects(clock) == [("clarification", date(2026, 4, 2), date(2026, 4, 7), 6, True)]
    assert (clock.due, clock.target) == (date(2026, 4, 22), date(2026, 4, 19))


def test_a_pause_across_christmas_lands_on_a_sunday_and_moves_to_monday(
    ledger: Ledger,
) -> None:
    """Received Tue 1 Dec 2026; clarification Mon 21 Dec to Tue 29 Dec = 9 days (25, 26 and
    28 Dec inside). One month: Fri 1 Jan 2027 (a bank holiday, but not yet adjusted), + 9 =
    Sun 10 Jan: due Mon 11 Jan 2027. (Adjusting first, 1 Jan -> Mon 4 Jan, + 9 = 13 Jan,
    would give two days more than the law.) Target 1 Dec + 28 = 29 Dec, + 9 = 7 Jan 2027."""
    ledger.record_many([
        received("R-4", "2026-12-01T10:00:00Z"),
        paused("R-4", "2026-12-21T10:00:00Z", "clarification"),
        resumed("R-4", "2026-12-29T10:00:00Z", "clarification"),
    ])  # fmt: skip
    clock = clocks_of(ledger, "2027-01-05T12:00:00Z")["R-4"]
    assert (clock.due, clock.target, clock.pauses[0].days) == (
        date(2027, 1, 11), date(2027, 1, 7), 9,
    )  # fmt: skip


# -- identity and fee: the month runs from the resume -----------------------------------------


def test_an_identity_pause_starts_the_month_on_the_day_identity_arrived(ledger: Ledger) -> None:
    """Art. 12A: the relevant time is the latest of receipt and the receipt of the identity
    information asked for. Received Tue 3 Mar 2026, identity asked the same day, received Fri
    13 Mar: the month runs from 13 Mar to Mon 13 Apr (a working day). Target 13 Mar + 28 =
    10 Apr. (Without the pause: 3 Apr, Good Friday, so 7 Apr.)"""
    ledger.record_many([
        received("R-5", "2026-03-03T09:00:00Z", "erasure"),
        paused("R-5", "2026-03-03T09:30:00Z", "identity"),
        resumed("R-5", "2026-03-13T16:00:00Z", "identity"),
    ])  # fmt: skip
    clock = clocks_of(ledger, "2026-04-01T12:00:00Z")["R-5"]
    assert (clock.received, clock.relevant, clock.due, clock.target) == (
        date(2026, 3, 3), date(2026, 3, 13), date(2026, 4, 13), date(2026, 4, 10),
    )  # fmt: skip
    assert clock.pauses[0].effect == "the month runs from 2026-03-13"
    assert clock.pauses[0].days is None


def test_an_extension_after_a_fee_pause_is_measured_from_the_relevant_time(
    ledger: Ledger,
) -> None:
    """Art. 12A and the ICO: the month and the extension run from the day the fee arrived.
    Received Wed 14 Jan 2026; fee asked Fri 16 Jan, paid Sat 31 Jan: relevant time 31 Jan.
    One month: 28 Feb (no 31 Feb), a Saturday: due Mon 2 Mar; the extension must be told by
    then and reaches at most 31 Jan + 3 months = Thu 30 Apr. An extension made 20 Feb to 30 Apr
    is valid (measured from receipt it would be late, after Mon 16 Feb, and too long, past 14
    Apr); one made 21 Feb to 1 May reaches beyond 30 Apr: flagged, 30 Apr stays in force.
    Target: 31 Jan + 28 = 28 Feb."""
    ledger.record_many([
        received("R-6", "2026-01-14T09:00:00Z"),
        paused("R-6", "2026-01-16T09:00:00Z", "fee"),
        resumed("R-6", "2026-01-31T11:00:00Z", "fee"),
        extended("R-6", "2026-02-20T09:00:00Z", "2026-04-30"),
        extended("R-6", "2026-02-21T09:00:00Z", "2026-05-01"),
    ])  # fmt: skip
    clock = clocks_of(ledger, "2026-04-01T12:00:00Z")["R-6"]
    assert (clock.relevant, clock.legal_due, clock.due, clock.target) == (
        date(2026, 1, 31), date(2026, 3, 2), date(2026, 4, 30), date(2026, 2, 28),
    )  # fmt: skip
    assert clock.extension_reason == "complex" and not clock.overdue
    assert clock.flags == [
        "extended beyond two further months",
        "extension to 2026-05-01 not valid: the due date stays 2026-04-30 (an extension "
        "reaches at most 2026-04-30 and is made by 2026-03-02)",
    ]


def test_the_first_month_for_an_extension_moves_with_a_clarification_pause(
    ledger: Ledger,
) -> None:
    """DPA 2018 s.54(3C)(b)(ii) (Art. 12A has the same wording): the clarification days do not
    count towards the month in which an extension is told either. Received Mon 2 Mar 2026;
    clarification 4 to 9 Mar = 6 days: the first month ends 2 Apr + 6 = Wed 8 Apr, and the
    extension reaches at most 2 Jun + 6 = Mon 8 Jun. An extension made Tue 7 Apr (after 2 Apr,
    before 8 Apr) to 8 Jun is valid; the pause began before it, so 8 Jun stands."""
    ledger.record_many([
        received("R-7", "2026-03-02T09:00:00Z"),
        paused("R-7", "2026-03-04T09:00:00Z", "clarification"),
        resumed("R-7", "2026-03-09T09:00:00Z", "clarification"),
        extended("R-7", "2026-04-07T09:00:00Z", "2026-06-08"),
    ])  # fmt: skip
    clock = clocks_of(ledger, "2026-05-01T12:00:00Z")["R-7"]
    assert (clock.legal_due, clock.due, clock.flags) == (date(2026, 4, 8), date(2026, 6, 8), [])


def test_a_clarification_pause_after_an_extension_moves_the_extended_date(
    ledger: Ledger,
) -> None:
    """The days of a clarification pause do not count towards the (extended) time period; one
    begun after the extension was made could not be counted in the date it names, so it moves
    that date. Received Mon 2 Mar 2026; extended on 10 Mar to Mon 1 Jun (limit 2 Jun);
    clarification 20 to 24 Mar = 5 days: 1 Jun + 5 = Sat 6 Jun, so Mon 8 Jun. The legal
    one-month date: 2 Apr + 5 = Tue 7 Apr."""
    ledger.record_many([
        received("R-8", "2026-03-02T09:00:00Z"),
        extended("R-8", "2026-03-10T09:00:00Z", "2026-06-01"),
        paused("R-8", "2026-03-20T09:00:00Z", "clarification"),
        resumed("R-8", "2026-03-24T09:00:00Z", "clarification"),
    ])  # fmt: skip
    clock = clocks_of(ledger, "2026-05-01T12:00:00Z")["R-8"]
    assert (clock.legal_due, clock.due, clock.flags) == (date(2026, 4, 7), date(2026, 6, 8), [])


# -- still paused, paused late, overlapping, both at once, resume without pause --------------


def test_a_request_still_paused_has_no_due_date_and_is_not_overdue(ledger: Ledger) -> None:
    """EVENTS.md "Clock pauses": a request paused and not resumed has no due date and shows as
    paused since that day (Art. 12A: the clock is stopped until the clarification arrives).
    Received Mon 1 Jun 2026, clarification asked Wed 3 Jun, nothing since; on 1 Sep: paused
    since 3 Jun, awaiting clarification, no due date, no target, not overdue, still open."""
    ledger.record_many([
        received("R-9", "2026-06-01T09:00:00Z"),
        paused("R-9", "2026-06-03T09:00:00Z", "clarification"),
    ])  # fmt: skip
    clock = clocks_of(ledger, "2026-09-01T12:00:00Z")["R-9"]
    assert (clock.status, clock.paused_since, clock.awaiting) == (
        "paused", date(2026, 6, 3), ["clarification"],
    )  # fmt: skip
    assert (clock.legal_due, clock.due, clock.target, clock.overdue, clock.target_passed) == (
        None, None, None, False, False,
    )  # fmt: skip
    assert effects(clock) == [("clarification", date(2026, 6, 3), None, None, True)]
    assert list(clocks_of(ledger, "2026-09-01T12:00:00Z", open_only=True)) == ["R-9"]


def test_a_pause_after_the_due_date_does_not_revive_it(ledger: Ledger) -> None:
    """EVENTS.md: pauses after the due date has passed do not revive it (Art. 12A stops a
    running clock; a time limit already missed cannot be stopped). Received Mon 2 Mar 2026,
    due Thu 2 Apr; clarification asked Wed 8 Apr, answered 15 Apr: flagged, no effect; on 20
    Apr the request is overdue against 2 Apr."""
    ledger.record_many([
        received("R-10", "2026-03-02T09:00:00Z"),
        paused("R-10", "2026-04-08T09:00:00Z", "clarification"),
        resumed("R-10", "2026-04-15T09:00:00Z", "clarification"),
    ])  # fmt: skip
    clock = clocks_of(ledger, "2026-04-20T12:00:00Z")["R-10"]
    assert (clock.due, clock.overdue, clock.status) == (date(2026, 4, 2), True, "open")
    assert clock.flags == [
        "paused for clarification on 2026-04-08, after its due date (2026-04-02) had passed: "
        "the clock is not stopped"
    ]
    assert effects(clock) == [("clarification", date(2026, 4, 8), date(2026, 4, 15), None, False)]


def test_an_overlapping_pause_for_the_same_value_is_flagged_and_ignored(ledger: Ledger) -> None:
    """EVENTS.md: pauses may not overlap for one awaiting value. Received Mon 2 Mar 2026;
    clarification asked 4 Mar, asked again 6 Mar (flagged, ignored), answered 9 Mar (ends the
    first: 6 days), a second answer 12 Mar has no open pause left (flagged). Due 2 Apr + 6 =
    Wed 8 Apr."""
    ledger.record_many([
        received("R-11", "2026-03-02T09:00:00Z"),
        paused("R-11", "2026-03-04T09:00:00Z", "clarification"),
        paused("R-11", "2026-03-06T09:00:00Z", "clarification"),
        resumed("R-11", "2026-03-09T09:00:00Z", "clarification"),
        resumed("R-11", "2026-03-12T09:00:00Z", "clarification"),
    ])  # fmt: skip
    clock = clocks_of(ledger, "2026-03-20T12:00:00Z")["R-11"]
    assert clock.due == date(2026, 4, 8)
    assert effects(clock) == [
        ("clarification", date(2026, 3, 4), date(2026, 3, 9), 6, True),
        ("clarification", date(2026, 3, 6), None, None, False),
    ]
    assert clock.flags == [
        "paused for clarification on 2026-03-06 while a clarification pause was open since "
        "2026-03-04: the overlapping pause is ignored",
        "resumed (clarification) on 2026-03-12 without an open clarification pause",
    ]


def test_clarification_and_identity_pauses_running_at_once_both_apply(ledger: Ledger) -> None:
    """EVENTS.md: a pause for another value may run at the same time. Received Mon 2 Mar 2026;
    identity asked 2 Mar, received Tue 10 Mar: the month runs from 10 Mar. Clarification asked
    5 Mar, answered Fri 13 Mar: only its days from the relevant time on do not count (the
    month has not begun before it): 10 to 13 Mar = 4 days. Due 10 Apr + 4 = Tue 14 Apr;
    target 10 Mar + 28 + 4 = 11 Apr."""
    ledger.record_many([
        received("R-12", "2026-03-02T09:00:00Z"),
        paused("R-12", "2026-03-02T10:00:00Z", "identity"),
        paused("R-12", "2026-03-05T10:00:00Z", "clarification"),
        resumed("R-12", "2026-03-10T10:00:00Z", "identity"),
        resumed("R-12", "2026-03-13T10:00:00Z", "clarification"),
    ])  # fmt: skip
    clock = clocks_of(ledger, "2026-03-20T12:00:00Z")["R-12"]
    assert (clock.relevant, clock.due, clock.target, clock.flags) == (
        date(2026, 3, 10), date(2026, 4, 14), date(2026, 4, 11), [],
    )  # fmt: skip
    assert effects(clock) == [
        ("identity", date(2026, 3, 2), date(2026, 3, 10), None, True),
        ("clarification", date(2026, 3, 5), date(2026, 3, 13), 4, True),
    ]
    # while both were open, the request was paused awaiting both
    both = clocks_of(ledger, "2026-03-07T12:00:00Z")["R-12"]
    assert (both.status, both.awaiting, both.paused_since) == (
        "paused", ["clarification", "identity"], date(2026, 3, 2),
    )  # fmt: skip


def test_a_resume_without_a_pause_is_flagged_and_moves_nothing(ledger: Ledger) -> None:
    """EVENTS.md: request_resumed takes the same awaiting value as the pause it ends; with no
    open pause there is nothing to end. Received Mon 2 Mar 2026: due 2 Apr as without it."""
    ledger.record_many([
        received("R-13", "2026-03-02T09:00:00Z"),
        resumed("R-13", "2026-03-05T09:00:00Z", "identity"),
    ])  # fmt: skip
    clock = clocks_of(ledger, "2026-03-20T12:00:00Z")["R-13"]
    assert (clock.relevant, clock.due, clock.pauses) == (date(2026, 3, 2), date(2026, 4, 2), [])
    assert clock.flags == ["resumed (identity) on 2026-03-05 without an open identity pause"]


# -- order of recording and as_of --------------------------------------------------------------


def _comparable(clock: Any) -> dict[str, Any]:
    return dataclasses.asdict(dataclasses.replace(clock, request="-"))


def test_a_pause_recorded_after_the_close_gives_the_same_clock(ledger: Ledger) -> None:
    """EVENTS.md: projections apply a request's events in `at` order whatever the recording
    order. Received Mon 2 Mar 2026, clarification 4 to 9 Mar (6 days: due 8 Apr), closed Tue 7
    Apr: on time, though after the unpaused 2 Apr. R-14 recorded in order; R-15 with the pause
    and resume recorded after the close: the same clock, no 'closed after its due date'."""

    def story(request: str) -> list[dict[str, Any]]:
        return [received(request, "2026-03-02T09:00:00Z"),
                paused(request, "2026-03-04T09:00:00Z", "clarification"),
                resumed(request, "2026-03-09T09:00:00Z", "clarification"),
                closed(request, "2026-04-07T09:00:00Z")]  # fmt: skip

    ledger.record_many(story("R-14"))
    late = story("R-15")
    ledger.record_many([late[0], late[3], late[1], late[2]])
    clocks = clocks_of(ledger, "2026-05-01T12:00:00Z")
    assert _comparable(clocks["R-14"]) == _comparable(clocks["R-15"])
    assert (clocks["R-15"].due, clocks["R-15"].status, clocks["R-15"].flags) == (
        date(2026, 4, 8), "fulfilled", [],
    )  # fmt: skip
    # the target (2 Mar + 28 + 6 = 5 Apr) was missed; the legal date was met
    assert clocks["R-15"].target_met is False


def test_as_of_between_the_pause_and_the_resume_sees_the_clock_stopped(ledger: Ledger) -> None:
    """Art. 12A: until the clarification arrives the period does not run; the ledger answers
    as the records stood at as_of. Received Mon 2 Mar 2026, clarification 4 to 9 Mar. On 6 Mar:
    paused since 4 Mar, no due date, the pause open. On 10 Mar: due 2 Apr + 6 = 8 Apr."""
    ledger.record_many([
        received("R-16", "2026-03-02T09:00:00Z"),
        paused("R-16", "2026-03-04T09:00:00Z", "clarification"),
        resumed("R-16", "2026-03-09T09:00:00Z", "clarification"),
    ])  # fmt: skip
    during = clocks_of(ledger, "2026-03-06T12:00:00Z")["R-16"]
    assert (during.status, during.due, during.paused_since) == ("paused", None, date(2026, 3, 4))
    assert during.pauses[0].resumed_on is None
    after = clocks_of(ledger, "2026-03-10T12:00:00Z")["R-16"]
    assert (after.status, after.due, after.pauses[0].days) == ("open", date(2026, 4, 8), 6)


EVENT_AT = st.sampled_from([f"2026-03-{d:02d}T{h:02d}:00:00Z" for d in range(2, 32)
                            for h in (9, 15)])  # fmt: skip


@st.composite
def request_stories(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A request's events at distinct times: its receipt, pauses and resumes of any value (in
    any pattern, including ones the clock flags), perhaps an extension and a close."""
    ats = draw(st.lists(EVENT_AT, min_size=2, max_size=8, unique=True))
    ats.sort()
    story = [received("P", ats[0])]
    for at in ats[1:-1]:
        awaiting = draw(st.sampled_from(["clarification", "identity", "fee"]))
        make = draw(st.sampled_from([paused, resumed, paused]))
        story.append(make("P", at, awaiting))
    if draw(st.booleans()):
        story.append(extended("P", ats[-1], draw(st.sampled_from(["2026-05-29", "2026-07-01"]))))
    else:
        story.append(closed("P", "2026-04-20T09:00:00Z"))
    return story


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(story=request_stories(), data=st.data())
def test_the_recording_order_never_changes_a_clock(
    ledger: Ledger, story: list[dict[str, Any]], data: st.DataObject
) -> None:
    """EVENTS.md: events may arrive late and out of order; a request's clock is judged once
    all its events are in. The same events recorded in `at` order and in a drawn permutation
    give the same clock (pauses, flags, dates and all)."""
    number = next(_numbers)
    first, second = f"H-{number}-a", f"H-{number}-b"
    shuffled = data.draw(st.permutations(story))
    ledger.record_many([{**e, "request": first} for e in story])
    ledger.record_many([{**e, "request": second} for e in shuffled])
    clocks = clocks_of(ledger, "2026-06-01T12:00:00Z")
    assert _comparable(clocks[first]) == _comparable(clocks[second])


_numbers = itertools.count()


# -- partial fulfilment, automated decisions, the target met or missed ------------------------


def test_partial_fulfilment_automated_decisions_and_the_target_met_or_missed(
    ledger: Ledger,
) -> None:
    """EVENTS.md: request_closed takes outcome partially_fulfilled (with reason), and
    request_received the kind automated_decision (Arts. 22A-22D, in force 5 Feb 2026). The
    target is the organisation's own promise (28 days), beside the legal date (Art. 12(3)).
    All received Mon 2 Mar 2026: target 30 Mar, due Thu 2 Apr.
    - A (automated_decision), closed partially fulfilled 27 Mar: target met.
    - B, closed 1 Apr: target missed, due met (no flag).
    - C, closed 7 Apr: target missed, 'closed after its due date'.
    - D, open on 31 Mar: the target has passed; not overdue."""
    ledger.record_many([
        received("A", "2026-03-02T09:00:00Z", "automated_decision"),
        closed("A", "2026-03-27T09:00:00Z", "partially_fulfilled",
               reason="decision reviewed by staff; the model's weights not disclosed"),
        received("B", "2026-03-02T09:00:00Z"), closed("B", "2026-04-01T09:00:00Z"),
        received("C", "2026-03-02T09:00:00Z"), closed("C", "2026-04-07T09:00:00Z"),
        received("D", "2026-03-02T09:00:00Z"),
    ])  # fmt: skip
    clocks = clocks_of(ledger, "2026-04-10T12:00:00Z")
    a, b, c = clocks["A"], clocks["B"], clocks["C"]
    assert (a.kind, a.status, a.reason, a.target, a.target_met, a.flags) == (
        "automated_decision", "partially_fulfilled",
        "decision reviewed by staff; the model's weights not disclosed",
        date(2026, 3, 30), True, [],
    )  # fmt: skip
    assert (b.target_met, b.due, b.flags) == (False, date(2026, 4, 2), [])
    assert (c.target_met, c.flags) == (False, ["closed after its due date"])
    d = clocks_of(ledger, "2026-03-31T12:00:00Z")["D"]
    assert (d.status, d.target_passed, d.overdue, d.target_met) == ("open", True, False, None)


# -- the demo's story --------------------------------------------------------------------------


def test_the_demo_requests_paused_for_identity_and_for_clarification(filled: Ledger) -> None:
    """The demo (ledger/demo/story.py): DSR-2026-010, a rectification received Tue 5 May 2026,
    identity asked that day and received Mon 11 May (Art. 12A: the month runs from 11 May): due
    Thu 11 Jun, target 11 May + 28 = 8 Jun; closed partially fulfilled on 1 Jun: target met.
    (Without the pause: due Fri 5 Jun.) DSR-2026-011, an access request received Mon 6 Jul,
    clarification asked Tue 7 Jul and not answered: paused, no due date. DSR-2026-012, a
    request about an automated decision (Art. 22C) received Mon 20 Jul: due Thu 20 Aug,
    target 17 Aug; closed Mon 24 Aug, after both (target missed, closed late)."""
    clocks = clocks_of(filled, "2026-08-01T12:00:00Z")
    ten, eleven = clocks["DSR-2026-010"], clocks["DSR-2026-011"]
    assert (ten.kind, ten.received, ten.relevant, ten.legal_due, ten.due, ten.target) == (
        "rectification", date(2026, 5, 5), date(2026, 5, 11), date(2026, 6, 11),
        date(2026, 6, 11), date(2026, 6, 8),
    )  # fmt: skip
    assert (ten.status, ten.target_met, ten.flags) == ("partially_fulfilled", True, [])
    assert ten.reason == "job title confirmed accurate by the employer; workplace corrected"
    assert effects(ten) == [("identity", date(2026, 5, 5), date(2026, 5, 11), None, True)]
    assert (eleven.kind, eleven.status, eleven.paused_since, eleven.awaiting, eleven.due) == (
        "access", "paused", date(2026, 7, 7), ["clarification"], None,
    )  # fmt: skip
    assert effects(eleven) == [("clarification", date(2026, 7, 7), None, None, True)]
    assert eleven.flags == []
    twelve = clocks_of(filled, "2026-09-01T12:00:00Z")["DSR-2026-012"]
    assert (twelve.kind, twelve.due, twelve.target, twelve.status, twelve.target_met) == (
        "automated_decision", date(2026, 8, 20), date(2026, 8, 17), "fulfilled", False,
    )  # fmt: skip
    assert twelve.flags == ["closed after its due date"]


def test_clarification_stops_the_clock_of_an_access_request_only(ledger: Ledger) -> None:
    """UK GDPR Art. 12A and DPA 2018 s.54(3C): the days awaiting clarification do not count
    where the controller needs it "to identify the information or processing activities to
    which a request under section 45(1) [the right of access] relates". On an erasure request
    a clarification pause moves nothing (a later due date would show a late answer on
    time): received Mon 2 Mar 2026, paused 3-9 Mar, still due Thu 2 Apr, and said so."""
    ledger.record_many([
        received("E", "2026-03-02T09:00:00Z", "erasure"),
        paused("E", "2026-03-03T09:00:00Z", "clarification"),
        resumed("E", "2026-03-09T09:00:00Z", "clarification"),
    ])  # fmt: skip
    clock = clocks_of(ledger, "2026-03-20T12:00:00Z")["E"]
    assert (clock.due, clock.target, clock.status) == (date(2026, 4, 2), date(2026, 3, 30), "open")
    assert effects(clock) == [("clarification", date(2026, 3, 3), date(2026, 3, 9), None, False)]
    assert clock.flags == [
        "paused for clarification on 2026-03-03 on a request of kind erasure: Art. 12A stops "
        "the clock for clarification of access requests only, so the clock is not stopped"
    ]


def test_the_report_notes_each_pause_and_draws_it(filled: Ledger) -> None:
    """The report's request section: a note of each pause with its effect, PAUSED for a
    request whose clock is stopped, the target met, and the pause drawn on the clock."""
    with Projections(filled) as p:
        html = render_report(p, as_of="2026-08-01T12:00:00Z")
    section = html[html.index('<section id="requests">') :]
    section = section[: section.index("</section>")]
    assert "paused for identity" in section and "the month runs from 2026-05-11" in section
    assert "PAUSED</span> since" in section and "awaiting clarification" in section
    assert "partially_fulfilled (job title confirmed accurate" in section
    assert "target met" in section and 'class="paused"' in section
    assert "paused 2026-05-05 to 2026-05-11" in section  # the drawing's text alternative


# -- the CLI -----------------------------------------------------------------------------------


@pytest.fixture
def run(tmp_path: Path, config_path: Path, story: list[dict[str, Any]]) -> Any:
    base = ["--db", f"sqlite:///{tmp_path / 'l.db'}", "--keys", str(tmp_path / "k"),
            "--config", str(config_path), "--signing-key", str(tmp_path / "s")]  # fmt: skip

    def invoke(*args: str, input: bytes | None = None) -> Result:
        return CliRunner().invoke(cli, [*base, *args], input=input)

    invoke("init")
    extra = [received("DSR-T-1", "2026-03-02T09:00:00Z"),
             paused("DSR-T-1", "2026-03-04T09:00:00Z", "clarification"),
             resumed("DSR-T-1", "2026-03-09T09:00:00Z", "clarification")]  # fmt: skip
    lines = b"".join(orjson.dumps(e) + b"\n" for e in [*story, *extra])
    assert invoke("import", "-", input=lines).exit_code == 0
    return invoke


def test_ledger_requests_shows_a_paused_request_and_its_pauses(run: Any) -> None:
    """`ledger requests`: DSR-2026-011 paused since 7 Jul awaiting clarification, no due date;
    DSR-T-1's clarification pause of 4 to 9 Mar moved its due date 6 days, to 8 Apr; the
    demo's DSR-2026-010 ran from 11 May (identity) and met its target."""
    result = run("requests", "--as-of", "2026-08-01")
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[2:]}
    assert "paused since 2026-07-07 (awaiting clarification)" in rows["DSR-2026-011"]
    assert ("clarification 2026-03-04 to 2026-03-09: due date and target moved by 6 day(s)"
            in rows["DSR-T-1"])  # fmt: skip
    assert "2026-04-08" in rows["DSR-T-1"]
    assert "2026-06-08 (met)" in rows["DSR-2026-010"]
    assert (
        "identity 2026-05-05 to 2026-05-11: the month runs from 2026-05-11" in rows["DSR-2026-010"]
    )
    # --open keeps the paused request (it is not closed)
    still = run("requests", "--open", "--as-of", "2026-08-01", "--json")
    assert "DSR-2026-011" in [c["request"] for c in orjson.loads(still.stdout)]


def test_ledger_requests_json_carries_the_pauses_and_the_target(run: Any) -> None:
    """The JSON: pauses with dates, days and effect; the paused request's nulls; target_met."""
    clocks = {c["request"]: c for c in orjson.loads(
        run("requests", "--as-of", "2026-08-01", "--json").stdout)}  # fmt: skip
    eleven = clocks["DSR-2026-011"]
    assert (eleven["status"], eleven["paused_since"], eleven["awaiting"], eleven["due"]) == (
        "paused", "2026-07-07", ["clarification"], None,
    )  # fmt: skip
    assert eleven["pauses"] == [{
        "awaiting": "clarification", "paused_at": "2026-07-07T10:00:00Z",
        "paused_on": "2026-07-07", "resumed_at": None, "resumed_on": None, "days": None,
        "counted": True, "effect": "open: the clock is stopped (no due date)",
    }]  # fmt: skip
    ten = clocks["DSR-2026-010"]
    assert (ten["relevant"], ten["target"], ten["target_met"], ten["status"]) == (
        "2026-05-11", "2026-06-08", True, "partially_fulfilled",
    )  # fmt: skip
    assert clocks["DSR-T-1"]["pauses"][0]["days"] == 6


def test_ledger_subject_lists_the_request_pauses(run: Any) -> None:
    """`ledger subject`: the request lines say paused, the target and each pause."""
    out = run("subject", "cust-1001", "--as-of", "2026-08-01").stdout
    assert ("request DSR-2026-011 (access): paused since 2026-07-07 (awaiting "
            "clarification), target -, due - (paused); paused clarification since 2026-07-07: "
            "open: the clock is stopped (no due date)") in out  # fmt: skip


# -- found in review: a day counted once, an extension only adds time, ties by sequence ---------


def test_a_day_ending_one_pause_and_beginning_the_next_counts_once(ledger: Ledger) -> None:
    """Art. 12A / DPA 2018 s.54(3C): "the period beginning with the day [it is asked for] and
    ending with the day [it arrives] does not count": a day either counts or not. Received
    Mon 5 Jan 2026; clarification 10-12 Jan, asked again on the 12th, answered on the 15th:
    10-15 January, 6 days, as one pause 10-15 Jan would be. Due 5 Feb + 6 = Wed 11 Feb,
    target 2 Feb + 6 = Sun 8 Feb (not 7 days: 12 and 9 Feb)."""
    ledger.record_many([
        received("A", "2026-01-05T09:00:00Z"),
        paused("A", "2026-01-10T10:00:00Z", "clarification"),
        resumed("A", "2026-01-12T09:00:00Z", "clarification"),
        paused("A", "2026-01-12T15:00:00Z", "clarification"),
        resumed("A", "2026-01-15T09:00:00Z", "clarification"),
        received("B", "2026-01-05T09:00:00Z"),
        paused("B", "2026-01-10T10:00:00Z", "clarification"),
        resumed("B", "2026-01-15T09:00:00Z", "clarification"),
    ])  # fmt: skip
    clocks = clocks_of(ledger, "2026-01-20T12:00:00Z")
    for name in "AB":
        assert (clocks[name].due, clocks[name].target) == (date(2026, 2, 11), date(2026, 2, 8))


def test_an_extension_made_before_an_identity_pause_never_brings_the_due_date_forward(
    ledger: Ledger,
) -> None:
    """Art. 12(3): an extension adds "two further months"; it never shortens the time. Received
    Mon 5 Jan 2026, extended on the 10th to 5 Mar, identity asked 20 Jan and received Sun
    1 Mar: the month runs from 1 Mar (Art. 12A), due Wed 1 Apr, not the 5 March the extension
    named (which would show the request overdue on 10 March when it is not). An extension to
    a date before the legal due date moves nothing either, and is said."""
    ledger.record_many([
        received("R", "2026-01-05T09:00:00Z"),
        extended("R", "2026-01-10T09:00:00Z", "2026-03-05"),
        paused("R", "2026-01-20T09:00:00Z", "identity"),
        resumed("R", "2026-03-01T09:00:00Z", "identity"),
        received("S", "2026-01-05T09:00:00Z"),
        extended("S", "2026-01-06T09:00:00Z", "2026-01-20"),
    ])  # fmt: skip
    r, s = (clocks_of(ledger, "2026-03-10T12:00:00Z")[name] for name in "RS")
    assert (r.relevant, r.legal_due, r.due, r.overdue) == (
        date(2026, 3, 1), date(2026, 4, 1), date(2026, 4, 1), False,
    )  # fmt: skip
    assert "extension to 2026-03-05 is before the due date 2026-04-01: it moves nothing" in r.flags
    assert (s.legal_due, s.due) == (date(2026, 2, 5), date(2026, 2, 5))
    assert "extension to 2026-01-20 is before the due date 2026-02-05: it moves nothing" in s.flags


def test_a_resume_and_a_new_pause_at_the_same_moment_count_in_recorded_order(
    ledger: Ledger,
) -> None:
    """EVENTS.md: events apply in `at` order, ties broken by sequence. Received Mon 5 Jan 2026
    at midnight; clarification asked 10 Jan, answered and asked again at midnight on the 12th
    (recorded in that order), answered 20 Jan: 10-20 January, 11 days, due 5 Feb + 11 = Mon
    16 Feb; nothing flagged."""
    ledger.record_many([
        received("T", "2026-01-05T00:00:00Z"),
        paused("T", "2026-01-10T00:00:00Z", "clarification"),
        resumed("T", "2026-01-12T00:00:00Z", "clarification"),
        paused("T", "2026-01-12T00:00:00Z", "clarification"),
        resumed("T", "2026-01-20T00:00:00Z", "clarification"),
    ])  # fmt: skip
    clock = clocks_of(ledger, "2026-01-25T12:00:00Z")["T"]
    assert (clock.legal_due, clock.due, clock.flags) == (date(2026, 2, 16), date(2026, 2, 16), [])
