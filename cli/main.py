"""The `ledger` command: thin click wrappers over the Python API, formatting only.

Exit codes (``exit_codes``): 0 success, 1 integrity failure, 2 refused input, usage or
an unreadable store, 3 an internal error (a bug: please report it), 4 recorded but a purge
is pending.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import click
import orjson

from ledger.api import DEFAULT_KEYS, DEFAULT_URL, Ledger, check_origin, config_differs
from ledger.crypto.signing import (
    DEFAULT_SIGNING,
    PUBLIC_FILE,
    Signer,
    check_signing_folder,
    create_signer,
    load_signer,
)
from ledger.demo import story as demo_story
from ledger.errors import LedgerError, PurgePending
from ledger.files import MAX_NOTE_FILE, check_output, private_output, read_limited, write_private
from ledger.importer import import_lines, summarise
from ledger.migrate import migrate as migrate_store
from ledger.store import open_store
from ledger.store.base import PendingPurge
from ledger.store.copy import copy_ledger
from ledger.store.urls import mask_url
from ledger.transparency import (
    CheckpointReview,
    SinceCheck,
    VerifiableLog,
    read_verifier,
    signing_verifiers,
)
from ledger.verification.checker import VerifyReport
from ledger.verification.replay import ReplayFinding

from ._projections import Projections, compare_stored, render_report, rfc3339, with_projections
from .exit_codes import INTEGRITY, INTERNAL, OK, PENDING, exit_code


@dataclass(frozen=True)
class Settings:
    db: str
    keys: Path
    config: Path | None
    signing: Path
    read_only: bool = False

    def signer(self) -> Signer:
        """The checkpoint signing key in --signing-key."""
        return load_signer(self.signing)

    def log(self, ledger: Ledger) -> VerifiableLog:
        """The verifiable log, with the signing folder's verifier keys (its own and the
        retired ones) to check stored checkpoints under, besides the keys recorded on the
        ledger."""
        return VerifiableLog(ledger, signing_verifiers(self.signing))

    def open(self, *, read_only: bool = False) -> Ledger:
        """The ledger; read-only when the command only reads, or when --read-only was given
        (a replica: writing commands are then refused, questions build their own tables)."""
        ledger = Ledger.open(
            self.db, self.keys, config=self.config, read_only=read_only or self.read_only
        )
        if self.config is not None and config_differs(ledger):
            click.echo(
                f"note: {self.config} differs from the configuration recorded on the ledger: "
                "the next write records it, in force from then on",
                err=True,
            )
        return ledger


class LedgerGroup(click.Group):
    """Turns every error into one line on stderr and the exit code ``exit_codes`` gives it;
    never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except BrokenPipeError:
            # The reader went away (e.g. `| head`): stop quietly, as Unix tools do.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            ctx.exit(OK)
        except Exception as exc:
            code = exit_code(exc)
            if code == INTERNAL and os.environ.get("LEDGER_DEBUG"):
                raise
            click.echo(f"error: {_error_line(exc, code)}", err=True)
            ctx.exit(code)


def _error_line(exc: Exception, code: int) -> str:
    """The one line an error is shown as."""
    if code == INTERNAL:
        # The message of an unexpected error could quote input: name only its type.
        return f"internal error ({type(exc).__name__}); set LEDGER_DEBUG=1 to see the traceback"
    if isinstance(exc, LedgerError):
        return (str(exc).splitlines() or [""])[0]  # one line, whatever a driver put in it
    if isinstance(exc, UnicodeError):
        return "an argument or input is not valid UTF-8 text"
    if isinstance(exc, OSError):
        where = f" ({str(exc.filename)[:200]})" if exc.filename else ""
        return f"{exc.strerror or type(exc).__name__}{where}"
    return type(exc).__name__


