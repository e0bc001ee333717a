"""Store URLs, parsed and checked in one place, before anything connects.

Every connection to a ledger's database (the store's own pool, the projections' and the
migrations' SQLAlchemy engines) takes its target from :func:`parse_store_url`, so they all
reach the same server, database and schema, spelled exactly as given. A schema name is
refused unless it is a plain identifier (:func:`check_schema`), and wherever it goes into
SQL or a connection option it is quoted by :func:`quote_schema`, so it is never folded to
lower case and never read as SQL. Messages show a URL through :func:`mask_url`, which hides
the password.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from ledger.errors import StoreError

SCHEMA_PARAM = "schema"
DEFAULT_SCHEMA = "public"
MAX_SCHEMA_BYTES = 63  # PostgreSQL cuts longer names short (NAMEDATALEN - 1), naming another
_SCHEMA = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SCHEMA_RULE = (
    "letters A-Z and a-z, digits and _, not starting with a digit, at most "
    f"{MAX_SCHEMA_BYTES} bytes, not starting with pg_ (reserved by PostgreSQL)"
)
# What a PostgreSQL URL may leave out, and what every connection then uses.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5432
DEFAULT_USER = "postgres"
DEFAULT_DATABASE = "postgres"
_EXAMPLES = "expected e.g. sqlite:///ledger.db or postgresql://user@host:5432/db?schema=NAME"


@dataclass(frozen=True)
class PostgresTarget:
    """Where a PostgreSQL ledger is: the same for every connection made to it."""

    host: str
    port: int
    user: str
    password: str
    database: str
    schema: str
    shown: str  # the URL as messages show it (password hidden)

    def engine_url(self) -> URL:
        """The SQLAlchemy URL of the database (psycopg; the schema goes in by search_path)."""
        return URL.create(
            "postgresql+psycopg",
            username=self.user,
            password=self.password or None,
            host=self.host,
            port=self.port,
            database=self.database,
        )


@dataclass(frozen=True)
class StoreURL:
    """A store URL, checked: its backend, what SQLAlchemy connects to, how messages show it."""

    backend: str  # "sqlite" or "postgresql"
    url: URL
    shown: str
    postgres: PostgresTarget | None = None

    @property
    def schema(self) -> str | None:
        return None if self.postgres is None else self.postgres.schema


def mask_url(url: str | URL) -> str:
    """*url* as a message may show it: the password, if any (also a ``password=`` parameter),
    replaced by ``***``."""
    if isinstance(url, str):
        try:
            parsed = make_url(url)
        except (ArgumentError, ValueError, TypeError):
            return _scrub(url)
    else:
        parsed = url
    secret = [key for key in parsed.query if key.lower() == "password"]
    if parsed.password is None and not secret and isinstance(url, str):
        return url  # nothing to hide: shown exactly as given
    if secret:
        parsed = parsed.set(query={**parsed.query, **dict.fromkeys(secret, "***")})
    return parsed.render_as_string(hide_password=True)


def _scrub(url: str) -> str:
    """A URL SQLAlchemy cannot parse, with anything that may be a password hidden: whatever
    lies between ``scheme://user:`` and the last ``@``."""
    scheme, sep, rest = url.partition("://")
    at = rest.rfind("@")
    user, colon, _ = rest[:at].partition(":")
    if not sep or at < 0 or not colon or any(c in user for c in "/?#"):
        return url
    return f"{scheme}://{user}:***@{rest[at + 1 :]}"


def _shown_name(name: str) -> str:
    return repr(name) if len(name) <= 80 else repr(name[:80]) + "..."


def check_schema(name: str) -> str:
    """*name* if it is a schema name every connection spells alike; StoreError if not."""
    if not name:
        raise StoreError(f"the schema name in the store URL is empty: use {SCHEMA_RULE}")
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > MAX_SCHEMA_BYTES:
        raise StoreError(
            f"the schema name {_shown_name(name)} in the store URL is {size} bytes long: "
            f"PostgreSQL would cut it to {MAX_SCHEMA_BYTES}, naming another schema; use "
            f"{SCHEMA_RULE}"
        )
    if not _SCHEMA.fullmatch(name):
        raise StoreError(
            f"the schema name {_shown_name(name)} in the store URL is not a plain name: "
            f"use {SCHEMA_RULE}"
        )
    if name.startswith("pg_"):
        raise StoreError(
            f"the schema name {_shown_name(name)} in the store URL starts with pg_, which "
            f"PostgreSQL reserves for its own schemas: use {SCHEMA_RULE}"
        )
    return name


