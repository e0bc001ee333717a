"""Whether the projection tables are what the chain says they should be.

Anyone with SQL access can change the fact tables or the tracked position; an answer read from
them would then be wrong without anything saying so. Three things stand in the way:

* **The seal** (``projection_seal``), written in the same transaction as the fact rows and the
  tracked position: that position, the chain's hash at it, and for each fact table how many
  rows were written and an order-independent digest of them (the sum, modulo 2**256, of the
  SHA-256 of each row's JSON in column order). It is extended, never recomputed, as events are
  applied, so a change to the tables stays visible.
* **The guards**: a trigger on each fact table that records any UPDATE or DELETE in the seal
  (``edits``, ``edited``). The projections only ever insert rows, and a rebuild starts the
  tables afresh, so any recorded edit was made outside them.
* **The full comparison** (:func:`compare`): every fact row derived again from the chain and
  compared with the stored one, naming the first difference (table, position, what).

Every question first runs :func:`check`, at the cost of a few indexed reads and one
``COUNT(*)`` per table: the tracked position is within the chain and matches the seal's, the
chain's hash there is the recorded one, no edit was recorded and every guard is in place, each
table holds as many rows as were written, none beyond the position, and the newest event's rows
are what the chain says. That catches every SQL edit that leaves the guards and the seal alone;
an edit made by someone who also disables a guard and rewrites the seal is caught by the full
comparison (``ledger verify --projections``, and ``ledger report``), which each answer's check
names with its time (:meth:`Check.summary`).
"""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any, ClassVar

