"""Honest answers: every answer comes from projection tables shown to match the chain, or is
refused naming what does not.

Real SQL edits on SQLite and PostgreSQL (a fact row deleted, inserted or changed; the tracked
position moved ahead, behind, beyond the head, or given a wrong hash; the seal or a guard
removed), then every question through Python and the command line: each answer equals the one
from tables rebuilt from the chain, or is refused by name (exit 1). The full comparison
(`ledger verify --projections`, the report) names the first difference, including an edit
made behind the guards' back, which the per-question check cannot see. A property test edits
the tables at random.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select, update
from support import ENGINES, fresh_store

from ledger import Ledger
from ledger.cli.main import cli
from ledger.config import Config
from ledger.demo.story import DECLARATION_TOML, events
from ledger.demo.workload import generate
from ledger.projections import Projections, integrity
from ledger.projections import facts as fact_tables
from ledger.projections.integrity import ProjectionMismatch
from ledger.projections.report import render_report
from ledger.projections.runner import engine_for

AS_OF = "2026-07-01T00:00:00Z"
NOW = datetime(2026, 7, 2, 9, 30, tzinfo=UTC)

QUESTIONS: dict[str, Callable[[Projections], Any]] = {
    "inventory": lambda p: p.inventory(as_of=AS_OF),
    "inventory of the erased subject": lambda p: p.inventory(subject="cust-1004", as_of=AS_OF),
    "breaches": lambda p: p.breaches(as_of=AS_OF),
    "breach": lambda p: p.breaches(breach="INC-2026-001", as_of=AS_OF),
    "requests": lambda p: p.requests(as_of=AS_OF),
    "consent": lambda p: p.consent(as_of=AS_OF),
    "ropa": lambda p: p.ropa(as_of=AS_OF),
    "history": lambda p: p.history(subject="cust-1002"),
    "subject": lambda p: p.subject_report("cust-1004", as_of=AS_OF),
    "report": lambda p: _answers_of(render_report(p, as_of=AS_OF, now=NOW)),
}

# recorded after the tables were built and not applied yet: what moving the position ahead hides
LATE: list[dict[str, Any]] = [
    {"type": "erased", "at": "2026-06-20T10:00:00Z", "actor": "staff:dpo", "subject": "cust-1002",
     "categories": ["*"], "reason": "erasure request"},
    {"type": "accessed", "at": "2026-06-20T12:00:00Z", "actor": "staff:jsmith",
     "subject": "cust-1002", "categories": ["user.name"],
     "purpose": "essential.service.operations.support", "system": "crm"},
    {"type": "objected", "at": "2026-06-21T09:00:00Z", "actor": "svc:web", "subject": "cust-1001",
     "purpose": "marketing.communications.email"},
]  # fmt: skip

BAD_HASH = "ab" * 32
QUICK = [name for name in QUESTIONS if name != "report"]  # the report compares in full: slow


def _answers_of(html: str) -> str:
    """The report without its integrity section: the answers it gives."""
    return re.sub(r'<section id="integrity">.*?</section>', "", html, flags=re.S)


def _truth(ledger: Ledger) -> dict[str, Any]:
    """Every question's answer from tables rebuilt from the chain (scratch tables of its own)."""
    with Projections.rebuilt(ledger) as fresh:
        return {name: question(fresh) for name, question in QUESTIONS.items()}


