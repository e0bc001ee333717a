"""The record of processing activities (UK GDPR Art. 30), laid out as the ICO's documentation
template asks: the organisation's facts as the ledger recorded its configuration, and per
purpose what actually happened; processing done for other controllers (Art. 30(2)) apart."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.engine import Connection

from ledger.config import PURPOSE_KEYS, RECORD_KEYS
from ledger.core.countries import EEA, UK, UK_ADEQUATE

from . import facts
from .consent import _state as consent_state
from .facts import covers

# What the record says where an event recorded nothing: never a guessed value (EVENTS.md:
# "when absent the record of processing says `unspecified`, never a guessed value").
UNSPECIFIED = "unspecified"
# EVENTS.md: an absent `retention` means "no fixed period" (what was recorded, not a guess).
NO_FIXED_PERIOD = "no fixed period"
# A fact the organisation's recorded configuration does not declare.
NOT_DECLARED = "not declared"
NO_MECHANISM = "no mechanism recorded"
# A category only shared under a purpose, never collected under it: no retention of its own.
SHARED_ONLY = "none recorded: only shared under this purpose"
CONSENT_RECORD = "ledger consent"  # where the consent record itself is

# Where a lawful basis is in UK GDPR Art. 6(1) ((ea) since 5 February 2026, DUAA s.70).
BASIS_ARTICLES = {
    "consent": "6(1)(a)", "contract": "6(1)(b)", "legal_obligation": "6(1)(c)",
    "vital_interests": "6(1)(d)", "public_task": "6(1)(e)",
    "recognised_legitimate_interest": "6(1)(ea)", "legitimate_interests": "6(1)(f)",
}  # fmt: skip

# The fideslang keys that are special category data (UK GDPR Art. 9(1)) or criminal offence
# data (Art. 10), each with the kind the record names; a key's descendants are the same kind
# (the longest matching key wins). Parents such as ``user.demographic`` are not listed: they
# may or may not hold such data, and the record does not guess.
SPECIAL_CATEGORIES = {
    "user.demographic.race_ethnicity": "racial or ethnic origin",
    "user.demographic.political_opinion": "political opinions",
    "user.demographic.religious_belief": "religious or philosophical beliefs",
    "user.demographic.sexual_orientation": "sex life or sexual orientation",
    "user.health_and_medical": "health",
    "user.health_and_medical.genetic": "genetic",
    "user.biometric": "biometric",
    "user.biometric.health": "health",
    "user.authorization.biometric": "biometric",
    "user.criminal_history": "criminal offence data (Art. 10)",
}


@dataclass
class Transfer:
    """Personal data going outside the UK: stored there (``storage``, *to* is the system) or
    sent to a recipient there (``recipient``)."""

    kind: str  # storage | recipient
    country: str
    to: str
    mechanism: str | None  # the `transfer` the event recorded
    safeguard: str  # what the record shows: the mechanism, adequacy, or NO_MECHANISM
    flagged: bool = False  # a third country without adequacy and no mechanism recorded


@dataclass
class ConsentLink:
    """For a purpose on consent: how much of the consent record there is, and where it is."""

    events: int
    given: int
    withdrawn: int
    objected: int
    without_consent_event: int  # subjects collected on consent with no consent event for it
    see: str = CONSENT_RECORD


@dataclass
class PurposeRecord:
    """One purpose of the organisation's own processing (Art. 30(1)(b)-(g) and the ICO's
    recommended extras): observed facts from events, declared ones from the configuration."""

    purpose: str
    data_categories: list[str] = field(default_factory=list)
    subject_categories: list[str] = field(default_factory=list)
    lawful_bases: list[str] = field(default_factory=list)  # as recorded (`basis`)
    lawful_bases_cited: list[str] = field(default_factory=list)  # each with its Art. 6(1) point
    recipient_categories: list[str] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)
    transfers: list[Transfer] = field(default_factory=list)
    retention: list[str] = field(default_factory=list)
    retention_by_category: dict[str, list[str]] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    systems: list[str] = field(default_factory=list)
    special_category_data: list[str] = field(default_factory=list)  # the keys held
    special_category_condition: str = NOT_DECLARED
    legitimate_interest_assessment: str = NOT_DECLARED
    dpia: str = NOT_DECLARED
    automated_decision_making: str = NOT_DECLARED
    consent: ConsentLink | None = None
    subjects: int = 0
    events: int = 0
    missing: list[str] = field(default_factory=list)  # declared facts the record lacks
    flags: list[str] = field(default_factory=list)
    # what the declaration in force says of the purpose (`ledger declare`), beside what the
    # events show: None when no declaration is in force, or it does not declare the purpose
    declared: Declared | None = None


@dataclass
class Declared:
    """One purpose as the declaration (the privacy notice as data) says it is processed."""

    bases: list[str]
    categories: list[str]
    subject_categories: list[str]
    locations: list[str]
    retention: dict[str, str]
    recipients: list[dict[str, Any]]

    @classmethod
    def of(cls, entry: dict[str, Any]) -> Declared:
        return cls(
            list(entry.get("bases", [])), list(entry.get("categories", [])),
            list(entry.get("subject_categories", [])), list(entry.get("locations", [])),
            dict(entry.get("retention", {})), list(entry.get("recipients", [])),
        )  # fmt: skip


@dataclass
class DeclarationInForce:
    """Which declaration the record's declared side comes from."""

    sequence: int
    at: str  # when the ledger recorded it (it is in force from then)
    digest: str
    notices: list[str]


