"""Breach timelines under UK law as of 2026, each expectation worked out by hand (the arithmetic
in a comment), on SQLite and PostgreSQL (the ``ledger`` fixture runs each test on both).

The rules are those of ../shared/EVENTS.md ("Additions for UK law as of 2026") and
docs/law/breaches.md, which cites its sources: UK GDPR Art. 33 and 34 (legislation.gov.uk,
https://legislation.gov.uk/eur/2016/679/article/34), and the ICO's breach guidance and audit
toolkit (https://ico.org.uk/for-organisations/advice-and-services/audits/
data-protection-audit-framework/toolkits/personal-data-breach-management/reporting-processes:
"Record decisions not to report a personal data breach or the reasons for any delays").
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import Ledger
from ledger.cli.main import cli
from ledger.projections import Projections
from ledger.projections.breaches import BreachTimeline, ControllerNotice
from ledger.projections.report import render_report

DPO = "staff:dpo"
SUPPORT = {"purpose": "essential.service.operations.support", "basis": "contract"}
SECURITY = {"purpose": "essential.service.security", "basis": "public_task"}
SCHOOL = "org:ashby-primary"
OTHER_SCHOOL = "org:brook-lane"
AWARE = "2026-09-01T09:00:00Z"  # every case's awareness; the 72 hours end 4 Sep 09:00Z
DEADLINE = "2026-09-04T09:00:00.000000Z"
NO_REASONING = (
    "assessed unlikely to result in a risk without the reasoning (Art. 33(5): document why "
    "the breach was not reported)"
)
NO_REPORT = "no initial report to the authority and the 72 hours have passed"


def own(subject: str, at: str = "2026-08-01T10:00:00Z", system: str = "crm") -> dict[str, Any]:
    """The organisation's own (controller) collection of a contact email."""
    return {"type": "collected", "at": at, "actor": "svc:crm", "subject": subject,
            "categories": ["user.contact.email"], "system": system, "source": "web form",
            "location": "GB", **SUPPORT}  # fmt: skip


def processed(subject: str, controller: str = SCHOOL, system: str = "netmgmt") -> dict[str, Any]:
    """A collection the organisation makes as a processor for *controller*."""
    return {"type": "collected", "at": "2026-08-01T10:00:00Z", "actor": "svc:netmgmt",
            "subject": subject, "categories": ["user.contact.email"], "system": system,
            "source": "the school's sign-in", "location": "GB", "role": "processor",
            "controller": controller, **SECURITY}  # fmt: skip


def detected(breach: str, systems: list[str], at: str = AWARE, **extra: Any) -> dict[str, Any]:
    return {"type": "breach_detected", "at": at, "actor": "staff:secops", "breach": breach,
            "description": "a mis-set firewall rule", "systems": systems,
            "categories": ["user.contact"], "aware_at": AWARE, **extra}  # fmt: skip


def assessed(breach: str, at: str, risk: str, estimate: int, **extra: Any) -> dict[str, Any]:
    return {"type": "breach_assessed", "at": at, "actor": DPO, "breach": breach, "risk": risk,
            "subjects_estimate": estimate, **extra}  # fmt: skip


def reported(breach: str, at: str) -> dict[str, Any]:
    return {"type": "breach_reported", "at": at, "actor": DPO, "breach": breach,
            "authority": "ICO", "reference": f"ICO-{breach}", "phase": "initial"}  # fmt: skip


def told_controller(breach: str, at: str, controller: str = SCHOOL) -> dict[str, Any]:
    return {"type": "controller_notified", "at": at, "actor": DPO, "breach": breach,
            "controller": controller}  # fmt: skip


def exempted(breach: str, at: str, exemption: str) -> dict[str, Any]:
    return {"type": "subjects_not_notified", "at": at, "actor": DPO, "breach": breach,
            "exemption": exemption}  # fmt: skip


def one(ledger: Ledger, as_of: str, breach: str = "INC-1") -> BreachTimeline:
    with Projections(ledger) as p:
        found = p.breaches(breach=breach, as_of=as_of)
    assert len(found) == 1
    return found[0]


# -- Art. 33(5): the reasoning of an "unlikely" assessment ------------------------------------