@click.group(cls=LedgerGroup)
@click.option(
    "--db",
    envvar="LEDGER_DB",
    default=DEFAULT_URL,
    show_default=True,
    help="Store URL: sqlite:///path (or LEDGER_DB).",
)
@click.option(
    "--keys",
    envvar="LEDGER_KEYS",
    default=DEFAULT_KEYS,
    show_default=True,
    type=click.Path(path_type=Path),
    help="Keys folder (or LEDGER_KEYS).",
)
@click.option(
    "--config",
    envvar="LEDGER_CONFIG",
    default=None,
    type=click.Path(path_type=Path),
    help="Organisation configuration (TOML): vocabulary extensions and settings.",
)
@click.option(
    "--signing-key",
    "signing",
    envvar="LEDGER_SIGNING",
    default=DEFAULT_SIGNING,
    show_default=True,
    type=click.Path(path_type=Path),
    help="Folder of the checkpoint signing key, apart from --keys (or LEDGER_SIGNING).",
)
@click.option(
    "--read-only",
    is_flag=True,
    envvar="LEDGER_READ_ONLY",
    help="Open the store read-only (a replica): questions and reports build their tables in "
    "memory; anything that would write is refused.",
)
@click.version_option(package_name="pd-audit-ledger")
@click.pass_context
def cli(
    ctx: click.Context, db: str, keys: Path, config: Path | None, signing: Path, read_only: bool
) -> None:
    """A tamper-evident, encrypted audit ledger of personal-data events.

    Every command takes the store, keys folder, configuration and signing key from the
    options here (or their environment variables).

    Example:

    \b
        ledger init --origin northgate-it/ledger
        ledger import events.jsonl
        ledger --db postgresql://ledger@db:5432/ledger --keys /srv/ledger-keys verify
    """
    ctx.obj = Settings(db, keys, config, signing, read_only)


pass_settings = click.make_pass_decorator(Settings)


@cli.command()
@click.option("--origin", default=None, help="The ledger's name in checkpoints.")
@pass_settings
def init(settings: Settings, origin: str | None) -> None:
    """Create the store, its keys and its signing key.

    None of them is ever overwritten. Bad input is refused before anything is written; if
    any step fails, what was made is removed again, so a retry starts clean.

    Example:

    \b
        ledger init --origin northgate-it/ledger
        ledger --db sqlite:///audit.db --keys audit-keys init
    """
    if origin is not None:
        check_origin(origin)
    check_signing_folder(settings.signing)
    with Ledger.init(settings.db, settings.keys, config=settings.config, origin=origin) as ledger:
        try:
            signer = create_signer(settings.signing, ledger.meta["origin"])
        except BaseException:
            ledger.discard()
            raise
        click.echo(f"created ledger {ledger.meta['origin']} at {mask_url(settings.db)}")
        click.echo(
            f"keys in {settings.keys} (readable by you only): back them up apart from the store"
        )
        click.echo(f"signing key in {settings.signing}; give auditors the verifier key:")
        click.echo(f"  {signer.verifier_key}")


@cli.command(name="import")
@click.argument("source", type=click.File("rb"))
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Processes that parse and check the lines (default: every core, up to 8, or "
    "LEDGER_IMPORT_WORKERS; 1: this process alone). The outcome is the same.",
)
@pass_settings
def import_(settings: Settings, source: IO[bytes], workers: int | None) -> None:
    """Record the events of a JSON Lines file.

    All of them are recorded, or none. SOURCE is a file, or - for standard input. Events
    already on the ledger (the same id and content) are counted, not recorded again. Exit 4
    if they were recorded but an erasure's purge is still pending. A refusal names the
    first bad line, whatever the number of workers.

    Example:

    \b
        ledger import events.jsonl
        ledger import - < events.jsonl
        ledger import --workers 1 events.jsonl
    """
    pending: PurgePending | None = None
    with settings.open() as ledger:
        try:
            result = import_lines(ledger, source, workers=workers)
        except PurgePending as exc:  # recorded, but an erasure is not yet beyond recovery
            result, pending = summarise(exc.receipts), exc
    text = f"recorded {result.recorded} events"
    if result.recorded:
        text += f" (sequence {result.first_sequence}-{result.last_sequence})"
    if result.already_present:
        text += f"; {result.already_present} already present (same id), not recorded again"
    click.echo(text)
    if pending is not None:
        click.echo(f"purge pending: {pending}", err=True)
        sys.exit(exit_code(pending))