@dataclass
class Organisation:
    """Art. 30(1)(a) and (g): who the controller is, as its configuration was recorded on the
    ledger (``recorded_at``; None: the ledger recorded no organisation facts)."""

    name: str
    contact: str = NOT_DECLARED
    dpo: str = NOT_DECLARED
    representative: str = NOT_DECLARED
    security_measures: str = NOT_DECLARED
    recorded_at: str | None = None


@dataclass
class ProcessorRecord:
    """Art. 30(2): what the organisation processes as a processor for one controller."""

    controller: str  # the controller's id, as the events name it
    controller_contact: str = NOT_DECLARED  # the ledger records only the controller's id
    purposes: list[str] = field(default_factory=list)  # the categories of processing
    data_categories: list[str] = field(default_factory=list)
    subject_categories: list[str] = field(default_factory=list)
    systems: list[str] = field(default_factory=list)
    transfers: list[Transfer] = field(default_factory=list)
    security_measures: str = NOT_DECLARED
    subjects: int = 0
    events: int = 0
    missing: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)


@dataclass
class Record:
    """The whole record at a moment: the organisation, its purposes, the Art. 30(2) part."""

    controller: Organisation
    purposes: list[PurposeRecord] = field(default_factory=list)
    processor: list[ProcessorRecord] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # organisation facts not declared
    declaration: DeclarationInForce | None = None  # None: nothing declared at this moment


def declaration_at(
    conn: Connection, as_of: str
) -> tuple[DeclarationInForce, dict[str, Any]] | None:
    """The declaration in force at *as_of*: the latest the ledger recorded at or before it,
    with its content; None before the first."""
    table = facts.declarations
    row = conn.execute(
        select(table).where(table.c.at <= as_of).order_by(table.c.seq.desc()).limit(1)
    ).first()
    if row is None:
        return None
    content = orjson.loads(row.content) or {}
    found = DeclarationInForce(row.seq, row.at, row.digest, list(content.get("notices", [])))
    return found, content