def _sql(ledger: Ledger, *statements: str) -> None:
    """Statements run as anyone with SQL access to the store would, in one transaction."""
    engine = engine_for(ledger.store.url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def _position(ledger: Ledger) -> int:
    with Projections(ledger) as p:
        return p.runner.position()


@pytest.fixture
def built(filled: Ledger) -> Ledger:
    """The story, its projection tables built and sealed."""
    with Projections(filled) as p:
        assert p.rebuild() == filled.size
    return filled


def _refusals(
    ledger: Ledger, truth: dict[str, Any], questions: Sequence[str] = tuple(QUESTIONS)
) -> dict[str, str]:
    """Ask every question of fresh projections: each answer must equal the rebuild's or be
    refused. The refusals, by question."""
    refused = {}
    with Projections(ledger) as p:
        for name in questions:
            question = QUESTIONS[name]
            try:
                answer = question(p)
            except ProjectionMismatch as exc:
                refused[name] = str(exc)
                assert "\n" not in str(exc)
            else:
                assert answer == truth[name], f"{name}: a wrong answer, not refused"
    return refused


# What each edit does, and what the refusal must name. "{p}" is the tracked position.
EDITS: dict[str, tuple[list[str], str]] = {
    "delete the erasure (inventory: the erased subject held)": (
        ["DELETE FROM projection_erasures WHERE subject = 'cust-1004'"],
        "projection_erasures: changed outside the projections by DELETE",
    ),
    "delete the affected subject's holdings (breach: 0 affected)": (
        ["DELETE FROM projection_holdings WHERE subject = 'cust-1002'"],
        "projection_holdings: changed outside the projections by DELETE",
    ),
    "insert an erasure": (
        [
            "INSERT INTO projection_erasures (seq, category, at, subject, system, reason) VALUES "
            "(3, 'user.name', '2026-01-01T00:00:00.000000Z', 'cust-1001', NULL, 'forged')"
        ],
        "projection_erasures: it holds 2 rows, but 1 were written up to position {p} "
        "(rows were inserted)",
    ),
    "delete the restriction in force (inventory: nothing restricted)": (
        ["DELETE FROM projection_restrictions WHERE subject = 'cust-1002'"],
        "projection_restrictions: changed outside the projections by DELETE",
    ),
    "forge an Art. 19 notice (a recipient told)": (
        [
            "INSERT INTO projection_notified (seq, category, at, subject, recipient, change) "
            "VALUES (3, 'user.job_title', '2026-06-01T00:00:00.000000Z', 'cust-1003', "
            "'sup:edu-procure', 'restriction')"
        ],
        "projection_notified: it holds 3 rows, but 2 were written up to position {p} "
        "(rows were inserted)",
    ),
    "make a processor's holding the organisation's own": (
        ["UPDATE projection_holdings SET role = NULL WHERE role = 'processor'"],
        "projection_holdings: changed outside the projections by UPDATE",
    ),
    "change the erased subject": (
        ["UPDATE projection_erasures SET subject = 'cust-1001' WHERE subject = 'cust-1004'"],
        "projection_erasures: changed outside the projections by UPDATE",
    ),
    "change where the breach's data was held": (
        ["UPDATE projection_holdings SET system = 'lms' WHERE subject = 'cust-1002'"],
        "projection_holdings: changed outside the projections by UPDATE",
    ),
    "move the tracked position ahead (hiding new events)": (
        ["UPDATE projection_tracking SET position = position + 2"],
        "projection_tracking at position {p2}: the tracked position moved ahead of the tables, "
        "written up to {p}: events {p1}-{p2} would never be applied",
    ),
    "move the tracked position behind": (
        ["UPDATE projection_tracking SET position = position - 5"],
        "projection_tracking at position {m5}: the tracked position went back: the tables were "
        "written up to {p}",
    ),
    "move the tracked position beyond the head": (
        ["UPDATE projection_tracking SET position = 1000000"],
        "projection_tracking at position 1000000: the tracked position is beyond the chain's "
        "head ({head} events)",
    ),
    "give the tracked position a wrong chain hash": (
        [f"UPDATE projection_seal SET chain_hash = '{BAD_HASH}'"],
        "projection_seal at position {p}: the chain's event at the tracked position is not the "
        "one the tables were built up to",
    ),
    "move the tracked position and the seal behind together": (
        [
            "UPDATE projection_tracking SET position = position - 5",
            "UPDATE projection_seal SET position = position - 5",
        ],
        "projection_seal at position {m5}: the chain's event at the tracked position is not the "
        "one the tables were built up to",
    ),
    "delete the seal": (
        ["DELETE FROM projection_seal"],
        "projection_seal: the tables carry no seal",
    ),
    "delete the tracked position": (
        ["DELETE FROM projection_tracking"],
        "projection_tracking at position 0: the tracked position went back",
    ),
}


def _expected(template: str, position: int, head: int) -> str:
    return template.format(p=position, p1=position + 1, p2=position + 2, m5=position - 5,
                           head=head)  # fmt: skip


@pytest.mark.parametrize("edit", list(EDITS))
def test_every_question_refuses_an_edit_by_name_or_answers_as_the_rebuild(
    built: Ledger, edit: str
) -> None:
    statements, named = EDITS[edit]
    position = _position(built)
    if "ahead" in edit:
        built.record_many(LATE)  # not applied yet: moving the position ahead would skip them
    truth = _truth(built)
    _sql(built, *statements)
    refused = _refusals(built, truth)
    # every one of these edits would change an answer: each question refuses, but the report,
    # which compares in full and then answers from a rebuild (_refusals checked it is right)
    assert set(refused) == set(QUESTIONS) - {"report"}
    expected = _expected(named, position, built.size)
    for name, message in refused.items():
        assert message.startswith("the projections do not match the chain: "), message
        assert expected in message, (name, message)
        assert message.endswith("run `ledger projections rebuild`")
    with Projections(built) as p:
        assert p.status().problem is not None
        compared = p.verify()
        assert not compared.matches and compared.table is not None
        assert p.rebuild() == built.size
    assert _refusals(built, truth) == {}  # a rebuild sets everything right


@pytest.mark.parametrize("move", [-5, 2])
def test_a_position_moved_with_its_seal_and_the_right_hash_is_still_refused(
    built: Ledger, move: int
) -> None:
    """Tracking and seal moved together, the seal given the chain's own hash there: the rows
    beyond the new position (moved back), or the newest event's missing rows (moved ahead),
    still give it away."""
    position = _position(built)
    built.record_many(LATE)
    truth = _truth(built)
    target = position + move
    chain_hash = built.store.rows_at([target])[0].hash.hex()
    _sql(
        built,
        f"UPDATE projection_tracking SET position = {target}",
        f"UPDATE projection_seal SET position = {target}, chain_hash = '{chain_hash}'",
    )
    refused = _refusals(built, truth)
    assert set(refused) == set(QUESTIONS) - {"report"}
    if move < 0:
        expected = f"it holds a row for position {target + 1}, outside the events applied"
    else:
        expected = f"projection_events at position {target}: the row is missing"
    assert all(expected in message for message in refused.values()), refused


FIRST_DIFFERENCES = {
    "delete the erasure (inventory: the erased subject held)": (
        "projection_erasures", 23, 'the row for category "*" is missing'),
    "delete the affected subject's holdings (breach: 0 affected)": (
        "projection_holdings", 3, 'the row for category "user.name" is missing'),
    "insert an erasure": (
        "projection_erasures", 3,
        'the row for category "user.name" is not derived from the chain\'s event'),
    "change the erased subject": (
        "projection_erasures", 23, 'the row for category "*" differs from the chain\'s event '
        "in subject"),
    "change where the breach's data was held": (
        "projection_holdings", 3, 'the row for category "user.name" differs from the chain\'s '
        "event in system"),
}  # fmt: skip


@pytest.mark.parametrize("edit", list(FIRST_DIFFERENCES))
def test_the_full_comparison_names_the_first_difference(built: Ledger, edit: str) -> None:
    _sql(built, *EDITS[edit][0])
    table, at, what = FIRST_DIFFERENCES[edit]
    compared = integrity.compare_stored(built)
    assert (compared.matches, compared.table, compared.at) == (False, table, at)
    assert compared.what is not None and compared.what.startswith(what), compared.what
    assert compared.as_written is False  # the digests tell a change after writing
    assert f"DO NOT MATCH the chain: {table} at position {at}: {what}" in compared.line()


# -- an edit behind the guards' back ------------------------------------------------------------


def _edit_behind_the_guard(ledger: Ledger) -> None:
    """Change a fact row with the table's guard out of the way, then put the guard back: the
    edit leaves no trace the per-question check can see."""
    if ledger.store.url.startswith("sqlite"):
        name, sql = integrity._sqlite_trigger("projection_erasures", "UPDATE")
        _sql(ledger, f"DROP TRIGGER {name}",
             "UPDATE projection_erasures SET subject = 'cust-1001' WHERE subject = 'cust-1004'",
             sql)  # fmt: skip
    else:
        _sql(ledger, "ALTER TABLE projection_erasures DISABLE TRIGGER projection_guard",
             "UPDATE projection_erasures SET subject = 'cust-1001' WHERE subject = 'cust-1004'",
             "ALTER TABLE projection_erasures ENABLE TRIGGER projection_guard")  # fmt: skip


def test_an_edit_behind_the_guards_back_is_caught_by_the_full_comparison(
    built: Ledger, tmp_path: Path
) -> None:
    truth = _truth(built)
    _edit_behind_the_guard(built)
    with Projections(built) as p:
        wrong = p.inventory(subject="cust-1004", as_of=AS_OF)
        assert wrong != truth["inventory of the erased subject"]  # the check's known limit...
        assert p.last_check is not None
        summary = p.last_check.summary()
        # ...which the answer states: what it was checked against, and the last full comparison
        assert f"row counts of {len(fact_tables.FACT_TABLES)} tables" in summary
        assert "last rebuilt from the chain" in summary and f"at event {built.size}" in summary
        html = render_report(p, as_of=AS_OF, now=NOW)  # the report compares in full
        compared = p.last_comparison
    assert compared is not None and not compared.matches
    assert (compared.table, compared.at) == ("projection_erasures", 23)
    assert "DO NOT MATCH</span> projection_erasures at position 23" in html
    assert _answers_of(html) == truth["report"]  # its answers come from a rebuild
    assert not integrity.compare_stored(built).matches


def test_a_full_comparison_that_matches_is_what_later_answers_name(built: Ledger) -> None:
    with Projections(built) as p:
        compared = p.verify()
        assert compared.matches and compared.position == built.size
        built.record_many(LATE)
        p.consent()
        assert p.last_check is not None
        summary = p.last_check.summary()
    assert f"at event {built.size} of {built.size}" in summary
    assert f"last compared in full {compared.made[:16].replace('T', ' ')} UTC" in summary
    assert f"at event {built.size - len(LATE)}" in summary


def test_tables_of_an_earlier_release_are_refused_until_rebuilt(built: Ledger) -> None:
    truth = _truth(built)
    engine = engine_for(built.store.url)
    with engine.begin() as conn:  # no seal table, no guards: as an earlier release left them
        integrity.drop_guards(conn)
        conn.exec_driver_sql("DROP TABLE projection_seal")
    engine.dispose()
    refused = _refusals(built, truth)
    assert set(refused) == set(QUESTIONS) - {"report"}
    assert "the tables carry no seal (made by an earlier release" in refused["inventory"]
    with Projections(built) as p:
        p.rebuild()
    assert _refusals(built, truth) == {}


def test_writers_in_two_threads_take_turns(store: tuple[str, Path], ledger: Ledger) -> None:
    """Two catch-ups at once, each on a ledger opened on its own (as two processes would):
    neither fails, and each event is applied once."""
    url, keys = store
    ledger.record_many(list(generate(3000, seed=7, subjects=40)))
    failures: list[BaseException] = []

    def run() -> None:
        try:
            with Ledger.open(url, keys) as own, Projections(own) as p:
                p.catch_up()
        except BaseException as exc:  # what the test looks for
            failures.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with Projections(ledger) as p:
        assert p.check().position == ledger.size
        assert p.verify().matches


# -- the command line ------------------------------------------------------------------------


class Cli:
    def __init__(self, url: str, tmp_path: Path, config_path: Path) -> None:
        self.args = ["--db", url, "--keys", str(tmp_path / "keys"), "--config",
                     str(config_path), "--signing-key", str(tmp_path / "signing")]  # fmt: skip

    def __call__(self, *args: str) -> Result:
        return CliRunner().invoke(cli, [*self.args, *args])


COMMANDS = [
    ["inventory", "--as-of", "2026-06-30"],
    ["inventory", "--subject", "cust-1004", "--json"],
    ["breaches"],
    ["breach", "INC-2026-001"],
    ["requests", "--json"],
    ["consent"],
    ["ropa", "--format", "csv"],
    ["history", "--subject", "cust-1002"],
    ["subject", "cust-1004"],
]


@pytest.mark.parametrize(
    "edit",
    ["delete the erasure (inventory: the erased subject held)", "change the erased subject",
     "move the tracked position behind", "move the tracked position beyond the head"],
)  # fmt: skip
def test_each_command_refuses_an_edited_table_in_one_line_exit_1(
    built: Ledger, store: tuple[str, Path], tmp_path: Path, config_path: Path, edit: str
) -> None:
    run = Cli(store[0], tmp_path, config_path)
    before = {tuple(c): run(*c) for c in COMMANDS}
    for args, result in before.items():
        assert result.exit_code == 0, (args, result.output)
        assert result.stderr.startswith("checked: the tables match the chain at event"), args
    _sql(built, *EDITS[edit][0])
    for args in COMMANDS:
        result = run(*args)
        assert result.exit_code == 1, (args, result.output)
        assert result.stdout == "" and "Traceback" not in result.output
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: the projections do not match")
    status = run("projections", "status")
    assert status.exit_code == 1 and "NOT MATCHING: the projections do not match" in status.stdout
    assert "behind" not in status.stdout and not re.search(r"-\d", status.stdout.splitlines()[0])
    report = run("report", "--as-of", "2026-06-30", "-o", str(tmp_path / "r.html"))
    assert report.exit_code == 0, report.output
    assert "warning: projections: DO NOT MATCH the chain" in report.stderr
    assert "DO NOT MATCH" in (tmp_path / "r.html").read_text(encoding="utf-8")
    verified = run("verify", "--projections")
    assert verified.exit_code == 1
    assert "intact:" in verified.stdout and "projections: DO NOT MATCH the chain" in verified.stdout
    assert run("projections", "rebuild").exit_code == 0
    for args, result in before.items():
        again = run(*args)
        assert (again.exit_code, again.stdout) == (0, result.stdout), args


def test_status_reports_the_position_honestly(
    built: Ledger, store: tuple[str, Path], tmp_path: Path, config_path: Path
) -> None:
    run = Cli(store[0], tmp_path, config_path)
    built.record_many(LATE)
    behind = run("projections", "status")
    assert behind.exit_code == 0
    assert behind.stdout.startswith(f"applied {built.size - 3} of {built.size} events (3 behind)")
    assert "checked: the tables match the chain" in behind.stdout
    _sql(built, "UPDATE projection_tracking SET position = 1000000")
    beyond = orjson.loads(run("projections", "status", "--json").stdout)
    assert (beyond["position"], beyond["behind"], beyond["matches"]) == (1000000, None, False)
    assert "beyond the chain's head" in beyond["problem"]
    text = run("projections", "status")
    assert text.exit_code == 1
    assert text.stdout.splitlines()[0] == (
        f"tracked position 1000000; the chain holds {built.size} events"
    )


def test_verify_projections_json_and_a_store_without_tables(
    built: Ledger, store: tuple[str, Path], tmp_path: Path, config_path: Path
) -> None:
    run = Cli(store[0], tmp_path, config_path)
    good = orjson.loads(run("verify", "--projections", "--json").stdout)
    assert good["intact"] and good["projections"]["matches"]
    assert good["projections"]["position"] == built.size
    assert "projections" not in orjson.loads(run("verify", "--json").stdout)
    _sql(built, "UPDATE projection_erasures SET reason = 'forged' WHERE subject = 'cust-1004'")
    bad = run("verify", "--projections", "--json")
    assert bad.exit_code == 1
    found = orjson.loads(bad.stdout)["projections"]
    assert (found["matches"], found["table"], found["at"]) == (False, "projection_erasures", 23)
    assert "differs from the chain's event in reason" in found["what"]
    other = Cli(f"sqlite:///{tmp_path / 'new.db'}", tmp_path / "n", config_path)
    assert other("init").exit_code == 0
    empty = other("verify", "--projections")
    assert empty.exit_code == 0 and "no projection tables in this store yet" in empty.stdout


def test_as_a_real_process(tmp_path: Path, config_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    base = [sys.executable, "-m", "ledger.cli", "--db", url, "--keys", str(tmp_path / "keys"),
            "--config", str(config_path), "--signing-key", str(tmp_path / "signing")]  # fmt: skip
    with Ledger.init(url, tmp_path / "keys", config=config_path) as ledger:
        ledger.record_many(events())
        with Projections(ledger) as p:
            p.rebuild()
        _sql(ledger, "DELETE FROM projection_erasures WHERE subject = 'cust-1004'")

    def ledger_cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*base, *args], capture_output=True, text=True, timeout=120)

    asked = ledger_cli("inventory", "--subject", "cust-1004")
    assert asked.returncode == 1 and asked.stdout == ""
    assert asked.stderr.count("\n") == 1 and asked.stderr.startswith(
        "error: the projections do not match the chain: projection_erasures: changed outside"
    )
    verified = ledger_cli("verify", "--projections")
    assert verified.returncode == 1, verified.stderr
    assert 'projection_erasures at position 23: the row for category "*" is missing' in (
        verified.stdout
    )
    assert ledger_cli("projections", "rebuild").returncode == 0
    fixed = ledger_cli("inventory", "--subject", "cust-1004", "--json")
    assert fixed.returncode == 0, fixed.stderr
    assert orjson.loads(fixed.stdout)[0]["status"] == "erased"
    size = len(events()) + 1  # the vocabulary record and the story
    assert fixed.stderr.startswith(f"checked: the tables match the chain at event {size} of {size}")