def quote_schema(name: str) -> str:
    """*name* (checked) as a quoted SQL identifier: the one way schemas go into SQL text and
    connection options, so that ``RedTeam_Case`` stays ``RedTeam_Case``."""
    from psycopg.sql import Identifier

    return Identifier(check_schema(name)).as_string()


def _schema_values(url: str) -> list[str]:
    """Every ``schema=`` value in *url*'s query, blank ones included (SQLAlchemy drops those,
    which would silently mean ``public``)."""
    query = url.partition("?")[2].partition("#")[0]
    return [value for key, value in parse_qsl(query, keep_blank_values=True) if key == "schema"]


def parse_store_url(url: str) -> StoreURL:
    """The store named by *url*, checked; StoreError (no password in it) when it is not one."""
    shown = mask_url(url)
    try:
        parsed = make_url(url)
        backend = parsed.get_backend_name()
    except (ArgumentError, ValueError, TypeError):
        raise StoreError(f"cannot parse store URL {shown!r}: {_EXAMPLES}") from None
    query = dict(parsed.query)
    if backend == "sqlite":
        if SCHEMA_PARAM in query or _schema_values(url):
            raise StoreError(
                f"a SQLite store has no schemas: remove ?schema= from {shown} (one ledger per "
                "file), or use postgresql://...?schema=NAME"
            )
        return StoreURL("sqlite", parsed, shown)
    if backend != "postgresql":
        raise StoreError(
            f"unsupported store {backend!r} in {shown!r}: use sqlite:///path or postgresql://..."
        )
    return StoreURL("postgresql", parsed, shown, _postgres_target(url, parsed, shown))


def _postgres_target(url: str, parsed: URL, shown: str) -> PostgresTarget:
    others = sorted(set(parsed.query) - {SCHEMA_PARAM})
    if others:
        # The store connects with host, port, user, password and database only: options such
        # as these would reach some connections and not others (options= could even move the
        # search_path away from the schema).
        raise StoreError(
            f"the store URL {shown} has parameters a ledger does not take "
            f"({', '.join(_shown_name(o) for o in others)}): use "
            "postgresql://user[:password]@host[:port]/database[?schema=NAME]"
        )
    values = _schema_values(url)
    if len(values) > 1:
        raise StoreError(f"the store URL {shown} names its schema more than once")
    schema = check_schema(values[0] if values else DEFAULT_SCHEMA)
    return PostgresTarget(
        host=parsed.host or DEFAULT_HOST,
        port=parsed.port or DEFAULT_PORT,
        user=parsed.username or DEFAULT_USER,
        password=parsed.password or "",
        database=parsed.database or DEFAULT_DATABASE,
        schema=schema,
        shown=shown,
    )


def postgres_target(url: str) -> PostgresTarget:
    """The PostgreSQL target of *url*; StoreError if it is not a PostgreSQL store URL."""
    target = parse_store_url(url).postgres
    if target is None:
        raise StoreError(f"not a PostgreSQL store URL: {mask_url(url)}")
    return target


_AUTH = ("password authentication failed", "no password supplied", "authentication failed",
         "role \"", "pg_hba.conf", "permission denied for database")  # fmt: skip
_HOST = ("failed to resolve host", "could not translate host name", "name or service not known")


def connect_failure(exc: BaseException, target: PostgresTarget) -> StoreError:
    """Why a connection to *target* could not be made, as a StoreError (password hidden)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    detail = lines[0] if lines else type(exc).__name__
    detail = detail.rpartition("FATAL:")[2].strip() if "FATAL:" in detail else detail
    if target.password:
        detail = detail.replace(target.password, "***")
    lower = detail.lower()
    if "connection refused" in lower:
        why = (
            f"connection refused at {target.host}:{target.port} (is the server running and "
            "listening there?)"
        )
    elif lower.startswith('database "') and lower.endswith("does not exist"):
        why = f"no such database ({detail})"
    elif any(sign in lower for sign in _AUTH):
        why = f"authentication failed ({detail})"
    elif any(sign in lower for sign in _HOST):
        why = f"unknown host {target.host!r}"
    elif "timeout" in lower or "timed out" in lower:
        why = f"timed out ({detail})"
    else:
        why = detail
    return StoreError(f"could not connect to the PostgreSQL server of {target.shown}: {why}")


def check_connect(target: PostgresTarget, *, timeout: int = 5) -> None:
    """Connect to *target* once, directly: a server that cannot be reached is named at once,
    with why (a connection pool would wait, then time out without a reason)."""
    import psycopg

    try:
        psycopg.connect(
            host=target.host, port=target.port, user=target.user, password=target.password,
            dbname=target.database, connect_timeout=timeout,
        ).close()  # fmt: skip
    except psycopg.Error as exc:
        raise connect_failure(exc, target) from None
