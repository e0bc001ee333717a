"""Inline SVG drawings of the HTML report: breach timelines, request clocks, consent over time.

Pure string building: every text is escaped, every drawing has ``role="img"``, a ``<title>``
and an ``aria-label``, and no drawing relies on colour alone (late steps are labelled LATE and
drawn as a different shape; consent lines have their own dash pattern and a legend).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from html import escape
from itertools import pairwise

DAY = timedelta(days=1)
DASHES = ("", "6 3", "2 3", "8 3 2 3", "1 2", "10 4")
LINE_COLOURS = ("#1f5f8b", "#7a4f9a", "#2e7d4f", "#8a6d1a", "#5a5a5a", "#3d6e70")


def when(text: str) -> datetime:
    """A stored UTC text (``...Z``) as an aware datetime."""
    return datetime.fromisoformat(text)


def short(moment: datetime | date) -> str:
    if isinstance(moment, datetime):
        return moment.strftime("%Y-%m-%d %H:%M UTC")
    return moment.isoformat()


@dataclass
class Step:
    """One moment on a breach's timeline."""

    label: str
    at: datetime
    kind: str = "event"  # event | deadline | late | now
    note: str = ""


def _esc(value: object) -> str:
    return escape(str(value), quote=True)


def _ticks(start: datetime, end: datetime, count: int = 7) -> list[datetime]:
    """Midnights between *start* and *end*, thinned to about *count*."""
    first = start.replace(hour=0, minute=0, second=0, microsecond=0) + DAY
    days = max(1, (end - start).days)
    every = max(1, round(days / count))
    for step in (1, 2, 7, 14, 28, 56, 91, 182, 364):
        if step >= every:
            every = step
            break
    ticks, tick = [], first
    while tick <= end:
        ticks.append(tick)
        tick += every * DAY
    return ticks


@dataclass(frozen=True)
class Segment:
    """A stretch of a broken time axis, drawn to its own linear scale from *left* to *right*."""

    start: datetime
    end: datetime
    left: float
    right: float
    kind: str  # detail | before | after | whole

    def x(self, moment: datetime) -> float:
        span = (self.end - self.start).total_seconds() or 1.0
        return self.left + (self.right - self.left) * (moment - self.start).total_seconds() / span


LABEL_W, PLOT_W, GAP = 230, 690, 16
DETAIL_MAX = timedelta(days=7)  # the detailed stretch covers at most the first week
READABLE = 0.25  # below this share of the plot, the 72-hour window gets a detailed stretch


def segments(steps: Sequence[Step], window: tuple[datetime, datetime] | None) -> list[Segment]:
    """The time axis of a breach's drawing: one linear stretch when the 72-hour *window* takes
    at least a quarter of it; otherwise broken into the first days to scale (from the exposure,
    or half a day before awareness, to at most a week) and the time before and after
    compressed, each stretch linear, so the window stays readable however long the breach
    stays open: it takes at least 72 of the detail's at most 168 hours."""
    times = [s.at for s in steps] + (list(window) if window else [])
    first, last = min(times), max(times)
    pad = max((last - first) * 0.04, timedelta(hours=2))
    whole = Segment(first - pad, last + pad, LABEL_W, LABEL_W + PLOT_W, "whole")
    if window is None or (window[1] - window[0]) >= (whole.end - whole.start) * READABLE:
        return [whole]
    aware, deadline = window
    # the exposure too, when the window still gets at least 72 of the detail's 168 hours
    lead = DETAIL_MAX - (deadline - aware) - DAY / 2
    start = first - timedelta(hours=2) if aware - first <= lead else aware - DAY / 2
    cap = start + DETAIL_MAX
    inside = [t for t in times if t <= cap - DAY / 2]
    end = min(max([deadline, *inside]) + DAY / 2, cap)
    before = [Segment(whole.start, start, LABEL_W, LABEL_W + 90, "before")] if first < start else []
    after_w = 200 if last > end else 0
    left = LABEL_W + (90 + GAP if before else 0)
    right = LABEL_W + PLOT_W - (after_w + GAP if after_w else 0)
    detail = Segment(start, end, left, right, "detail")
    after = [Segment(end, whole.end, right + GAP, LABEL_W + PLOT_W, "after")] if after_w else []
    return [*before, detail, *after]


def _x(parts: Sequence[Segment], moment: datetime) -> float:
    for part in parts:
        if moment <= part.end:
            return part.x(max(moment, part.start))
    return parts[-1].x(moment)


def _span_text(part: Segment) -> str:
    days = (part.end - part.start) / DAY
    return f"{days:.1f} days" if days < 14 else f"{days:.0f} days"