def test_unlikely_without_reason_is_flagged_and_with_reason_is_not(ledger: Ledger) -> None:
    """UK GDPR Art. 33(1): no report when the breach is unlikely to result in a risk; Art. 33(5):
    the controller documents every breach, "its effects and the remedial action taken", so the
    reasoning of not reporting is kept (ICO audit toolkit: "Record decisions not to report").
    EVENTS.md: `unlikely` without `reason` is flagged, never refused."""
    ledger.record_many(
        [
            own("c1"),
            detected("INC-1", ["crm"]),
            assessed("INC-1", "2026-09-01T12:00:00Z", "unlikely", 1),  # no reason: accepted
            detected("INC-2", ["crm"]),
            assessed(
                "INC-2",
                "2026-09-01T12:00:00Z",
                "unlikely",
                1,
                reason="the address list was sent to our own auditor only",
            ),
        ]
    )
    # as of 10 Sep, 6 days past the deadline: neither is flagged for no report (unlikely)
    bare = one(ledger, "2026-09-10T00:00:00Z")
    assert (bare.risk, bare.reason, bare.reports) == ("unlikely", None, [])
    assert bare.flags == [NO_REASONING]
    documented = one(ledger, "2026-09-10T00:00:00Z", "INC-2")
    assert documented.reason == "the address list was sent to our own auditor only"
    assert documented.flags == []


# -- Art. 34(3): the exemptions from telling the subjects --------------------------------------


def test_high_risk_with_an_exemption_lists_the_untold_without_flagging_them(
    ledger: Ledger,
) -> None:
    """UK GDPR Art. 34(1): a high-risk breach is told to the subjects without undue delay;
    Art. 34(3)(b): not required where later measures ensure the high risk is no longer likely
    to materialise. EVENTS.md: with `subjects_not_notified` the untold are not flagged, but
    they are still listed."""
    ledger.record_many(
        [
            own("c1"),
            own("c2"),
            detected("INC-1", ["crm"], contained_at="2026-09-01T15:00:00Z", records=2),
            assessed(
                "INC-1",
                "2026-09-01T12:00:00Z",
                "high",
                2,
                reason="emails with account numbers",
                consequences="phishing",
                measures="accounts locked, numbers reissued",
            ),
            reported("INC-1", "2026-09-02T10:00:00Z"),  # 25 h after awareness: on time
            exempted("INC-1", "2026-09-02T11:00:00Z", "measures_taken"),
            detected("INC-2", ["crm"]),
            assessed("INC-2", "2026-09-01T12:00:00Z", "high", 2),
            reported("INC-2", "2026-09-02T10:00:00Z"),
        ]
    )
    exempt = one(ledger, "2026-09-10T00:00:00Z")
    assert exempt.exemption is not None
    assert (exempt.exemption.exemption, exempt.exemption.at) == (
        "measures_taken",
        "2026-09-02T11:00:00.000000Z",
    )
    assert exempt.exemption.ground.startswith("Art. 34(3)(b)")
    assert exempt.not_notified == ["c1", "c2"]  # listed, never told
    assert exempt.flags == []
    assert (exempt.contained_at, exempt.records) == ("2026-09-01T15:00:00.000000Z", 2)
    assert (exempt.consequences, exempt.measures) == (
        "phishing",
        "accounts locked, numbers reissued",
    )
    no_exemption = one(ledger, "2026-09-10T00:00:00Z", "INC-2")
    assert no_exemption.exemption is None
    assert no_exemption.flags == ["high risk: 2 affected subject(s) not yet told"]


# -- Art. 33(2): a processor tells its controller without undue delay -------------------------


