"""The fideslang taxonomy as the ledger's vocabulary, extendable by the organisation.

Data categories, data uses (purposes) and data subjects are fideslang keys; a dotted key
covers its descendants. Custom keys from the configuration sit under an existing parent.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.metadata
import re
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any, Literal

import orjson

from ledger.errors import ConfigError, InvalidEvent

Kind = Literal["category", "purpose", "subject_category"]
KINDS: tuple[Kind, ...] = ("category", "purpose", "subject_category")
# The configuration's (and describe()'s) section for each kind, in fideslang's own words.
SECTIONS: dict[str, Kind] = {
    "data_categories": "category",
    "data_uses": "purpose",
    "data_subjects": "subject_category",
}
_SECTION_OF: dict[Kind, str] = {kind: section for section, kind in SECTIONS.items()}
_NOUNS: dict[Kind, str] = {
    "category": "data category",
    "purpose": "purpose (data use)",
    "subject_category": "data subject category",
}
# fideslang's FidesKey allows letters, digits, _ and - (plus < > for templates, not keys here).
_KEY = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")
MAX_KEY = 200
MAX_CUSTOM = 10_000
_SUGGESTIONS = 5


@cache
def _fideslang() -> tuple[str, dict[Kind, frozenset[str]]]:
    # Imported lazily: fideslang pulls in pydantic, which not every command needs.
    from fideslang.default_taxonomy import DEFAULT_TAXONOMY

    return importlib.metadata.version("fideslang"), {
        "category": frozenset(item.fides_key for item in DEFAULT_TAXONOMY.data_category),
        "purpose": frozenset(item.fides_key for item in DEFAULT_TAXONOMY.data_use),
        "subject_category": frozenset(item.fides_key for item in DEFAULT_TAXONOMY.data_subject),
    }


class Vocabulary:
    """Accepted keys for data categories, data uses (purposes) and data subjects."""

    def __init__(self, custom: Mapping[Kind, Iterable[str]] | None = None) -> None:
        version, base = _fideslang()
        self.taxonomy = f"fideslang {version}"
        self._custom = {kind: _custom_keys(kind, (custom or {}).get(kind, ()), base[kind])
                        for kind in KINDS}  # fmt: skip
        self._keys = {kind: base[kind] | self._custom[kind] for kind in KINDS}
        self._digest = hashlib.sha256(
            orjson.dumps(self.describe(), option=orjson.OPT_SORT_KEYS)
        ).hexdigest()

    @classmethod
    def default(cls) -> Vocabulary:
        """fideslang's default taxonomy only."""
        return cls()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Vocabulary:
        """From the ``[vocabulary]`` table (or describe()'s ``custom``): custom keys per section."""
        if not isinstance(config, Mapping):
            raise ConfigError("vocabulary must be a table of sections: " + ", ".join(SECTIONS))
        for section in config:
            if section not in SECTIONS:
                raise ConfigError(
                    f"vocabulary: unknown section {section!r}; accepted: " + ", ".join(SECTIONS)
                )
        custom: dict[Kind, list[str]] = {}
        for section, kind in SECTIONS.items():
            keys = config.get(section, [])
            if not isinstance(keys, list | tuple):
                raise ConfigError(f"vocabulary.{section} must be a list of keys")
            for index, key in enumerate(keys, start=1):
                if not isinstance(key, str):
                    raise ConfigError(f"vocabulary.{section}: item {index} is not a string")
            custom[kind] = list(keys)
        return cls(custom)

    def keys(self, kind: Kind) -> frozenset[str]:
        """Every accepted key of one kind."""
        return self._keys[kind]

    def check(self, kind: Kind, key: str, *, field: str) -> None:
        """Refuse an unknown key, naming the event's *field* and the closest accepted keys."""
        if key in self._keys[kind]:
            return
        raise InvalidEvent(
            f"unknown {_NOUNS[kind]}: not a key of the fideslang taxonomy or of the "
            "organisation's vocabulary (if it is one of the organisation's own keys, is the "
            "configuration that adds it missing? give --config or LEDGER_CONFIG)",
            key=field,
            accepted=self.suggest(kind, key),
        )

    def suggest(self, kind: Kind, key: str) -> tuple[str, ...]:
        """Accepted keys close to *key*; else its known parent's children; else the top level."""
        keys = sorted(self._keys[kind])
        close = difflib.get_close_matches(key[: MAX_KEY + 20], keys, n=_SUGGESTIONS, cutoff=0.6)
        if close:
            return tuple(close)
        prefix = key.rpartition(".")[0]
        while prefix and prefix not in self._keys[kind]:
            prefix = prefix.rpartition(".")[0]
        if prefix:
            children = [k for k in keys if k.rpartition(".")[0] == prefix]
            return tuple(children[:8]) or (prefix,)
        return tuple(k for k in keys if "." not in k)[:8]

    def covers(self, ancestor: str, key: str) -> bool:
        """Whether *ancestor* is *key* or one of its parents (``user.contact`` covers itself)."""
        return key == ancestor or key.startswith(ancestor + ".")

    def describe(self) -> dict[str, Any]:
        """The vocabulary in force, as recorded on the ledger (JSON-able)."""
        return {
            "taxonomy": self.taxonomy,
            "custom": {_SECTION_OF[kind]: sorted(self._custom[kind]) for kind in KINDS},
        }

    @property
    def digest(self) -> str:
        """Hex SHA-256 of :meth:`describe` with sorted keys: changes with the vocabulary."""
        return self._digest

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and other._digest == self._digest

    def __hash__(self) -> int:
        return hash(self._digest)

    def __repr__(self) -> str:
        return f"<Vocabulary {self.taxonomy} custom={self.describe()['custom']}>"


def _custom_keys(kind: Kind, keys: Iterable[str], base: frozenset[str]) -> frozenset[str]:
    """Check an organisation's keys of one kind; each needs a parent known to the vocabulary."""
    section = _SECTION_OF[kind]
    if isinstance(keys, str):
        raise ConfigError(f"vocabulary.{section} must be a list of keys, not one string")
    wanted = list(keys)
    if len(wanted) > MAX_CUSTOM:
        raise ConfigError(f"vocabulary.{section}: more than {MAX_CUSTOM} custom keys")
    known = set(base)
    # Shallow keys first, so a custom key may sit under another custom key listed after it.
    for key in sorted(set(wanted) - base, key=lambda k: (k.count("."), k)):
        if len(key) > MAX_KEY or not _KEY.fullmatch(key):
            raise ConfigError(
                f"vocabulary.{section}: {key[:MAX_KEY]!r} is not a key: dotted words of "
                f"letters, digits, _ and -, at most {MAX_KEY} characters"
            )
        parent = key.rpartition(".")[0]
        if parent and parent not in known:
            raise ConfigError(
                f"vocabulary.{section}: {key!r} needs an existing parent key, and {parent!r} "
                "is neither in the fideslang taxonomy nor among the custom keys"
            )
        # fideslang's data subjects are flat, so custom ones may be flat too; the other kinds
        # are trees, and a new root would make a key no privacy tool recognises.
        if not parent and kind != "subject_category":
            raise ConfigError(
                f"vocabulary.{section}: {key!r} must sit under an existing parent key "
                f"(e.g. {sorted(k for k in base if '.' not in k)[0]}.<name>)"
            )
        known.add(key)
    return frozenset(known - base)