def timeline(name: str, steps: Sequence[Step], window: tuple[datetime, datetime] | None) -> str:
    """One breach drawn to scale: a row per step, the 72-hour window shaded across all rows.
    A long-open breach's axis is broken (see :func:`segments`): every step is still drawn,
    each stretch to its own scale, with the breaks marked."""
    parts = segments(steps, window)
    broken = len(parts) > 1
    row_h, top = 26, 48 if broken else 32
    bottom = top + row_h * len(steps)
    width, height = LABEL_W + PLOT_W + 30, bottom + 50

    def x(moment: datetime) -> float:
        return _x(parts, moment)

    late = [s for s in steps if s.kind == "late"]
    summary = f"Timeline of breach {name}: " + "; ".join(
        f"{s.label} {short(s.at)}{' (LATE)' if s.kind == 'late' else ''}" for s in steps
    )
    if broken:
        summary += (
            ". The time axis is broken: the first days are drawn at a larger scale than the "
            "time before and after them"
        )
    out = [
        f'<svg class="timeline" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{_esc(summary)}">',
        f"<title>{_esc(summary)}</title>",
    ]
    for part in parts if broken else []:
        caption = {
            "detail": f"first {_span_text(part)}, to scale",
            "before": "earlier",
            "after": f"then {_span_text(part)}, compressed",
        }[part.kind]
        fill = "#f7f9fc" if part.kind == "detail" else "#fbfbfb"
        out.append(
            f'<rect class="segment segment-{part.kind}" x="{part.left:.1f}" y="{top - 26}" '
            f'width="{part.right - part.left:.1f}" height="{bottom - top + 26}" fill="{fill}" '
            f'stroke="#d8dce3" stroke-dasharray="{"" if part.kind == "detail" else "3 3"}"/>'
            f'<text class="small" x="{(part.left + part.right) / 2:.1f}" y="{top - 30}" '
            f'text-anchor="middle">{_esc(caption)}</text>'
        )
    if window is not None:
        x0, x1 = x(window[0]), x(window[1])
        out.append(
            f'<rect class="window" x="{x0:.1f}" y="{top - 8}" width="{x1 - x0:.1f}" '
            f'height="{bottom - top + 8}"/>'
            f'<text class="small" x="{(x0 + x1) / 2:.1f}" y="{top - 12}" '
            f'text-anchor="middle">72-hour window</text>'
        )
    for part in parts:
        count = max(1, round(7 * (part.right - part.left) / PLOT_W))
        for tick in _ticks(part.start, part.end, count):
            if tick >= part.end:
                continue
            tx = part.x(tick)
            out.append(
                f'<line class="grid" x1="{tx:.1f}" y1="{top - 6}" x2="{tx:.1f}" y2="{bottom}"/>'
                f'<text class="small" x="{tx:.1f}" y="{bottom + 16}" '
                f'text-anchor="middle">{tick:%d %b}</text>'
            )
        out.append(
            f'<line class="axis" x1="{part.left:.1f}" y1="{bottom}" x2="{part.right:.1f}" '
            f'y2="{bottom}"/>'
        )
    for left, right in pairwise(parts):
        mid = (left.right + right.left) / 2  # the break: two slashes across the axis gap
        out.append(
            f'<path class="break" d="M{mid - 6:.1f} {bottom + 6} l6 -12 M{mid:.1f} {bottom + 6} '
            f'l6 -12" stroke="#5b6472" stroke-width="1.5" fill="none"/>'
        )
    for n, step in enumerate(steps):
        cy, sx = top + row_h * n + row_h / 2, x(step.at)
        text = step.label + (" — LATE" if step.kind == "late" else "")
        out.append(
            f'<line class="guide" x1="{LABEL_W - 4}" y1="{cy:.1f}" x2="{sx:.1f}" y2="{cy:.1f}"/>'
            f'<text class="{"late-text" if step.kind == "late" else "label"}" x="{LABEL_W - 10}" '
            f'y="{cy + 4:.1f}" text-anchor="end">{_esc(text)}</text>'
        )
        if step.kind == "late":
            out.append(f'<path class="late" d="M{sx:.1f} {cy - 7:.1f} l7 7 l-7 7 l-7 -7 z"/>')
        elif step.kind == "deadline":
            out.append(
                f'<rect class="deadline" x="{sx - 5:.1f}" y="{cy - 5:.1f}" width="10" height="10"/>'
            )
        elif step.kind == "now":
            out.append(
                f'<line class="now" x1="{sx:.1f}" y1="{top - 6}" x2="{sx:.1f}" y2="{bottom}"/>'
            )
        else:
            out.append(f'<circle class="step" cx="{sx:.1f}" cy="{cy:.1f}" r="5"/>')
    if late:
        out.append(
            f'<text class="late-text small" x="{LABEL_W + PLOT_W}" y="{bottom + 36}" '
            f'text-anchor="end">◆ late step</text>'
        )
    out.append("</svg>")
    return "".join(out)