def _progress(total: int) -> tuple[Callable[[int], None] | None, Callable[[], None]]:
    if not sys.stderr.isatty() or total < 50_000:
        return None, lambda: None
    bar = click.progressbar(length=total, label="verifying", file=sys.stderr)
    bar.__enter__()
    done = [0]

    def advance(checked: int) -> None:
        bar.update(checked - done[0])
        done[0] = checked

    return advance, lambda: bar.__exit__(None, None, None)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--contract",
    is_flag=True,
    help="Also check every event against the vocabulary recorded before it.",
)
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also check the ledger holds what this signed checkpoint committed to.",
)
@click.option(
    "--key",
    "key_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The verifier key the checkpoint must be signed with (default: the store's own).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Processes checking ranges of the chain at once (default: one per core for large "
    "ledgers, or LEDGER_VERIFY_WORKERS; 1: this process only).",
)
@click.option(
    "--since-checkpoint",
    is_flag=True,
    help="Check only what the newest stored checkpoint that verifies does not vouch for: the "
    "store's consistency with it, then every event since (no checkpoint: the whole chain).",
)
@click.option(
    "--projections",
    "projections_too",
    is_flag=True,
    help="Also derive the projections again from the chain and compare them with the stored "
    "tables, naming the first difference.",
)
@pass_settings
def verify(
    settings: Settings,
    as_json: bool,
    contract: bool,
    checkpoint_file: Path | None,
    key_file: Path | None,
    workers: int | None,
    since_checkpoint: bool,
    projections_too: bool,
) -> None:
    """Check that nothing stored was tampered with.

    Nothing changed, removed, inserted or reordered: the chain, the Merkle tree, the seals
    (with the keys), the head and the keys table are checked. Every stored checkpoint is
    checked too (its signature and its root): one that does not verify is named, exit 1.

    Exit 0 when intact, 1 when not (naming the first bad sequence), 2 when the
    store cannot be read.

    Example:

    \b
        ledger verify
        ledger verify --json --contract --projections
        ledger verify --since-checkpoint
        ledger verify --checkpoint today.note --key ledger.vkey
    """
    with settings.open(read_only=True) as ledger:
        log = settings.log(ledger)
        checks: CheckpointReview | SinceCheck | None = None
        advance, finish = _progress(0 if since_checkpoint else ledger.size)
        try:
            if since_checkpoint:
                if checkpoint_file is not None or key_file is not None:
                    raise click.UsageError("--since-checkpoint goes without --checkpoint/--key")
                checks = log.verify_since_checkpoint(workers=workers)
                report = checks.report
            elif checkpoint_file is not None:
                verifier = read_verifier(key_file or settings.signing / PUBLIC_FILE)
                note = _read_text(checkpoint_file)
                report = VerifiableLog(ledger).verify_against(note, verifier).report
            elif key_file is not None:
                raise click.UsageError("--key goes with --checkpoint")
            else:
                report = ledger.verify(progress=advance, workers=workers, checkpoints=False)
                checks = log.check_stored_checkpoints()
                report = checks.apply(report)
        finally:
            finish()
        findings = ledger.revalidate() if contract and report.intact else []
        pending = ledger.store.pending()
        stale = ledger.status().stale if ledger.keys is not None else []
        compared = compare_stored(ledger) if projections_too else None
    _print_report(
        with_projections(report, compared), as_json, findings if contract else None, pending,
        checks,
    )  # fmt: skip
    if compared is not None and not as_json:
        click.echo(compared.line())
    if stale and not as_json:
        click.echo(
            f"keys folder: {len(stale)} replaced keys still held (e.g. {stale[0]}): the next "
            "writable open destroys them (`ledger status`)"
        )
    if not report.intact or findings or (compared is not None and not compared.matches):
        sys.exit(INTEGRITY)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@pass_settings
