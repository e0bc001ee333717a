"""The declared processing: what the privacy notice says, as data the ledger records.

A declaration is written in TOML (``ledger declare FILE``) or given as a mapping
(``Ledger.declare``), checked like an event (vocabulary, countries, transfer mechanisms,
identifiers) and normalised, so that the same declaration written two ways has the same
canonical bytes and digest. A refusal names the line of the TOML file and the key path
(``purposes."essential.service".recipients[1].country``; list items counted from 1), and
quotes only the format's own key names and vocabulary keys, never a value: ids could be
personal data. Pure: no I/O, no clock.

Invariants of the normalised content: every key is present (``transfer`` is null when no
mechanism is named, ``bases`` is always a list); lists whose order means nothing are sorted
(recipients by id); no list holds an item twice.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ledger.core.canonical import canonical
from ledger.core.contract import (
    ENUMS,
    MAX_LIST,
    check_country,
    check_duration,
    check_identifier,
)
from ledger.core.countries import TRANSFER_MECHANISMS, transfer_needs_mechanism
from ledger.core.spec import DECLARATION_TYPE, RESERVED_ACTOR
from ledger.core.vocabulary import Kind, Vocabulary
from ledger.errors import InvalidEvent

TOP_KEYS = ("notices", "purposes")
PURPOSE_KEYS = (
    "bases", "basis", "categories", "subject_categories", "locations", "retention", "recipients",
)  # fmt: skip
RECIPIENT_KEYS = ("id", "country", "transfer", "categories")
# The format's own key names: the only ones a message quotes besides vocabulary keys.
FORMAT_KEYS = frozenset({*TOP_KEYS, *PURPOSE_KEYS, *RECIPIENT_KEYS})
MAX_DECLARATION_FILE = 1 << 20  # bytes of TOML: a notice, not a data set

T = TypeVar("T")
Path = tuple[str | int, ...]  # keys and 0-based list indexes, from the top


class InvalidDeclaration(InvalidEvent):
    """A declaration breaks the format or its rules; nothing was written. ``path`` holds the
    offending key's path (keys and 0-based indexes), ``key`` its safe rendering."""

    def __init__(
        self,
        why: str,
        *,
        path: Path = (),
        shown: str | None = None,
        line: int | None = None,
        accepted: Sequence[str] = (),
    ) -> None:
        self.path = path
        super().__init__(why, key=shown, line=line, accepted=accepted)

    def on_line(self, line: int | None) -> InvalidDeclaration:
        """The same refusal, placed on a line of the TOML file."""
        return InvalidDeclaration(
            self.why, path=self.path, shown=self.key, line=line, accepted=self.accepted
        )


@dataclass(frozen=True)
class Declaration:
    """A recorded declaration: its sequence, recorded time (UTC text), digest and content."""

    seq: int
    at: str
    digest: str
    content: dict[str, Any]


def digest(content: Mapping[str, Any]) -> str:
    """Hex SHA-256 of the canonical bytes of (normalised) *content*."""
    return hashlib.sha256(canonical(content)).hexdigest()


def declaration_event(content: Mapping[str, Any]) -> dict[str, Any]:
    """The ``ledger.declaration`` event recording normalised *content* (``at`` is set by the
    ledger when it records it: a declaration is never backdated)."""
    return {
        "type": DECLARATION_TYPE,
        "actor": RESERVED_ACTOR,
        "declaration": dict(content),
        "digest": digest(content),
    }


# -- parsing -------------------------------------------------------------------------------

_TOML_LINE = re.compile(r"\s*\(at line (\d+), column \d+\)\s*$")