import orjson
from sqlalchemy import (
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import Connection

from ledger.api import Ledger
from ledger.core import chain, spec
from ledger.core.canonical import utc_timestamp
from ledger.errors import LedgerError
from ledger.store.base import StoredRow
from ledger.verification.checker import VerifyReport

from . import facts

NAME = "facts"  # the projection's name in the tracking table and the seal
MODULUS = 1 << 256
GENESIS = chain.GENESIS.hex()
REBUILD_HINT = "run `ledger projections rebuild`"

metadata = MetaData()

seals = Table(
    "projection_seal",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("position", Integer, nullable=False),  # the tracked position the tables reflect
    Column("chain_hash", String(64), nullable=False),  # the chain's hash at it (hex)
    Column("tables", Text, nullable=False),  # {"table": {"rows": n, "digest": "<hex>"}}
    Column("edits", Integer, nullable=False),  # UPDATE/DELETE statements the guards recorded
    Column("edited", Text),  # the last one: "<table> <operation>"
    Column("full_at", String(32)),  # when the tables were last shown to match in full (UTC)
    Column("full_position", Integer),  # ... up to which position
    Column("full_kind", String(16)),  # ... how: "rebuilt" or "compared"
)

_COLUMNS = {t: [c.name for c in t.columns] for t in facts.FACT_TABLES}
_KEYS = {t: [i for i, c in enumerate(t.columns) if c.primary_key] for t in facts.FACT_TABLES}


class ProjectionMismatch(LedgerError):
    """The projection tables are not what the chain says: answers from them are refused."""

    def __init__(
        self, table: str, position: int | None, what: str, *, hint: str = REBUILD_HINT
    ) -> None:
        self.table = table
        self.position = position
        self.what = what
        where = f" at position {position}" if position is not None else ""
        super().__init__(
            f"the projections do not match the chain: {table}{where}: {what}"
            + (f"; {hint}" if hint else "")
        )


# -- digests -------------------------------------------------------------------------------------


def _default(value: Any) -> str:
    return repr(value)  # a value no fact row holds (bytes, say): hashed all the same


_dumps, _sha256, _number = orjson.dumps, hashlib.sha256, int.from_bytes


def row_hash(values: Sequence[Any]) -> int:
    """SHA-256 of one row's JSON, its values in column order, as a number."""
    try:
        data = orjson.dumps(values, default=_default)
    except (TypeError, orjson.JSONEncodeError):  # e.g. an integer beyond 64 bits
        data = repr(tuple(values)).encode()
    return int.from_bytes(hashlib.sha256(data).digest(), "big")


@dataclass
class Tally:
    """Rows and digests per fact table, added up as rows are written or read."""

    rows: Counter[str] = field(default_factory=Counter)
    digests: Counter[str] = field(default_factory=Counter)
    hashing: ClassVar[bool] = True  # off only to measure what the digests cost (the bench)

    def add(self, table: Table, rows: Sequence[tuple[Any, ...]]) -> None:
        self.rows[str(table.name)] += len(rows)
        if not self.hashing:
            return
        try:  # the common case, in C as far as it goes
            total = sum(_number(_sha256(data).digest(), "big") for data in map(_dumps, rows))
        except (TypeError, orjson.JSONEncodeError):
            total = sum(map(row_hash, rows))
        self.digests[str(table.name)] += total

    def add_tables(self, tables: Sequence[Sequence[tuple[Any, ...]]]) -> None:
        """Add rows given as one list per table of :data:`.facts.FACT_TABLES`, in that order."""
        for table, rows in zip(facts.FACT_TABLES, tables, strict=True):
            if rows:
                self.add(table, rows)

    def merge(self, other: Tally) -> None:
        """Add what *other* counted (its rows' digests are a sum: any order gives the same)."""
        self.rows.update(other.rows)
        self.digests.update(other.digests)

    @property
    def total(self) -> int:
        return sum(self.rows.values())


# -- the seal ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seal:
    """What was written into the fact tables, up to which position of the chain."""

    position: int
    chain_hash: str
    rows: dict[str, int]
    digests: dict[str, int]
    edits: int = 0
    edited: str | None = None
    full_at: str | None = None
    full_position: int | None = None
    full_kind: str | None = None

    @classmethod
    def empty(cls) -> Seal:
        names = [str(t.name) for t in facts.FACT_TABLES]
        return cls(0, GENESIS, dict.fromkeys(names, 0), dict.fromkeys(names, 0))

    @property
    def total(self) -> int:
        return sum(self.rows.values())

    def extended(self, position: int, chain_hash: bytes, tally: Tally) -> Seal:
        """This seal after the rows in *tally* were written, up to *position*."""
        return Seal(
            position,
            chain_hash.hex(),
            {name: n + tally.rows[name] for name, n in self.rows.items()},
            {name: (d + tally.digests[name]) % MODULUS for name, d in self.digests.items()},
            self.edits,
            self.edited,
            self.full_at,
            self.full_position,
            self.full_kind,
        )

    def values(self) -> dict[str, Any]:
        tables = {name: {"rows": self.rows[name], "digest": f"{self.digests[name]:064x}"}
                  for name in sorted(self.rows)}  # fmt: skip
        return {
            "name": NAME, "position": self.position, "chain_hash": self.chain_hash,
            "tables": orjson.dumps(tables, option=orjson.OPT_SORT_KEYS).decode(),
            "edits": self.edits, "edited": self.edited, "full_at": self.full_at,
            "full_position": self.full_position, "full_kind": self.full_kind,
        }  # fmt: skip


def _whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("not a whole number")
    return value


def _seal(row: Any) -> Seal:
    tables = orjson.loads(row.tables)
    names = {str(t.name) for t in facts.FACT_TABLES}
    if not isinstance(tables, dict) or set(tables) != names:
        raise ValueError("not the fact tables")
    chain_hash = row.chain_hash
    if not isinstance(chain_hash, str) or len(chain_hash) != 64:
        raise ValueError("not a hash")
    bytes.fromhex(chain_hash)
    full_position = row.full_position
    return Seal(
        _whole(row.position),
        chain_hash,
        {name: _whole(entry["rows"]) for name, entry in tables.items()},
        {name: int(entry["digest"], 16) % MODULUS for name, entry in tables.items()},
        _whole(row.edits),
        None if row.edited is None else str(row.edited),
        None if row.full_at is None else str(row.full_at),
        None if full_position is None else _whole(full_position),
        None if row.full_kind is None else str(row.full_kind),
    )


def tracked(conn: Connection) -> int:
    """The tracked position as stored (0 before the first event is applied)."""
    raw = conn.execute(
        select(facts.tracking.c.position).where(facts.tracking.c.name == NAME)
    ).scalar()
    try:
        return 0 if raw is None else _whole(raw)
    except ValueError:
        raise ProjectionMismatch(
            "projection_tracking", None, "the tracked position is not a position"
        ) from None


def read_state(conn: Connection) -> tuple[int, Seal | None]:
    """The tracked position and the seal as stored (None when there is no seal)."""
    tracking = tracked(conn)
    row = conn.execute(select(seals).where(seals.c.name == NAME)).first()
    if row is None:
        return tracking, None
    try:
        return tracking, _seal(row)
    except (ValueError, TypeError, KeyError, AttributeError, orjson.JSONDecodeError):
        raise ProjectionMismatch("projection_seal", None, "the seal is malformed") from None


def write_seal(conn: Connection, seal: Seal) -> None:
    values = seal.values()
    done = conn.execute(update(seals).where(seals.c.name == NAME).values(**values)).rowcount
    if not done:
        conn.execute(insert(seals).values(**values))


# -- transactions --------------------------------------------------------------------------------


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection whose reads all see one state of the tables (so a check and the answer
    after it agree, whatever writers do meanwhile)."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN")  # deferred: the snapshot is taken at the first read
        else:
            conn.execution_options(isolation_level="REPEATABLE READ")
        yield conn


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A write transaction that holds the projections' lock from its start: writers of the
    tables (catch-ups, rebuilds, in any process) take turns; readers are not held up."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("LOCK TABLE projection_seal IN EXCLUSIVE MODE")
        yield conn


