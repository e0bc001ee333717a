"""The organisation's configuration: vocabulary extensions and the settings projections use.

A TOML file, e.g.::

    [vocabulary]
    data_uses = ["essential.service.internet_provision"]

    [organisation]
    time_zone = "Europe/London"
    bank_holidays = "GB-ENG"     # country, optionally -subdivision
    target_days = 28
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ledger.core.canonical import canonical
from ledger.core.vocabulary import Vocabulary
from ledger.errors import ConfigError
from ledger.files import MAX_CONFIG_FILE, TooLarge, read_limited

_SECTIONS = frozenset({"vocabulary", "organisation"})
_ORGANISATION_KEYS = frozenset({"time_zone", "bank_holidays", "target_days", "name"})


@dataclass(frozen=True)
class Config:
    """Vocabulary in force and organisation settings."""

    vocabulary: Vocabulary = field(default_factory=Vocabulary.default)
    time_zone: str = "Europe/London"
    bank_holidays: str = "GB-ENG"
    target_days: int = 28
    name: str = "the organisation"

    @classmethod
    def default(cls) -> Config:
        return cls()

    def organisation(self) -> dict[str, Any]:
        """The settings the projections use, as recorded on the ledger."""
        return {
            "name": self.name,
            "time_zone": self.time_zone,
            "bank_holidays": self.bank_holidays,
            "target_days": self.target_days,
        }

    def describe(self) -> dict[str, Any]:
        """Everything in force that the ledger records (a ``ledger.vocabulary`` event): the
        vocabulary and the organisation's settings."""
        return {**self.vocabulary.describe(), "organisation": self.organisation()}

    @property
    def digest(self) -> str:
        """Hex SHA-256 of :meth:`describe`, canonically encoded: changes whenever the
        vocabulary or a setting does."""
        return hashlib.sha256(canonical(self.describe())).hexdigest()

    @classmethod
    def from_recorded(cls, event: Mapping[str, Any]) -> Config:
        """The configuration a ``ledger.vocabulary`` event recorded (settings it does not
        carry, on ledgers older than recorded settings, take their defaults)."""
        org = event.get("organisation")
        raw: dict[str, Any] = {"vocabulary": event.get("custom", {})}
        if isinstance(org, Mapping):
            raw["organisation"] = dict(org)
        return cls.from_mapping(raw, origin="the configuration recorded on the ledger")

    @classmethod
    def from_mapping(cls, raw: dict[str, Any], *, origin: str = "configuration") -> Config:
        """Build from parsed TOML, refusing unknown sections and keys by name."""
        unknown = raw.keys() - _SECTIONS
        if unknown:
            raise ConfigError(
                f"{origin}: unknown section {sorted(unknown)[0]!r}; accepted: "
                + ", ".join(sorted(_SECTIONS))
            )
        vocabulary = Vocabulary.from_config(raw.get("vocabulary", {}))
        org = raw.get("organisation", {})
        unknown = org.keys() - _ORGANISATION_KEYS
        if unknown:
            raise ConfigError(
                f"{origin}: unknown key organisation.{sorted(unknown)[0]}; accepted: "
                + ", ".join(sorted(_ORGANISATION_KEYS))
            )
        time_zone = str(org.get("time_zone", "Europe/London"))
        try:
            ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"{origin}: organisation.time_zone {time_zone!r} is unknown"
            ) from None
        target = org.get("target_days", 28)
        if not isinstance(target, int) or isinstance(target, bool) or not 1 <= target <= 90:
            raise ConfigError(f"{origin}: organisation.target_days must be a whole number 1-90")
        return cls(
            vocabulary=vocabulary,
            time_zone=time_zone,
            bank_holidays=str(org.get("bank_holidays", "GB-ENG")),
            target_days=target,
            name=str(org.get("name", "the organisation")),
        )


def load_config(path: Path) -> Config:
    """Read a TOML configuration file."""
    try:
        text = read_limited(path, MAX_CONFIG_FILE, "a configuration file").decode("utf-8")
        raw = tomllib.loads(text)
    except FileNotFoundError:
        raise ConfigError(f"no configuration file at {path}") from None
    except TooLarge as exc:
        raise ConfigError(str(exc)) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read configuration {path}: {exc}") from None
    return Config.from_mapping(raw, origin=str(path))
