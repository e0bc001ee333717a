"""The projection commands: what is held, on what basis, with whose consent, what is due,
where each breach stands. Each has --json; otherwise a readable table."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click
import orjson

from ledger.api import Ledger
from ledger.errors import LedgerError, NotFound

from ._projections import Projections, plain, rfc3339
from .exit_codes import INTEGRITY
from .main import Settings, cli, pass_settings

if TYPE_CHECKING:  # the source tree's name for ledger.projections (see _projections)
    from projections.breaches import BreachTimeline
    from projections.requests import Pause, RequestClock

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _when(value: str | None, ledger: Ledger, *, start: bool = False) -> str | None:
    """--as-of/--since/--until: RFC 3339, or a date in the organisation's time zone: its start
    (the first instant of that day) with *start*, for --since; otherwise its end (the last
    microsecond before the next day), for --as-of and --until. Days are as long as the clocks
    make them (23 or 25 hours when they change)."""
    if value is None or not _DATE.fullmatch(value):
        return value
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise LedgerError(
            f"{value} is not a calendar date (YYYY-MM-DD) nor an RFC 3339 time"
        ) from None
    zone = ZoneInfo(ledger.config.time_zone)
    if start:
        return datetime.combine(day, time(0), zone).isoformat()
    try:
        following = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
    except OverflowError:  # the calendar's last day
        return datetime.combine(day, time.max, zone).isoformat()
    return (following - timedelta(microseconds=1)).isoformat()


def _checked(projections: Projections) -> None:
    """What the answer just printed was checked against, on stderr (stdout stays the answer)."""
    if projections.last_check is not None:
        click.echo(projections.last_check.summary(), err=True)


@contextmanager
def _projections(settings: Settings) -> Iterator[Projections]:
    with settings.open() as ledger, Projections(ledger) as projections:
        yield projections


def _json(value: Any) -> None:
    click.echo(orjson.dumps(plain(value), option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2))


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(h) for h in headers]] + [
        ["" if c is None else str(plain(c)) for c in row] for row in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            click.echo("  ".join("-" * w for w in widths))
    if not rows:
        click.echo("(none)")


as_of_option = click.option(
    "--as-of", default=None, help="The state at this moment (RFC 3339, or a date: end of day)."
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
subject_option = click.option("--subject", default=None, help="Only this subject.")


@cli.command()
@subject_option
@as_of_option
@json_option
@pass_settings
def inventory(settings: Settings, subject: str | None, as_of: str | None, as_json: bool) -> None:
    """What is held on each subject, per category.

    Where it is held (systems and locations), for what purpose, on what basis, from what
    source, since when, until when, shared with whom, whether it is held, past its retention
    or erased (each copy's retention when they differ), and whether its processing is
    restricted (Article 18) and where.

    Example:

    \b
        ledger inventory
        ledger inventory --subject cust-1042 --as-of 2026-06-01 --json
    """
    with _projections(settings) as p:
        found = p.inventory(subject=subject, as_of=_when(as_of, p.ledger))
    _checked(p)
    if as_json:
        return _json(found)
    rows, mixed, restricted = [], [], []
    for who in found:
        for h in who.categories:
            places = ", ".join(f"{x.system} ({x.location})" for x in h.places)
            shared = ", ".join(sorted({r.recipient for r in h.recipients}))
            where = "; ".join(_restricted_where(r) for r in h.restricted)
            status = h.status + (" (copies differ)" if h.retention_summary else "")
            rows.append([who.subject, h.category, status, places or "-",
                         h.places[0].purpose if h.places else "-", shared or "-",
                         where or "-"])  # fmt: skip
            if h.retention_summary:
                mixed.append(f"  {who.subject} {h.category}: {h.retention_summary}")
            restricted += [
                f"  {who.subject} {h.category}: {r.ground} since {rfc3339(r.since)}, "
                f"{_restricted_where(r)}"
                for r in h.restricted
            ]
    _table(["subject", "category", "status", "held in", "purpose", "shared with",
            "restricted"], rows)  # fmt: skip
    if mixed:
        click.echo("retention per copy:")
        for line in mixed:
            click.echo(line)
    click.echo(f"restricted (Art. 18): {len(restricted) or 'none'}")
    for line in restricted:
        click.echo(line)


def _restricted_where(r: Any) -> str:
    """Where a restriction is in force: its system, or everywhere (but where lifted)."""
    if r.system is not None:
        return f"in {r.system}"
    if r.lifted_in:
        return "everywhere but " + ", ".join(r.lifted_in) + " (lifted there)"
    return "everywhere"


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
@as_of_option
@json_option
@pass_settings
def ropa(settings: Settings, fmt: str, as_of: str | None, as_json: bool) -> None:
    """The record of processing activities (Art. 30), as the ICO's template lays it out.

    The organisation's facts as its configuration was recorded on the ledger (what is not
    declared is said so, and listed); per purpose what happened: categories of individuals
    and of data, lawful bases, recipients, transfers and storage abroad, retention per
    category, sources; then the Art. 30(2) part, per controller processed for.

    Example:

    \b
        ledger ropa
        ledger ropa --format csv > ropa.csv
        ledger ropa --format json --as-of 2026-01-01
    """
    if as_json:
        if fmt == "csv":
            raise click.UsageError("--json and --format csv do not go together")
        fmt = "json"
    with _projections(settings) as p:
        when = _when(as_of, p.ledger)
        if fmt == "csv":
            click.echo(p.ropa_csv(as_of=when), nl=False)
            _checked(p)
            return
        record = p.ropa(as_of=when)
    _checked(p)
    if fmt == "json":
        return _json(record)
    org = record.controller
    recorded = rfc3339(org.recorded_at) or "never (no configuration facts on the ledger)"
    for label, value in (("controller", org.name), ("contact", org.contact), ("dpo", org.dpo),
                         ("representative", org.representative),
                         ("security measures", org.security_measures),
                         ("configuration recorded", recorded),
                         ("not declared", ", ".join(record.missing) or "none")):  # fmt: skip
        click.echo(f"{label + ':':<24}{value}")
    notice = record.declaration
    click.echo(f"{'declaration in force:':<24}" + (
        f"sequence {notice.sequence}, recorded {rfc3339(notice.at)}, digest {notice.digest[:16]}"
        if notice else "none (`ledger declare` records the privacy notice)"))  # fmt: skip
    click.echo("")
    _table(
        ["purpose", "individuals", "data", "bases", "declared bases", "recipients", "transfers",
         "retention", "not declared", "flags"],
        [[r.purpose, ", ".join(r.subject_categories), len(r.data_categories),
          ", ".join(r.lawful_bases_cited),
          ", ".join(r.declared.bases) if r.declared else ("NOT IN IT" if notice else "-"),
          ", ".join(r.recipients) or "-",
          ", ".join(f"{t.kind} {t.country} ({t.safeguard})" for t in r.transfers) or "-",
          ", ".join(r.retention), ", ".join(r.missing) or "-", len(r.flags)]
         for r in record.purposes],
    )  # fmt: skip
    if record.processor:
        click.echo("\nAs processor (Art. 30(2)):")
        _table(
            ["controller", "processing", "data", "individuals", "transfers", "flags"],
            [[c.controller, ", ".join(c.purposes), len(c.data_categories),
              ", ".join(c.subject_categories),
              ", ".join(f"{t.kind} {t.country} ({t.safeguard})" for t in c.transfers) or "-",
              len(c.flags)] for c in record.processor],
        )  # fmt: skip
    for r in record.purposes:
        for flag in r.flags:
            click.echo(f"flag: {r.purpose}: {flag}")
    for c in record.processor:
        for flag in c.flags:
            click.echo(f"flag: for {c.controller}: {flag}")


@cli.command()
@subject_option
@as_of_option
@json_option
@pass_settings
def consent(settings: Settings, subject: str | None, as_of: str | None, as_json: bool) -> None:
    """Consent and objection per subject and purpose.

    With the evidence Article 7(1) asks for: since when, by what method, under which
    notice, and whether marketing is suppressed.

    Example:

    \b
        ledger consent
        ledger consent --subject cust-1042 --json
    """
    with _projections(settings) as p:
        states = p.consent(subject=subject, as_of=_when(as_of, p.ledger))
    _checked(p)
    if as_json:
        return _json(states)
    _table(
        ["subject", "purpose", "state", "since", "method", "notice", "suppressed"],
        [[s.subject, s.purpose, s.state, rfc3339(s.since), s.method, s.notice,
          "yes" if s.suppressed else ""] for s in states],
    )  # fmt: skip


@cli.command()
@click.option("--open", "open_only", is_flag=True, help="Only requests still open.")
@as_of_option
@json_option
@pass_settings
def requests(settings: Settings, open_only: bool, as_of: str | None, as_json: bool) -> None:
    """Data-subject request clocks, overdue first.

    For each request: when it was received, the relevant time its month runs from, its
    target (met or missed) and legal due date, its status (paused, with what it waits for),
    and each pause with its effect (Art. 12A).

    Example:

    \b
        ledger requests --open
        ledger requests --as-of 2026-06-01 --json
    """
    with _projections(settings) as p:
        clocks = p.requests(open_only=open_only, as_of=_when(as_of, p.ledger))
    _checked(p)
    if as_json:
        return _json(clocks)
    _table(
        ["request", "subject", "kind", "received", "runs from", "target", "due", "status",
         "pauses", "flags"],
        [[c.request, c.subject, c.kind, c.received, c.relevant, _target(c), c.due,
          _request_status(c), "; ".join(_pause(x) for x in c.pauses), "; ".join(c.flags)]
         for c in clocks],
    )  # fmt: skip


def _request_status(c: RequestClock) -> str:
    if c.overdue:
        return "OVERDUE"
    if c.status == "paused":
        return f"paused since {c.paused_since} (awaiting {', '.join(c.awaiting)})"
    return c.status + (f" ({c.reason})" if c.status == "partially_fulfilled" and c.reason else "")


def _target(c: RequestClock) -> str:
    if c.target is None:
        return "-"
    if c.target_met is not None:
        return f"{c.target} ({'met' if c.target_met else 'missed'})"
    return f"{c.target} (passed)" if c.target_passed else str(c.target)


def _pause(x: Pause) -> str:
    span = f"{x.paused_on} to {x.resumed_on}" if x.resumed_on else f"since {x.paused_on}"
    return f"{x.awaiting} {span}: {x.effect}"


@cli.command()
@as_of_option
@json_option
@pass_settings
def breaches(settings: Settings, as_of: str | None, as_json: bool) -> None:
    """Every breach's timeline, in short.

    Awareness, containment, the 72-hour deadline, the reports (on time or late), who is to
    report (the controller, when all affected data is held as a processor), controllers told,
    affected subjects not yet told and any Art. 34(3) exemption, and flags.

    Example:

    \b
        ledger breaches
        ledger breaches --as-of 2026-06-01 --json
    """
    with _projections(settings) as p:
        timelines = p.breaches(as_of=_when(as_of, p.ledger))
    _checked(p)
    if as_json:
        return _json(timelines)
    _table(
        ["breach", "aware", "contained", "deadline", "risk", "records", "initial report",
         "affected", "not told", "exemption", "controllers told", "closed", "flags"],
        [[b.breach, rfc3339(b.aware_at), rfc3339(b.contained_at), rfc3339(b.deadline), b.risk,
          b.records, _initial(b), len(b.affected), len(b.not_notified),
          b.exemption.exemption if b.exemption else None,
          ", ".join(f"{c.controller} {c.at[:16]}" for c in b.controller_notified)
          or ("none" if b.held_for else None),
          rfc3339(b.closed_at), "; ".join(b.flags)] for b in timelines],
    )  # fmt: skip


def _initial(b: BreachTimeline) -> str:
    """The initial report in short, or whose it is to make when it is not the organisation's."""
    for r in b.reports:
        if r.phase == "initial":
            return ("on time " if r.on_time else "LATE ") + r.at[:16]
    return "the controller's to report" if b.reporter == "controller" else "none"