# -- random edits -------------------------------------------------------------------------------


def _rows(ledger: Ledger) -> dict[str, set[tuple[Any, ...]]]:
    engine = engine_for(ledger.store.url)
    try:
        with engine.connect() as conn:
            return {str(t.name): {tuple(r) for r in conn.execute(select(t))}
                    for t in fact_tables.FACT_TABLES}  # fmt: skip
    finally:
        engine.dispose()


LAST_TABLE = len(fact_tables.FACT_TABLES) - 1  # an edit may fall on any fact table
VALUES = st.one_of(
    st.none(), st.integers(-3, 40), st.sampled_from(["cust-1004", "cust-1001", "*", "crm", "x"]),
    st.text(max_size=5),
)  # fmt: skip
EDIT = st.one_of(
    st.tuples(st.just("delete"), st.integers(0, LAST_TABLE), st.integers(0, 200)),
    st.tuples(st.just("update"), st.integers(0, LAST_TABLE), st.integers(0, 200),
              st.integers(0, 15), VALUES),
    st.tuples(st.just("insert"), st.integers(0, LAST_TABLE), st.integers(0, 200),
              st.integers(0, 15), VALUES),
    st.tuples(st.just("track"), st.integers(-3, 40) | st.just(10**6)),
)  # fmt: skip