@pytest.mark.parametrize(
    ("notice_at", "as_of", "expected"),
    [
        # 1 h 30 min after awareness: within the 24-hour operational threshold (5 Sep: past it)
        ("2026-09-01T10:30:00Z", "2026-09-05T00:00:00Z", []),
        # 30 h after awareness: 6 h past the threshold of 2 Sep 09:00Z
        ("2026-09-02T15:00:00Z", "2026-09-05T00:00:00Z",
         [f"data held as a processor for {SCHOOL}: the controller told more than 24 hours "
          "after awareness (Art. 33(2): without undue delay)"]),
        # never told, and 5 Sep is past the threshold
        (None, "2026-09-05T00:00:00Z",
         [f"data held as a processor for {SCHOOL}: the controller not told, and 24 hours "
          "since awareness have passed (Art. 33(2): without undue delay)"]),
        # never told, but 2 Sep 08:59Z is still within the 24 hours: nothing to flag yet
        (None, "2026-09-02T08:59:00Z", []),
    ],
)  # fmt: skip
def test_a_processor_breach_needs_the_controller_told(
    ledger: Ledger, notice_at: str | None, as_of: str, expected: list[str]
) -> None:
    """UK GDPR Art. 33(2): "The processor shall notify the controller without undue delay after
    becoming aware of a personal data breach." The law gives no figure; the ledger flags after
    24 hours from awareness, an operational threshold (docs/law/breaches.md). Art. 33(1): the
    report to the ICO is then the controller's, so no report flag although the 72 hours end on
    4 Sep 09:00Z and nobody reported."""
    events = [processed("p1"), detected("INC-1", ["netmgmt"]),
              assessed("INC-1", "2026-09-01T12:00:00Z", "risk", 1)]  # fmt: skip
    if notice_at:
        events.append(told_controller("INC-1", notice_at))
    ledger.record_many(events)
    breach = one(ledger, as_of)
    assert breach.held_for == {SCHOOL: ["p1"]} and breach.own == []
    assert breach.reporter == "controller"
    assert breach.controller_due == "2026-09-02T09:00:00.000000Z"  # 1 Sep 09:00Z + 24 h
    assert breach.flags == expected
    if notice_at:
        assert [(c.controller, c.at) for c in breach.controller_notified] == [
            (SCHOOL, notice_at.replace("Z", ".000000Z"))
        ]


def test_as_of_before_the_controller_was_told(ledger: Ledger) -> None:
    """UK GDPR Art. 33(2), judged at the moment asked: on 2 Sep 12:00Z (3 h past the threshold)
    the notice of 2 Sep 15:00Z is not yet on the ledger, so the controller is flagged as not
    told; from 15:00Z on it is told, 30 h after awareness, and flagged as late instead."""
    ledger.record_many([processed("p1"), detected("INC-1", ["netmgmt"]),
                        told_controller("INC-1", "2026-09-02T15:00:00Z")])  # fmt: skip
    before = one(ledger, "2026-09-02T12:00:00Z")
    assert before.controller_notified == []
    assert before.flags == [
        f"data held as a processor for {SCHOOL}: the controller not told, and 24 hours since "
        "awareness have passed (Art. 33(2): without undue delay)"
    ]
    after = one(ledger, "2026-09-02T15:00:00Z")
    assert after.controller_notified == [
        ControllerNotice(SCHOOL, "2026-09-02T15:00:00.000000Z", within_threshold=False)
    ]
    assert after.flags == [
        f"data held as a processor for {SCHOOL}: the controller told more than 24 hours after "
        "awareness (Art. 33(2): without undue delay)"
    ]


def test_mixed_own_and_processor_data_follows_the_usual_rules(ledger: Ledger) -> None:
    """UK GDPR Art. 33(1) and 34(1) for the organisation's own data (c1), Art. 33(2) for the
    data it holds for two schools (p1, p2 for the first; p3 for the second). As of 5 Sep: the
    72 hours ended 4 Sep 09:00Z with no report, so that is flagged; the first school was told
    at 1 Sep 11:00Z (2 h), the second never (flagged); the high risk flag counts only c1, as
    telling the schools' subjects is each school's duty (Art. 34(1): "the controller")."""
    ledger.record_many(
        [
            own("c1", system="netmgmt"),
            processed("p1"),
            processed("p2"),
            processed("p3", OTHER_SCHOOL),
            detected("INC-1", ["netmgmt"]),
            assessed("INC-1", "2026-09-01T12:00:00Z", "high", 4),
            told_controller("INC-1", "2026-09-01T11:00:00Z"),
        ]
    )
    breach = one(ledger, "2026-09-05T00:00:00Z")
    assert breach.affected == ["c1", "p1", "p2", "p3"]
    assert breach.own == ["c1"]
    assert breach.held_for == {OTHER_SCHOOL: ["p3"], SCHOOL: ["p1", "p2"]}
    assert breach.reporter == "organisation"
    assert breach.not_notified == ["c1", "p1", "p2", "p3"]
    assert breach.flags == [
        NO_REPORT,
        "high risk: 1 affected subject(s) not yet told",
        f"data held as a processor for {OTHER_SCHOOL}: the controller not told, and 24 hours "
        "since awareness have passed (Art. 33(2): without undue delay)",
    ]