# -- guards --------------------------------------------------------------------------------------

_PG_FUNCTION = """
BEGIN
  UPDATE projection_seal SET edits = edits + 1, edited = TG_TABLE_NAME || ' ' || TG_OP;
  RETURN NULL;
END
"""
_PG_EVENTS = 8 | 16 | 32  # pg_trigger.tgtype: AFTER, FOR EACH STATEMENT, DELETE|UPDATE|TRUNCATE


def _sqlite_trigger(table: str, operation: str) -> tuple[str, str]:
    name = f"projection_guard_{operation.lower()}_{table}"
    sql = (
        f"CREATE TRIGGER {name} AFTER {operation} ON {table} BEGIN "
        f"UPDATE projection_seal SET edits = edits + 1, edited = '{table} {operation}'; END"
    )
    return name, sql


def _sqlite_triggers() -> dict[str, str]:
    return dict(
        _sqlite_trigger(t.name, op) for t in facts.FACT_TABLES for op in ("UPDATE", "DELETE")
    )


def install_guards(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        for name, sql in _sqlite_triggers().items():
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
            conn.exec_driver_sql(sql)
        return
    conn.exec_driver_sql(
        "CREATE OR REPLACE FUNCTION projection_guard() RETURNS trigger LANGUAGE plpgsql "
        f"SET search_path FROM CURRENT AS $guard${_PG_FUNCTION}$guard$"
    )
    for t in facts.FACT_TABLES:
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS projection_guard ON {t.name}")
        conn.exec_driver_sql(
            f"CREATE TRIGGER projection_guard AFTER UPDATE OR DELETE OR TRUNCATE ON {t.name} "
            "FOR EACH STATEMENT EXECUTE FUNCTION projection_guard()"
        )


def drop_guards(conn: Connection) -> None:
    """For a rebuild, which deletes every row (SQLite's guards would fire once per row)."""
    if conn.dialect.name == "sqlite":
        for name in _sqlite_triggers():
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
        return
    for t in facts.FACT_TABLES:
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS projection_guard ON {t.name}")


def guard_problem(conn: Connection) -> tuple[str, str] | None:
    """(table, what) when a guard is missing, disabled or not the one installed; else None."""
    names = [t.name for t in facts.FACT_TABLES]
    if conn.dialect.name == "sqlite":
        found: dict[str, str] = dict(
            conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").all()
        )
        for name, sql in _sqlite_triggers().items():
            if found.get(name) != sql:
                table = name.split("_", 3)[3]
                return table, "its guard (a trigger recording edits) is missing or was altered"
        return None
    rows = conn.exec_driver_sql(
        "SELECT c.relname, t.tgenabled, t.tgtype, t.tgqual IS NULL, t.tgattr::text, "
        "p.proname, p.prosrc, p.pronamespace = c.relnamespace FROM pg_trigger t "
        "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid "
        "WHERE t.tgname = 'projection_guard' AND c.relnamespace = "
        "(SELECT oid FROM pg_namespace WHERE nspname = current_schema())"
    ).all()
    good = {
        row[0]
        for row in rows
        if row[1] == "O" and row[2] == _PG_EVENTS and row[3] and row[4] == ""
        and row[5] == "projection_guard" and row[6] == _PG_FUNCTION and row[7]
    }  # fmt: skip
    for name in names:
        if name not in good:
            return name, "its guard (a trigger recording edits) is missing, disabled or altered"
    return None


def prepare(engine: Engine) -> None:
    """On new, empty tables: install the guards and write the empty seal. Tables holding rows
    but no seal are left as they are (the check refuses them: a rebuild seals them)."""
    with engine.connect() as conn:
        if conn.execute(select(seals.c.name).where(seals.c.name == NAME)).first() is not None:
            return
    with writing(engine) as conn:
        if conn.execute(select(seals.c.name).where(seals.c.name == NAME)).first() is not None:
            return  # another process was first
        tracked = conn.execute(select(facts.tracking.c.position)).first() is not None
        if tracked or any(
            conn.execute(select(t.c.seq).limit(1)).first() is not None for t in facts.FACT_TABLES
        ):
            return
        install_guards(conn)
        write_seal(conn, Seal.empty())


# -- the per-question check ----------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """What an answer was checked against: the tables matched the chain at *position*."""

    position: int
    head: int
    seal: Seal
    tip: bool  # the newest event's rows were compared with the chain's event

    def summary(self) -> str:
        newest = "the newest event's rows, " if self.tip else ""
        text = (
            f"checked: the tables match the chain at event {self.position} of {self.head} "
            f"(its hash, the row counts of {len(self.seal.rows)} tables, {newest}no edit "
            "recorded by the guards)"
        )
        seal = self.seal
        if seal.full_at is not None:
            kind = "rebuilt from the chain" if seal.full_kind == "rebuilt" else "compared in full"
            when = seal.full_at[:16].replace("T", " ") + " UTC"
            text += f"; last {kind} {when}, at event {seal.full_position}"
        else:
            text += "; never compared in full (`ledger verify --projections` does)"
        return text

    def to_dict(self) -> dict[str, Any]:
        seal = self.seal
        return {
            "position": self.position, "head": self.head, "rows": seal.total,
            "tables": dict(seal.rows), "newest_event_compared": self.tip,
            "full": None if seal.full_at is None else
            {"at": seal.full_at, "position": seal.full_position, "kind": seal.full_kind},
        }  # fmt: skip


def _chain_row(ledger: Ledger, position: int) -> StoredRow | None:
    if position == 0:
        return None
    rows = ledger.store.rows_at([position])
    if not rows:
        raise ProjectionMismatch(
            "projection_tracking", position, "the chain has no event at the tracked position"
        )
    return rows[0]


def _structure(
    ledger: Ledger, tracking: int, seal: Seal | None, high: int
) -> tuple[Seal, StoredRow | None]:
    """The tracked position against the chain and the seal; the seal (an empty one for new
    tables) and the chain's event at the position. Raises ProjectionMismatch naming the
    problem."""
    head = ledger.size
    if tracking > head:
        raise ProjectionMismatch(
            "projection_tracking", tracking,
            f"the tracked position is beyond the chain's head ({head} events): new events "
            "would be hidden",
        )  # fmt: skip
    if seal is None:
        if tracking:
            raise ProjectionMismatch(
                "projection_seal", None,
                "the tables carry no seal (made by an earlier release, or the seal was deleted)",
            )  # fmt: skip
        seal = Seal.empty()
    if tracking < seal.position:
        raise ProjectionMismatch(
            "projection_tracking", tracking,
            f"the tracked position went back: the tables were written up to {seal.position}",
        )  # fmt: skip
    if tracking > seal.position:
        raise ProjectionMismatch(
            "projection_tracking", tracking,
            f"the tracked position moved ahead of the tables, written up to {seal.position}: "
            f"events {seal.position + 1}-{tracking} would never be applied",
        )  # fmt: skip
    if tracking < high:
        raise ProjectionMismatch(
            "projection_tracking", tracking,
            f"the tracked position went back from {high}, which this process saw",
        )  # fmt: skip
    row = _chain_row(ledger, tracking)
    actual = GENESIS if row is None else row.hash.hex()
    if actual != seal.chain_hash:
        raise ProjectionMismatch(
            "projection_seal", tracking,
            "the chain's event at the tracked position is not the one the tables were built up "
            "to (its hash differs from the recorded one)",
        )  # fmt: skip
    return seal, row


def _edits(seal: Seal) -> None:
    if seal.edits:
        table, _, operation = (seal.edited or "").rpartition(" ")
        raise ProjectionMismatch(
            table or "projection tables", None,
            f"changed outside the projections by {operation or 'an UPDATE or DELETE'} (its "
            f"guard recorded it; {seal.edits} such change(s) since the tables were built)",
        )  # fmt: skip


def _counts(conn: Connection) -> dict[str, int]:
    query = select(
        *(select(func.count()).select_from(t).scalar_subquery().label(t.name)
          for t in facts.FACT_TABLES)
    )  # fmt: skip
    return {str(name): int(n) for name, n in conn.execute(query).one()._mapping.items()}


def _outside(conn: Connection, position: int) -> list[tuple[str, Any]]:
    """For each fact table holding a row for no position from 1 to *position*: (table, the
    first such row's position, which may be None or not a number where SQLite allows it).
    Index lookups only: the lowest position, the lowest beyond *position*, any NULL."""
    columns = []
    for t in facts.FACT_TABLES:
        columns += [
            select(func.min(t.c.seq)).scalar_subquery(),
            select(func.min(t.c.seq)).where(t.c.seq > position).scalar_subquery(),
            select(t.c.seq).where(t.c.seq.is_(None)).exists(),
        ]
    values = conn.execute(select(*columns)).one()
    found = []
    for number, t in enumerate(facts.FACT_TABLES):
        lowest, beyond, null = values[3 * number : 3 * number + 3]
        if null:
            found.append((str(t.name), None))
        elif lowest is not None and (not isinstance(lowest, int) or lowest < 1):
            found.append((str(t.name), lowest))
        elif beyond is not None:
            found.append((str(t.name), beyond))
    return found


def _refuse_outside(conn: Connection, position: int) -> None:
    for table, seq in _outside(conn, position):
        raise ProjectionMismatch(
            table, None,
            f"it holds a row for position {seq!r}, outside the events applied (1-{position})",
        )  # fmt: skip


def derive(row: StoredRow) -> dict[Table, list[tuple[Any, ...]]]:
    """The fact rows the chain's event *row* gives, per table, values in column order."""
    if spec.is_system_type(row.type) and row.type not in facts.SYSTEM_FACTS:
        return {}  # as the runner: of the ledger's own records, settings and declarations
    try:
        event = chain.parse(row.state).event
    except ValueError:
        raise ProjectionMismatch(
            "the chain", row.sequence, "its stored record cannot be read",
            hint="run `ledger verify`",
        ) from None  # fmt: skip
    return facts.event_rows(row.sequence, event)


def _label(table: Table, key: tuple[Any, ...]) -> str:
    names = [_COLUMNS[table][i] for i in _KEYS[table]]
    parts = [
        f"{name} {orjson.dumps(value, default=_default).decode()[:80]}"
        for name, value in zip(names, key, strict=True)
        if name != "seq"
    ]
    return "the row" + (f" for {', '.join(parts)}" if parts else "")


def diff(table: Table, derived: list[tuple[Any, ...]], stored: list[tuple[Any, ...]]) -> str | None:
    """The first difference between the rows the chain gives for one position and the stored
    ones, in words; None when they are the same."""
    if len(derived) == len(stored) and (derived == stored or Counter(derived) == Counter(stored)):
        return None
    keys = _KEYS[table]

    def key(row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(row[i] for i in keys)

    want = {key(r): r for r in derived}
    have: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for r in stored:
        if key(r) in have:
            return f"{_label(table, key(r))} is there twice"
        have[key(r)] = r
    for k, r in want.items():
        if k not in have:
            return f"{_label(table, k)} is missing"
        if have[k] != r:
            columns = [name for name, a, b in zip(_COLUMNS[table], r, have[k], strict=True)
                       if a != b]  # fmt: skip
            return f"{_label(table, k)} differs from the chain's event in {', '.join(columns)}"
    extra = next(k for k in have if k not in want)
    return f"{_label(table, extra)} is not derived from the chain's event (inserted or moved)"


def _rows_at(conn: Connection, table: Table, start: int, stop: int) -> list[tuple[Any, ...]]:
    """The stored rows of *table* for positions *start* to *stop*, as the driver gives them."""
    style = "?" if conn.dialect.name == "sqlite" else "%s"
    sql = (
        f"SELECT {', '.join(_COLUMNS[table])} FROM {table.name} "
        f"WHERE seq >= {style} AND seq <= {style}"
    )
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, (start, stop))
        return [tuple(row) for row in cursor.fetchall()]
    finally:
        cursor.close()


def _tip(conn: Connection, row: StoredRow | None) -> bool:
    """Compare the stored rows of the newest applied event with the chain's; whether any."""
    if row is None:
        return False
    derived = derive(row)
    for table in facts.FACT_TABLES:
        stored = _rows_at(conn, table, row.sequence, row.sequence)
        what = diff(table, derived.get(table, []), stored)
        if what is not None:
            raise ProjectionMismatch(table.name, row.sequence, what)
    return True


def check(conn: Connection, ledger: Ledger, *, high: int = 0) -> Check:
    """The per-question check (see the module's docstring); raises ProjectionMismatch."""
    tracking, stored = read_state(conn)
    seal, row = _structure(ledger, tracking, stored, high)
    _edits(seal)
    problem = guard_problem(conn) if stored is not None else None
    if problem is not None:
        raise ProjectionMismatch(problem[0], None, problem[1])
    counts = _counts(conn)
    for name, written in seal.rows.items():
        held = counts[name]
        if held != written:
            how = "deleted" if held < written else "inserted"
            raise ProjectionMismatch(
                name, None,
                f"it holds {held} rows, but {written} were written up to position "
                f"{seal.position} (rows were {how})",
            )  # fmt: skip
    _refuse_outside(conn, seal.position)
    tip = _tip(conn, row)
    return Check(seal.position, ledger.size, seal, tip)


def check_extendable(conn: Connection, ledger: Ledger, *, high: int = 0) -> Seal:
    """Before events are applied after the tracked position: the position and the seal agree
    with the chain, the rows of the event there are the chain's (a position moved ahead with
    its seal would leave them missing, and applying more would hide that), and no row is in
    the way. The seal to extend."""
    tracking, stored = read_state(conn)
    seal, row = _structure(ledger, tracking, stored, high)
    _refuse_outside(conn, seal.position)
    _tip(conn, row)
    return seal


# -- the full comparison -------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """The stored tables against every fact row derived again from the chain."""

    matches: bool
    position: int  # the tracked position the tables were compared up to
    head: int
    rows: int  # stored rows compared
    table: str | None = None  # the first difference: where,
    at: int | None = None  # at which position of the chain,
    what: str | None = None  # and what differs
    as_written: bool | None = None  # differing tables still match their seal's digests
    absent: bool = False  # the store holds no projection tables (yet)
    made: str = ""  # when the comparison ran (UTC)

    def line(self) -> str:
        if self.absent:
            return "projections: no projection tables in this store yet (nothing to compare)"
        if self.matches:
            return (
                f"projections: the tables match the chain at event {self.position} of "
                f"{self.head} ({self.rows} rows, each derived again from the chain)"
            )
        where = f" at position {self.at}" if self.at is not None else ""
        text = f"projections: DO NOT MATCH the chain: {self.table}{where}: {self.what}"
        if self.as_written is False:
            text += " (the tables were changed after they were written)"
        elif self.as_written:
            text += (
                " (the tables are as they were written: by other projection rules than this "
                "release's?)"
            )
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "matches": self.matches, "position": self.position, "head": self.head,
            "rows": self.rows, "table": self.table, "at": self.at, "what": self.what,
            "as_written": self.as_written, "absent": self.absent,
        }  # fmt: skip