@cli.command()
@click.argument("breach_id", metavar="ID")
@as_of_option
@json_option
@pass_settings
def breach(settings: Settings, breach_id: str, as_of: str | None, as_json: bool) -> None:
    """One breach's timeline, its documentation (Art. 33(3), 33(5)) and affected subjects.

    Example:

    \b
        ledger breach INC-2026-001
        ledger breach INC-2026-001 --json
    """
    with _projections(settings) as p:
        found = p.breaches(breach=breach_id, as_of=_when(as_of, p.ledger))
    if not found:
        raise NotFound(f"no breach {breach_id!r} on the ledger")
    _checked(p)
    b = found[0]
    if as_json:
        return _json(b)
    click.echo(f"{b.breach}: {b.description}")
    steps = [["exposed from", rfc3339(b.exposed_from), ""], ["aware", rfc3339(b.aware_at), ""],
             ["authority deadline (72h)", rfc3339(b.deadline),
              "the controller's to report" if b.reporter == "controller" else ""]]  # fmt: skip
    if b.contained_at:
        steps.append(["contained", rfc3339(b.contained_at), ""])
    if b.assessed_at:
        steps.append(["assessed: " + str(b.risk), rfc3339(b.assessed_at),
                      "" if b.reason else "no reasoning recorded"])  # fmt: skip
    for r in b.reports:
        late = "" if r.on_time else ("late, reason given" if r.delay_reason else "LATE, no reason")
        steps.append([f"reported ({r.phase}) to {r.authority}", rfc3339(r.at), late])
    for n in b.notifications:
        steps.append([f"{len(n['subjects'])} subject(s) told by {n['channel']}",
                      rfc3339(n["at"]), ""])  # fmt: skip
    if b.exemption:
        steps.append([f"subjects not told: {b.exemption.exemption}", rfc3339(b.exemption.at),
                      b.exemption.ground])  # fmt: skip
    for c in b.controller_notified:
        steps.append([f"controller {c.controller} told", rfc3339(c.at),
                      "" if c.within_threshold else "after the operational threshold"])  # fmt: skip
    if b.closed_at:
        steps.append(["closed", rfc3339(b.closed_at), ""])
    _table(["step", "when", "note"], sorted(steps, key=lambda s: s[1] or ""))
    not_recorded = "not recorded"
    click.echo(f"records (approximate): {b.records if b.records is not None else not_recorded}")
    click.echo(f"risk reasoning (Art. 33(5)): {b.reason or not_recorded}")
    click.echo(f"likely consequences: {b.consequences or not_recorded}")
    click.echo(f"measures: {b.measures or not_recorded}")
    click.echo(f"affected subjects ({len(b.affected)}): {', '.join(b.affected) or 'none'}")
    for controller, subjects in b.held_for.items():
        click.echo(f"held as a processor for {controller}: {', '.join(subjects)}")
    if b.held_for:
        click.echo(f"controllers to be told by {rfc3339(b.controller_due)} "
                   "(operational threshold; Art. 33(2): without undue delay)")  # fmt: skip
    if b.reporter == "controller":
        click.echo("report to the authority: the controller's (all affected data is held as a "
                   "processor)")  # fmt: skip
    ours = [s for s in b.not_notified if s in set(b.own)]
    theirs = [s for s in b.not_notified if s not in set(b.own)]
    if ours:
        click.echo(f"not yet told: {', '.join(ours)}")
    if theirs:
        click.echo(f"not yet told, the controller's to tell: {', '.join(theirs)}")
    if b.exemption:
        click.echo(f"exemption: {b.exemption.exemption} ({b.exemption.ground})")
    for flag in b.flags:
        click.echo(f"FLAG: {flag}")