def _apply(ledger: Ledger, edit: tuple[Any, ...]) -> bool:
    """One random edit through SQL; False when the database refused it (a constraint)."""
    engine = engine_for(ledger.store.url)
    try:
        with engine.begin() as conn:
            if edit[0] == "track":
                conn.execute(update(fact_tables.tracking).values(position=edit[1]))
                return True
            table = fact_tables.FACT_TABLES[edit[1]]
            rows = conn.execute(select(table).order_by(*table.primary_key.columns)).all()
            if not rows:
                return False
            row = rows[edit[2] % len(rows)]._mapping
            where = [c == row[c.name] for c in table.primary_key.columns]
            if edit[0] == "delete":
                conn.execute(delete(table).where(*where))
                return True
            column = list(table.columns)[edit[3] % len(table.columns)]
            if edit[0] == "update":
                conn.execute(update(table).where(*where).values({column.name: edit[4]}))
            else:
                conn.execute(insert(table).values({**row, column.name: edit[4]}))
            return True
    except Exception:  # a NOT NULL, type or primary key the database enforces: nothing done
        return False
    finally:
        engine.dispose()


def _knowing(ledger: Ledger, edits: list[tuple[Any, ...]]) -> None:
    """The edits made with every guard out of the way, the guards put back afterwards."""
    engine = engine_for(ledger.store.url)
    with engine.begin() as conn:
        integrity.drop_guards(conn)
    for edit in edits:
        _apply(ledger, edit)
    with engine.begin() as conn:
        integrity.install_guards(conn)
    engine.dispose()


