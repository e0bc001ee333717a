"""The fideslang taxonomy as the ledger's vocabulary, extendable by the organisation.

Data categories, data uses (purposes) and data subjects are fideslang keys; a
dotted key covers its descendants. Organisations add keys of their own in the
configuration, each under an existing parent (subject categories are flat in
fideslang, so custom ones may be flat too).
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.metadata
from collections.abc import Iterable, Mapping
from functools import cache, cached_property
from typing import Any, Literal

import orjson

from ledger.errors import ConfigError, InvalidEvent

Kind = Literal["category", "purpose", "subject_category"]
_SECTIONS: dict[str, Kind] = {
    "data_categories": "category",
    "data_uses": "purpose",
    "data_subjects": "subject_category",
}
_NOUNS: dict[Kind, str] = {
    "category": "data category",
    "purpose": "purpose (data use)",
    "subject_category": "data subject category",
}
_MAX_KEY = 200


@cache
def _fideslang() -> tuple[str, dict[Kind, frozenset[str]]]:
    from fideslang.default_taxonomy import DEFAULT_TAXONOMY

    version = importlib.metadata.version("fideslang")
    return version, {
        "category": frozenset(item.fides_key for item in DEFAULT_TAXONOMY.data_category),
        "purpose": frozenset(item.fides_key for item in DEFAULT_TAXONOMY.data_use),
        "subject_category": frozenset(item.fides_key for item in DEFAULT_TAXONOMY.data_subject),
    }


def _valid_key(key: str) -> bool:
    parts = key.split(".")
    return 0 < len(key) <= _MAX_KEY and all(
        part and all(c.isascii() and (c.isalnum() or c == "_") for c in part) for part in parts
    )


class Vocabulary:
    """Accepted keys for data categories, data uses (purposes) and data subjects."""

    def __init__(self, custom: Mapping[Kind, Iterable[str]] | None = None) -> None:
        version, base = _fideslang()
        self.taxonomy = f"fideslang {version}"
        self._custom: dict[Kind, tuple[str, ...]] = {
            kind: tuple(sorted(set((custom or {}).get(kind, ())))) for kind in _NOUNS
        }
        self._keys = {kind: base[kind] | frozenset(self._custom[kind]) for kind in _NOUNS}

    @classmethod
    def default(cls) -> Vocabulary:
        """fideslang's default taxonomy only."""
        return cls()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Vocabulary:
        """From the ``[vocabulary]`` table: lists of custom keys per section."""
        _, base = _fideslang()
        unknown = set(config) - set(_SECTIONS)
        if unknown:
            raise ConfigError(
                f"vocabulary: unknown section {sorted(unknown)[0]!r}; accepted: "
                + ", ".join(_SECTIONS)
            )
        custom: dict[Kind, list[str]] = {}
        for section, kind in _SECTIONS.items():
            keys = config.get(section, [])
            if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
                raise ConfigError(f"vocabulary.{section} must be a list of keys")
            known = set(base[kind])
            for key in sorted(keys, key=lambda k: k.count(".")):
                if not _valid_key(key):
                    raise ConfigError(
                        f"vocabulary.{section}: {key!r} is not a key (dotted words of letters, "
                        "digits and underscores)"
                    )
                parent = key.rpartition(".")[0]
                if parent and parent not in known:
                    raise ConfigError(
                        f"vocabulary.{section}: {key!r} needs an existing parent, and "
                        f"{parent!r} is not one"
                    )
                if not parent and kind != "subject_category":
                    raise ConfigError(
                        f"vocabulary.{section}: {key!r} must sit under an existing parent key"
                    )
                known.add(key)
            custom[kind] = keys
        return cls(custom)

    def keys(self, kind: Kind) -> frozenset[str]:
        """Every accepted key of one kind."""
        return self._keys[kind]

    def check(self, kind: Kind, key: str, *, field: str) -> None:
        """Refuse an unknown key, naming the event's *field* and the closest accepted keys."""
        if key in self._keys[kind]:
            return
        raise InvalidEvent(
            f"unknown {_NOUNS[kind]} (a key of the fideslang taxonomy or the "
            "organisation's vocabulary)",
            key=field,
            accepted=self.closest(kind, key),
        )

    def closest(self, kind: Kind, key: str) -> list[str]:
        """Up to five accepted keys like *key*; failing that, the children of its known prefix."""
        keys = sorted(self._keys[kind])
        close = difflib.get_close_matches(key, keys, n=5, cutoff=0.6)
        if close:
            return close
        prefix = key
        while prefix and prefix not in self._keys[kind]:
            prefix = prefix.rpartition(".")[0]
        if prefix:
            children = [k for k in keys if k.rpartition(".")[0] == prefix]
            return children[:8] or [prefix]
        return [k for k in keys if "." not in k][:8]

    def covers(self, ancestor: str, key: str) -> bool:
        """Whether *ancestor* is *key* or a parent (`user.contact` covers `user.contact.email`)."""
        return key == ancestor or key.startswith(ancestor + ".")

    def describe(self) -> dict[str, Any]:
        """The vocabulary in force, as recorded on the ledger."""
        return {
            "taxonomy": self.taxonomy,
            "custom": {section: list(self._custom[kind]) for section, kind in _SECTIONS.items()},
        }

    @cached_property
    def digest(self) -> str:
        """SHA-256 (hex) of :meth:`describe` in canonical form: changes with the vocabulary."""
        return hashlib.sha256(
            orjson.dumps(self.describe(), option=orjson.OPT_SORT_KEYS)
        ).hexdigest()