def status(settings: Settings, as_json: bool) -> None:
    """Show the size, the keys and any pending purge.

    A purge is what an erasure or a key rotation leaves to finish. With the keys and a
    writable store, a pending purge is tried again first. Exit 0 when nothing is pending, 4
    while a purge is pending, a replaced key is still held or a key the store needs is
    missing.

    Example:

    \b
        ledger status
        ledger status --json
    """
    with settings.open() as ledger:
        state = ledger.status()
    if as_json:
        click.echo(orjson.dumps(state.to_dict(), option=orjson.OPT_SORT_KEYS).decode())
    else:
        click.echo(f"ledger: {state.size} events; key epoch {state.key_epoch}")
        if state.keys_problem:
            click.echo(f"keys: not at hand ({state.keys_problem}): nothing can be finished")
        else:
            click.echo(f"keys: {state.buckets} buckets in {settings.keys}")
        for note in state.pending:
            click.echo(_pending_line(note))
        if not state.pending:
            click.echo("purges: none pending")
        if state.stale:
            click.echo(
                f"keys folder: {len(state.stale)} replaced key generations still held "
                f"(e.g. {state.stale[0]}): they are destroyed when a writer next runs"
            )
        if state.missing:
            click.echo(
                f"keys folder: lacks {len(state.missing)} key generations this store needs "
                f"(e.g. {state.missing[0]}): values in those buckets cannot be read or "
                "written; is this an old copy or a restored backup of the store?"
            )
    if state.pending or state.missing or state.stale:
        sys.exit(PENDING)


def _pending_line(note: PendingPurge) -> str:
    what = f"erasure at sequence {note.sequence}" if note.kind == "erasure" else "key rotation"
    return f"purge pending since {note.since}: {what}: {note.reason or 'not finished yet'}"


def _read_text(path: Path) -> str:
    try:
        return read_limited(path, MAX_NOTE_FILE, "a checkpoint").decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LedgerError(f"cannot read {path}: {type(exc).__name__}") from None


def _print_report(
    report: VerifyReport,
    as_json: bool,
    findings: list[ReplayFinding] | None = None,
    pending: list[PendingPurge] | None = None,
    checks: CheckpointReview | SinceCheck | None = None,
) -> None:
    if as_json:
        result = report.to_dict()
        if checks is not None:
            result.update(checks.to_dict())
        if pending is not None:
            result["pending_purges"] = [dataclasses.asdict(note) for note in pending]
        if findings is not None:
            result["contract"] = [{"sequence": f.sequence, "problem": f.problem} for f in findings]
        click.echo(orjson.dumps(result, option=orjson.OPT_SORT_KEYS).decode())
        return
    for finding in findings or []:
        click.echo(f"contract: sequence {finding.sequence}: {finding.problem}")
    if findings == [] and report.intact:
        click.echo("contract: every event is valid under the vocabulary of its time")
    seals = "chain and seals" if report.seals_checked else "chain (seals not checked: no keys)"
    table = (
        (
            "; the keys table matches the chain, every key unwraps"
            if report.seals_checked
            else "; the keys table matches the chain (keys not unwrapped: no keys)"
        )
        if report.keys_checked
        else ""
    )
    if report.intact and checks is not None:
        click.echo(checks.describe(report) + table)
    elif report.intact:
        click.echo(f"intact: {report.size} events, {seals} verified{table}")
    else:
        click.echo(f"NOT INTACT at sequence {report.first_bad}: {report.reason}")
    for note in pending or []:
        click.echo(_pending_line(note))


