"""`ledger report`: one self-contained HTML file for auditors and responders.

Integrity, breach timelines, request clocks, the record of processing and consent over time,
from the projections only: no personal data value is read (nothing here decrypts) and every
value written is escaped. Inline CSS and SVG; no script, font or link to anything outside.

Before anything is read from them, the projection tables are compared in full with the chain
(every fact row derived again); the result stands beside the verification. When they do not
match, the report's answers come from tables rebuilt from the chain for it, and it says so.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from string import Template

from ledger.core import chain
from ledger.errors import NotFound
from ledger.log import checkpoint as notes
from ledger.transparency import VerifiableLog
from ledger.verification.checker import VerifyReport

from .breaches import BreachTimeline
from .clock import local_date
from .complaints import Complaint
from .findings import KINDS, Finding
from .integrity import Comparison
from .inventory import SubjectInventory
from .model import as_of_text
from .notices import Notices
from .report_svg import Step, clock, consent_chart, segments, short, timeline, when
from .requests import Pause, RequestClock
from .ropa import (
    NOT_DECLARED,
    PurposeRecord,
    Record,
    consent_text,
    declared_text,
    retention_text,
    transfer_text,
)
from .views import Projections, When

CONSENT_POINTS = 24  # at most this many moments in the consent chart

STYLE = """
:root { --ink: #1d2330; --muted: #5b6472; --rule: #d8dce3; --panel: #f5f6f8;
  --accent: #1f5f8b; --late: #b3261e; --late-bg: #fbe9e7; --ok: #2e7d4f; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff; line-height: 1.45; font-size: 15px;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; }
main { max-width: 1060px; margin: 0 auto; padding: 28px 32px 48px; }
header { border-bottom: 3px solid var(--accent); margin-bottom: 8px; padding-bottom: 10px; }
h1 { font-size: 1.7rem; margin: 0 0 4px; font-weight: 650; }
h2 { font-size: 1.25rem; margin: 34px 0 10px; padding-bottom: 4px;
  border-bottom: 1px solid var(--rule); }
h3 { font-size: 1.05rem; margin: 22px 0 8px; }
p.meta, .muted, figcaption { color: var(--muted); }
p.meta { margin: 2px 0; font-size: 0.92rem; }
nav ol { margin: 6px 0 0; padding-left: 20px; columns: 2; font-size: 0.92rem; }
a { color: var(--accent); }
code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
  font-size: 0.86em; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; font-size: 0.9rem; }
th, td { text-align: left; vertical-align: top; padding: 5px 8px;
  border-bottom: 1px solid var(--rule); }
thead th { background: var(--panel); font-weight: 600; border-bottom: 2px solid var(--rule); }
tbody th { font-weight: 600; }
table.facts tbody th { width: 15rem; }
h3 code { font-size: 0.95em; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 0.82rem;
  font-weight: 600; border: 1px solid currentColor; white-space: nowrap; }
.ok { color: var(--ok); }
.nowrap { white-space: nowrap; }
.bad, .late-text { color: var(--late); }
tr.late td, tr.late th, tr.overdue td, tr.overdue th { background: var(--late-bg); }
ul.flags { margin: 6px 0; padding-left: 20px; color: var(--late); }
figure { margin: 10px 0 16px; padding: 12px; border: 1px solid var(--rule); border-radius: 6px;
  overflow-x: auto; break-inside: avoid; }