def _refused(exc: ProjectionMismatch, position: int, head: int, rows: int = 0) -> Comparison:
    return Comparison(False, position, head, rows, exc.table, exc.position, exc.what, made=_now())


def _now() -> str:
    return utc_timestamp(datetime.now(UTC))


def compare(conn: Connection, ledger: Ledger, *, high: int = 0, chunk: int = 5000) -> Comparison:
    """Derive every fact row from the chain up to the tracked position and compare it with
    the stored tables, position by position; then the seal and the guards. The first
    difference is named: the lowest position, and in table order at that position."""
    head = ledger.size
    tracking = 0
    try:
        tracking, stored = read_state(conn)
        seal, _ = _structure(ledger, tracking, stored, high)
    except ProjectionMismatch as exc:
        return _refused(exc, tracking, head)
    position = seal.position
    outside = _outside(conn, position)
    for name, seq in outside:
        if not isinstance(seq, int) or seq < 1:
            what = f"it holds a row for position {seq!r}, which is no event's"
            return Comparison(False, position, head, 0, name, None, what, made=_now())
    tally = Tally()
    try:
        first = _first_difference(conn, ledger, position, tally, chunk)
    except ProjectionMismatch as exc:  # the chain's own record cannot be read
        return _refused(exc, position, head, tally.total)
    if first is None and outside:
        name, seq = min(outside, key=itemgetter(1))
        what = f"it holds a row for position {seq}, beyond the events applied (1-{position})"
        return Comparison(False, position, head, tally.total, name, seq, what, made=_now())
    if first is not None:
        seq, _, name, what = first
        return Comparison(False, position, head, tally.total, name, seq, what,
                          as_written=_as_written(conn, seal), made=_now())  # fmt: skip
    return _seal_agrees(conn, seal, tally, head)