@cli.command()
@click.argument("subject_id", metavar="SUBJECT")
@as_of_option
@click.option("--decrypt", is_flag=True, help="Include values (recorded as an access first).")
@click.option("--actor", default=None, help="Who is reading (with --decrypt).")
@click.option("--purpose", default=None, help="Why, as a data-use key (with --decrypt).")
@json_option
@pass_settings
def subject(
    settings: Settings,
    subject_id: str,
    as_of: str | None,
    decrypt: bool,
    actor: str | None,
    purpose: str | None,
    as_json: bool,
) -> None:
    """The access report for one subject.

    What Article 15 gives a subject (what is held, why, from where, shared with whom, consent
    and requests), what is restricted (Article 18) and where, and the recipients Article 19
    says must be told of erasures, rectifications and restrictions, told or not. With
    --decrypt, the values too, recorded as an access first.

    Example:

    \b
        ledger subject cust-1042
        ledger subject cust-1042 --decrypt --actor staff:dpo \\
            --purpose essential.service.operations.support
    """
    if (actor or purpose) and not decrypt:
        raise click.UsageError("--actor and --purpose go with --decrypt")
    with _projections(settings) as p:
        report = p.subject_report(subject_id, as_of=_when(as_of, p.ledger), decrypt=decrypt,
                                  actor=actor, purpose=purpose)  # fmt: skip
    _checked(p)
    if as_json:
        return _json(report)
    held = report.inventory
    click.echo(f"subject {subject_id}: {held.status if held else 'nothing recorded'}")
    if held:
        _table(
            ["category", "status", "purpose", "basis", "source", "retention", "recipients"],
            [[h.category, h.status, h.places[0].purpose if h.places else "-",
              h.places[0].basis if h.places else "-", h.places[0].source if h.places else "-",
              h.places[0].retention if h.places else "-",
              ", ".join(f"{r.recipient} ({r.country}{', ' + r.transfer if r.transfer else ''})"
                        for r in h.recipients) or "-"] for h in held.categories],
        )  # fmt: skip
    for c in report.consent:
        click.echo(f"consent {c.purpose}: {c.state} since {rfc3339(c.since)}")
    for r in report.requests:
        click.echo(f"request {r.request} ({r.kind}): {_request_status(r)}, target "
                   f"{_target(r)}, due {r.due or '- (paused)'}"
                   + "".join(f"; paused {_pause(x)}" for x in r.pauses))  # fmt: skip
    for h in held.categories if held else []:
        if h.retention_summary:
            click.echo(f"retention of {h.category}: {h.retention_summary}")
    for x in report.restricted:
        click.echo(f"restricted (Art. 18): {x['category']} {_restricted_where_row(x)}, "
                   f"{x['ground']} since {rfc3339(x['since'])}")  # fmt: skip
    for t in report.must_tell:
        click.echo(f"Art. 19: after {t['event']} at {rfc3339(t['at'])}, tell "
                   + ", ".join(t["recipients"]))  # fmt: skip
        for recipient in t["recipients"]:
            told = t["told"].get(recipient)
            click.echo(f"  {recipient}: " + (f"told {rfc3339(told)}" if told else
                       f"NOT TOLD since {rfc3339(t['at'])}"))  # fmt: skip
    for n in report.told_of_nothing:
        click.echo(f"FLAG: {n['recipient']} at {rfc3339(n['at'])}: {n['flag']}")
    for v in report.values or []:
        click.echo(orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode())