def test_all_processor_data_is_the_controllers_to_report(ledger: Ledger) -> None:
    """UK GDPR Art. 33(1)-(2): the controller reports to the ICO; a processor's duty is to tell
    the controller. With every affected subject's data held as a processor, a missing report
    past the 72 hours (4 Sep 09:00Z) is not flagged, and the untold high-risk subjects are the
    controller's to tell (Art. 34(1)); the timeline says whose report it is."""
    ledger.record_many(
        [
            processed("p1"),
            detected("INC-1", ["netmgmt"]),
            assessed("INC-1", "2026-09-01T12:00:00Z", "high", 1, reason="passwords hashed"),
            told_controller("INC-1", "2026-09-01T09:45:00Z"),
        ]
    )
    breach = one(ledger, "2026-09-20T00:00:00Z")
    assert (breach.reporter, breach.reports, breach.flags) == ("controller", [], [])
    assert breach.not_notified == ["p1"]
    with Projections(ledger) as p:
        html = render_report(p, as_of="2026-09-20T00:00:00Z", now=datetime(2026, 9, 20, tzinfo=UTC))
    rows = Rows(html).rows
    assert [
        "Report to the authority",
        "the controller's to report: all affected data is held as a processor",
    ] in rows
    assert any(r[0] == "72-hour deadline (the controller's to report)" for r in rows)
    assert ["Controllers told (Art. 33(2))", f"{SCHOOL} at 2026-09-01 09:45 UTC"] in rows
    assert ["Not yet told", "none; the controller's to tell: p1"] in rows


def test_a_controller_told_whose_data_is_not_in_the_breach_is_flagged(ledger: Ledger) -> None:
    """UK GDPR Art. 33(2), the counts kept honest: a notice to a controller for which the
    ledger's events show no processor-held data in the breach is named (the organisation's own
    data only: the usual rules apply, reported on time, so nothing else is flagged)."""
    ledger.record_many([own("c1"), detected("INC-1", ["crm"]),
                        assessed("INC-1", "2026-09-01T12:00:00Z", "risk", 1),
                        reported("INC-1", "2026-09-01T18:00:00Z"),
                        told_controller("INC-1", "2026-09-01T10:00:00Z")])  # fmt: skip
    breach = one(ledger, "2026-09-10T00:00:00Z")
    assert (breach.held_for, breach.controller_due) == ({}, None)
    assert breach.flags == [
        f"controller(s) told whose data the ledger's events do not show in this breach: {SCHOOL}"
    ]


# -- gather, then conclude: the recording order does not matter -------------------------------


def steps(breach: str) -> list[dict[str, Any]]:
    """One breach touching own (c1) and processor-held (p1) data, its steps in `at` order
    but for the breach_detected, recorded a day after the awareness it states."""
    return [
        detected(breach, ["netmgmt"], at="2026-09-02T08:00:00Z",
                 contained_at="2026-09-01T17:00:00Z", records=30),
        assessed(breach, "2026-09-02T09:00:00Z", "high", 2, reason="tokens exposed"),
        told_controller(breach, "2026-09-01T20:00:00Z"),
        {**reported(breach, "2026-09-04T12:00:00Z"), "reference": "ICO-2026-000900"},
        exempted(breach, "2026-09-03T09:00:00Z", "unintelligible"),
        {"type": "subjects_notified", "at": "2026-09-03T08:00:00Z", "actor": DPO,
         "breach": breach, "subjects": ["c1"], "channel": "email"},
    ]  # fmt: skip