def _first_difference(
    conn: Connection, ledger: Ledger, position: int, tally: Tally, chunk: int
) -> tuple[int, int, str, str] | None:
    """(position, table number, table, what) of the first stored row that is not what the
    chain gives, over positions 1 to *position*, a chunk of events at a time; the rows read
    are counted in *tally*. A chunk's rows are compared as sets (a primary key makes each row
    unique), position by position only when they differ."""
    with ledger.store.snapshot() as snapshot:
        rows = snapshot.rows(1, position)
        while block := list(itertools.islice(rows, chunk)):
            start, stop = block[0].sequence, block[-1].sequence
            derived: dict[Table, list[tuple[Any, ...]]] = defaultdict(list)
            for row in block:
                for table, made in derive(row).items():
                    derived[table] += made
            first: tuple[int, int, str, str] | None = None
            for number, table in enumerate(facts.FACT_TABLES):
                found = _rows_at(conn, table, start, stop)
                tally.rows[str(table.name)] += len(found)
                want = derived.get(table, [])
                if len(want) == len(found) and set(want) == set(found):
                    continue
                at = _first_at(table, want, found)
                if at is not None:
                    candidate = (at[0], number, str(table.name), at[1])
                    first = candidate if first is None else min(first, candidate)
            if first is not None:
                return first
    return None


