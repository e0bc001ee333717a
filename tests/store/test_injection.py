"""No injection, no cross-tenant confusion: schema names, LIKE filters, passwords, connecting.

The PostgreSQL tests run against the real server named by LEDGER_TEST_POSTGRES_URL (with
LEDGER_REQUIRE_POSTGRES=1 a missing server fails them, as in conftest).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import psycopg
import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from psycopg.sql import SQL, Identifier
from sqlalchemy import text

from ledger import Ledger
from ledger.cli.exit_codes import exit_code
from ledger.cli.main import cli
from ledger.config import load_config
from ledger.errors import StoreError
from ledger.projections import Projections
from ledger.store import open_store
from ledger.store.engine import sqlalchemy_engine
from ledger.store.revisions import current_revision, head_revision
from ledger.store.urls import (
    MAX_SCHEMA_BYTES,
    check_schema,
    mask_url,
    parse_store_url,
    quote_schema,
)

PASSWORD = "Pw-marker-4f7Q"  # the server trusts local connections: a password is ignored


def _with_password(server: str) -> str:
    scheme, _, rest = server.partition("://")
    user, _, host = rest.rpartition("@")
    return f"{scheme}://{user or 'postgres'}:{PASSWORD}@{host}"


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _fetch(server: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(server, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def _schemas(server: str) -> set[str]:
    return {row[0] for row in _fetch(server, "SELECT nspname FROM pg_namespace")}


def _tables(server: str, schema: str) -> set[str]:
    rows = _fetch(
        server, "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", schema
    )
    return {row[0] for row in rows}


def _drop_schema(server: str, schema: str) -> None:
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(schema)))


def _cli(db: str, tmp_path: Path, *args: str, config: Path | None = None) -> Result:
    base = ["--db", db, "--keys", str(tmp_path / "keys"), "--signing-key", str(tmp_path / "sig")]
    if config is not None:
        base += ["--config", str(config)]
    return CliRunner().invoke(cli, [*base, *args])


def _installed() -> list[str]:
    exe = Path(sys.executable).with_name("ledger")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "ledger.cli"]


# --- 1. schema names: validated before anything connects, quoted one way ---------------------


@pytest.fixture
def payload(server: str) -> Iterator[tuple[str, str]]:
    """A schema "name" that would run SQL creating ``public.<table>``; (name, table)."""
    table = f"inj_{uuid.uuid4().hex[:12]}"
    name = f'x";CREATE TABLE public.{table}(a int);--'
    yield name, table
    with psycopg.connect(server, autocommit=True) as conn:  # only if a broken build made it
        conn.execute(SQL("DROP TABLE IF EXISTS public.{}").format(Identifier(table)))
    _drop_schema(server, name)


def _refused_schema(output: str) -> None:
    assert output.startswith("error: "), output
    assert "schema name" in output and "not a plain name" in output, output
    assert "letters" in output and "digits" in output, output


def test_an_injected_schema_is_refused_through_the_cli(
    server: str, payload: tuple[str, str], tmp_path: Path
) -> None:
    name, table = payload
    before = _schemas(server)
    for url in (f"{server}?schema={name}", f"{server}?schema={quote(name, safe='')}"):
        for command in (["init"], ["migrate"], ["inventory"], ["verify"]):
            result = _cli(url, tmp_path, *command)
            assert result.exit_code == 2, (command, result.output)
            _refused_schema(result.stderr)
            assert "Traceback" not in result.output
    assert not _fetch(server, "SELECT 1 FROM pg_tables WHERE tablename = %s", table)
    assert _schemas(server) <= before  # not even the oddly named schema was made
    assert not (tmp_path / "keys").exists()  # refused before the keys were made, too


def test_an_injected_schema_is_refused_by_the_installed_command(
    server: str, payload: tuple[str, str], tmp_path: Path
) -> None:
    name, table = payload
    env = {**os.environ, "LEDGER_KEYS": str(tmp_path / "k"), "LEDGER_SIGNING": str(tmp_path / "s")}
    for command in ("init", "migrate"):
        done = subprocess.run(
            [*_installed(), "--db", f"{server}?schema={name}", command],
            env=env, capture_output=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        _refused_schema(done.stderr.decode())
        assert len(done.stderr.decode().splitlines()) == 1
    assert not _fetch(server, "SELECT 1 FROM pg_tables WHERE tablename = %s", table)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "empty"),
        ("1abc", "not a plain name"),
        ("a-b", "not a plain name"),
        ("a b", "not a plain name"),
        ('a"b', "not a plain name"),
        ("a$b", "not a plain name"),
        ("a.b", "not a plain name"),
        ('a",public,"b', "not a plain name"),
        ("a -cdefault_transaction_read_only=off", "not a plain name"),
        ("é", "not a plain name"),
        ("a\x00b", "not a plain name"),
        ("x" * (MAX_SCHEMA_BYTES + 1), "64 bytes long"),
        ("pg_temp", "reserved"),
    ],
)
def test_a_bad_schema_name_is_refused_naming_what_is_wrong(name: str, why: str) -> None:
    with pytest.raises(StoreError, match=why) as refused:
        check_schema(name)
    assert exit_code(refused.value) == 2  # the CLI's table: refused input
    with pytest.raises(StoreError, match=why):
        parse_store_url(f"postgresql://h/db?schema={quote(name, safe='')}")


def test_good_schema_names_are_kept_exactly_and_quoted() -> None:
    for name in ("public", "RedTeam_Case", "_", "a" * MAX_SCHEMA_BYTES, "T0_9"):
        assert check_schema(name) == name
        assert parse_store_url(f"postgresql://h/db?schema={name}").schema == name
    assert quote_schema("RedTeam_Case") == '"RedTeam_Case"'
    assert parse_store_url("postgresql://h/db").schema == "public"


def test_store_urls_that_would_move_some_connections_elsewhere_are_refused() -> None:
    with pytest.raises(StoreError, match="more than once"):
        parse_store_url("postgresql://h/db?schema=a&schema=b")
    with pytest.raises(StoreError, match="parameters a ledger does not take"):
        parse_store_url("postgresql://h/db?schema=a&options=-csearch_path%3Dother")
    with pytest.raises(StoreError, match="empty"):  # not silently public
        parse_store_url("postgresql://h/db?schema=")
    with pytest.raises(StoreError, match="SQLite store has no schemas"):
        parse_store_url("sqlite:///l.db?schema=a")


_VALID = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,62}", fullmatch=True)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=_VALID)
@example(name="RedTeam_Case")
@example(name="Public")
@example(name="_")
@example(name="Z" * MAX_SCHEMA_BYTES)
def test_a_valid_schema_name_is_the_exact_schema_of_every_connection(
    server: str, tmp_path_factory: pytest.TempPathFactory, name: str
) -> None:
    assume(not name.startswith("pg_"))
    existing = _schemas(server)
    assume(name not in existing)  # never touch (nor drop) a schema this test did not make
    url = f"{server}?schema={name}"
    folder = tmp_path_factory.mktemp("schema")
    try:
        with Ledger.init(url, folder / "keys") as ledger:  # the store's own connections
            ledger.record("objected", actor="svc:web", subject="cust-1",
                          purpose="marketing.communications.email")  # fmt: skip
            with Projections(ledger) as p:  # the projections' engine
                assert [c.subject for c in p.consent()] == ["cust-1"]
        assert current_revision(url) == head_revision()  # the migrations' engine
        engine, schema = sqlalchemy_engine(url)
        try:
            with engine.connect() as conn:
                assert conn.execute(text("SELECT current_schema()")).scalar() == name == schema
        finally:
            engine.dispose()
        tables = _tables(server, name)
        assert {"ledger_events", "ledger_meta", "alembic_version", "projection_tracking"} <= tables
        made = _schemas(server) - existing  # other tests may be making theirs meanwhile
        assert name in made
        assert name == name.lower() or name.lower() not in made  # nothing folded to lower case
    finally:
        _drop_schema(server, name)


def _accepted(name: str) -> bool:
    try:
        check_schema(name)
    except StoreError:
        return False
    return True


_INVALID = (
    st.text(max_size=80).filter(lambda t: not _accepted(t))
    | st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{63,90}", fullmatch=True)
    | _VALID.map(lambda t: ("pg_" + t)[:MAX_SCHEMA_BYTES])
)


@settings(max_examples=60, deadline=None)
@given(name=_INVALID)
def test_an_invalid_schema_name_is_refused_before_any_connection(name: str) -> None:
    # Nothing listens on this port: had anything tried to connect, it would say so instead.
    url = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{_closed_port()}/test?schema=" + quote(
        name, safe=""
    )
    for attempt in (open_store, sqlalchemy_engine, current_revision):
        with pytest.raises(StoreError) as refused:
            attempt(url)
        message = str(refused.value)
        assert "schema name" in message and "could not connect" not in message, message
        assert PASSWORD not in message


# --- 2. two tenants whose names differ only in case ------------------------------------------


def _tenant_events(subject: str) -> list[dict[str, Any]]:
    return [
        {"type": "collected", "at": "2026-03-01T09:00:00Z", "actor": "svc:crm",
         "subject": subject, "source": "form", "categories": ["user.name"],
         "purpose": "essential.service", "basis": "contract", "system": "crm", "location": "GB",
         "data": {"user.name": f"Name of {subject}"}},
        {"type": "request_received", "actor": "staff:dpo", "subject": subject,
         "request": f"DSR-{subject}", "kind": "access", "at": "2026-03-16T09:00:00Z"},
    ]  # fmt: skip


def test_tenants_differing_only_in_case_each_see_only_their_own_data(
    server: str, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:8]
    lower, mixed = f"redteam_case_{suffix}", f"RedTeam_Case_{suffix}"
    assert mixed.lower() == lower
    tenants = {lower: "cust-lower", mixed: "cust-mixed"}
    try:
        for schema, subject in tenants.items():
            folder = tmp_path / schema
            url = f"{server}?schema={schema}"
            assert _cli(url, folder, "init").exit_code == 0
            lines = b"".join(orjson.dumps(e) + b"\n" for e in _tenant_events(subject))
            imported = CliRunner().invoke(
                cli,
                ["--db", url, "--keys", str(folder / "keys"), "import", "-"],
                input=lines,
            )
            assert imported.exit_code == 0, imported.output
        # in the order that used to let the mixed-case tenant read the lower-case one's tables
        for schema in (mixed, lower, mixed):
            subject, url, folder = tenants[schema], f"{server}?schema={schema}", tmp_path / schema
            inventory = orjson.loads(_cli(url, folder, "inventory", "--json").stdout)
            assert [who["subject"] for who in inventory] == [subject]
            history = orjson.loads(_cli(url, folder, "history", "--json").stdout)
            assert {e["subject"] for e in history} == {subject}
            requests = orjson.loads(_cli(url, folder, "requests", "--json").stdout)
            assert [r["subject"] for r in requests] == [subject]
            assert _cli(url, folder, "migrate").exit_code == 0
        for schema in tenants:
            assert {"projection_events", "alembic_version", "ledger_events"} <= _tables(
                server, schema
            )
            rows = _fetch(server, SQL("SELECT subject FROM {}.projection_events")
                          .format(Identifier(schema)).as_string())  # fmt: skip
            assert {row[0] for row in rows} == {tenants[schema]}
    finally:
        for schema in tenants:
            _drop_schema(server, schema)


# --- 3. category filters are keys, not LIKE patterns -----------------------------------------


@pytest.fixture
def wildcard_config(tmp_path: Path) -> Path:
    path = tmp_path / "wild.toml"
    path.write_text(
        '[vocabulary]\ndata_categories = ["user.a_b", "user.axb", "user.axb.deep"]\n',
        encoding="utf-8",
    )
    return path


def _collected(seq: int, category: str) -> dict[str, Any]:
    return {"type": "collected", "at": "2026-03-01T09:00:00Z", "actor": "svc:crm",
            "subject": f"cust-{seq}", "source": "form", "categories": [category],
            "purpose": "essential.service", "basis": "contract", "system": "crm",
            "location": "GB", "data": {category: "x"}}  # fmt: skip


def test_category_filters_match_keys_not_like_wildcards(
    store: tuple[str, Path], wildcard_config: Path, tmp_path: Path
) -> None:
    url, keys = store
    config = load_config(wildcard_config)
    with Ledger.init(url, keys, config=config) as ledger:
        for seq, category in enumerate(["user.a_b", "user.axb.deep", "user.name"], start=1):
            ledger.record(**_collected(seq, category))
        with Projections(ledger) as p:

            def subjects(category: str) -> list[str]:
                return [e["subject"] for e in p.history(category=category)]

            assert subjects("user") == ["cust-1", "cust-2", "cust-3"]
            assert subjects("user.a_b") == ["cust-1"]  # not user.axb.deep: _ is a character
            assert subjects("user.axb") == ["cust-2"]
            for pattern in ("%", "_", "u%", "____", "user.%", "user._", "user.a%", "%.%", "\\"):
                assert subjects(pattern) == [], pattern
    for pattern in ("%", "____"):
        shown = _cli(url, tmp_path, "history", "--category", pattern, "--json",
                     config=wildcard_config)  # fmt: skip
        assert shown.exit_code == 0, shown.output
        assert orjson.loads(shown.stdout) == []


# --- 4. passwords stay out of output and errors ----------------------------------------------


def test_mask_url_hides_the_password_and_only_it() -> None:
    assert mask_url("postgresql://u:s3cret@h:5/db?schema=A") == "postgresql://u:***@h:5/db?schema=A"
    assert mask_url("postgresql://u@h/db?schema=A") == "postgresql://u@h/db?schema=A"
    assert mask_url("sqlite:////tmp/a b.db") == "sqlite:////tmp/a b.db"
    assert "s3cret" not in mask_url("postgresql://u:s3cret@[::1/db")  # unparseable, still hidden
    assert "s3cret" not in mask_url("postgresql://u:s3/cr@et@[::1/db")
    assert "s3cret" not in mask_url("postgresql://u@h/db?password=s3cret")
    with pytest.raises(StoreError) as refused:  # libpq would take it; the store would not
        parse_store_url("postgresql://u@h/db?password=s3cret")
    assert "s3cret" not in str(refused.value)


def test_init_does_not_print_the_password(server: str, tmp_path: Path) -> None:
    schema = f"ledger_test_{uuid.uuid4().hex[:12]}"
    url = f"{_with_password(server)}?schema={schema}"
    try:
        result = _cli(url, tmp_path, "init")
        assert result.exit_code == 0, result.output
        assert PASSWORD not in result.output
    finally:
        _drop_schema(server, schema)


def test_store_errors_do_not_carry_the_password(server: str, tmp_path: Path) -> None:
    schema = f"ledger_test_{uuid.uuid4().hex[:12]}"
    url = f"{_with_password(server)}?schema={schema}"
    try:
        missing = _cli(url, tmp_path, "verify")  # no ledger there yet
        assert missing.exit_code == 2
        assert "no ledger at" in missing.stderr and "***" in missing.stderr
        assert PASSWORD not in missing.output
        Ledger.init(url, tmp_path / "keys").close()
        source = f"sqlite:///{tmp_path / 'src.db'}"
        Ledger.init(source, tmp_path / "src-keys").close()
        copied = CliRunner().invoke(
            cli, ["--db", source, "--keys", str(tmp_path / "src-keys"), "copy", "--to", url]
        )
        assert copied.exit_code == 2 and "already exists" in copied.stderr, copied.output
        assert PASSWORD not in copied.output
        store = open_store(url, read_only=True)
        try:
            with pytest.raises(StoreError) as refused:
                store.add_checkpoint(1, b"\0" * 32, "note", "2026-01-01T00:00:00Z")
            assert PASSWORD not in str(refused.value)
        finally:
            store.close()
    finally:
        _drop_schema(server, schema)


# --- 5. a server that cannot be reached is named as such, at once ----------------------------


def _unreachable(result_err: str, why: str) -> None:
    # named by the check made before any pool opens: never a pool's timeout after 30 s
    waited = ("timeout", "timed out", "couldn't get a connection")
    assert not any(sign in result_err for sign in waited), result_err
    assert result_err.startswith("error: could not connect to the PostgreSQL server"), result_err
    assert why in result_err, result_err
    assert "lost" not in result_err and "most likely" not in result_err
    assert PASSWORD not in result_err and "***" in result_err


def test_a_refused_port_says_it_could_not_connect(tmp_path: Path) -> None:
    url = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{_closed_port()}/test?schema=a"
    for command in (["init"], ["verify"], ["inventory"], ["migrate"]):
        result = _cli(url, tmp_path, *command)
        assert result.exit_code == 2, result.output
        _unreachable(result.stderr, "connection refused")
    done = subprocess.run([*_installed(), "--db", url, "verify"], capture_output=True, timeout=60)
    assert done.returncode == 2
    _unreachable(done.stderr.decode(), "connection refused")


def test_a_missing_database_or_role_says_why(server: str, tmp_path: Path) -> None:
    base = _with_password(server).rpartition("/")[0]
    missing = f"{base}/no_such_db_{uuid.uuid4().hex[:8]}?schema=a"
    result = _cli(missing, tmp_path, "verify")
    assert result.exit_code == 2
    _unreachable(result.stderr, "no such database")
    role = f"no_such_role_{uuid.uuid4().hex[:8]}"
    stranger = base.replace("postgres:", f"{role}:", 1) + "/test"
    result = _cli(stranger, tmp_path, "verify")
    assert result.exit_code == 2
    _unreachable(result.stderr, "authentication failed")


def test_the_projection_and_migration_engines_name_a_refused_connection() -> None:
    url = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{_closed_port()}/test?schema=RedTeam_Case"
    engine, _ = sqlalchemy_engine(url)
    try:
        with pytest.raises(StoreError, match="connection refused") as refused:
            engine.connect()
        assert PASSWORD not in str(refused.value)
    finally:
        engine.dispose()
    with pytest.raises(StoreError, match="could not connect") as refused:
        current_revision(url)
    assert PASSWORD not in str(refused.value)