def clock(
    request: str,
    received: date,
    target: date | None,
    due: date | None,
    end: date,
    late: bool,
    pauses: Sequence[tuple[date, date | None]] = (),
) -> str:
    """A request's clock: the run from received to the due date, the target marked, and the
    time elapsed to *end* (its closure, or the report's moment while open) filled in; each
    pause (from, to; to None while open, drawn to *end*) as a hatched span above the bar.
    With no due date (paused), the bar runs to *end* and no tick is drawn."""
    width, height, left, right = 200, 26, 6, 194
    last = max(d for d in (due, target, end, *(p for _, p in pauses)) if d is not None)
    days = max(1, (last - received).days)

    def x(day: date) -> float:
        return left + (right - left) * (day - received).days / days

    spans = "; ".join(f"paused {a} to {b if b else 'now (still paused)'}" for a, b in pauses)
    label = (
        f"Request {request}: received {received}, target {target or 'none while paused'}, "
        f"due {due or 'none while paused'}, clock stopped or read on {end}"
        f"{'; ' + spans if spans else ''}{' — LATE' if late else ''}"
    )
    out = [
        f'<svg class="clock" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{_esc(label)}">',
        f"<title>{_esc(label)}</title>",
        f'<rect class="track" x="{left}" y="9" width="{x(due or end) - left:.1f}" height="8" '
        'rx="2"/>',
        f'<rect class="{"elapsed-late" if late else "elapsed"}" x="{left}" y="11" '
        f'width="{max(1.0, x(end) - left):.1f}" height="4" rx="2"/>',
    ]
    for start, stop in pauses:
        x0, x1 = x(start), min(right, x(stop or end) + (right - left) / days)  # both days
        out.append(
            f'<rect class="paused" x="{x0:.1f}" y="3" width="{max(2.0, x1 - x0):.1f}" '
            'height="5" fill="none" stroke="#5a5a5a" stroke-dasharray="2 1"/>'
        )
    if target is not None:
        out.append(
            f'<line class="target" x1="{x(target):.1f}" y1="4" x2="{x(target):.1f}" y2="22"/>'
        )
    if due is not None:
        out.append(f'<line class="due" x1="{x(due):.1f}" y1="2" x2="{x(due):.1f}" y2="24"/>')
    out.append("</svg>")
    return "".join(out)


def consent_chart(moments: Sequence[datetime], series: dict[str, list[int]]) -> str:
    """Subjects with consent given, per purpose, at each moment: one stepped line each."""
    left, top, plot_w, plot_h = 46, 28, 860, 170
    width, height = left + plot_w + 24, top + plot_h + 40 + 20 * len(series)
    peak = max([1, *(v for values in series.values() for v in values)])
    first, last = moments[0], moments[-1]
    span = max((last - first).total_seconds(), 1.0)

    def x(moment: datetime) -> float:
        return left + plot_w * (moment - first).total_seconds() / span

    def y(value: int) -> float:
        return top + plot_h - plot_h * value / peak

    summary = "Subjects with consent given, per purpose, " + "; ".join(
        f"{purpose}: "
        + ", ".join(f"{m:%Y-%m-%d} {v}" for m, v in zip(moments, values, strict=True))
        for purpose, values in series.items()
    )
    out = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{_esc(summary)}">',
        f"<title>{_esc(summary)}</title>",
    ]
    step = max(1, peak // 5)
    for value in range(0, peak + 1, step):
        out.append(
            f'<line class="grid" x1="{left}" y1="{y(value):.1f}" x2="{left + plot_w}" '
            f'y2="{y(value):.1f}"/><text class="small" x="{left - 6}" y="{y(value) + 4:.1f}" '
            f'text-anchor="end">{value}</text>'
        )
    for tick in _ticks(first, last, 9):
        out.append(
            f'<line class="grid" x1="{x(tick):.1f}" y1="{top}" x2="{x(tick):.1f}" '
            f'y2="{top + plot_h}"/><text class="small" x="{x(tick):.1f}" y="{top + plot_h + 16}" '
            f'text-anchor="middle">{tick:%d %b}</text>'
        )
    out.append(
        f'<text class="small" x="{left - 30}" y="{top - 14}">subjects</text>'
        f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" '
        f'y2="{top + plot_h}"/>'
    )
    for n, (purpose, values) in enumerate(series.items()):
        colour, dash = LINE_COLOURS[n % len(LINE_COLOURS)], DASHES[n % len(DASHES)]
        points, previous = [], None
        for moment, value in zip(moments, values, strict=True):
            if previous is not None:
                points.append(f"{x(moment):.1f},{y(previous):.1f}")
            points.append(f"{x(moment):.1f},{y(value):.1f}")
            previous = value
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<polyline class="series" points="{" ".join(points)}" stroke="{colour}"{dashed}/>'
        )
        ly = top + plot_h + 36 + 20 * n
        out.append(
            f'<line x1="{left}" y1="{ly - 4}" x2="{left + 30}" y2="{ly - 4}" stroke="{colour}" '
            f'stroke-width="2.5"{dashed}/><text class="label" x="{left + 38}" y="{ly}">'
            f"{_esc(purpose)} (now {values[-1]})</text>"
        )
    out.append("</svg>")
    return "".join(out)