def _first_at(
    table: Table, derived: list[tuple[Any, ...]], stored: list[tuple[Any, ...]]
) -> tuple[int, str] | None:
    """The first position at which *stored* differs from *derived*, and how."""
    want: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    have: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for values in derived:
        want[values[0]].append(values)
    for values in stored:
        have[values[0]].append(values)
    for seq in sorted(want.keys() | have.keys()):
        what = diff(table, want.get(seq, []), have.get(seq, []))
        if what is not None:
            return seq, what
    return None


def _seal_agrees(conn: Connection, seal: Seal, tally: Tally, head: int) -> Comparison:
    """Every stored row matched the chain: does the seal say what was written, and are the
    guards in place (else questions would refuse tables that are right)?"""
    position = seal.position

    def differs(table: str | None, what: str) -> Comparison:
        return Comparison(False, position, head, tally.total, table, None, what, made=_now())

    for name, written in seal.rows.items():
        if tally.rows[name] != written:
            return differs("projection_seal", f"its row count for {name} is not the "
                           "table's (which matches the chain)")  # fmt: skip
    if seal.edits:
        what = f"the guards recorded {seal.edits} edit(s) outside the projections"
        return differs(seal.edited or "projection tables", what)
    problem = guard_problem(conn)
    if problem is not None:
        return differs(*problem)
    return Comparison(True, position, head, tally.total, made=_now())