def _generator(rows: Iterator[dict[str, Any]]) -> Generator[dict[str, Any], None, None]:
    """``Ledger.export``'s rows as the generator they are, so that they can be closed (ending
    the read) when the output fails; the method is annotated as an iterator."""
    return cast("Generator[dict[str, Any], None, None]", rows)


@contextmanager
def _output(path: Path | None) -> Iterator[IO[bytes]]:
    """Standard output (no path, or -), or a new owner-only file renamed onto *path*."""
    if path is None or str(path) == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    with private_output(path) as handle:
        yield handle


@cli.command()
@click.option("--subject", default=None, help="Only this subject's events.")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False, allow_dash=True),
    default=None,
    help="Write to FILE (created readable by you only; - for stdout) instead of stdout.",
)
@click.option(
    "--decrypt", is_flag=True, help="Show values where keys remain (recorded as an access)."
)
@click.option("--actor", default=None, help="Who is reading (with --decrypt).")
@click.option("--purpose", default=None, help="Why, as a data-use key (with --decrypt).")
@click.option(
    "--bundle",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Write an offline evidence bundle to this folder instead (values stay encrypted).",
)
@pass_settings
def export(
    settings: Settings,
    subject: str | None,
    output: Path | None,
    decrypt: bool,
    actor: str | None,
    purpose: str | None,
    bundle: Path | None,
) -> None:
    """Write the events as JSON Lines, with the ledger's fields.

    Each line is an event as the contract writes it, plus its sequence, times, uuid and
    hashes; values stay encrypted unless --decrypt, which is recorded as an access first.
    With --bundle, an offline evidence bundle for ``ledger verify-bundle`` instead.

    Example:

    \b
        ledger export -o events.jsonl
        ledger export --subject cust-1042 --decrypt --actor staff:dpo \\
            --purpose essential.service.operations.support
        ledger export --bundle evidence
    """
    if (actor or purpose) and not decrypt:
        raise click.UsageError("--actor and --purpose go with --decrypt")
    if bundle is not None:
        if decrypt or subject or output:
            raise click.UsageError("--bundle takes the whole ledger, encrypted: no other options")
        with settings.open() as ledger:
            log = settings.log(ledger)
            count = log.export_bundle(bundle, settings.signer())
        click.echo(f"wrote {count} events and their checkpoints to {bundle}")
        return
    if output is not None and str(output) != "-":
        check_output(output)  # before a decrypting read is recorded as an access
    with (
        settings.open(read_only=not decrypt) as ledger,
        closing(
            _generator(
                ledger.export(subject=subject, decrypt=decrypt, actor=actor, purpose=purpose)
            )
        ) as rows,
    ):
        first = next(rows, None)  # the access is recorded before anything is written out
        with _output(output) as out:
            if first is not None:
                out.write(orjson.dumps(first, option=orjson.OPT_SORT_KEYS) + b"\n")
            for row in rows:
                out.write(orjson.dumps(row, option=orjson.OPT_SORT_KEYS) + b"\n")


@cli.command()
@pass_settings
def migrate(settings: Settings) -> None:
    """Upgrade the store's schema to this release's.

    The migrations are Alembic's, shipped in the package; from schema 1 they need --keys.

    Example:

    \b
        ledger migrate
        ledger --db postgresql://ledger@db:5432/ledger --keys /srv/ledger-keys migrate
    """
    before, after = migrate_store(settings.db, settings.keys)
    if before == after:
        click.echo(f"the store is already at schema revision {after}")
    else:
        click.echo(f"migrated the store from revision {before or 'none'} to {after}")