def _restricted_where_row(r: dict[str, Any]) -> str:
    if r["system"] is not None:
        return f"in {r['system']}"
    if r["lifted_in"]:
        return "everywhere but " + ", ".join(r["lifted_in"]) + " (lifted there)"
    return "everywhere"


@cli.command()
@click.option("--subject", default=None)
@click.option("--actor", default=None)
@click.option("--system", default=None)
@click.option("--category", default=None, help="A category key (covers its descendants).")
@click.option("--type", "types", multiple=True, help="Event type (repeatable).")
@click.option(
    "--since", default=None, help="From this moment (RFC 3339, or a date: from its start)."
)
@click.option("--until", default=None, help="Up to this moment (RFC 3339, or a date: to its end).")
@json_option
@pass_settings
def history(
    settings: Settings,
    subject: str | None,
    actor: str | None,
    system: str | None,
    category: str | None,
    types: tuple[str, ...],
    since: str | None,
    until: str | None,
    as_json: bool,
) -> None:
    """Who touched whose data: the events in ledger order.

    Metadata only, never values; each filter narrows the list.

    Example:

    \b
        ledger history --subject cust-1042
        ledger history --actor svc:helpdesk --since 2026-03-01 --until 2026-03-31
        ledger history --type erased --type rectified --json
    """
    with _projections(settings) as p:
        found = p.history(subject=subject, actor=actor, system=system, category=category,
                          types=types, since=_when(since, p.ledger, start=True),
                          until=_when(until, p.ledger))  # fmt: skip
    _checked(p)
    if as_json:
        return _json(found)
    _table(
        ["seq", "at", "type", "actor", "subject", "system", "categories"],
        [[e["sequence"], e["at"], e["type"], e["actor"], e.get("subject", "-"),
          e.get("system", "-"), ", ".join(e.get("categories", []))] for e in found],
    )  # fmt: skip