def _as_written(conn: Connection, seal: Seal) -> bool:
    """Whether every table still matches the digest its rows were sealed with."""
    for table in facts.FACT_TABLES:
        tally = Tally()
        result = conn.execution_options(yield_per=5000).execute(select(table))
        for part in result.partitions():
            tally.add(table, [tuple(r) for r in part])
        if (tally.rows[table.name], tally.digests[table.name] % MODULUS) != (
            seal.rows[table.name],
            seal.digests[table.name],
        ):
            return False
    return True


def record_full(conn: Connection, comparison: Comparison, kind: str) -> None:
    """Note on the seal that the tables were shown to match the chain in full."""
    conn.execute(
        update(seals)
        .where(seals.c.name == NAME)
        .values(
            full_at=comparison.made or _now(), full_position=comparison.position, full_kind=kind
        )
    )


def compare_stored(ledger: Ledger) -> Comparison:
    """:func:`compare` on the store's own projection tables, only reading (for `ledger verify
    --projections`, which may run on a read-only replica)."""
    from .runner import engine_for

    engine = engine_for(ledger.store.url)
    try:
        names = {t.name for t in (*facts.FACT_TABLES, facts.tracking, seals)}
        present = names & set(inspect(engine).get_table_names())
        if not present:
            return Comparison(True, 0, ledger.size, 0, absent=True, made=_now())
        if present != names:
            missing = ", ".join(sorted(names - present))
            return Comparison(False, 0, ledger.size, 0, missing, None, "the table is missing",
                              made=_now())  # fmt: skip
        with reading(engine) as conn:
            return compare(conn, ledger)
    finally:
        engine.dispose()


@dataclass(frozen=True)
class WithProjections(VerifyReport):
    """A verification report with the comparison of the projections beside it (--json)."""

    projections: dict[str, Any] | None = None


def with_projections(report: VerifyReport, comparison: Comparison | None) -> VerifyReport:
    """*report* with the comparison beside it (in its JSON); *report* itself without one."""
    if comparison is None:
        return report
    fields = {name: getattr(report, name) for name in VerifyReport.__dataclass_fields__}
    return WithProjections(**fields, projections=comparison.to_dict())


__all__ = [
    "Check",
    "Comparison",
    "ProjectionMismatch",
    "Seal",
    "check",
    "compare",
    "compare_stored",
]