@pytest.mark.parametrize("engine", ENGINES)
def test_random_edits_are_refused_or_answered_as_the_rebuild(engine: str, config: Config) -> None:
    with fresh_store(engine) as (url, keys), Ledger.init(url, keys, config=config) as ledger:
        ledger.declare(DECLARATION_TOML)  # so that every fact table holds rows to edit
        ledger.record_many(events())
        truth = _truth(ledger)
        with Projections(ledger) as p:
            p.rebuild()
        clean = _rows(ledger)
        assert all(clean.values())
        seen = {"refused": 0, "answered": 0, "caught behind the guards": 0}

        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
        @given(edits=st.lists(EDIT, min_size=1, max_size=3), knowing=st.booleans())
        def run(edits: list[tuple[Any, ...]], knowing: bool) -> None:
            tracked = not knowing and any(e[0] == "track" for e in edits)
            try:
                if knowing:
                    _knowing(ledger, [e for e in edits if e[0] != "track"])
                else:
                    for edit in edits:
                        _apply(ledger, edit)
                stored = _rows(ledger)
                compared = integrity.compare_stored(ledger)
                if compared.matches:  # a match is a match: the rows are the rebuild's
                    assert stored == clean
                if stored != clean:  # every difference is found, and the first one named
                    assert not compared.matches
                    firsts = [r[0] for name in clean for r in clean[name] ^ stored[name]]
                    in_range = all(isinstance(s, int) and 1 <= s <= ledger.size for s in firsts)
                    if in_range and not tracked:  # (a moved position is named before any row)
                        assert compared.at == min(firsts), (compared, sorted(firsts))
                if knowing:
                    seen["caught behind the guards"] += stored != clean
                    return  # the per-question check cannot see these: see the test above
                if tracked or stored != clean:
                    refused = _refusals(ledger, truth, QUICK)
                    seen["refused"] += bool(refused)
                    seen["answered"] += not refused
            finally:
                with Projections(ledger) as p:
                    p.rebuild()

        run()
        assert seen["refused"] > 0 and seen["caught behind the guards"] > 0, seen