def ropa(conn: Connection, *, as_of: str, name: str) -> Record:
    """The record at *as_of*; *name* is the organisation's where the ledger recorded none."""
    organisation, declared = _recorded(conn, as_of, name)
    record = Record(organisation)
    record.missing = [k for k in RECORD_KEYS if getattr(organisation, k) == NOT_DECLARED]
    own: dict[str, PurposeRecord] = {}
    processing: dict[str, ProcessorRecord] = {}
    subjects: dict[str, set[str]] = {}
    seqs: dict[str, set[int]] = {}
    on_consent: dict[str, set[str]] = {}
    holdings, shares = facts.holdings, facts.shares
    collected = select(holdings).where(holdings.c.kind == "collected", holdings.c.at <= as_of)
    for row in conn.execute(collected.order_by(holdings.c.at, holdings.c.seq)):
        if row.role == "processor":
            controller = row.controller or UNSPECIFIED
            done = processing.setdefault(controller, ProcessorRecord(controller))
            _add(done.purposes, row.purpose)
            _add(done.data_categories, row.category)
            _add(done.subject_categories, row.subject_category or UNSPECIFIED)
            _add(done.systems, f"{row.system} ({row.location})")
            _stored(done.transfers, row)
            key = "\0" + done.controller  # not a purpose: kept apart from the purposes' counts
        else:
            r = own.setdefault(row.purpose, PurposeRecord(row.purpose))
            _add(r.data_categories, row.category)
            _add(r.subject_categories, row.subject_category or UNSPECIFIED)
            _add(r.lawful_bases, row.basis)
            _add(r.retention, row.retention or NO_FIXED_PERIOD)
            _add(r.retention_by_category.setdefault(row.category, []),
                 row.retention or NO_FIXED_PERIOD)  # fmt: skip
            _add(r.sources, row.source or UNSPECIFIED)
            _add(r.systems, f"{row.system} ({row.location})")
            _stored(r.transfers, row)
            if row.basis == "consent":
                on_consent.setdefault(row.purpose, set()).add(row.subject)
            key = row.purpose
        subjects.setdefault(key, set()).add(row.subject)
        seqs.setdefault(key, set()).add(row.seq)
    for row in conn.execute(select(shares).where(shares.c.at <= as_of)):
        r = own.setdefault(row.purpose, PurposeRecord(row.purpose))
        _add(r.data_categories, row.category)
        _add(r.lawful_bases, row.basis)
        _add(r.recipients, row.recipient)
        _add(r.recipient_categories, recipient_category(row.recipient))
        if row.recipient_location not in UK:
            _transfer(r.transfers, "recipient", row.recipient_location, row.recipient,
                      row.transfer)  # fmt: skip
        if row.basis == "consent":
            on_consent.setdefault(row.purpose, set()).add(row.subject)
        subjects.setdefault(row.purpose, set()).add(row.subject)
        seqs.setdefault(row.purpose, set()).add(row.seq)
    consent_rows = _consent_rows(conn, as_of)
    for purpose, r in own.items():
        _conclude(r, declared.get(purpose, {}), consent_rows if "consent" in r.lawful_bases
                  else None, on_consent.get(purpose, set()))  # fmt: skip
        r.subjects, r.events = len(subjects[purpose]), len(seqs[purpose])
    for controller, done in processing.items():
        for values in (done.purposes, done.data_categories, done.subject_categories,
                       done.systems):  # fmt: skip
            values.sort()
        done.transfers.sort(key=_transfer_order)
        done.security_measures = organisation.security_measures
        done.missing = ["controller_contact"] + (
            ["security_measures"] if done.security_measures == NOT_DECLARED else []
        )
        done.flags = [_transfer_flag(t) for t in done.transfers if t.flagged]
        done.subjects = len(subjects["\0" + controller])
        done.events = len(seqs["\0" + controller])
    in_force = declaration_at(conn, as_of)
    if in_force is not None:
        record.declaration, content = in_force
        for purpose, entry in (content.get("purposes") or {}).items():
            if purpose not in own:  # declared, but nothing of it recorded yet
                own[purpose] = PurposeRecord(purpose)
                own[purpose].flags.append("declared, but the ledger shows no processing for it")
            own[purpose].declared = Declared.of(entry)
    record.purposes = [own[p] for p in sorted(own)]
    record.processor = [processing[c] for c in sorted(processing)]
    return record