@cli.command()
@click.option(
    "--to", "target", required=True, help="URL of the new store (sqlite:/// or postgresql://)."
)
@pass_settings
def copy(settings: Settings, target: str) -> None:
    """Copy the whole ledger to a new store.

    Events, hashes, seals, tree nodes, checkpoints and wrapped keys are copied as they are,
    so the copy verifies with the same keys folder and against the same checkpoints.

    Example:

    \b
        ledger copy --to postgresql://ledger@db:5432/ledger
        ledger --db postgresql://ledger@db:5432/ledger copy --to sqlite:///ledger.db
    """
    with settings.open(read_only=True) as ledger:
        destination = open_store(target)
        try:
            count = copy_ledger(ledger.store, destination)
        finally:
            destination.close()
    click.echo(
        f"copied {count} events to {mask_url(target)}; it verifies against the same checkpoints"
    )


@cli.command()
@click.option(
    "--dir",
    "parent",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("."),
    show_default=True,
    help="Where to create the demo's own fresh folder.",
)
def demo(parent: Path) -> None:
    """Record the seed company's story in a fresh ledger.

    The story is verified and summarised, a checkpoint signed and the HTML report written,
    all in a new folder of its own.

    Example:

    \b
        ledger demo
        ledger demo --dir /tmp
    """
    run = demo_story.run(demo_story.fresh_folder(parent))
    recorded = sum(1 for receipt in run.receipts if receipt.recorded)
    click.echo(f"Northgate IT Services Ltd: {recorded} events recorded in {run.url}")
    for kind, count in sorted(run.by_type.items()):
        click.echo(f"  {kind:<18} {count}")
    click.echo(
        f"erasure of {run.erased_subject}: keys destroyed for {', '.join(run.shredded)}; "
        f"readable values left: {', '.join(run.erased_readable) or 'none'}"
    )
    _print_report(run.report, False)
    signing = run.folder / "signing"
    with Ledger.open(run.url, run.keys, config=run.config) as ledger, Projections(ledger) as p:
        _demo_summary(p)
        signer = create_signer(signing, ledger.meta["origin"])
        note = VerifiableLog(ledger).checkpoint(signer)
        report_file = run.folder / "report.html"
        write_private(report_file, render_report(p))
    click.echo("signed checkpoint (C2SP), verifiable offline with the key below:")
    for line in note.splitlines():
        click.echo(f"  {line}")
    click.echo(f"  verifier key: {signer.verifier_key}")
    click.echo(
        f"report (one HTML file, no personal data values; open it in a browser or print it): "
        f"{report_file}"
    )
    click.echo("explore it:")
    click.echo(
        f"  export LEDGER_DB={run.url} LEDGER_KEYS={run.keys} LEDGER_CONFIG={run.config} "
        f"LEDGER_SIGNING={signing}"
    )
    for command in (
        "verify",
        "inventory",
        "consent",
        "requests",
        "breach INC-2026-001",
        "declaration",
        "findings",
        "notices",
        "complaints",
        "subject cust-1003",
        "history --subject cust-1002",
        "ropa --format csv",
        "report --as-of 2026-06-01 -o report.html",
        "prove inclusion 5",
        "export --bundle evidence",
        "verify-bundle evidence --key $LEDGER_SIGNING/verifier.key",
    ):
        click.echo(f"  ledger {command}")
    if not run.report.intact:
        sys.exit(INTEGRITY)