figcaption { font-size: 0.86rem; margin-top: 6px; }
svg { max-width: 100%; height: auto; font-family: inherit; }
svg.clock { min-width: 170px; }
svg text { fill: var(--ink); font-size: 12px; }
svg text.small { fill: var(--muted); font-size: 11px; }
svg text.late-text { fill: var(--late); font-weight: 700; }
svg .grid { stroke: #eceef2; stroke-width: 1; }
svg .axis { stroke: #9aa1ad; stroke-width: 1; }
svg .guide { stroke: #e3e6eb; stroke-width: 1; stroke-dasharray: 2 3; }
svg .window { fill: #e8f0f7; stroke: #b8cfe2; }
svg .step { fill: var(--accent); }
svg .late { fill: var(--late); }
svg .deadline { fill: #fff; stroke: var(--ink); stroke-width: 2; }
svg .now { stroke: var(--muted); stroke-width: 1.5; stroke-dasharray: 4 3; }
svg .series { fill: none; stroke-width: 2.5; }
svg .track { fill: #e6e9ee; }
svg .elapsed { fill: #8fb3cf; }
svg .elapsed-late { fill: var(--late); }
svg .target { stroke: var(--ink); stroke-width: 1.5; stroke-dasharray: 2 2; }
svg .due { stroke: var(--ink); stroke-width: 2.5; }
footer { margin-top: 40px; font-size: 0.82rem; color: var(--muted);
  border-top: 1px solid var(--rule); padding-top: 8px; }
@media print {
  @page { size: A4; margin: 14mm 12mm; }
  body { font-size: 10.5pt; }
  main { max-width: none; padding: 0; }
  nav { display: none; }
  a { color: inherit; text-decoration: none; }
  h2 { break-after: avoid; page-break-after: avoid; }
  h3 { break-after: avoid; }
  table, figure, tr { break-inside: avoid; page-break-inside: avoid; }
  figure { border-color: #bbb; }
  thead th { background: #eee; }
  tr.late td, tr.late th, tr.overdue td, tr.overdue th { background: #f6dedb; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""

PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>$style</style>
</head>
<body>
<main>
<header>
<h1>$title</h1>
<p class="meta">Ledger <code>$origin</code> · state as of <strong>$as_of</strong>
 · report made $made</p>
<p class="meta">Subject identifiers only: this report holds no personal data values.</p>
</header>
<nav aria-label="Contents"><ol>
<li><a href="#integrity">Integrity</a></li><li><a href="#breaches">Breaches</a></li>
<li><a href="#requests">Data-subject requests</a></li>
<li><a href="#restrictions">Restricted processing</a></li>
<li><a href="#notices">Recipients to be told</a></li>
<li><a href="#complaints">Complaints</a></li>
<li><a href="#findings">Findings</a></li>
<li><a href="#ropa">Record of processing</a></li>
<li><a href="#transfers">Transfers abroad</a></li><li><a href="#consent">Consent</a></li>
</ol></nav>
$body
<footer>Generated by <code>ledger report</code> from the ledger's events; verification was run
when the report was made.</footer>
</main>
</body>
</html>
""")


def e(value: object) -> str:
    """Escape one value for HTML text or an attribute (None as a dash)."""
    return "—" if value is None else escape(str(value), quote=True)


def _table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    caption: str = "",
    cls: str = "",
    row_classes: Sequence[str] = (),
) -> str:
    """A table whose first cell of each row is a row header; cells are already escaped.
    *row_classes*: a class for each row in order ("" for none), e.g. "late"."""
    head = "".join(f'<th scope="col">{e(h)}</th>' for h in headers)
    body = []
    for number, row in enumerate(rows):
        row_cls = row_classes[number] if number < len(row_classes) else ""
        cells = f'<th scope="row">{row[0]}</th>' + "".join(f"<td>{c}</td>" for c in row[1:])
        body.append(f'<tr class="{row_cls}">{cells}</tr>' if row_cls else f"<tr>{cells}</tr>")
    cap = f'<caption class="muted">{e(caption)}</caption>' if caption else ""
    attr = f' class="{cls}"' if cls else ""
    return f"<table{attr}>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _facts(pairs: Sequence[tuple[str, str]], label: str) -> str:
    rows = "".join(f'<tr><th scope="row">{e(k)}</th><td>{v}</td></tr>' for k, v in pairs)
    return f'<table class="facts" aria-label="{e(label)}"><tbody>{rows}</tbody></table>'


def _nowrap(text: str) -> str:
    return f'<span class="nowrap">{e(text)}</span>'


def _stamp(text: str | None) -> str:
    return "—" if text is None else e(short(when(text)))


@dataclass
class Checkpointed:
    size: int
    root: bytes
    covers_to: str | None
    made: str | None = None  # when it was signed


def latest_checkpoint(projections: Projections) -> Checkpointed | None:
    """The latest stored checkpoint, and the time of the last event it covers."""
    ledger = projections.ledger
    try:
        parsed = notes.parse(VerifiableLog(ledger).latest())
    except NotFound:
        return None
    rows = ledger.store.rows_at([parsed.size]) if parsed.size else []
    at = chain.parse(rows[0].state).event.get("at") if rows else None
    return Checkpointed(parsed.size, parsed.root, at, ledger.store.checkpoint_made(parsed.size))


def projections_result(compared: Comparison, private: bool) -> str:
    """The full comparison of the projection tables, for the row beside the verification."""
    if compared.matches and private:
        return (
            f'<span class="badge ok">BUILT FROM THE CHAIN</span> for this report, in memory, '
            f"up to event {e(compared.position)} ({e(compared.rows)} rows; the store is opened "
            "read-only)"
        )
    if compared.matches:
        return (
            f'<span class="badge ok">MATCH</span> the stored tables match the chain at event '
            f"{e(compared.position)}: all {e(compared.rows)} rows compared with the rows derived "
            "again from the chain"
        )
    where = f" at position {compared.at}" if compared.at is not None else ""
    return (
        f'<span class="badge bad">DO NOT MATCH</span> {e(compared.table)}{e(where)}: '
        f"{e(compared.what)}. The answers below come from tables rebuilt from the chain for "
        "this report; run <code>ledger projections rebuild</code>."
    )


def integrity(
    projections: Projections,
    report: VerifyReport,
    made: datetime,
    compared: Comparison | None = None,
) -> str:
    ledger = projections.ledger
    if report.intact:
        seals = "chain and seals" if report.seals_checked else "chain (seals not checked: no keys)"
        result = f'<span class="badge ok">INTACT</span> {e(report.checked)} events, {e(seals)}'
    else:
        result = (
            f'<span class="badge bad">NOT INTACT</span> at sequence {e(report.first_bad)}: '
            f"{e(report.reason)}"
        )
    pairs = [("Events on the ledger", e(ledger.size)), ("Verification", result)]
    if compared is not None:
        pairs.append(("Projections", projections_result(compared, projections.runner.private)))
    pairs.append(("Verification run", e(short(made))))
    if report.root:
        pairs.append(("Merkle root now (hex)", f"<code>{e(report.root)}</code>"))
    last = latest_checkpoint(projections)
    if last is None:
        pairs.append(("Last checkpoint", "none yet (run <code>ledger checkpoint</code>)"))
    else:
        pairs += [
            ("Last checkpoint size", f"{e(last.size)} events"),
            ("Last checkpoint root", f"<code>{e(base64.b64encode(last.root).decode())}</code>"
             f"<br><code>{e(last.root.hex())}</code> (hex)"),
            ("Last checkpoint signed", _stamp(last.made)),
            ("Last checkpoint covers events to", _stamp(last.covers_to)),
        ]  # fmt: skip
    return '<section id="integrity"><h2>Integrity</h2>' + _facts(pairs, "Integrity") + "</section>"


def _steps(b: BreachTimeline, moment: str) -> tuple[list[Step], list[list[str]]]:
    steps: list[Step] = []
    if b.exposed_from and b.exposed_from != b.aware_at:
        steps.append(Step("exposed from", when(b.exposed_from)))
    if b.aware_at:
        steps.append(Step("aware", when(b.aware_at)))
    if b.contained_at:
        steps.append(Step("contained", when(b.contained_at)))
    if b.deadline:
        whose = " (the controller's to report)" if b.reporter == "controller" else ""
        steps.append(Step("72-hour deadline" + whose, when(b.deadline), "deadline"))
    if b.assessed_at:
        reasoning = "reasoning: " + b.reason if b.reason else "NO reasoning recorded"
        steps.append(Step(f"risk assessed: {b.risk}", when(b.assessed_at), note=reasoning))
    for r in b.reports:
        note = f"to {r.authority}, ref. {r.reference}"
        if not r.on_time:
            note = ("reason given: " + r.delay_reason) if r.delay_reason else "NO reason given"
        steps.append(Step(f"reported ({r.phase})", when(r.at), "event" if r.on_time else "late",
                          note))  # fmt: skip
    for n in b.notifications:
        steps.append(Step(f"{len(n['subjects'])} subject(s) told", when(n["at"]),
                          note=f"by {n['channel']}: {', '.join(n['subjects'])}"))  # fmt: skip
    if b.exemption:
        steps.append(Step(f"subjects not told: {b.exemption.exemption}", when(b.exemption.at),
                          note=b.exemption.ground))  # fmt: skip
    for c in b.controller_notified:
        late = not c.within_threshold
        due = short(when(b.controller_due)) if b.controller_due else "—"
        note = f"{'after' if late else 'within'} the operational threshold ({due}); " + (
            "Art. 33(2): without undue delay"
        )
        steps.append(Step(f"controller {c.controller} told", when(c.at),
                          "late" if late else "event", note))  # fmt: skip
    if b.closed_at:
        steps.append(Step("closed", when(b.closed_at)))
    else:
        missing = (b.deadline and moment > b.deadline and not b.reports
                   and b.risk != "unlikely" and b.reporter == "organisation")  # fmt: skip
        told = {c.controller for c in b.controller_notified}
        untold = bool(b.controller_due and moment > b.controller_due
                      and set(b.held_for) - told)  # fmt: skip
        label = "as of (still open)" + ("; no report" if missing else "")
        label += "; controller not told" if untold else ""
        steps.append(Step(label, when(moment), "late" if missing or untold else "now"))
    steps.sort(key=lambda s: s.at)
    rows = [
        [e(s.label), _nowrap(short(s.at)),
         ('<strong class="late-text">LATE</strong> ' if s.kind == "late" else "") + e(s.note)]
        for s in steps
    ]  # fmt: skip
    return steps, rows


def _breach_facts(b: BreachTimeline) -> list[tuple[str, str]]:
    """The breach facts table: what Art. 33(3) and 33(5) ask to be documented, and who is
    concerned."""
    exemption = "none recorded"
    if b.exemption:
        x = b.exemption
        exemption = f"{x.exemption} ({x.ground}), recorded {short(when(x.at))}"
    held = "; ".join(f"for {c}: {len(s)} ({', '.join(s)})" for c, s in b.held_for.items())
    told = "; ".join(f"{c.controller} at {short(when(c.at))}" for c in b.controller_notified)
    reporter = "the organisation"
    if b.reporter == "controller":
        reporter = "the controller's to report: all affected data is held as a processor"
    return [
        ("Risk", e(b.risk or "not assessed")),
        ("Risk reasoning (Art. 33(5))", e(b.reason or "not recorded")),
        ("Likely consequences", e(b.consequences or "not recorded")),
        ("Measures taken or proposed", e(b.measures or "not recorded")),
        ("Contained", _stamp(b.contained_at) if b.contained_at else "not recorded"),
        ("Records (approximate)", e(b.records if b.records is not None else "not recorded")),
        ("Systems", e(", ".join(b.systems) or "—")),
        ("Data categories", e(", ".join(b.categories) or "—")),
        ("Affected subjects", f"{len(b.affected)}: {e(', '.join(b.affected) or 'none')}"),
        ("Held as a processor", e(held or "none")),
        ("Controllers told (Art. 33(2))", e(told or ("none" if b.held_for else "not needed"))),
        ("Report to the authority", e(reporter)),
        ("Not yet told", e(_untold(b))),
        ("Exemption from telling subjects (Art. 34(3))", e(exemption)),
    ]


def _untold(b: BreachTimeline) -> str:
    """The subjects not told; those whose data was only held for a controller are the
    controller's to tell (Art. 34(1))."""
    own = set(b.own)
    ours = ", ".join(s for s in b.not_notified if s in own) or "none"
    theirs = ", ".join(s for s in b.not_notified if s not in own)
    return ours + (f"; the controller's to tell: {theirs}" if theirs else "")


def breach_section(timelines: Sequence[BreachTimeline], moment: str) -> str:
    parts = ['<section id="breaches"><h2>Breaches</h2>']
    if not timelines:
        parts.append("<p>No breach on the ledger at this moment.</p>")
    for b in timelines:
        parts.append(f'<h3 id="breach-{e(b.breach)}">{e(b.breach)}</h3>')
        parts.append(f"<p>{e(b.description or 'no description')}</p>")
        steps, rows = _steps(b, moment)
        if steps:
            window = (when(b.aware_at), when(b.deadline)) if b.aware_at and b.deadline else None
            late = sum(1 for s in steps if s.kind == "late")
            broken = len(segments(steps, window)) > 1
            parts.append(
                f"<figure>{timeline(b.breach, steps, window)}<figcaption>Breach {e(b.breach)} "
                f"drawn to scale: the shaded band is the 72 hours from awareness to the "
                f"authority deadline (square); circles are steps, diamonds marked LATE are late "
                f"steps ({late} late)."
                + (" The time axis is broken (marked //): the first days are drawn at a "
                   "larger scale, the time before and after them compressed; the table lists "
                   "every step." if broken else "")
                + "</figcaption></figure>"
            )  # fmt: skip
            late_rows = ["late" if s.kind == "late" else "" for s in steps]
            parts.append(_table(["step", "when", "note"], rows, caption=f"Steps of {b.breach}",
                                row_classes=late_rows))  # fmt: skip
        parts.append(_facts(_breach_facts(b), f"Facts of breach {b.breach}"))
        if b.flags:
            parts.append('<ul class="flags">' + "".join(
                f"<li><strong>Flag:</strong> {e(f)}</li>" for f in b.flags) + "</ul>")  # fmt: skip
    return "".join(parts) + "</section>"


def _status(c: RequestClock, today_text: str, zone: str) -> str:
    today = datetime.fromisoformat(today_text).date()
    if c.status == "paused":
        return (
            f'<span class="badge">PAUSED</span> since {_nowrap(str(c.paused_since))}, '
            f"awaiting {e(', '.join(c.awaiting))}: no due date while the clock is stopped"
        )
    if c.overdue and c.due:
        return f'<span class="badge bad">OVERDUE</span> by {(today - c.due).days} day(s)'
    target = ""
    if c.target_met is not None:
        target = (
            "; target met" if c.target_met else '; target <span class="badge bad">MISSED</span>'
        )
    elif c.target_passed:
        target = '; target <span class="badge bad">PASSED</span>'
    if c.status == "open" and c.due:
        return f"open, {(c.due - today).days} day(s) left{target}"
    why = f" ({e(c.reason)})" if c.status == "partially_fulfilled" and c.reason else ""
    if c.closed_at and c.due and local_date(when(c.closed_at), zone) > c.due:
        return (
            f'{e(c.status)}{why} <span class="badge bad">LATE</span> '
            f"{_nowrap(c.closed_at[:10])}{target}"
        )
    closed = f" {_nowrap(c.closed_at[:10])}" if c.closed_at else ""
    return f"{e(c.status)}{why}{closed}{target}"


def _pause_note(p: Pause) -> str:
    span = (
        f"{_nowrap(str(p.paused_on))} to {_nowrap(str(p.resumed_on))}"
        if p.resumed_on
        else f"since {_nowrap(str(p.paused_on))}"
    )
    return f"paused for {e(p.awaiting)} {span}: {e(p.effect)}"


def requests_section(clocks: Sequence[RequestClock], today: str, zone: str) -> str:
    """The request clocks: dates, status, target met or missed, each pause (Art. 12A) and
    its effect, a drawn clock and the flags."""
    parts = ['<section id="requests"><h2>Data-subject requests</h2>',
             '<p class="muted">Overdue first. Clock: the grey bar runs from receipt to the '
             "due date in force (solid tick); the dotted tick is the organisation's target; "
             "the inner line is the time taken, to closure or, while open, to the report's "
             "moment (red, and the row marked LATE, when past the due date); a dashed box "
             "above the bar is a pause (the stop-the-clock of Art. 12A). The month runs from "
             "the relevant time: receipt, or the day identity or a fee arrived.</p>"]  # fmt: skip
    rows, classes = [], []
    for c in clocks:
        end = (local_date(when(c.closed_at), zone) if c.closed_at
               else datetime.fromisoformat(today).date())  # fmt: skip
        late = c.due is not None and end > c.due
        spans = [(p.paused_on, p.resumed_on) for p in c.pauses if p.counted]
        drawn = (clock(c.request, c.received, c.target, c.due, end, late, spans)
                 if c.received and (c.due or c.status == "paused") else "—")  # fmt: skip
        due = _nowrap(str(c.due)) + (" (extended)" if c.extension_reason else "")
        classes.append("overdue" if late else "")
        notes = "<br>".join(_pause_note(p) for p in c.pauses) or "—"
        runs = _nowrap(str(c.relevant)) if c.relevant else "—"
        rows.append([_nowrap(c.request), _nowrap(c.subject), e(c.kind), _nowrap(str(c.received)),
                     e(c.target), e(c.legal_due), due if c.due else "—", runs,
                     _status(c, today, zone), notes, drawn,
                     e("; ".join(c.flags) or "")])  # fmt: skip
    if rows:
        parts.append(_table(["request", "subject", "kind", "received", "target", "legal due",
                             "due in force", "runs from", "status", "pauses", "clock",
                             "flags"], rows, row_classes=classes))  # fmt: skip
    else:
        parts.append("<p>No data-subject request on the ledger at this moment.</p>")
    return "".join(parts) + "</section>"


def ropa_section(record: Record, controller: str | None = None) -> str:
    """The record of processing: the organisation's facts as its configuration was recorded
    on the ledger, a table per purpose (Art. 30(1)), one per controller processed for (Art.
    30(2)), then every transfer abroad. *controller* (the configuration's name) is shown only
    where the ledger recorded no name."""
    org = record.controller
    recorded = (f"as its configuration was recorded on the ledger at {_stamp(org.recorded_at)}"
                if org.recorded_at else "the ledger recorded no configuration facts")  # fmt: skip
    parts = ['<section id="ropa"><h2>Record of processing (Art. 30)</h2>',
             f"<p>Controller: <strong>{e(org.name or controller)}</strong>: organisation facts "
             f"{recorded}; per purpose, what the ledger shows happened.</p>",
             _facts([("Contact", _declared(org.contact)), ("DPO", _declared(org.dpo)),
                     ("Representative", _declared(org.representative)),
                     ("Security measures", _declared(org.security_measures)),
                     ("Not declared", _missing(record.missing))],
                    "The organisation")]  # fmt: skip
    if not record.purposes:
        parts.append("<p>No processing of its own recorded at this moment.</p>")
    for r in record.purposes:
        parts.append(f'<h3 class="purpose"><code>{e(r.purpose)}</code></h3>')
        parts.append(_facts([
            ("Categories of individuals", _joined(r.subject_categories)),
            ("Categories of personal data", _joined(r.data_categories)),
            ("Special category data", _joined(r.special_category_data)),
            ("Art. 9 / Sch. 1 condition", _declared(r.special_category_condition)),
            ("Lawful bases", _joined(r.lawful_bases_cited)),
            ("Recipients", _joined(r.recipients)),
            ("Recipient categories", _joined(r.recipient_categories)),
            ("Transfers abroad", _joined([transfer_text(t) for t in r.transfers])),
            ("Retention per category", e(retention_text(r.retention_by_category) or "—")),
            ("Source", _joined(r.sources)),
            ("Consent record", e(consent_text(r.consent) or "—")),
            ("Legitimate interests assessment", _declared(r.legitimate_interest_assessment)),
            ("DPIA", _declared(r.dpia)),
            ("Automated decision-making", _declared(r.automated_decision_making)),
            ("Systems (location)", _joined(r.systems)),
            ("Subjects · events", f"{e(r.subjects)} · {e(r.events)}"),
            ("Not declared", _missing(r.missing)),
            ("Flags", _flags(r.flags)),
            *_declared_rows(r, record),
        ], f"Record of processing for {r.purpose}"))  # fmt: skip
    for p in record.processor:
        parts.append(f'<h3 class="processor">As processor for <code>{e(p.controller)}</code> '
                     "(Art. 30(2))</h3>")  # fmt: skip
        parts.append(_facts([
            ("Controller contact", _declared(p.controller_contact)),
            ("Categories of processing", _joined(p.purposes)),
            ("Categories of personal data", _joined(p.data_categories)),
            ("Categories of individuals", _joined(p.subject_categories)),
            ("Transfers abroad", _joined([transfer_text(t) for t in p.transfers])),
            ("Security measures", _declared(p.security_measures)),
            ("Systems (location)", _joined(p.systems)),
            ("Subjects · events", f"{e(p.subjects)} · {e(p.events)}"),
            ("Not declared", _missing(p.missing)),
            ("Flags", _flags(p.flags)),
        ], f"Processing for {p.controller}"))  # fmt: skip
    parts.append('</section><section id="transfers"><h2>Transfers abroad</h2>')
    rows = []
    for part, transfers in [
        *((f"<code>{e(r.purpose)}</code>", r.transfers) for r in record.purposes),
        *((f"for <code>{e(p.controller)}</code>", p.transfers) for p in record.processor),
    ]:
        for t in transfers:
            shown = (f'<strong class="bad">{e(t.safeguard)}</strong>' if t.flagged
                     else e(t.safeguard))  # fmt: skip
            rows.append([e(t.to), e(t.kind), e(t.country), part, shown])
    if rows:
        parts.append(_table(["to", "kind", "country", "purpose", "safeguard"], rows))
    else:
        parts.append("<p>No transfer abroad recorded.</p>")
    return "".join(parts) + "</section>"


def _declared_rows(r: PurposeRecord, record: Record) -> list[tuple[str, str]]:
    """What the declaration in force says of the purpose, beside what the events show."""
    if record.declaration is None:
        return [("Declared (the notice)", "no declaration in force")]
    if r.declared is None:
        return [("Declared (the notice)", '<strong class="bad">not in the declaration</strong>')]
    text = declared_text(r.declared)
    names = {"bases": "lawful bases", "categories": "categories",
             "subject_categories": "individuals", "locations": "stored in",
             "retention": "retention", "recipients": "recipients"}  # fmt: skip
    return [(f"Declared: {names[k]}", e(v or "—")) for k, v in text.items()]


def _joined(values: Sequence[str]) -> str:
    return e(", ".join(values) or "—")


def _declared(text: str) -> str:
    return f'<strong class="bad">{e(text)}</strong>' if text == NOT_DECLARED else e(text)


def _missing(keys: Sequence[str]) -> str:
    return f'<strong class="bad">{e(", ".join(keys))}</strong>' if keys else "none"


def _flags(flags: Sequence[str]) -> str:
    return "; ".join(f'<strong class="bad">{e(f)}</strong>' for f in flags) or "none"


def consent_section(projections: Projections, moment: str) -> str:
    parts = ['<section id="consent"><h2>Consent</h2>']
    states = projections.consent(as_of=moment)
    firsts = [h["at"] for s in states for h in s.history]
    if not firsts:
        return "".join(parts) + "<p>No consent recorded at this moment.</p></section>"
    start, end = when(min(firsts)), when(moment)
    changes = sorted({when(at) for at in firsts})
    if len(changes) > CONSENT_POINTS:  # too many to draw each: sample evenly
        step = (end - start) / (CONSENT_POINTS - 1)
        changes = [start + step * n for n in range(CONSENT_POINTS)]
    moments = [*changes, end] if changes[-1] < end else changes
    purposes = sorted({s.purpose for s in states})
    series: dict[str, list[int]] = {p: [] for p in purposes}
    for m in moments:
        given = Counter(s.purpose for s in projections.consent(as_of=m) if s.state == "given")
        for p in purposes:
            series[p].append(given[p])
    parts.append(
        f"<figure>{consent_chart(moments, series)}<figcaption>Subjects with consent given, per "
        f"purpose, at {len(moments)} moments (each change, or evenly spaced when "
        f"there are many) from the first consent event "
        f"({e(short(start))}) to the report's moment ({e(short(end))}).</figcaption></figure>"
    )
    rows = []
    for p in purposes:
        counts = Counter(s.state for s in states if s.purpose == p)
        suppressed = sum(1 for s in states if s.purpose == p and s.suppressed)
        rows.append([f"<code>{e(p)}</code>", e(counts["given"]), e(counts["withdrawn"]),
                     e(counts["objected"]), e(suppressed)])  # fmt: skip
    parts.append(_table(["purpose", "given", "withdrawn", "objected", "marketing suppressed"],
                        rows, caption="Totals at the report's moment"))  # fmt: skip
    return "".join(parts) + "</section>"


def render_report(
    projections: Projections,
    *,
    as_of: When = None,
    breach: str | None = None,
    now: datetime | None = None,
) -> str:
    """The whole report as one HTML document; NotFound if *breach* is not on the ledger.

    The projection tables are compared in full with the chain first; if they do not match,
    the answers come from scratch tables rebuilt from the chain (and the report says so)."""
    made = now or datetime.now(UTC)
    moment = as_of_text(as_of if as_of is not None else made)
    compared = projections.verify()
    answers: AbstractContextManager[Projections] = (
        nullcontext(projections) if compared.matches else Projections.rebuilt(projections.ledger)
    )
    with answers as source:
        timelines = source.breaches(breach=breach, as_of=moment)
        if breach is not None and not timelines:
            raise NotFound(f"no breach {breach!r} on the ledger at {moment}")
        ledger = projections.ledger
        verified = ledger.verify()
        config = ledger.config
        today = local_date(when(moment), config.time_zone).isoformat()
        body = "".join([
            integrity(projections, verified, made, compared),
            breach_section(timelines, moment),
            requests_section(source.requests(as_of=moment), today, config.time_zone),
            restrictions_section(source.restricted(as_of=moment)),
            notices_section(source.notices(as_of=moment, include_told=True)),
            complaints_section(source.complaints(as_of=moment)),
            findings_section(source.findings(as_of=moment)),
            ropa_section(source.ropa(as_of=moment), config.name),
            consent_section(source, moment),
        ])  # fmt: skip
    return PAGE.substitute(
        title=e(f"Personal-data audit report — {config.name}"),
        style=STYLE,
        origin=e(ledger.meta.get("origin", "")),
        as_of=e(short(when(moment))),
        made=e(short(made.astimezone(UTC))),
        body=body,
    )


# -- subjects' rights beyond access: restriction (Art. 18), Art. 19 notices, complaints ----------


def restrictions_section(inventories: Sequence[SubjectInventory]) -> str:
    """Art. 18: each restriction in force at the report's moment, per subject, category and
    system, with its ground and since when."""
    parts = ['<section id="restrictions"><h2>Restricted processing (Art. 18)</h2>',
             '<p class="muted">Restrictions in force at the report\'s moment: the data may be '
             "stored but not otherwise used (Art. 18(2)). A restriction covers the key it "
             "names and its descendants; without a system it applies everywhere.</p>"]  # fmt: skip
    rows = []
    for who in inventories:
        for h in who.categories:
            for r in h.restricted:
                if r.system is not None:
                    where = e(r.system)
                elif r.lifted_in:
                    where = f"everywhere but {e(', '.join(r.lifted_in))}"
                else:
                    where = "everywhere"
                rows.append([_nowrap(who.subject), f"<code>{e(h.category)}</code>", where,
                             e(r.ground), _stamp(r.since)])  # fmt: skip
    if rows:
        parts.append(_table(["subject", "category", "where", "ground", "since"], rows))
    else:
        parts.append("<p>No restriction in force at this moment.</p>")
    return "".join(parts) + "</section>"


def notices_section(found: Notices) -> str:
    """Art. 19: each recipient to be told of an erasure, rectification or restriction, told
    (when) or not (since when), oldest first; notifications that told of nothing flagged."""
    parts = ['<section id="notices"><h2>Recipients to be told (Art. 19)</h2>',
             '<p class="muted">Each recipient the data had been disclosed to before an '
             "erasure, rectification or restriction. Rows not told are marked.</p>"]  # fmt: skip
    rows, classes = [], []
    for n in found.notices:
        if n.told:
            told = f'<span class="ok">told</span> {_stamp(n.told_at)}'
        else:
            told = f'<span class="badge bad">NOT TOLD</span> since {_stamp(n.untold_since)}'

        classes.append("" if n.told else "late")
        rows.append([_nowrap(n.subject), e(n.recipient), e(n.change),
                     f"<code>{e(', '.join(n.categories))}</code>", _stamp(n.changed_at),
                     told])  # fmt: skip
    if rows:
        parts.append(_table(["subject", "recipient", "change", "categories", "changed", "told"],
                            rows, row_classes=classes))  # fmt: skip
    else:
        parts.append("<p>No recipient to be told at this moment.</p>")
    if found.told_of_nothing:
        parts.append('<ul class="flags">' + "".join(
            f"<li>{e(t.subject)}, {e(t.recipient)} ({e(t.change)}, {_stamp(t.at)}): "
            f"{e(t.flag)}</li>" for t in found.told_of_nothing) + "</ul>")  # fmt: skip
    return "".join(parts) + "</section>"


def complaints_section(found: Sequence[Complaint]) -> str:
    """DPA 2018 s.164A: each complaint's acknowledgement against the last of its 30 days, and
    the outcome's age (shown, not judged)."""
    parts = ['<section id="complaints"><h2>Complaints (DPA 2018 s.164A)</h2>',
             '<p class="muted">Acknowledged within the 30 days beginning with the day of '
             "receipt (late ones first and marked); the days open are shown, not judged: the "
             "law sets no figure for the outcome. Complaints received before 19 June 2026 "
             "came before the duty and are never marked late.</p>"]  # fmt: skip
    rows, classes = [], []
    for c in found:
        classes.append("late" if c.late else "")
        status = '<span class="badge bad">LATE</span>' if c.late else e(c.status)
        rows.append([_nowrap(c.complaint), _nowrap(c.subject or "—"), e(c.channel),
                     _nowrap(str(c.received or "—")), _nowrap(str(c.acknowledge_by or "—")),
                     _nowrap(str(c.acknowledged or "—")), _nowrap(str(c.closed or "—")),
                     e(c.days_open), status, e("; ".join(c.flags))])  # fmt: skip
    if rows:
        parts.append(_table(["complaint", "subject", "channel", "received", "acknowledge by",
                             "acknowledged", "closed", "days open", "status", "flags"], rows,
                            row_classes=classes))  # fmt: skip
    else:
        parts.append("<p>No complaint on the ledger at this moment.</p>")
    return "".join(parts) + "</section>"


# -- findings (../shared/FINDINGS.md) ------------------------------------------------------------


def findings_section(found: Sequence[Finding]) -> str:
    """Findings at the report's moment: counts per kind, then each finding newest first with
    the events that show it (their sequences), so an auditor can check it from the events."""
    parts = ['<section id="findings"><h2>Findings</h2>',
             '<p class="muted">Where what the ledger shows was done disagrees with the '
             "declaration in force, or breaks a subject's choice. Derived from the chain for "
             "this moment, never stored; each names the events that show it.</p>"]  # fmt: skip
    counts = Counter(f.kind for f in found)
    if not found:
        parts.append("<p>No finding at this moment.</p>")
    else:
        parts.append(_table(["kind", "findings"],
                            [[f"<code>{e(kind)}</code>", e(counts[kind])]
                             for kind in KINDS if counts[kind]],
                            caption="Findings per kind", cls="counts"))  # fmt: skip
        rows = []
        for f in found:
            where = " ".join(x for x in (f.recipient, f.country) if x) or None
            rows.append([f"<code>{e(f.kind)}</code>", _stamp(f.at), _nowrap(f.subject or "—"),
                         f"<code>{e(f.purpose)}</code>", f"<code>{e(f.category)}</code>",
                         e(where), _nowrap(", ".join(map(str, f.sequences))),
                         e(f.detail)])  # fmt: skip
        parts.append(_table(["kind", "arose", "subject", "purpose", "category",
                             "recipient / country", "events", "detail"], rows,
                            row_classes=["late"] * len(rows)))  # fmt: skip
    not_judged = getattr(found, "not_judged", None)
    if not_judged is not None:
        parts.append(f'<p class="muted">No declaration in force for {e(not_judged.events)} '
                     f"processing events (sequences {e(not_judged.first)} to "
                     f"{e(not_judged.last)}): the undeclared kinds and basis_mismatch are not "
                     "judged for them.</p>")  # fmt: skip
    return "".join(parts) + "</section>"