def _recorded(conn: Connection, as_of: str, name: str) -> tuple[Organisation, dict[str, Any]]:
    """The organisation's facts and the per-purpose declared facts as the ledger recorded its
    configuration: the latest record at or before *as_of*; before the first record, the first
    (the ledger's earliest word on them, as the request clocks read settings). A record from
    before settings were recorded declares nothing; *name* then stands for the name."""
    table = facts.settings
    rows = list(conn.execute(select(table).order_by(table.c.at, table.c.seq)))
    if not rows:
        return Organisation(name), {}
    earlier = [row for row in rows if row.at <= as_of]
    row = earlier[-1] if earlier else rows[0]
    if row.organisation is None:  # written before settings were recorded: it declares none
        return Organisation(row.name if row.name is not None else name), {}
    described = orjson.loads(row.organisation)
    org = described.get("organisation") or {}
    found = Organisation(row.name if row.name is not None else name, recorded_at=row.at)
    for key in RECORD_KEYS:
        if isinstance(org.get(key), str):
            setattr(found, key, org[key])
    purposes = described.get("purposes") or {}
    return found, purposes if isinstance(purposes, dict) else {}


def _conclude(
    r: PurposeRecord, declared: dict[str, Any], consent_rows: list[Any] | None, on: set[str]
) -> None:
    """Sort, then add the declared facts, the consent record's link, what is missing and
    what is flagged."""
    for values in (r.data_categories, r.subject_categories, r.lawful_bases, r.recipients,
                   r.recipient_categories, r.retention, r.sources, r.systems):  # fmt: skip
        values.sort()
    r.subject_categories = r.subject_categories or [UNSPECIFIED]  # only shared: none recorded
    r.lawful_bases_cited = [basis_text(b) for b in r.lawful_bases]
    for periods in r.retention_by_category.values():
        periods.sort()
    for category in r.data_categories:  # held elsewhere, only shared under this purpose
        r.retention_by_category.setdefault(category, [SHARED_ONLY])
    r.retention_by_category = dict(sorted(r.retention_by_category.items()))
    r.transfers.sort(key=_transfer_order)
    for key in PURPOSE_KEYS:
        if isinstance(declared.get(key), str):
            setattr(r, key, declared[key])
    r.special_category_data = sorted(c for c in r.data_categories if special_category(c))
    conditional = (
        ("special_category_condition", bool(r.special_category_data),
         "no special category or criminal offence data recorded",
         "special category or criminal offence data is recorded and no Art. 9 / DPA 2018 "
         "Schedule 1 condition is declared"),
        ("legitimate_interest_assessment", "legitimate_interests" in r.lawful_bases,
         "no legitimate_interests basis recorded",
         "legitimate_interests is recorded as a basis and no assessment is declared"),
    )  # fmt: skip
    for key, applies, otherwise, flag in conditional:
        if getattr(r, key) != NOT_DECLARED:
            continue
        if applies:
            r.missing.append(key)
            r.flags.append(flag)
        else:
            setattr(r, key, "not applicable: " + otherwise)
    r.missing.extend(k for k in ("dpia", "automated_decision_making")
                     if getattr(r, k) == NOT_DECLARED)  # fmt: skip
    r.flags.extend(_transfer_flag(t) for t in r.transfers if t.flagged)
    if consent_rows is not None:
        r.consent = _consent_link(r.purpose, consent_rows, on)


def _consent_rows(conn: Connection, as_of: str) -> list[Any]:
    table = facts.consents
    query = select(table).where(table.c.at <= as_of).order_by(table.c.at, table.c.seq)
    return list(conn.execute(query))


