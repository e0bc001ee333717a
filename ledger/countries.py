"""Countries: ISO 3166-1 alpha-2 codes, and which transfers abroad need a mechanism.

The codes come from the IANA time zone database's ``iso3166.tab`` (shipped in
the maintained ``tzdata`` package), which lists every officially assigned code.
The transfer geography is the UK's (UK GDPR Art. 45 and the Data Protection Act
2018 s.17A adequacy regulations), as it stood in November 2026.
"""

from __future__ import annotations

import importlib.resources
from functools import cache

UK = frozenset({"GB"})

# EU 27 and the other EEA states (Iceland, Liechtenstein, Norway).
EEA = frozenset(
    {
        "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
        "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
        "IS", "LI", "NO",
    }
)  # fmt: skip

# Countries and territories with UK adequacy regulations besides the EEA. The US is not
# adequate as a country: only certified recipients under the UK Extension to the EU-US
# Data Privacy Framework are, so a US transfer names its mechanism (`dpf`, `sccs`, `idta`...).
UK_ADEQUATE = frozenset(
    {
        "GI",  # Gibraltar
        "AD", "AR", "CA", "FO", "GG", "IM", "IL", "JP", "JE", "NZ", "KR", "CH", "UY",
    }
)  # fmt: skip


@cache
def country_codes() -> frozenset[str]:
    """Every officially assigned ISO 3166-1 alpha-2 code."""
    table = importlib.resources.files("tzdata.zoneinfo").joinpath("iso3166.tab").read_text()
    return frozenset(
        line.split("\t", 1)[0] for line in table.splitlines() if line and not line.startswith("#")
    )


def transfer_needs_mechanism(country: str) -> bool:
    """Whether a share to a recipient in *country* must name a transfer mechanism."""
    return country not in UK and country not in EEA and country not in UK_ADEQUATE