def parse_declaration(text: str, vocabulary: Vocabulary) -> dict[str, Any]:
    """Normalised content from TOML *text*; InvalidDeclaration naming the line and key."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = _TOML_LINE.search(message)
        why = f"not valid TOML ({_toml_problem(_TOML_LINE.sub('', message))})"
        raise InvalidDeclaration(why, line=int(found.group(1)) if found else None) from None
    try:
        return check_declaration(raw, vocabulary)
    except InvalidDeclaration as exc:
        raise exc.on_line(_Lines(text).find(exc.path)) from None


# tomllib's messages that quote a key (which could be personal data), said without it
_KEY_PROBLEMS = {
    "Cannot declare": "a key or table is declared twice",
    "Duplicate inline table key": "an inline table gives a key twice",
    "Cannot mutate immutable namespace": "a table is extended after it was written whole",
    "Cannot redefine namespace": "a table is defined again",
}


def _toml_problem(message: str) -> str:
    for start, said in _KEY_PROBLEMS.items():
        if message.startswith(start):
            return said
    return message or "a syntax error"


class _Lines:
    """Where each table and key of a TOML text begins: its first line, by path."""

    def __init__(self, text: str) -> None:
        self.at: dict[Path, int] = {}
        table: Path = ()
        counts: dict[Path, int] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            if stripped.startswith("["):
                header = _header(stripped)
                if header is None:
                    continue
                path, many = header
                if many:
                    index = counts.get(path, 0)
                    counts[path] = index + 1
                    self.at.setdefault(path, number)
                    path = (*path, index)
                table = path
                self.at.setdefault(table, number)
                continue
            key = _key(stripped)
            if key is not None:
                for depth in range(1, len(key) + 1):  # a dotted key opens its tables too
                    self.at.setdefault((*table, *key[:depth]), number)

    def find(self, path: Path) -> int | None:
        """The line of *path*, else of its nearest ancestor found."""
        for end in range(len(path), 0, -1):
            if path[:end] in self.at:
                return self.at[path[:end]]
        return None


def _header(line: str) -> tuple[Path, bool] | None:
    """The path of a ``[table]`` or ``[[array of tables]]`` header line, read by tomllib."""
    many = line.startswith("[[")
    end = line.find("]]" if many else "]")
    while end != -1:  # a quoted key may hold "]": try each closing bracket in turn
        candidate = line[: end + (2 if many else 1)]
        try:
            parsed = tomllib.loads(candidate)
        except tomllib.TOMLDecodeError:
            end = line.find("]]" if many else "]", end + 1)
            continue
        return _only_path(parsed), many
    return None


def _key(line: str) -> Path | None:
    """The (possibly dotted) key of a ``key = value`` line."""
    quote: str | None = None
    for index, char in enumerate(line):
        if quote:
            if char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char == "=":
            try:
                return _only_path(tomllib.loads(line[:index] + "= 0"))
            except tomllib.TOMLDecodeError:
                return None
    return None


def _only_path(parsed: Any) -> Path:
    path: list[str | int] = []
    while isinstance(parsed, dict) and len(parsed) == 1:
        ((name, parsed),) = parsed.items()
        path.append(name)
        if isinstance(parsed, list):
            parsed = parsed[0] if parsed else {}
    return tuple(path)


# -- checking ------------------------------------------------------------------------------


def check_declaration(content: Mapping[str, Any], vocabulary: Vocabulary) -> dict[str, Any]:
    """Normalised content from a mapping (parsed TOML, or what ``Ledger.declare`` is given),
    checked against *vocabulary*; InvalidDeclaration naming the key path."""
    return _Checker(vocabulary).declaration(content)


def _type(value: Any) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string",
             list: "a list", dict: "a table", type(None): "null"}  # fmt: skip
    return names.get(type(value), "a " + type(value).__name__)


def _covered(category: str, declared: Sequence[str]) -> bool:
    return any(category == d or category.startswith(d + ".") for d in declared)


class _Checker:
    def __init__(self, vocabulary: Vocabulary) -> None:
        self.vocabulary = vocabulary
        self.safe = {kind: vocabulary.keys(kind) for kind in ("purpose", "category")}

    # -- refusals: the path rendered with only safe names -----------------------------------

    def refuse(
        self, why: str, path: Path, accepted: Sequence[str] = (), *, shown: Path | None = None
    ) -> InvalidDeclaration:
        """*path* locates the line; *shown* (else *path*) is what the message names."""
        named = self.shown(path if shown is None else shown)
        return InvalidDeclaration(why, path=path, shown=named, accepted=accepted)

    def shown(self, path: Path) -> str | None:
        text = ""
        for depth, part in enumerate(path):
            if isinstance(part, int):
                text += f"[{part + 1}]"
                continue
            parent = path[depth - 1] if depth else None
            if parent == "purposes":
                safe = part in self.safe["purpose"]
            elif parent == "retention":
                safe = part in self.safe["category"]
            else:
                safe = part in FORMAT_KEYS
            name = (f'"{part}"' if "." in part else part) if safe else "(a key not shown)"
            text += ("." if text else "") + name
        return text or None

    def rewrap(self, path: Path, check: Callable[..., T], *args: Any) -> T:
        """Run a contract rule, its refusal placed at *path*."""
        try:
            return check(*args)
        except InvalidDeclaration:
            raise
        except InvalidEvent as exc:
            raise self.refuse(exc.why, path, exc.accepted) from None

    def known(self, kind: Kind, key: str) -> None:
        self.vocabulary.check(kind, key, field=kind)

    # -- shapes --------------------------------------------------------------------------------

    def table(self, value: Any, path: Path, keys: Sequence[str], what: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.refuse(f"must be a table, not {_type(value)}", path)
        for position, key in enumerate(value, start=1):
            if key not in keys:
                accepted = tuple(k for k in keys if k != "basis")
                if isinstance(key, str) and key in FORMAT_KEYS:
                    raise self.refuse(f"is not a key of {what}", (*path, key), accepted)
                why = f"an unknown key (key {position} of {what}) is not a key of {what}"
                raise self.refuse(why, (*path, key), accepted, shown=path)
        return value

    def items(self, value: Any, path: Path, *, empty: bool) -> list[Any]:
        if not isinstance(value, list | tuple):
            raise self.refuse(f"must be a list, not {_type(value)}", path)
        if not value and not empty:
            raise self.refuse("must not be an empty list", path)
        if len(value) > MAX_LIST:
            raise self.refuse(f"has more than {MAX_LIST} items", path)
        return list(value)

    def unique(self, items: list[str], path: Path) -> list[str]:
        for index, item in enumerate(items):
            if item in items[:index]:
                raise self.refuse("lists the same item twice", (*path, index))
        return sorted(items)

    def identifiers(self, value: Any, path: Path, *, empty: bool = True) -> list[str]:
        items = self.items(value, path, empty=empty)
        found = [
            self.rewrap((*path, n), check_identifier, str(path[-1]), item)
            for n, item in enumerate(items)
        ]
        return self.unique(found, path)

    def keys(self, kind: Kind, value: Any, path: Path, *, empty: bool) -> list[str]:
        found = self.identifiers(value, path, empty=empty)
        for n, key in enumerate(value):
            self.rewrap((*path, n), self.known, kind, key)
        return found

    def countries(self, value: Any, path: Path) -> list[str]:
        items = self.items(value, path, empty=True)
        found = [self.rewrap((*path, n), check_country, "country", c) for n, c in enumerate(items)]
        return self.unique(found, path)

    # -- the declaration -----------------------------------------------------------------------

    def declaration(self, content: Mapping[str, Any]) -> dict[str, Any]:
        top = self.table(content, (), TOP_KEYS, "the declaration")
        if "purposes" not in top:
            raise self.refuse("is required: a table per purpose (a data-use key)", ("purposes",))
        notices = self.identifiers(top.get("notices", []), ("notices",))
        purposes = top["purposes"]
        if not isinstance(purposes, Mapping):
            raise self.refuse(f"must be a table, not {_type(purposes)}", ("purposes",))
        if not purposes:
            raise self.refuse("must declare at least one purpose", ("purposes",))
        if len(purposes) > MAX_LIST:
            raise self.refuse(f"has more than {MAX_LIST} purposes", ("purposes",))
        checked = {}
        for purpose, declared in purposes.items():
            path: Path = ("purposes", purpose)
            if not isinstance(purpose, str):
                raise self.refuse("a purpose must be a data-use key", ("purposes",))
            self.rewrap(path, check_identifier, "purpose", purpose)
            self.rewrap(path, self.known, "purpose", purpose)
            checked[purpose] = self.purpose(declared, path)
        return {"notices": notices, "purposes": {p: checked[p] for p in sorted(checked)}}

    def purpose(self, value: Any, path: Path) -> dict[str, Any]:
        declared = self.table(value, path, PURPOSE_KEYS, "a purpose")
        if "bases" in declared and "basis" in declared:
            raise self.refuse("give bases (a list) or basis (one), not both", (*path, "basis"))
        if "bases" in declared:
            bases = self.items(declared["bases"], (*path, "bases"), empty=False)
            where: Path = (*path, "bases")
        elif "basis" in declared:
            bases, where = [declared["basis"]], (*path, "basis")
        else:
            raise self.refuse("is required (or basis, one lawful basis)", (*path, "bases"))
        for n, basis in enumerate(bases):
            at = (*where, n) if where[-1] == "bases" else where
            if not isinstance(basis, str) or basis not in ENUMS["basis"]:
                raise self.refuse("is not a lawful basis", at, ENUMS["basis"])
        if "categories" not in declared:
            raise self.refuse(
                "is required: the data-category keys processed", (*path, "categories")
            )
        categories = self.keys("category", declared["categories"], (*path, "categories"),
                               empty=False)  # fmt: skip
        return {
            "bases": self.unique(list(bases), where),
            "categories": categories,
            "subject_categories": self.keys(
                "subject_category",
                declared.get("subject_categories", []),
                (*path, "subject_categories"),
                empty=True,
            ),
            "locations": self.countries(declared.get("locations", []), (*path, "locations")),
            "retention": self.retention(declared.get("retention", {}), path, categories),
            "recipients": self.recipients(declared.get("recipients", []), path, categories),
        }

    def retention(self, value: Any, purpose: Path, categories: list[str]) -> dict[str, str]:
        path = (*purpose, "retention")
        if not isinstance(value, Mapping):
            raise self.refuse(f"must be a table of category = duration, not {_type(value)}", path)
        found = {}
        for category, duration in value.items():
            at = (*path, category)
            if not isinstance(category, str):
                raise self.refuse("a retention key must be a data-category key", path)
            self.rewrap(at, self.known, "category", category)
            if not _covered(category, categories):
                raise self.refuse(
                    "is not among the purpose's categories, nor under one of them: declare "
                    "the category for the purpose first",
                    at,
                    tuple(categories),
                )
            self.rewrap(at, check_duration, "retention", duration)
            found[category] = duration
        return {c: found[c] for c in sorted(found)}

    def recipients(self, value: Any, purpose: Path, categories: list[str]) -> list[Any]:
        path = (*purpose, "recipients")
        found: list[dict[str, Any]] = []
        for n, raw in enumerate(self.items(value, path, empty=True)):
            at = (*path, n)
            recipient = self.table(raw, at, RECIPIENT_KEYS, "a recipient")
            for key in ("id", "country", "categories"):
                if key not in recipient:
                    raise self.refuse("is required on a recipient", (*at, key))
            rid = self.rewrap((*at, "id"), check_identifier, "recipient", recipient["id"])
            if any(r["id"] == rid for r in found):
                raise self.refuse(
                    "names a recipient already declared for this purpose: declare each once",
                    (*at, "id"),
                )
            country = self.rewrap((*at, "country"), check_country, "country", recipient["country"])
            transfer = recipient.get("transfer")
            if transfer is None:
                if transfer_needs_mechanism(country):
                    raise self.refuse(
                        "is required: the recipient is outside the UK and the EEA, in a "
                        "country without UK adequacy regulations",
                        (*at, "transfer"),
                        TRANSFER_MECHANISMS,
                    )
            elif not isinstance(transfer, str) or transfer not in TRANSFER_MECHANISMS:
                raise self.refuse(
                    "is not a transfer mechanism", (*at, "transfer"), TRANSFER_MECHANISMS
                )
            shared = self.keys("category", recipient["categories"], (*at, "categories"),
                               empty=False)  # fmt: skip
            for category in shared:
                if not _covered(category, categories):
                    raise self.refuse(
                        "is not among the purpose's categories, nor under one of them",
                        (*at, "categories", recipient["categories"].index(category)),
                        tuple(categories),
                    )
            found.append(
                {"id": rid, "country": country, "transfer": transfer, "categories": shared}
            )
        return sorted(found, key=lambda r: r["id"])