@cli.group()
def projections() -> None:
    """Rebuild the projections, or see where they stand.

    Example:

    \b
        ledger projections status
        ledger projections rebuild
    """


@projections.command()
@pass_settings
def rebuild(settings: Settings) -> None:
    """Empty the projection tables and replay the whole chain.

    The tables are sealed and guarded afresh.

    Example:

    \b
        ledger projections rebuild
    """
    with _projections(settings) as p:
        applied = p.rebuild()
    click.echo(f"rebuilt from {applied} events; the tables are sealed and guarded afresh")


@projections.command()
@json_option
@pass_settings
def status(settings: Settings, as_json: bool) -> None:
    """Where the projections stand against the chain.

    The position applied against the chain's head, and the check every question runs. Exit
    1 when the tables do not match the chain (nothing is applied).

    Example:

    \b
        ledger projections status
        ledger projections status --json
    """
    with _projections(settings) as p:
        state = p.status()
    if as_json:
        _json({"position": state.position, "head": state.head, "behind": state.behind,
               "matches": state.problem is None, "problem": state.problem,
               "check": state.check.to_dict() if state.check else None})  # fmt: skip
    elif state.problem is None:
        click.echo(f"applied {state.position} of {state.head} events ({state.behind} behind)")
        if state.check is not None:
            click.echo(state.check.summary())
    else:
        click.echo(f"tracked position {state.position}; the chain holds {state.head} events")
        click.echo(f"NOT MATCHING: {state.problem}")
    if state.problem is not None:
        sys.exit(INTEGRITY)