def _consent_link(purpose: str, rows: list[Any], on: set[str]) -> ConsentLink:
    """The consent events on *purpose* or an ancestor (they cover it), and each subject's
    state on it as ``ledger consent`` reckons it."""
    by_subject: dict[str, list[Any]] = {}
    for row in rows:
        if covers(row.purpose, purpose):
            by_subject.setdefault(row.subject, []).append(row)
    states = [consent_state(s, purpose, found).state for s, found in by_subject.items()]
    return ConsentLink(
        events=sum(len(found) for found in by_subject.values()),
        given=states.count("given"),
        withdrawn=states.count("withdrawn"),
        objected=states.count("objected"),
        without_consent_event=len(on - by_subject.keys()),
    )


def special_category(key: str) -> str | None:
    """The kind of special category (or criminal offence) data *key* is, or None."""
    found = [k for k in SPECIAL_CATEGORIES if covers(k, key)]
    return SPECIAL_CATEGORIES[max(found, key=len)] if found else None


def safeguard(country: str, mechanism: str | None) -> tuple[str, bool]:
    """What the record shows for data going to *country*, and whether it is flagged: the EEA
    and the other countries with UK adequacy regulations (Art. 45A as the Data (Use and Access)
    Act 2025 calls them) as such; elsewhere the recorded mechanism, or none recorded."""
    if country in EEA:
        return "EEA: adequacy regulations", False
    if country in UK_ADEQUATE:
        return "UK adequacy regulations", False
    if mechanism:
        return mechanism, False
    return NO_MECHANISM, True


def _stored(transfers: list[Transfer], row: Any) -> None:
    if row.location is not None and row.location not in UK:
        _transfer(transfers, "storage", row.location, row.system, row.transfer)


def _transfer(
    transfers: list[Transfer], kind: str, country: str, to: str, mechanism: str | None
) -> None:
    shown, flagged = safeguard(country, mechanism)
    found = Transfer(kind, country, to, mechanism, shown, flagged)
    if found not in transfers:
        transfers.append(found)


def _transfer_order(t: Transfer) -> tuple[str, str, str, str]:
    return (t.kind, t.country, t.to, t.mechanism or "")


def _transfer_flag(t: Transfer) -> str:
    place = "storage on" if t.kind == "storage" else "sharing with"
    return f"{place} {t.to} in {t.country}: {NO_MECHANISM} (a third country without adequacy)"


def recipient_category(recipient: str) -> str:
    """The category of a recipient as its id records it (the namespace before the colon, as
    in ``proc:paycorp``); an id without one records none: ``unspecified``, not its own name."""
    namespace, colon, _ = recipient.partition(":")
    return namespace if colon and namespace else UNSPECIFIED


def basis_text(basis: str) -> str:
    """A lawful basis with its article, e.g. ``recognised_legitimate_interest (Art. 6(1)(ea))``."""
    article = BASIS_ARTICLES.get(basis)
    return f"{basis} (Art. {article})" if article else basis


def transfer_text(t: Transfer) -> str:
    return f"{t.kind} {t.country} {t.to} ({t.safeguard})"


def retention_text(by_category: dict[str, list[str]]) -> str:
    return "; ".join(f"{c}: {', '.join(p)}" for c, p in by_category.items())


def consent_text(link: ConsentLink | None) -> str:
    if link is None:
        return ""
    return (f"{link.events} consent events; given {link.given}, withdrawn {link.withdrawn}, "
            f"objected {link.objected}; {link.without_consent_event} subjects without a "
            f"consent event; see `{link.see}`")  # fmt: skip


def _add(values: list[str], value: str | None) -> None:
    if value is not None and value not in values:
        values.append(value)


CSV_COLUMNS = (
    "part", "controller", "processor", "controller_contact", "dpo", "representative",
    "purpose", "subject_categories", "data_categories", "special_category_data",
    "special_category_condition", "lawful_bases", "recipient_categories", "recipients",
    "transfers", "retention", "retention_by_category", "security_measures", "sources",
    "consent_record", "legitimate_interest_assessment", "dpia", "automated_decision_making",
    "systems", "subjects", "events", "missing", "flags", "configuration_recorded_at",
    "declared_bases", "declared_categories", "declared_subject_categories",
    "declared_locations", "declared_retention", "declared_recipients", "declaration_digest",
)  # fmt: skip