# -- dates: a day starts at its start ------------------------------------------------------------

# Europe/London: on 29 March 2026 the clocks go forward at 01:00 GMT (a 23-hour day), on
# 25 October back at 02:00 BST (a 25-hour day). Each moment, and the local day it falls on.
MOMENTS = [
    ("2026-03-28T23:59:59Z", "2026-03-28"),  # 23:59:59 GMT
    ("2026-03-29T00:00:00Z", "2026-03-29"),  # 00:00 GMT: the first instant of the 29th
    ("2026-03-29T00:59:59Z", "2026-03-29"),  # just before the change
    ("2026-03-29T01:00:00Z", "2026-03-29"),  # 02:00 BST
    ("2026-03-29T22:59:59.999999Z", "2026-03-29"),  # 23:59:59.999999 BST: the last instant
    ("2026-03-29T23:00:00Z", "2026-03-30"),  # 00:00 BST on the 30th
    ("2026-06-01T12:00:00Z", "2026-06-01"),  # an ordinary summer day (13:00 BST)
    ("2026-10-24T22:59:59Z", "2026-10-24"),  # 23:59:59 BST
    ("2026-10-24T23:00:00Z", "2026-10-25"),  # 00:00 BST: the first instant of the 25th
    ("2026-10-25T00:30:00Z", "2026-10-25"),  # 01:30 BST (the first 01:30)
    ("2026-10-25T01:30:00Z", "2026-10-25"),  # 01:30 GMT (the second)
    ("2026-10-25T23:59:59Z", "2026-10-25"),  # 23:59:59 GMT: the last second
    ("2026-10-26T00:00:00Z", "2026-10-26"),
]