@cli.command()
@subject_option
@as_of_option
@click.option("--all", "include_told", is_flag=True, help="Include those already told.")
@json_option
@pass_settings
def notices(
    settings: Settings, subject: str | None, as_of: str | None, include_told: bool, as_json: bool
) -> None:
    """Recipients still to be told of a change (Art. 19).

    Each recipient the data had been disclosed to before an erasure, rectification or
    restriction, and since when it is owed the news; told once a recipients_notified names
    it, that kind of change and overlapping categories, at or after the change. With --all,
    the told ones too, and when. A notification that matches no change is flagged.

    Example:

    \b
        ledger notices
        ledger notices --subject cust-1042 --all --json
    """
    with _projections(settings) as p:
        found = p.notices(subject=subject, as_of=_when(as_of, p.ledger), include_told=include_told)
    _checked(p)
    if as_json:
        return _json(found)
    _table(
        ["subject", "recipient", "change", "categories", "changed", "told"],
        [[n.subject, n.recipient, n.change, ", ".join(n.categories), rfc3339(n.changed_at),
          f"told {rfc3339(n.told_at)}" if n.told else "NOT TOLD"] for n in found.notices],
    )  # fmt: skip
    for t in found.told_of_nothing:
        click.echo(f"FLAG: {t.subject} {t.recipient} ({t.change}, {rfc3339(t.at)}): {t.flag}")


@cli.command()
@click.option("--open", "open_only", is_flag=True, help="Only complaints not closed.")
@as_of_option
@json_option
@pass_settings
def complaints(settings: Settings, open_only: bool, as_of: str | None, as_json: bool) -> None:
    """Complaints and their acknowledgement clocks.

    Late ones first (DPA 2018 s.164A). Received, acknowledged (due by the last of the 30
    days beginning with the day of receipt), closed, and the outcome's age in days (shown,
    not flagged). Complaints received before 19 June 2026, when the duty came into force,
    are never flagged as late.

    Example:

    \b
        ledger complaints --open
        ledger complaints --as-of 2026-08-01 --json
    """
    with _projections(settings) as p:
        found = p.complaints(open_only=open_only, as_of=_when(as_of, p.ledger))
    _checked(p)
    if as_json:
        return _json(found)
    _table(
        ["complaint", "subject", "channel", "received", "acknowledge by", "acknowledged",
         "closed", "days open", "status", "flags"],
        [[c.complaint, c.subject or "-", c.channel, c.received, c.acknowledge_by,
          c.acknowledged or "-", c.closed or "-", c.days_open,
          "LATE" if c.late else c.status, "; ".join(c.flags)] for c in found],
    )  # fmt: skip