def to_csv(record: Record) -> str:
    """One row per purpose (part ``30(1)``) then one per controller the organisation processes
    for (part ``30(2)``); the organisation's facts repeated on each row, so every row stands on
    its own in a spreadsheet; lists joined with "; " in one cell."""
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, lineterminator="\n", restval="")
    writer.writeheader()
    org = record.controller
    common = {"dpo": org.dpo, "representative": org.representative,
              "security_measures": org.security_measures,
              "configuration_recorded_at": _rfc3339(org.recorded_at)}  # fmt: skip
    for r in record.purposes:
        writer.writerow({
            **common, "part": "30(1)", "controller": org.name, "controller_contact": org.contact,
            "purpose": r.purpose, "subject_categories": _joined(r.subject_categories),
            "data_categories": _joined(r.data_categories),
            "special_category_data": _joined(r.special_category_data),
            "special_category_condition": r.special_category_condition,
            "lawful_bases": _joined(r.lawful_bases_cited),
            "recipient_categories": _joined(r.recipient_categories),
            "recipients": _joined(r.recipients),
            "transfers": _joined(transfer_text(t) for t in r.transfers),
            "retention": _joined(r.retention),
            "retention_by_category": retention_text(r.retention_by_category),
            "sources": _joined(r.sources), "consent_record": consent_text(r.consent),
            "legitimate_interest_assessment": r.legitimate_interest_assessment,
            "dpia": r.dpia, "automated_decision_making": r.automated_decision_making,
            "systems": _joined(r.systems), "subjects": r.subjects, "events": r.events,
            "missing": _joined([*record.missing, *r.missing]), "flags": _joined(r.flags),
            **_declared_columns(r.declared, record.declaration),
        })  # fmt: skip
    for p in record.processor:
        writer.writerow({
            **common, "part": "30(2)", "controller": p.controller, "processor": org.name,
            "controller_contact": p.controller_contact, "purpose": _joined(p.purposes),
            "subject_categories": _joined(p.subject_categories),
            "data_categories": _joined(p.data_categories),
            "transfers": _joined(transfer_text(t) for t in p.transfers),
            "security_measures": p.security_measures, "systems": _joined(p.systems),
            "subjects": p.subjects, "events": p.events, "missing": _joined(p.missing),
            "flags": _joined(p.flags),
        })  # fmt: skip
    return out.getvalue()


def declared_text(declared: Declared) -> dict[str, str]:
    """What a purpose's declaration says, as text per field (CSV cells, the report, tables)."""
    return {
        "bases": "; ".join(basis_text(b) for b in declared.bases),
        "categories": "; ".join(declared.categories),
        "subject_categories": "; ".join(declared.subject_categories),
        "locations": "; ".join(declared.locations),
        "retention": "; ".join(f"{c}: {d}" for c, d in sorted(declared.retention.items())),
        "recipients": "; ".join(
            f"{r['id']} {r['country']}"
            + (f" ({r['transfer']})" if r.get("transfer") else "")
            + f": {', '.join(r.get('categories', []))}"
            for r in declared.recipients
        ),
    }


def _declared_columns(
    declared: Declared | None, declaration: DeclarationInForce | None
) -> dict[str, str]:
    if declaration is None:
        return {"declared_bases": "no declaration in force"}
    if declared is None:
        return {
            "declared_bases": "not in the declaration",
            "declaration_digest": declaration.digest,
        }
    text = declared_text(declared)
    return {
        **{f"declared_{name}": value for name, value in text.items()},
        "declaration_digest": declaration.digest,
    }


def _joined(values: Any) -> str:
    return "; ".join(values)


def _rfc3339(text: str | None) -> str:
    return "" if text is None else text.replace(".000000Z", "Z")
