"""Findings (../shared/FINDINGS.md): where what the ledger shows was done disagrees with the
declaration in force, or breaks a subject's choice, at any moment.

Findings are derived, never stored: recomputed from the fact tables (so from the chain) for
*as_of*, from the events whose ``at`` is at or before it. Each names the event at which it
arose (``sequence``) and every event that shows it (``sequences``), so an auditor can check
it from the events alone; none carries a personal data value (ids, keys and times only).

Invariants:
- valid time orders everything: an event is after another when its (``at``, seq) is greater,
  whatever order they were recorded in (a withdrawal recorded late still precedes a later
  access, and does not reach back to an earlier one);
- consent, objection and restriction cover a key and its descendants only (EVENTS.md,
  "Category matching"); a declared purpose or category key covers its descendants;
- the declaration in force for an event is the one with the greatest sequence below the
  event's (decl_format.md), by sequence alone (so for any *as_of*); without one,
  ``undeclared_*``, ``basis_mismatch`` and declared retention are not judged for the event;
- the declaration is the organisation's own: processing it does as a processor for another
  controller (a ``collected`` with ``role`` processor, and what follows it for that subject
  and purpose) is not judged against it;
- each table is read once, in one ordered query, and walked once per subject.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.engine import Connection

from ledger.core.canonical import utc_timestamp
from ledger.core.countries import transfer_needs_mechanism
from ledger.errors import LedgerError

from . import facts
from .facts import add_duration, covers, moment, overlaps
from .inventory import _tuples as rows_of
from .inventory import inventory, restricted_in, restrictions_in_force
from .notices import notices

KINDS = (
    "processing_after_withdrawal", "processing_after_objection", "consent_basis_without_consent",
    "restricted_processing", "undeclared_purpose", "undeclared_category", "basis_mismatch",
    "undeclared_recipient", "undeclared_location", "transfer_without_mechanism",
    "past_retention", "recipient_not_told",
)  # fmt: skip
RECIPIENT_AFTER = timedelta(days=30)  # our operational threshold for Art. 19, not the law's
DIRECT_MARKETING = "marketing"  # Art. 21(2)-(3): an objection to it is absolute
OBJECTABLE_BASES = ("public_task", "legitimate_interests")  # Art. 21(1): points (e) and (f)
LEGAL_OBLIGATION = "essential.legal_obligation"  # Art. 18(2): processing it still allows
_DECLARED = ("undeclared_purpose", "undeclared_category", "basis_mismatch",
             "undeclared_recipient", "undeclared_location")  # fmt: skip


@dataclass(frozen=True)
class Finding:
    """One finding: its kind, when it arose, the event at which it arose, and every event
    that shows it (ascending), with the subject, purpose, category, recipient and country
    where they apply, and one sentence for a person (ids, keys and times only)."""

    kind: str
    at: str
    sequence: int
    sequences: list[int]
    detail: str
    subject: str | None = None
    purpose: str | None = None
    category: str | None = None
    recipient: str | None = None
    country: str | None = None
    declaration: int | None = None  # the sequence of the declaration judged against


@dataclass(frozen=True)
class NotJudged:
    """Processing events with no declaration in force: the declared kinds are not judged for
    them (``first``/``last``: their lowest and highest sequence)."""

    events: int
    first: int
    last: int


class Findings(list[Finding]):
    """The findings, newest first, and the processing no declaration was in force for."""

    not_judged: NotJudged | None = None


@dataclass
class _Use:
    """One processing event (collected, accessed, shared or rectified) with its categories."""

    seq: int
    at: str
    type: str
    subject: str
    purpose: str | None
    basis: str | None = None
    system: str | None = None
    country: str | None = None  # where stored (collected), or the recipient's (shared)
    transfer: str | None = None
    recipient: str | None = None
    categories: list[str] = field(default_factory=list)
    # for another controller (a processor's collection, or processing of what one collected
    # for the purpose): its declared processing is that controller's, not ours
    processor: bool = False


@dataclass(frozen=True)
class _Purpose:
    """One purpose of a declaration, as declared."""

    key: str
    bases: tuple[str, ...]
    categories: tuple[str, ...]
    locations: frozenset[str]
    retention: dict[str, str]
    recipients: dict[str, dict[str, Any]]


class _Declaration:
    def __init__(self, seq: int, content: dict[str, Any]) -> None:
        self.seq = seq
        self.purposes: dict[str, _Purpose] = {}
        for key, declared in (content.get("purposes") or {}).items():
            bases = declared.get("bases") or ([declared["basis"]] if "basis" in declared else [])
            self.purposes[key] = _Purpose(
                key, tuple(bases),
                tuple(declared.get("categories") or ()),
                frozenset(declared.get("locations") or ()),
                dict(declared.get("retention") or {}),
                {r["id"]: r for r in declared.get("recipients") or () if "id" in r},
            )  # fmt: skip
        self._found: dict[str, _Purpose | None] = {}

    def purpose(self, key: str | None) -> _Purpose | None:
        """The most specific declared purpose covering *key* (None: undeclared)."""
        if key is None:
            return None
        if key not in self._found:
            covering = [p for k, p in self.purposes.items() if covers(k, key)]
            self._found[key] = max(covering, key=lambda p: len(p.key)) if covering else None
        return self._found[key]


def findings(
    conn: Connection,
    *,
    as_of: str,
    kind: str | None = None,
    subject: str | None = None,
    recipient_after: timedelta = RECIPIENT_AFTER,
) -> Findings:
    """Every finding at *as_of* (UTC text), newest first (``at``, then sequence, descending);
    only those of *kind* and of *subject* when given. LedgerError for an unknown *kind*."""
    if kind is not None and kind not in KINDS:
        raise LedgerError(f"unknown finding kind {kind!r}: one of {', '.join(KINDS)}")
    declarations = _declarations(conn)
    uses = _uses(conn, as_of, subject)
    found: list[Finding] = []
    not_judged = [0, 0, 0]
    consents, restrictions, erasures = _by_subject(conn, as_of, subject)
    for who, used in uses.items():
        used.sort(key=lambda u: (u.at, u.seq))
        found += _subject(used, consents.get(who, []), restrictions.get(who, []),
                          erasures.get(who, []), declarations)  # fmt: skip
        for use in used:
            if use.type == "rectified":
                continue
            declared = _in_force(declarations, use.seq)
            if use.processor:
                pass  # processing for another controller: its declaration, not ours
            elif declared is None:
                not_judged[0] += 1
                not_judged[1] = min(not_judged[1] or use.seq, use.seq)
                not_judged[2] = max(not_judged[2], use.seq)
            else:
                found += _against(use, declared)
            found += _transfer(use)
    if kind in (None, "past_retention"):
        found += _past_retention(conn, as_of, subject, declarations)
    if kind in (None, "recipient_not_told"):
        found += _not_told(conn, as_of, subject, uses, recipient_after)
    if kind is not None:
        found = [f for f in found if f.kind == kind]
    order = {k: n for n, k in enumerate(KINDS)}
    found.sort(key=lambda f: (order[f.kind], f.category or "", f.recipient or ""))
    found.sort(key=lambda f: (f.at, f.sequence), reverse=True)  # stable: newest first
    result = Findings(found)
    if not_judged[0] and (kind is None or kind in _DECLARED):
        result.not_judged = NotJudged(*not_judged)
    return result


# -- reading the facts: one ordered query per table -----------------------------------------------


def _declarations(conn: Connection) -> list[_Declaration]:
    """Every declaration, by sequence: one is in force for the events recorded after it,
    whatever their valid time (a declaration's ``at`` is when it was recorded)."""
    d = facts.declarations
    query = select(d.c.seq, d.c.content).order_by(d.c.seq)
    return [_Declaration(row.seq, orjson.loads(row.content)) for row in conn.execute(query)]


def _in_force(declarations: list[_Declaration], seq: int) -> _Declaration | None:
    """The declaration with the greatest sequence below *seq* (they come by sequence)."""
    if not declarations or declarations[0].seq >= seq:
        return None
    if declarations[-1].seq < seq:
        return declarations[-1]
    return declarations[bisect.bisect_left(declarations, seq, key=lambda d: d.seq) - 1]


def _uses(conn: Connection, as_of: str, subject: str | None) -> dict[str, list[_Use]]:
    """Every processing event at or before *as_of*, per subject, its categories gathered."""
    h, s, ev, keyed = facts.holdings, facts.shares, facts.events, facts.event_categories
    held = select(h.c.seq, h.c.at, h.c.kind, h.c.subject, h.c.purpose, h.c.basis, h.c.system,
                  h.c.location, h.c.transfer, h.c.category, h.c.role
                  ).where(h.c.at <= as_of)  # fmt: skip
    shared = select(s.c.seq, s.c.at, s.c.subject, s.c.purpose, s.c.basis, s.c.recipient_location,
                    s.c.transfer, s.c.recipient, s.c.category).where(s.c.at <= as_of)  # fmt: skip
    accessed = (
        select(ev.c.seq, ev.c.at, ev.c.subject, ev.c.purpose, ev.c.system, keyed.c.category)
        .join(keyed, keyed.c.seq == ev.c.seq)
        .where(ev.c.type == "accessed", ev.c.at <= as_of)
    )
    if subject is not None:
        held, shared = held.where(h.c.subject == subject), shared.where(s.c.subject == subject)
        accessed = accessed.where(ev.c.subject == subject)
    by_seq: dict[int, _Use] = {}
    for seq, at, kind, who, purpose, basis, system, location, transfer, category, role in rows_of(
        conn, held
    ):
        use = by_seq.get(seq)
        if use is None:
            use = by_seq[seq] = _Use(seq, at, kind, who, purpose, basis, system, location,
                                     transfer, processor=role == "processor")  # fmt: skip
        use.categories.append(category)
    for seq, at, who, purpose, basis, country, transfer, recipient, category in rows_of(
        conn, shared
    ):
        use = by_seq.get(seq)
        if use is None:
            use = by_seq[seq] = _Use(seq, at, "shared", who, purpose, basis, None, country,
                                     transfer, recipient)  # fmt: skip
        use.categories.append(category)
    for seq, at, who, purpose, system, category in rows_of(conn, accessed):
        use = by_seq.get(seq)
        if use is None:
            use = by_seq[seq] = _Use(seq, at, "accessed", who, purpose, None, system)
        use.categories.append(category)
    found: dict[str, list[_Use]] = defaultdict(list)
    for use in by_seq.values():
        use.categories.sort()
        found[use.subject].append(use)
    return found


def _by_subject(
    conn: Connection, as_of: str, subject: str | None
) -> tuple[dict[str, list[Any]], dict[str, list[Any]], dict[str, list[Any]]]:
    """Consents, restrictions and erasures of everywhere, per subject, in (``at``, seq) order."""
    c, r, e = facts.consents, facts.restrictions, facts.erasures
    queries = [
        select(c.c.subject, c.c.seq, c.c.at, c.c.purpose, c.c.kind).where(c.c.at <= as_of)
        .order_by(c.c.at, c.c.seq),
        select(r).where(r.c.at <= as_of).order_by(r.c.at, r.c.seq, r.c.category),
        select(e.c.subject, e.c.seq, e.c.at, e.c.category)
        .where(e.c.at <= as_of, e.c.system.is_(None)).order_by(e.c.at, e.c.seq),
    ]  # fmt: skip
    found: list[dict[str, list[Any]]] = []
    for query, table in zip(queries, (c, r, e), strict=True):
        if subject is not None:
            query = query.where(table.c.subject == subject)
        rows: dict[str, list[Any]] = defaultdict(list)
        for row in conn.execute(query):
            rows[row.subject].append(row)
        found.append(rows)
    return found[0], found[1], found[2]


# -- a subject's choices: consent, objection (Art. 21), restriction (Art. 18) ---------------------


def _subject(
    uses: list[_Use], consents: list[Any], restrictions: list[Any],
    erasures: list[Any], declarations: list[_Declaration],
) -> list[Finding]:  # fmt: skip
    """Walk one subject's processing in (``at``, seq) order beside its consent events,
    keeping per purpose processed where the subject stands (as :func:`.consent.consents`
    does) and the basis of its latest collection."""
    found: list[Finding] = []
    purposes = {u.purpose for u in uses if u.purpose is not None}
    # per purpose: consent (given | withdrawn) and a standing objection, kept apart: a
    # withdrawal counts while an objection stands, and only a consent_given lifts an objection
    standing: dict[str, tuple[str, int, str, str]] = {}  # purpose: state, seq, at, its purpose
    objections: dict[str, tuple[str, int, str, str]] = {}
    collection: dict[str, tuple[str | None, int]] = {}  # purpose: basis, seq
    processor: dict[str, bool] = {}  # purpose: whether its latest collection was a processor's
    restricted_keys = [(row.at, row.seq) for row in restrictions]
    next_consent = 0
    for use in uses:
        here = (use.at, use.seq)
        while next_consent < len(consents) and (
            (consents[next_consent].at, consents[next_consent].seq) < here
        ):
            row = consents[next_consent]
            next_consent += 1
            for purpose in purposes:
                if covers(row.purpose, purpose):
                    if row.kind == "consent_given":
                        standing[purpose] = ("given", row.seq, row.at, row.purpose)
                        objections.pop(purpose, None)  # Art. 21: only consent lifts it
                    elif row.kind == "objected":
                        objections[purpose] = ("objected", row.seq, row.at, row.purpose)
                    else:  # a withdrawal: consent ends, and an objection stands as it was
                        standing[purpose] = ("withdrawn", row.seq, row.at, row.purpose)
        basis, said, shown = _basis(use, collection, declarations)
        if use.purpose is not None and use.type != "rectified":
            found += _choices(
                use, basis, said, shown, standing.get(use.purpose), objections.get(use.purpose)
            )
        if use.type == "collected" and use.purpose is not None:
            collection[use.purpose] = (use.basis, use.seq)
            processor[use.purpose] = use.processor
        elif use.purpose is not None and processor.get(use.purpose):
            use.processor = True
        before = bisect.bisect_left(restricted_keys, here)
        if before:
            found += _restricted(use, basis, shown, restrictions[:before], erasures)
    return found


def _basis(
    use: _Use, collection: dict[str, tuple[str | None, int]], declarations: list[_Declaration]
) -> tuple[str | None, str, list[int]]:
    """The basis in force for *use*'s subject and purpose: the event's own, else that of the
    subject's latest collection for the purpose before it, else the declaration's in force
    when it declares exactly one; with how it was found and the events that show it."""
    if use.basis is not None:
        return use.basis, f"basis {use.basis} (the event's own)", [use.seq]
    if use.purpose is None:
        return None, "no basis recorded", [use.seq]
    if use.purpose in collection:
        basis, seq = collection[use.purpose]
        return basis, f"basis {basis} (its collection's, seq {seq})", [use.seq, seq]
    declared = _in_force(declarations, use.seq)
    purpose = declared.purpose(use.purpose) if declared is not None else None
    if declared is not None and purpose is not None and len(purpose.bases) == 1:
        basis = purpose.bases[0]
        return basis, f"basis {basis} (declared, seq {declared.seq})", [use.seq, declared.seq]
    return None, "no basis recorded", [use.seq]


def _choices(
    use: _Use, basis: str | None, said: str, shown: list[int],
    state: tuple[str, int, str, str] | None, objection: tuple[str, int, str, str] | None,
) -> list[Finding]:  # fmt: skip
    """Consent withdrawn, an objection standing, or consent claimed and not in force
    (*state*: the consent's, given or withdrawn; *objection*: one standing)."""
    purpose = use.purpose or ""
    if state is not None and state[0] == "withdrawn" and basis == "consent":
        return [_of("processing_after_withdrawal", use, [*shown, state[1]],
                    f"{_what(use)} after the subject withdrew consent for {state[3]} at "
                    f"{state[2]} (seq {state[1]}); {said}")]  # fmt: skip
    marketing = covers(DIRECT_MARKETING, purpose)
    if objection is not None and (marketing or basis in OBJECTABLE_BASES):
        why = "direct marketing: the objection is absolute" if marketing else said
        return [_of("processing_after_objection", use, [*shown, objection[1]],
                    f"{_what(use)} after the subject objected to {objection[3]} at "
                    f"{objection[2]} (seq {objection[1]}), with no consent given since; "
                    f"{why}")]  # fmt: skip
    if basis == "consent" and (state is None or state[0] != "given"):
        had = "no consent on the ledger" if state is None else f"consent {state[0]} at {state[2]}"
        return [_of("consent_basis_without_consent", use, [*shown, *([state[1]] if state else [])],
                    f"{_what(use)} on the basis of consent, with no consent in force for "
                    f"{purpose} ({had}); {said}")]  # fmt: skip
    return []


def _restricted(
    use: _Use, basis: str | None, shown: list[int], rows: list[Any], erasures: list[Any]
) -> list[Finding]:
    """Art. 18(2): a restricted category processed other than by storing it, unless with
    consent or for a legal obligation (the restriction rows given are those before *use*)."""
    if basis == "consent" or (use.purpose and covers(LEGAL_OBLIGATION, use.purpose)):
        return []
    here = (use.at, use.seq)
    found = []
    for category in use.categories:
        wiped = [(e.at, e.seq) for e in erasures if (e.at, e.seq) < here
                 and covers(e.category, category)]  # fmt: skip
        in_force = restrictions_in_force(category, rows, max(wiped) if wiped else None)
        if not restricted_in(in_force, None if use.type == "shared" else use.system):
            continue
        by = sorted({r.seq for r in in_force})
        found.append(_of(
            "restricted_processing", use, [*shown, *by],
            f"{_what(use)} of {category}, restricted (Art. 18) since "
            f"{min(r.since for r in in_force)} (seq {', '.join(map(str, by))}: "
            f"{', '.join(sorted({r.ground for r in in_force}))}); neither consent nor a legal "
            "obligation allows it", category=category, recipient=use.recipient,
        ))  # fmt: skip
    return found


# -- the declaration in force --------------------------------------------------------------------


def _against(use: _Use, declared: _Declaration) -> list[Finding]:
    """What of *use* the declaration in force does not declare."""
    purpose = declared.purpose(use.purpose)
    shown, seq = [declared.seq, use.seq], declared.seq
    against = f"the declaration in force (seq {declared.seq})"
    if purpose is None:
        return [_of("undeclared_purpose", use, shown, f"{_what(use)}: {against} declares no "
                    f"purpose {use.purpose} nor any above it", declaration=seq)]  # fmt: skip
    found = []
    under = f"{against} under {purpose.key}"
    for category in use.categories:
        if not any(covers(key, category) for key in purpose.categories):
            found.append(_of("undeclared_category", use, shown, f"{_what(use)} of {category}: "
                             f"not among the categories of {under}", category=category,
                             declaration=seq))  # fmt: skip
    if use.basis is not None and use.basis not in purpose.bases:
        found.append(_of("basis_mismatch", use, shown, f"{_what(use)} on the basis {use.basis};"
                         f" {under} declares {', '.join(purpose.bases) or 'none'}",
                         declaration=seq))  # fmt: skip
    if use.type == "collected" and use.country not in purpose.locations:
        found.append(_of("undeclared_location", use, shown, f"{_what(use)} stored in "
                         f"{use.country}; {under} lists "
                         f"{', '.join(sorted(purpose.locations)) or 'no location'}",
                         country=use.country, declaration=seq))  # fmt: skip
    if use.type == "shared":
        found += _recipient(use, purpose, under, declared.seq)
    return found


def _recipient(use: _Use, purpose: _Purpose, under: str, seq: int) -> list[Finding]:
    """A recipient not declared (one finding: it has no declared country to compare), or
    declared but given undeclared categories, or in a country other than declared."""
    shown, who, country = [seq, use.seq], use.recipient, use.country
    declared = purpose.recipients.get(who or "")
    if declared is None:
        return [_of("undeclared_recipient", use, shown, f"{_what(use)}: {under} declares no "
                    f"recipient {who}", recipient=who, country=country,
                    declaration=seq)]  # fmt: skip
    found = []
    for category in use.categories:
        if not any(covers(key, category) for key in declared.get("categories") or ()):
            found.append(_of("undeclared_recipient", use, shown, f"{_what(use)} of {category}: "
                             f"not among the categories {under} declares for {who}",
                             category=category, recipient=who, country=country,
                             declaration=seq))  # fmt: skip
    if declared.get("country") != country:
        found.append(_of("undeclared_location", use, shown, f"{_what(use)} to a recipient in "
                         f"{country}; {under} declares {who} in {declared.get('country')}",
                         recipient=who, country=country, declaration=seq))  # fmt: skip
    return found


def _transfer(use: _Use) -> list[Finding]:
    """Storage (or, were it accepted, sharing) outside the UK with no adequacy decision and no
    transfer mechanism (UK GDPR Arts. 44-46)."""
    if use.type not in ("collected", "shared") or use.country is None or use.transfer:
        return []
    if not transfer_needs_mechanism(use.country):
        return []
    what = "stored" if use.type == "collected" else "shared with a recipient"
    return [_of("transfer_without_mechanism", use, [use.seq],
                f"{_what(use)} {what} in {use.country}, which has no UK adequacy, with no "
                "transfer mechanism recorded", recipient=use.recipient,
                country=use.country)]  # fmt: skip


def _of(
    kind: str, use: _Use, sequences: list[int], detail: str, *, category: str | None = None,
    recipient: str | None = None, country: str | None = None, declaration: int | None = None,
) -> Finding:  # fmt: skip
    """A finding arising at *use*."""
    return Finding(kind, use.at, use.seq, sorted(set(sequences)), detail, use.subject,
                   use.purpose, category, recipient, country, declaration)  # fmt: skip


# -- retention, and Art. 19 -----------------------------------------------------------------------


def _past_retention(
    conn: Connection, as_of: str, subject: str | None, declarations: list[_Declaration]
) -> list[Finding]:
    """Each copy still held at *as_of* whose retention (the collection's, else the one the
    declaration in force at the collection gives its category under its purpose) ended."""
    found = []
    h = facts.holdings
    # a processor's collections follow its controller's retention, not our declaration's
    processors = {
        row.seq
        for row in conn.execute(
            select(h.c.seq).where(h.c.role == "processor", h.c.at <= as_of).distinct()
        )
    }
    for held in inventory(conn, as_of=as_of, subject=subject):
        for holding in held.categories:
            if holding.status in ("erased", "not_collected"):
                continue
            for place in holding.places:
                made = [h for h in holding.history if h["event"] == "collected"
                        and h.get("system") == place.system]  # fmt: skip
                if not made:
                    continue
                seq, at = made[-1]["seq"], made[-1]["at"]
                until, whose, shown = place.retention_until, "recorded", [seq]
                declaration = None
                if until is None:
                    if seq in processors:
                        continue
                    declared = _in_force(declarations, seq)
                    purpose = declared.purpose(place.purpose) if declared else None
                    keys = [k for k in (purpose.retention if purpose else {})
                            if covers(k, holding.category)]  # fmt: skip
                    if not keys or declared is None or purpose is None:
                        continue
                    period = purpose.retention[max(keys, key=len)]
                    until = utc_timestamp(add_duration(moment(at), period))
                    whose = f"declared ({period} under {purpose.key}, seq {declared.seq})"
                    shown, declaration = [declared.seq, seq], declared.seq
                if until >= as_of:
                    continue
                found.append(Finding(
                    "past_retention", until, seq, shown,
                    f"{holding.category} still held in {place.system} after its {whose} "
                    f"retention ended at {until} (collected at {at}, seq {seq})",
                    held.subject, place.purpose, holding.category, None, place.location,
                    declaration,
                ))  # fmt: skip
    return found


def _not_told(
    conn: Connection, as_of: str, subject: str | None, uses: dict[str, list[_Use]],
    after: timedelta,
) -> list[Finding]:  # fmt: skip
    """Art. 19: each recipient not told of an erasure, rectification or restriction *after*
    it (told later, or not yet by *as_of*)."""
    found = []
    given: dict[tuple[str, str | None], list[_Use]] = defaultdict(list)
    for who, used in uses.items():
        for use in used:
            if use.type == "shared":
                given[(who, use.recipient)].append(use)
    for n in notices(conn, as_of=as_of, subject=subject).notices:
        due = utc_timestamp(moment(n.changed_at) + after)
        if due > as_of or (n.told and n.told_at is not None and n.told_at <= due):
            continue
        change = (n.changed_at, n.change_seq)
        shares = [u.seq for u in given.get((n.subject, n.recipient), []) if (u.at, u.seq) < change
                  and any(overlaps(k, c) for k in n.categories for c in u.categories)]  # fmt: skip
        told = f"told at {n.told_at}" if n.told else "not told"
        found.append(Finding(
            "recipient_not_told", due, n.change_seq,
            sorted({*shares, n.change_seq, *([n.told_seq] if n.told_seq else [])}),
            f"{n.recipient} had {', '.join(n.categories)} before the {n.change} at "
            f"{n.changed_at} (seq {n.change_seq}) and was {told} {after.days} days after it",
            n.subject, None, ", ".join(n.categories), n.recipient,
        ))  # fmt: skip
    return found


def _what(use: _Use) -> str:
    """The event in a few words: its type, sequence and time (no value)."""
    return f"{use.type} (seq {use.seq}, at {use.at}) for {use.purpose or 'no purpose'}"