def _demo_summary(p: Projections) -> None:
    click.echo("inventory:")
    for who in p.inventory():
        counts = Counter(h.status for h in who.categories)
        detail = ", ".join(
            f"{n} {status.replace('_', ' ')}" for status, n in sorted(counts.items())
        )
        click.echo(f"  {who.subject}: {who.status} ({detail})")
    click.echo("consent:")
    for state in p.consent():
        extra = ", marketing suppressed" if state.suppressed else ""
        click.echo(f"  {state.subject} {state.purpose}: {state.state}{extra}")
    click.echo("requests:")
    for clock in p.requests():
        if clock.status == "paused":
            when = f"paused since {clock.paused_since} awaiting {', '.join(clock.awaiting)}"
        else:
            met = {True: " (met)", False: " (missed)", None: ""}[clock.target_met]
            when = f"target {clock.target}{met}, legal due {clock.due}"
            when += " (extended)" if clock.extension_reason else ""
        runs = f", runs from {clock.relevant}" if clock.relevant != clock.received else ""
        click.echo(
            f"  {clock.request} {clock.kind} by {clock.subject}: {clock.status}, received "
            f"{clock.received}{runs}, {when}"
        )
        for flag in clock.flags:
            click.echo(f"    FLAG: {flag}")
    click.echo("breaches:")
    for b in p.breaches():
        initial = next((r for r in b.reports if r.phase == "initial"), None)
        if b.reporter == "controller":
            report = "the controller's to report"
        elif initial is None:
            report = "needs no report" if b.risk == "unlikely" else "not reported"
        elif initial.on_time:
            report = "reported on time"
        else:
            report = f"reported late, {'with' if initial.delay_reason else 'WITHOUT'} reasons"
        own_untold = [s for s in b.not_notified if s in b.own]
        told = f"{len(own_untold)} of our own not told"
        if b.exemption is not None:
            told += f" (exempt: {b.exemption.exemption})"
        contained = f", contained {rfc3339(b.contained_at)}" if b.contained_at else ""
        click.echo(
            f"  {b.breach} ({b.risk} risk): aware {rfc3339(b.aware_at)}, 72h deadline "
            f"{rfc3339(b.deadline)}{contained}, {report}; {len(b.affected)} affected, "
            f"{told}; {'closed' if b.closed_at else 'open'}"
        )
        for notice in b.controller_notified:
            click.echo(f"    controller {notice.controller} told {rfc3339(notice.at)}")
        for flag in b.flags:
            click.echo(f"    FLAG: {flag}")
    click.echo("restrictions in force (Art. 18):")
    restricted = [
        (who.subject, h.category, r)
        for who in p.restricted()
        for h in who.categories
        for r in h.restricted
    ]
    for subject, category, r in restricted:
        where = r.system or "everywhere"
        click.echo(f"  {subject} {category} in {where}: {r.ground} since {rfc3339(r.since)}")
    if not restricted:
        click.echo("  none")
    click.echo("recipients to be told (Art. 19):")
    for n in p.notices(include_told=True).notices:
        told = (
            f"told {rfc3339(n.told_at)}" if n.told else f"NOT TOLD since {rfc3339(n.untold_since)}"
        )
        click.echo(f"  {n.recipient} of the {n.change} for {n.subject}: {told}")
    found = p.findings()
    kinds = Counter(f.kind for f in found)
    click.echo(
        "findings (what happened against the declared notice and subjects' choices): "
        + (", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())) or "none")
    )
    for f in found:
        click.echo(f"  {f.kind}: {f.detail} (events {', '.join(map(str, f.sequences))})")
    click.echo("complaints (DPA 2018 s.164A):")
    for c in p.complaints():
        if c.late:
            said = f"LATE: not acknowledged by {c.acknowledge_by}"
        elif c.acknowledged:
            said = f"{c.status}; acknowledged {c.acknowledged} (due by {c.acknowledge_by})"
        else:
            said = f"{c.status}; to acknowledge by {c.acknowledge_by}"
        click.echo(f"  {c.complaint} received {c.received}: {said}")


def main() -> None:
    """Entry point of the `ledger` console script."""
    cli(prog_name="ledger")


# The other command modules, one per command group, register their commands on `cli`.
from . import bench as _bench  # noqa: E402, F401
from . import bundle as _bundle  # noqa: E402, F401
from . import declare as _declare  # noqa: E402, F401
from . import findings as _findings  # noqa: E402, F401
from . import keys as _keys  # noqa: E402, F401
from . import proofs as _proofs  # noqa: E402, F401
from . import questions as _questions  # noqa: E402, F401
from . import report as _report  # noqa: E402, F401