@pytest.fixture
def dated(tmp_path: Path, config_path: Path) -> Cli:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    with Ledger.init(url, tmp_path / "keys", config=config_path) as ledger:
        ledger.record_many([
            {"type": "accessed", "at": at, "actor": "staff:jsmith", "subject": f"cust-{n}",
             "categories": ["user.name"], "purpose": "essential.service.operations.support",
             "system": "crm"}
            for n, (at, _) in enumerate(MOMENTS)
        ])  # fmt: skip
    return Cli(url, tmp_path, config_path)


def _history(run: Cli, *args: str) -> list[str]:
    result = run("history", "--json", *args)
    assert result.exit_code == 0, result.output
    return [e["subject"] for e in orjson.loads(result.stdout)]


def _on(days: Callable[[str], bool]) -> list[str]:
    return [f"cust-{n}" for n, (_, day) in enumerate(MOMENTS) if days(day)]


@pytest.mark.parametrize("day", ["2026-03-29", "2026-06-01", "2026-10-24", "2026-10-25"])
def test_since_and_until_the_same_day_show_that_whole_day(dated: Cli, day: str) -> None:
    expected = _on(lambda d: d == day)
    assert expected  # each of these days has events
    assert _history(dated, "--since", day, "--until", day) == expected
    assert _history(dated, "--since", day) == _on(lambda d: d >= day)
    assert _history(dated, "--until", day) == _on(lambda d: d <= day)