def test_events_recorded_out_of_order_give_the_same_timeline(ledger: Ledger) -> None:
    """EVENTS.md: events may arrive late and out of order; every step is judged against the
    breach_detected in force once all are in (Art. 33(1): 72 h from awareness; Art. 33(2)).
    The same six events recorded in two orders (INC-A as written, INC-B reversed) give equal
    timelines: the controller notice at 1 Sep 20:00Z (11 h) is before the breach_detected's
    own `at` (2 Sep 08:00Z) but judged against aware_at; the report at 4 Sep 12:00Z is 3 h
    late without reasons."""

    ledger.record_many([own("c1", system="netmgmt"), processed("p1"), *steps("INC-A")])
    ledger.record_many(list(reversed(steps("INC-B"))))
    a = one(ledger, "2026-09-10T00:00:00Z", "INC-A")
    b = one(ledger, "2026-09-10T00:00:00Z", "INC-B")
    assert dataclasses.replace(b, breach="INC-A") == a
    assert a.flags == ["initial report after 72 hours without the reasons for the delay"]
    assert a.controller_notified[0].within_threshold
    assert (a.contained_at, a.records) == ("2026-09-01T17:00:00.000000Z", 30)
    assert (a.own, a.not_notified) == (["c1"], ["p1"])


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(order=st.permutations(range(6)))
def test_any_recording_order_gives_the_same_timeline(ledger: Ledger, order: list[int]) -> None:
    """As above (EVENTS.md: gather, then conclude), for any of the 720 recording orders: each
    example records the six steps of a fresh breach in its order, and the timeline equals the
    one recorded as written."""
    if not one_or_none(ledger, "INC-REF"):
        ledger.record_many([own("c1", system="netmgmt"), processed("p1"), *steps("INC-REF")])
    reference = one(ledger, "2026-09-10T00:00:00Z", "INC-REF")
    breach = "INC-" + "".join(map(str, order))
    if one_or_none(ledger, breach) is None:
        written = steps(breach)
        ledger.record_many([written[n] for n in order])
    found = one(ledger, "2026-09-10T00:00:00Z", breach)
    assert dataclasses.replace(found, breach="INC-REF") == reference


def one_or_none(ledger: Ledger, breach: str) -> BreachTimeline | None:
    with Projections(ledger) as p:
        found = p.breaches(breach=breach, as_of="2026-09-10T00:00:00Z")
    return found[0] if found else None


# -- the report: containment, and a readable first few days when long open ---------------------


