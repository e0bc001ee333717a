"""Countries: ISO 3166-1 alpha-2 codes, and which transfers abroad need a mechanism."""

from __future__ import annotations

# Every officially assigned ISO 3166-1 alpha-2 code (249; the same set as the IANA time zone
# database's iso3166.tab, which a test compares against). Reserved codes such as UK, EU or XK
# are not assigned and are refused: the United Kingdom is GB.
COUNTRY_CODES: frozenset[str] = frozenset(
    {
        "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX",
        "AZ", "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ",
        "BR", "BS", "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK",
        "CL", "CM", "CN", "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM",
        "DO", "DZ", "EC", "EE", "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR",
        "GA", "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS",
        "GT", "GU", "GW", "GY", "HK", "HM", "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN",
        "IO", "IQ", "IR", "IS", "IT", "JE", "JM", "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN",
        "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT", "LU", "LV",
        "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK", "ML", "MM", "MN", "MO", "MP", "MQ",
        "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA", "NC", "NE", "NF", "NG", "NI",
        "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM",
        "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW", "SA", "SB", "SC",
        "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS", "ST", "SV",
        "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO", "TR",
        "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
        "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
    }
)  # fmt: skip

UK: frozenset[str] = frozenset({"GB"})

EU: frozenset[str] = frozenset(
    {
        "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
        "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
    }
)  # fmt: skip

EEA: frozenset[str] = EU | {"IS", "LI", "NO"}

# Where UK adequacy regulations cover transfers from the UK (UK GDPR Art. 45; DPA 2018 Sch. 21
# para. 5 for the EEA states, Gibraltar and the EU decisions carried over at exit; SI 2022/1213
# for the Republic of Korea), as listed by the ICO in 2025 and unchanged by the Data (Use and
# Access) Act 2025. Re-check on each release. Canada (PIPEDA), Japan (APPI) and Korea (PIPA)
# are partial; the country-level approximation is deliberate. The US is absent: its
# regulations (SI 2023/1028) cover only recipients certified under the UK Extension to the
# Data Privacy Framework, so a US transfer names its mechanism (`dpf`, `sccs`, `idta`...).
UK_ADEQUATE: frozenset[str] = EEA | {
    "GI",  # Gibraltar
    "AD", "AR", "CA", "FO", "GG", "IM", "IL", "JP", "JE", "NZ", "KR", "CH", "UY",
}  # fmt: skip

TRANSFER_MECHANISMS: tuple[str, ...] = ("adequacy", "dpf", "sccs", "idta", "bcr", "derogation")


def transfer_needs_mechanism(country: str) -> bool:
    """Whether a share to a recipient in *country* must name a transfer mechanism."""
    return country not in UK and country not in UK_ADEQUATE
