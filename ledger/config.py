"""The organisation's configuration: vocabulary extensions and the settings projections use.

A TOML file, e.g.::

    [vocabulary]
    data_uses = ["essential.service.internet_provision"]

    [organisation]
    name = "Seed IT Services Ltd"
    time_zone = "Europe/London"
    bank_holidays = "GB-ENG"     # country, optionally -subdivision
    target_days = 28
    # what the record of processing (Art. 30) names; each is said "not declared" when absent
    contact = "Seed IT Services Ltd, 1 High Street, Leeds; privacy@seed.example"
    dpo = "Data Protection Officer, privacy@seed.example"
    representative = "none required (established in the UK)"
    security_measures = "encryption at rest per subject and category; MFA; ..."

    [purposes."essential.service"]   # per purpose, for the record of processing
    legitimate_interest_assessment = "LIA-2025-02"
    dpia = "DPIA-2024-07"
    special_category_condition = "Schedule 1 para 6 (statutory purposes)"
    automated_decision_making = "none"

Organisation contacts are the controller's published ones (role addresses such as
``privacy@...``), recorded in clear on the ledger: never a data subject's.
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

_SECTIONS = frozenset({"vocabulary", "organisation", "purposes"})
# The record of processing's organisation facts (ICO template, Art. 30(1)(a), (g)).
RECORD_KEYS = ("contact", "dpo", "representative", "security_measures")
_ORGANISATION_KEYS = frozenset({"time_zone", "bank_holidays", "target_days", "name", *RECORD_KEYS})
# Per purpose: the ICO template's recommended links (lawful basis and source come from events).
PURPOSE_KEYS = (
    "legitimate_interest_assessment", "dpia", "special_category_condition",
    "automated_decision_making",
)  # fmt: skip
MAX_SETTING_TEXT = 4096


@dataclass(frozen=True)
class Config:
    """Vocabulary in force and organisation settings."""

    vocabulary: Vocabulary = field(default_factory=Vocabulary.default)
    time_zone: str = "Europe/London"
    bank_holidays: str = "GB-ENG"
    target_days: int = 28
    name: str = "the organisation"
    # organisation facts for the record of processing: only those declared (RECORD_KEYS)
    record: Mapping[str, str] = field(default_factory=dict)
    # per purpose (a data-use key): PURPOSE_KEYS declared for it
    purposes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @classmethod
    def default(cls) -> Config:
        return cls()

    def organisation(self) -> dict[str, Any]:
        """The settings the projections use, as recorded on the ledger (the record's facts
        only where declared, so a configuration without them describes itself as before)."""
        return {
            "name": self.name,
            "time_zone": self.time_zone,
            "bank_holidays": self.bank_holidays,
            "target_days": self.target_days,
            **{key: self.record[key] for key in RECORD_KEYS if key in self.record},
        }

    def describe(self) -> dict[str, Any]:
        """Everything in force that the ledger records (a ``ledger.vocabulary`` event): the
        vocabulary, the organisation's settings and, where declared, the per-purpose facts."""
        described = {**self.vocabulary.describe(), "organisation": self.organisation()}
        if self.purposes:
            described["purposes"] = {p: dict(self.purposes[p]) for p in sorted(self.purposes)}
        return described

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
        purposes = event.get("purposes")
        if isinstance(purposes, Mapping):
            raw["purposes"] = dict(purposes)
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
        record = {
            key: _setting_text(org[key], f"{origin}: organisation.{key}")
            for key in RECORD_KEYS
            if key in org
        }
        return cls(
            vocabulary=vocabulary,
            time_zone=time_zone,
            bank_holidays=str(org.get("bank_holidays", "GB-ENG")),
            target_days=target,
            name=str(org.get("name", "the organisation")),
            record=record,
            purposes=_purposes(raw.get("purposes", {}), vocabulary, origin),
        )


def _setting_text(value: Any, where: str) -> str:
    """A declared fact: one line of text, not empty, of a sane length."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where} must be text, not empty")
    if len(value) > MAX_SETTING_TEXT:
        raise ConfigError(f"{where} is longer than {MAX_SETTING_TEXT} characters")
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in value):
        raise ConfigError(f"{where} contains control characters (such as a line break)")
    return value


def _purposes(raw: Any, vocabulary: Vocabulary, origin: str) -> dict[str, dict[str, str]]:
    """``[purposes."<data use>"]`` tables: each purpose a data-use key of the vocabulary in
    force, each key one of PURPOSE_KEYS."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{origin}: purposes must be a table of tables, one per purpose")
    found: dict[str, dict[str, str]] = {}
    for purpose, facts in raw.items():
        if purpose not in vocabulary.keys("purpose"):
            raise ConfigError(
                f"{origin}: purposes.{purpose!r} is not a data-use key of the vocabulary "
                "(e.g. essential.service)"
            )
        if not isinstance(facts, Mapping):
            raise ConfigError(f"{origin}: purposes.{purpose!r} must be a table")
        unknown = facts.keys() - set(PURPOSE_KEYS)
        if unknown:
            raise ConfigError(
                f"{origin}: unknown key purposes.{purpose!r}.{sorted(unknown)[0]}; accepted: "
                + ", ".join(PURPOSE_KEYS)
            )
        found[purpose] = {
            key: _setting_text(facts[key], f"{origin}: purposes.{purpose!r}.{key}")
            for key in PURPOSE_KEYS
            if key in facts
        }
    return found


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