class Rows(HTMLParser):
    """Every table row of an HTML page, cells as text."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self._row = []
        if tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        if tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _svg(html: str, breach: str) -> str:
    label = f'aria-label="Timeline of breach {breach}:'
    found = re.search(rf'<svg class="timeline"[^>]*{label}.*?</svg>', html, re.S)
    assert found is not None
    return found.group(0)


def _rect(svg: str, cls: str) -> tuple[float, float]:
    found = re.search(rf'<rect class="{cls}" x="([\d.]+)" y="[\d.-]+" width="([\d.]+)"', svg)
    assert found is not None, cls
    return float(found.group(1)), float(found.group(2))


def test_a_long_open_breach_keeps_a_readable_detail_of_its_first_days(filled: Ledger) -> None:
    """The demo's INC-2026-010 read on 1 Dec 2026, six months after awareness (Art. 33(1): the
    72 hours from 2 Jun 08:40Z to 5 Jun 08:40Z). On one linear scale the window would be
    72 h of about 187 days, some 11 px of 690. The axis is broken: the detail runs from the
    exposure less 2 h (1 Jun 16:00Z) to the deadline plus 12 h (5 Jun 20:40Z), 100 h 40 min,
    across 690 - 200 - 16 = 474 px; the window there is 72 / 100.667 * 474 = 339.0 px, far
    above a quarter of the panel. Every step is still drawn and listed in the table."""
    with Projections(filled) as p:
        html = render_report(p, as_of="2026-12-01T00:00:00Z", now=datetime(2026, 12, 1, tzinfo=UTC))
    svg = _svg(html, "INC-2026-010")
    detail_x, detail_w = _rect(svg, "segment segment-detail")
    window_x, window_w = _rect(svg, "window")
    assert (detail_x, detail_w) == (230.0, 474.0)
    assert window_w == pytest.approx(72 / (100 + 40 / 60) * 474, abs=0.1)
    assert window_w >= detail_w / 4
    assert detail_x <= window_x and window_x + window_w <= detail_x + detail_w
    assert 'class="segment segment-after"' in svg and 'class="break"' in svg
    assert "The time axis is broken" in html
    rows = Rows(html).rows
    labels = {r[0] for r in rows if len(r) == 3}
    for label in ("exposed from", "aware", "contained", "risk assessed: high",
                  "reported (initial)", "subjects not told: measures_taken",
                  "72-hour deadline", "as of (still open)"):  # fmt: skip
        assert label in labels, label
        assert f"{label}" in svg  # drawn, whichever stretch it falls in
    assert ["Contained", "2026-06-03 15:00 UTC"] in rows
    assert ["Records (approximate)", "3"] in rows
    assert ["Exemption from telling subjects (Art. 34(3))",
            "measures_taken (Art. 34(3)(b): later measures make the high risk no longer likely), "
            "recorded 2026-06-03 16:30 UTC"] in rows  # fmt: skip
    assert ["Risk reasoning (Art. 33(5))",
            "names and email addresses on a tape that is encrypted, but whose key label was on "
            "the case"] in rows  # fmt: skip
    assert "<script" not in html.lower()


def test_a_breach_read_within_its_first_days_is_drawn_on_one_scale(filled: Ledger) -> None:
    """INC-2026-010 read on 3 Jun 17:00Z: the drawing spans 1 Jun 18:00Z to 5 Jun 08:40Z (the
    deadline), so the 72-hour window is already most of it; no break."""
    with Projections(filled) as p:
        html = render_report(p, as_of="2026-06-03T17:00:00Z", breach="INC-2026-010",
                             now=datetime(2026, 6, 3, 17, tzinfo=UTC))  # fmt: skip
    svg = _svg(html, "INC-2026-010")
    assert "segment-detail" not in svg and 'class="break"' not in svg
    assert _rect(svg, "window")[1] >= 690 / 4


# -- the demo's two UK-2026 breaches -----------------------------------------------------------


def test_the_demo_breaches_of_2026(filled: Ledger) -> None:
    """INC-2026-010 (UK GDPR Art. 33(1), 34(3)(b)): aware 2 Jun 08:40Z, reported 3 Jun 16:00Z
    (31 h 20 min: on time), high risk, cust-1003 not told under the measures_taken exemption:
    no flag. INC-2026-011 (Art. 33(2), 33(5)): the school's data held as a processor, the
    school told 1 h 15 min after awareness (6 Jul 10:15Z to 11:30Z, within 24 h), assessed
    unlikely with its reasoning: no flag, and the ICO report is the school's."""
    with Projections(filled) as p:
        found = {b.breach: b for b in p.breaches(as_of="2026-12-01T00:00:00Z")}
    tape, firewall = found["INC-2026-010"], found["INC-2026-011"]
    assert tape.contained_at == "2026-06-03T15:00:00.000000Z" and tape.records == 3
    assert tape.exemption is not None and tape.exemption.exemption == "measures_taken"
    assert tape.exemption.at == "2026-06-03T16:30:00.000000Z"
    assert (tape.affected, tape.own, tape.not_notified) == (["cust-1003"],) * 3
    assert (tape.reporter, tape.held_for, tape.flags) == ("organisation", {}, [])
    assert tape.reports[0].on_time
    assert firewall.contained_at == "2026-07-06T10:40:00.000000Z" and firewall.records == 40
    assert firewall.risk == "unlikely" and firewall.reason is not None
    assert firewall.measures == "rule removed; rule changes now need a second approver"
    assert firewall.held_for == {SCHOOL: ["ashby-staff-017"]} and firewall.own == []
    assert firewall.reporter == "controller"
    assert firewall.controller_due == "2026-07-07T10:15:00.000000Z"
    assert firewall.controller_notified == [
        ControllerNotice(SCHOOL, "2026-07-06T11:30:00.000000Z", within_threshold=True)
    ]
    assert firewall.flags == []


# -- the commands -----------------------------------------------------------------------------


@pytest.fixture
def run(tmp_path: Any, config_path: Any, story: list[dict[str, Any]]) -> Any:
    base = ["--db", f"sqlite:///{tmp_path / 'l.db'}", "--keys", str(tmp_path / "k"),
            "--config", str(config_path), "--signing-key", str(tmp_path / "s")]  # fmt: skip

    def invoke(*args: str, input: bytes | None = None) -> Any:
        return CliRunner().invoke(cli, [*base, *args], input=input)

    invoke("init")
    lines = b"".join(orjson.dumps(e) + b"\n" for e in story)
    assert invoke("import", "-", input=lines).exit_code == 0
    return invoke