def test_the_changeover_days_by_hand(dated: Cli) -> None:
    # 29 March: from 00:00 GMT (00:00Z) to 23:59:59.999999 BST (22:59:59.999999Z), 23 hours
    assert _history(dated, "--since", "2026-03-29", "--until", "2026-03-29") == [
        "cust-1", "cust-2", "cust-3", "cust-4"]  # fmt: skip
    # 25 October: from 00:00 BST (24 Oct 23:00Z) to 23:59:59.999999 GMT (23:59:59.999999Z)
    assert _history(dated, "--since", "2026-10-25", "--until", "2026-10-25") == [
        "cust-8", "cust-9", "cust-10", "cust-11"]  # fmt: skip
    # an RFC 3339 time is taken as it is
    assert _history(dated, "--since", "2026-03-29T01:00:00Z", "--until",
                    "2026-03-29T22:59:59.999999Z") == ["cust-3", "cust-4"]  # fmt: skip
    days = dated("history", "--since", "2026-02-30")
    assert days.exit_code == 2 and "not a calendar date" in days.stderr


# -- tables laid out by an earlier release -------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE projection_holdings DROP COLUMN transfer",  # a column this release added
        "ALTER TABLE projection_settings ADD COLUMN extra TEXT",  # a column it does not know
        "DROP TABLE projection_notified",  # a table it added (the others stay as they were)
    ],
)
def test_tables_of_an_earlier_layout_are_built_again_from_the_chain(
    built: Ledger, statement: str
) -> None:
    """Fact tables whose columns are not this release's are dropped with their tracking and
    seal and built again from the chain on the next question: rows of another layout could
    be neither extended nor compared, and they hold nothing the chain does not."""
    with Projections(built) as p:
        truth = (p.inventory(), p.breaches(), p.requests())
    _sql(built, statement)
    with Projections(built) as p:
        assert (p.inventory(), p.breaches(), p.requests()) == truth
        assert p.last_check is not None and p.last_check.position == built.size
        assert p.verify().matches