def test_the_breach_commands_show_the_2026_facts(run: Any) -> None:
    """`ledger breaches` and `ledger breach ID` (table and --json) show containment, records,
    the risk reasoning (Art. 33(5)), the exemption (Art. 34(3)) and controllers told (33(2))."""
    listed = {b["breach"]: b for b in orjson.loads(run("breaches", "--json").stdout)}
    tape = listed["INC-2026-010"]
    assert (tape["contained_at"], tape["records"]) == ("2026-06-03T15:00:00Z", 3)
    assert tape["exemption"] == {
        "exemption": "measures_taken",
        "at": "2026-06-03T16:30:00Z",
        "ground": "Art. 34(3)(b): later measures make the high risk no longer likely",
    }
    assert tape["consequences"] == "possible phishing of the customers on the tape"
    firewall = listed["INC-2026-011"]
    assert firewall["controller_notified"] == [
        {"controller": SCHOOL, "at": "2026-07-06T11:30:00Z", "within_threshold": True}
    ]
    assert (firewall["reporter"], firewall["held_for"]) == (
        "controller",
        {SCHOOL: ["ashby-staff-017"]},
    )
    table = run("breaches")
    assert table.exit_code == 0, table.output
    line = next(x for x in table.stdout.splitlines() if x.startswith("INC-2026-011"))
    assert "2026-07-06T10:40:00Z" in line and "the controller's to report" in line
    assert f"{SCHOOL} 2026-07-06T11:30" in line
    one_breach = run("breach", "INC-2026-011")
    assert one_breach.exit_code == 0, one_breach.output
    text = one_breach.stdout
    assert "contained" in text and "2026-07-06T10:40:00Z" in text
    assert "records (approximate): 40" in text
    assert "risk reasoning (Art. 33(5)): internal addresses and usernames only" in text
    assert "likely consequences: not recorded" in text
    assert f"controller {SCHOOL} told" in text
    assert f"held as a processor for {SCHOOL}: ashby-staff-017" in text
    assert "report to the authority: the controller's" in text
    assert "not yet told, the controller's to tell: ashby-staff-017" in text
    assert "FLAG" not in text
    exempt = run("breach", "INC-2026-010").stdout
    assert "subjects not told: measures_taken" in exempt
    assert "exemption: measures_taken (Art. 34(3)(b)" in exempt
    as_json = orjson.loads(run("breach", "INC-2026-010", "--json").stdout)
    assert as_json["reason"].startswith("names and email addresses")


def test_a_rectification_of_processor_held_data_stays_the_controllers(ledger: Ledger) -> None:
    """Found in review. A `rectified` records no role: it corrects data held in the role of
    its collection (here as a processor for the school), so a breach of the corrected copy
    is still the controller's to report (Art. 33(1)-(2)) and its subjects the controller's to
    tell (Art. 34(1)). A rectification in a system with no collection before it is the
    organisation's own (c2)."""
    corrected = {"type": "rectified", "at": "2026-08-10T09:00:00Z", "actor": DPO,
                 "categories": ["user.contact.email"], "system": "netmgmt"}  # fmt: skip
    ledger.record_many(
        [
            processed("p1"),
            {**corrected, "subject": "p1"},
            {**corrected, "subject": "c2"},
            detected("INC-1", ["netmgmt"]),
            assessed("INC-1", "2026-09-01T12:00:00Z", "high", 2, reason="emails exposed"),
            told_controller("INC-1", "2026-09-01T09:45:00Z"),
        ]
    )
    breach = one(ledger, "2026-09-20T00:00:00Z")
    assert (breach.affected, breach.own, breach.held_for) == (
        ["c2", "p1"],
        ["c2"],
        {SCHOOL: ["p1"]},
    )
    assert breach.reporter == "organisation"  # c2's data is the organisation's own
    assert "high risk: 1 affected subject(s) not yet told" in breach.flags


def test_a_breach_contained_before_anyone_knew_reaches_back_to_its_containment(
    ledger: Ledger,
) -> None:
    """Found in review: EVENTS.md writes `contained_at` without a bound, so a breach contained
    an hour before awareness with no `exposed_from` is accepted. It began by the containment
    at the latest, so the window of exposure (Art. 33(3)(a): the subjects concerned) reaches
    back to it: a holding erased at 08:30, after the containment at 08:00 and before
    awareness at 09:00, is affected (with exposed_from defaulting to aware_at it would not
    be), and the guessed start is flagged."""
    erased = {"type": "erased", "at": "2026-09-01T08:30:00Z", "actor": DPO, "subject": "c1",
              "categories": ["*"], "reason": "closed account", "system": "crm"}  # fmt: skip
    ledger.record_many(
        [own("c1"), erased, detected("INC-1", ["crm"], contained_at="2026-09-01T08:00:00Z")]
    )
    breach = one(ledger, "2026-09-02T00:00:00Z")
    assert (breach.exposed_from, breach.affected) == ("2026-09-01T08:00:00.000000Z", ["c1"])
    assert any("exposed_from is not given" in flag for flag in breach.flags)
