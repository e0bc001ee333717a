"""Findings (../shared/FINDINGS.md, the product contract), each kind with a hand-built case and
a near miss, on SQLite and PostgreSQL (the ``ledger`` fixture runs each test on both), and
through the CLI.

Sources: UK GDPR Art. 7(3) (withdrawal), Art. 21(1)-(3) (objection; absolute for direct
marketing), Art. 6(1) and 7(1) (consent as a basis), Art. 18(2) (restriction), Art. 19
(recipients told), Art. 5(1)(e) (storage limitation), Arts. 44-46 (transfers), Art. 13 and
30 (what the declaration says); ../shared/EVENTS.md "Category matching" (consent, objection,
restriction cover a key and its descendants only); /tmp/uk/decl_format.md (the declaration in
force: the greatest declaration sequence below the event's).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import ENGINES, fresh_store

from ledger import Ledger
from ledger.cli.main import cli
from ledger.demo.story import DECLARATION_TOML
from ledger.errors import LedgerError
from ledger.projections import Projections
from ledger.projections.findings import KINDS, Finding

SUPPORT = "essential.service.operations.support"
EMAIL = "marketing.communications.email"
DPO = "staff:dpo"
BEFORE_RETENTION = "2026-03-20T00:00:00Z"  # before the declared P30D of user.contact ends

DECLARED: dict[str, Any] = {
    "notices": ["privacy-notice-v3"],
    "purposes": {
        SUPPORT: {
            "bases": ["contract"], "categories": ["user.name", "user.contact"],
            "subject_categories": ["customer"], "locations": ["GB", "IE"],
            "retention": {"user.contact": "P30D"},
            "recipients": [{"id": "isp:fibrelink", "country": "GB", "transfer": None,
                            "categories": ["user.name"]}],
        },
        EMAIL: {
            "bases": ["consent"], "categories": ["user.contact.email"],
            "subject_categories": ["customer"], "locations": ["GB"], "retention": {},
            "recipients": [],
        },
    },
}  # fmt: skip


def declare(ledger: Ledger, content: dict[str, Any] = DECLARED) -> int:
    """Record a declaration (Ledger.declare, checked as ``ledger declare`` checks it)."""
    return ledger.declare(content).sequence


def record(ledger: Ledger, event: dict[str, Any]) -> int:
    return ledger.record_many([event])[0].sequence


def collected(subject: str, at: str, categories: list[str], **extra: Any) -> dict[str, Any]:
    return {"type": "collected", "at": at, "actor": "svc:crm", "subject": subject,
            "categories": categories, "system": "crm", "source": "web form", "location": "GB",
            "purpose": SUPPORT, "basis": "contract", **extra}  # fmt: skip


def accessed(subject: str, at: str, categories: list[str], purpose: str = SUPPORT,
             system: str = "crm") -> dict[str, Any]:  # fmt: skip
    return {"type": "accessed", "at": at, "actor": "staff:agent1", "subject": subject,
            "categories": categories, "purpose": purpose, "system": system}  # fmt: skip


def shared(subject: str, at: str, categories: list[str], recipient: str = "isp:fibrelink",
           country: str = "GB", **extra: Any) -> dict[str, Any]:  # fmt: skip
    return {"type": "shared", "at": at, "actor": "svc:crm", "subject": subject,
            "categories": categories, "recipient": recipient, "recipient_location": country,
            "purpose": SUPPORT, "basis": "contract", **extra}  # fmt: skip


def choice(kind: str, subject: str, at: str, purpose: str) -> dict[str, Any]:
    event = {"type": kind, "at": at, "actor": "svc:web", "subject": subject, "purpose": purpose}
    if kind != "objected":
        event["method"] = "web-form"
    if kind == "consent_given":
        event["notice"] = "privacy-notice-v3"
    return event


def found(ledger: Ledger, kind: str | None = None, **options: Any) -> list[Finding]:
    with Projections(ledger) as p:
        return list(p.findings(kind=kind, **options))


def kinds(ledger: Ledger, **options: Any) -> list[tuple[str, int]]:
    return [(f.kind, f.sequence) for f in found(ledger, **options)]


# -- consent (Art. 7(3)) ------------------------------------------------------------------------


def _marketing_subject(ledger: Ledger) -> int:
    """cust-1 consents to email marketing at 08:00, and is collected under consent at 09:00."""
    record(ledger, choice("consent_given", "cust-1", "2026-03-01T08:00:00Z", EMAIL))
    return record(ledger, collected("cust-1", "2026-03-01T09:00:00Z", ["user.contact.email"],
                             purpose=EMAIL, basis="consent"))  # fmt: skip


def test_withdrawal_recorded_after_an_earlier_access_finds_nothing(ledger: Ledger) -> None:
    """Consent withdrawn at 11:00, recorded after an access at 10:30: the access came first in
    valid time, when consent stood (FINDINGS.md; EVENTS.md: valid time orders)."""
    _marketing_subject(ledger)
    record(ledger, accessed("cust-1", "2026-03-01T10:30:00Z", ["user.contact.email"], EMAIL))
    record(ledger, choice("consent_withdrawn", "cust-1", "2026-03-01T11:00:00Z", EMAIL))
    assert found(ledger) == []


def test_access_after_withdrawal_is_found_even_if_recorded_before_it(ledger: Ledger) -> None:
    """An access at 11:30, recorded before the 11:00 withdrawal arrived: the basis in force is
    the collection's (consent), so the access is processing after withdrawal."""
    collection = _marketing_subject(ledger)
    access = record(ledger, accessed("cust-1", "2026-03-01T11:30:00Z", ["user.contact.email"],
                                     EMAIL))  # fmt: skip
    withdrawal = record(ledger, choice("consent_withdrawn", "cust-1", "2026-03-01T11:00:00Z",
                                       EMAIL))  # fmt: skip
    [finding] = found(ledger)
    assert finding.kind == "processing_after_withdrawal"
    assert (finding.sequence, finding.subject, finding.purpose) == (access, "cust-1", EMAIL)
    assert finding.at == "2026-03-01T11:30:00.000000Z"
    assert finding.sequences == sorted([collection, access, withdrawal])  # its basis: consent


def test_withdrawal_under_another_basis_is_no_finding(ledger: Ledger) -> None:
    """Near miss: the access's basis in force is contract (its collection's), not consent."""
    record(ledger, choice("consent_given", "cust-1", "2026-03-01T08:00:00Z", SUPPORT))
    record(ledger, collected("cust-1", "2026-03-01T09:00:00Z", ["user.name"]))
    record(ledger, choice("consent_withdrawn", "cust-1", "2026-03-01T10:00:00Z", SUPPORT))
    record(ledger, accessed("cust-1", "2026-03-01T11:00:00Z", ["user.name"]))
    assert found(ledger) == []


def test_consent_basis_without_any_consent_is_found(ledger: Ledger) -> None:
    """Art. 6(1)(a), 7(1): basis consent, and no consent given for the purpose by then."""
    seq = record(ledger, collected("cust-2", "2026-03-01T09:00:00Z", ["user.contact.email"],
                                   purpose=EMAIL, basis="consent"))  # fmt: skip
    record(ledger, choice("consent_given", "cust-2", "2026-03-01T10:00:00Z", EMAIL))
    assert kinds(ledger) == [("consent_basis_without_consent", seq)]
    # near miss: a consent given for an ancestor covers the purpose
    record(ledger, choice("consent_given", "cust-3", "2026-03-01T08:00:00Z", "marketing"))
    record(ledger, collected("cust-3", "2026-03-01T09:00:00Z", ["user.contact.email"],
                             purpose=EMAIL, basis="consent"))  # fmt: skip
    assert [f.subject for f in found(ledger)] == ["cust-2"]


# -- objection (Art. 21) ------------------------------------------------------------------------


def test_objection_to_marketing_covers_email_marketing(ledger: Ledger) -> None:
    """Art. 21(3): an objection to direct marketing (``marketing``) stands on
    ``marketing.communications.email`` whatever the basis, until a later consent_given."""
    record(ledger, collected("cust-4", "2026-03-01T09:00:00Z", ["user.contact.email"],
                             purpose=EMAIL, basis="legitimate_interests"))  # fmt: skip
    objection = record(ledger, choice("objected", "cust-4", "2026-03-02T09:00:00Z", "marketing"))
    access = record(ledger, accessed("cust-4", "2026-03-03T09:00:00Z", ["user.contact.email"],
                                     EMAIL))  # fmt: skip
    record(ledger, choice("consent_given", "cust-4", "2026-03-04T09:00:00Z", EMAIL))
    record(ledger, accessed("cust-4", "2026-03-05T09:00:00Z", ["user.contact.email"], EMAIL))
    [finding] = found(ledger)
    assert (finding.kind, finding.sequence) == ("processing_after_objection", access)
    assert objection in finding.sequences


def test_objection_to_email_marketing_does_not_cover_marketing(ledger: Ledger) -> None:
    """Near miss: an objection covers its key and descendants only (EVENTS.md)."""
    record(ledger, choice("objected", "cust-5", "2026-03-02T09:00:00Z", EMAIL))
    record(ledger, collected("cust-5", "2026-03-03T09:00:00Z", ["user.contact.email"],
                             purpose="marketing", basis="legitimate_interests"))  # fmt: skip
    assert found(ledger) == []


def test_objection_outside_marketing_counts_only_on_public_task_or_legitimate_interests(
    ledger: Ledger,
) -> None:
    """Art. 21(1): points (e) and (f) only; processing under contract is not objectable."""
    record(ledger, choice("objected", "cust-6", "2026-03-01T09:00:00Z", SUPPORT))
    record(ledger, collected("cust-6", "2026-03-02T09:00:00Z", ["user.name"]))  # contract
    seq = record(ledger, collected("cust-6", "2026-03-03T09:00:00Z", ["user.name"],
                                   basis="legitimate_interests", system="lms"))  # fmt: skip
    assert [(f.kind, f.sequence) for f in found(ledger, kind="processing_after_objection")] == [
        ("processing_after_objection", seq)
    ]


# -- restriction (Art. 18) ----------------------------------------------------------------------


def _restricted(subject: str, at: str, categories: list[str], **extra: Any) -> dict[str, Any]:
    return {"type": "restricted", "at": at, "actor": DPO, "subject": subject,
            "categories": categories, "ground": "accuracy_contested", **extra}  # fmt: skip


def test_processing_restricted_data_is_found_storage_is_not(ledger: Ledger) -> None:
    """Art. 18(2): restricted data may be stored, not otherwise processed. A restriction of
    ``user.contact`` covers ``user.contact.email``; one of the crm covers no other system."""
    record(ledger, collected("cust-7", "2026-03-01T09:00:00Z", ["user.contact.email"]))
    restriction = record(ledger, _restricted("cust-7", "2026-03-02T09:00:00Z", ["user.contact"],
                                             system="crm"))  # fmt: skip
    access = record(ledger, accessed("cust-7", "2026-03-03T09:00:00Z", ["user.contact.email"]))
    record(ledger, accessed("cust-7", "2026-03-03T10:00:00Z", ["user.contact.email"],
                            system="helpdesk"))  # fmt: skip
    record(ledger, accessed("cust-7", "2026-03-01T10:00:00Z", ["user.contact.email"]))  # before
    record(ledger, {"type": "restriction_lifted", "at": "2026-03-04T09:00:00Z", "actor": DPO,
                    "subject": "cust-7", "categories": ["user.contact"]})  # fmt: skip
    record(ledger, accessed("cust-7", "2026-03-05T09:00:00Z", ["user.contact.email"]))
    [finding] = found(ledger)
    assert (finding.kind, finding.sequence, finding.category) == (
        "restricted_processing",
        access,
        "user.contact.email",
    )
    assert restriction in finding.sequences


def test_restriction_allows_legal_obligation_and_consent(ledger: Ledger) -> None:
    """Near miss, Art. 18(2): with consent, or for a legal obligation, processing goes on."""
    record(ledger, collected("cust-8", "2026-03-01T09:00:00Z", ["user.name"]))
    record(ledger, _restricted("cust-8", "2026-03-02T09:00:00Z", ["user.name"]))
    record(ledger, accessed("cust-8", "2026-03-03T09:00:00Z", ["user.name"],
                            "essential.legal_obligation"))  # fmt: skip
    record(ledger, choice("consent_given", "cust-8", "2026-03-03T09:00:00Z", EMAIL))
    record(ledger, collected("cust-8", "2026-03-03T10:00:00Z", ["user.name"], purpose=EMAIL,
                             basis="consent"))  # fmt: skip
    assert found(ledger) == []


# -- against the declaration --------------------------------------------------------------------


def test_no_declaration_in_force_judges_nothing_declared(ledger: Ledger) -> None:
    """decl_format.md: before any declaration, the declared kinds do not arise (and say so)."""
    record(ledger, collected("cust-9", "2026-03-01T09:00:00Z", ["user.financial"],
                             purpose="functional.service.improve"))  # fmt: skip
    with Projections(ledger) as p:
        result = p.findings()
    assert list(result) == []
    assert result.not_judged is not None and result.not_judged.events == 1


def test_undeclared_purpose_category_basis_location(ledger: Ledger) -> None:
    """Each against the declaration in force; a declared key covers its descendants, so
    ``user.contact.email`` under ``user.contact`` is declared (the near miss)."""
    decl = declare(ledger)
    purpose = record(ledger, collected("cust-10", "2026-03-01T09:00:00Z", ["user.name"],
                                       purpose="functional.service.improve"))  # fmt: skip
    category = record(ledger, collected("cust-10", "2026-03-01T10:00:00Z",
                                        ["user.contact.email", "user.financial"]))  # fmt: skip
    basis = record(ledger, collected("cust-10", "2026-03-01T11:00:00Z", ["user.name"],
                                     basis="legitimate_interests"))  # fmt: skip
    location = record(ledger, collected("cust-10", "2026-03-01T12:00:00Z", ["user.name"],
                                        location="FR"))  # fmt: skip
    record(ledger, collected("cust-10", "2026-03-01T13:00:00Z", ["user.name"], location="IE"))
    got = found(ledger, as_of=BEFORE_RETENTION)
    assert [(f.kind, f.sequence, f.category, f.country) for f in got] == [
        ("undeclared_location", location, None, "FR"),
        ("basis_mismatch", basis, None, None),
        ("undeclared_category", category, "user.financial", None),
        ("undeclared_purpose", purpose, None, None),
    ]
    assert all(f.declaration == decl and decl in f.sequences for f in got)


def test_declaration_replaced_midway_applies_from_its_sequence(ledger: Ledger) -> None:
    """A later declaration replaces the earlier for the events recorded after it, and cannot
    hide the slips recorded before it, even those whose valid time is later."""
    first = declare(ledger)
    early = record(ledger, collected("cust-11", "2026-05-01T09:00:00Z", ["user.financial"]))
    wider = {**DECLARED, "purposes": {**DECLARED["purposes"], SUPPORT: {
        **DECLARED["purposes"][SUPPORT], "categories": ["user"]}}}  # fmt: skip
    declare(ledger, wider)
    record(ledger, collected("cust-11", "2026-04-01T09:00:00Z", ["user.financial"]))  # late
    [finding] = found(ledger)
    assert (finding.kind, finding.sequence, finding.declaration) == (
        "undeclared_category",
        early,
        first,
    )


def test_undeclared_recipient_and_its_country(ledger: Ledger) -> None:
    """A recipient not declared; a declared one given a category not declared for it, or in
    another country; the declared recipient with its categories is the near miss."""
    declare(ledger)
    record(ledger, collected("cust-12", "2026-03-01T09:00:00Z", ["user.name", "user.contact"]))
    stranger = record(ledger, shared("cust-12", "2026-03-02T09:00:00Z", ["user.name"],
                                     recipient="sup:edu-procure", country="DE"))  # fmt: skip
    extra = record(ledger, shared("cust-12", "2026-03-03T09:00:00Z", ["user.contact"]))
    abroad = record(ledger, shared("cust-12", "2026-03-04T09:00:00Z", ["user.name"],
                                   country="IE"))  # fmt: skip
    record(ledger, shared("cust-12", "2026-03-05T09:00:00Z", ["user.name"]))
    got = found(ledger, as_of=BEFORE_RETENTION)
    assert [(f.kind, f.sequence, f.category, f.recipient, f.country) for f in got] == [
        ("undeclared_location", abroad, None, "isp:fibrelink", "IE"),
        ("undeclared_recipient", extra, "user.contact", "isp:fibrelink", "GB"),
        ("undeclared_recipient", stranger, None, "sup:edu-procure", "DE"),
    ]


def test_storage_abroad_without_mechanism(ledger: Ledger) -> None:
    """Arts. 44-46: storage in the US (no UK adequacy) with no transfer is a finding; with
    `sccs`, or in adequate Ireland, it is not (EVENTS.md "Storage abroad")."""
    seq = record(ledger, collected("cust-13", "2026-03-01T09:00:00Z", ["user.name"],
                                   location="US", system="backup-us"))  # fmt: skip
    record(ledger, collected("cust-13", "2026-03-01T10:00:00Z", ["user.name"], location="US",
                             system="backup-us", transfer="sccs"))  # fmt: skip
    record(ledger, collected("cust-13", "2026-03-01T11:00:00Z", ["user.name"], location="IE"))
    assert kinds(ledger) == [("transfer_without_mechanism", seq)]


# -- retention and Art. 19 ----------------------------------------------------------------------


def test_past_retention_recorded_else_declared(ledger: Ledger) -> None:
    """Art. 5(1)(e): the collection's retention, else the declaration's for the category (a
    key covers its descendants); ``at`` is when it ended; erased data is the near miss."""
    declare(ledger)
    recorded = record(ledger, collected("cust-14", "2026-03-01T09:00:00Z", ["user.name"],
                                        retention="P10D"))  # fmt: skip
    declared = record(ledger, collected("cust-14", "2026-03-01T09:00:00Z",
                                        ["user.contact.email"], system="helpdesk"))  # fmt: skip
    record(ledger, collected("cust-15", "2026-03-01T09:00:00Z", ["user.name"], retention="P1D"))
    record(ledger, {"type": "erased", "at": "2026-03-05T09:00:00Z", "actor": DPO,
                    "subject": "cust-15", "categories": ["*"], "reason": "retention"})  # fmt: skip
    got = found(ledger, kind="past_retention", as_of="2026-06-01T00:00:00Z")
    assert [(f.sequence, f.at, f.category) for f in got] == [
        (declared, "2026-03-31T09:00:00.000000Z", "user.contact.email"),
        (recorded, "2026-03-11T09:00:00.000000Z", "user.name"),
    ]
    assert found(ledger, kind="past_retention", as_of="2026-03-20T00:00:00Z")[0].sequence == (
        recorded
    )


def test_recipient_not_told_after_thirty_days(ledger: Ledger) -> None:
    """Art. 19: a recipient of the data not told of a rectification 30 days after it; told
    within them is the near miss."""
    record(ledger, collected("cust-16", "2026-03-01T09:00:00Z", ["user.name"]))
    share = record(ledger, shared("cust-16", "2026-03-02T09:00:00Z", ["user.name"]))
    change = record(ledger, {"type": "rectified", "at": "2026-03-10T09:00:00Z", "actor": DPO,
                             "subject": "cust-16", "categories": ["user.name"],
                             "system": "crm"})  # fmt: skip
    assert found(ledger, as_of="2026-04-09T08:00:00Z") == []
    [finding] = found(ledger, as_of="2026-04-10T00:00:00Z")
    assert (finding.kind, finding.sequence, finding.at) == (
        "recipient_not_told",
        change,
        "2026-04-09T09:00:00.000000Z",
    )
    assert finding.sequences == [share, change]
    record(ledger, {"type": "recipients_notified", "at": "2026-03-20T09:00:00Z", "actor": DPO,
                    "subject": "cust-16", "recipient": "isp:fibrelink",
                    "categories": ["user.name"], "change": "rectification"})  # fmt: skip
    assert found(ledger) == []


# -- moments, order, rebuilds, the CLI ----------------------------------------------------------


def test_as_of_before_a_slip_shows_nothing(ledger: Ledger) -> None:
    _marketing_subject(ledger)
    record(ledger, choice("consent_withdrawn", "cust-1", "2026-03-01T11:00:00Z", EMAIL))
    record(ledger, accessed("cust-1", "2026-03-01T11:30:00Z", ["user.contact.email"], EMAIL))
    assert found(ledger, as_of="2026-03-01T11:29:59Z") == []
    assert len(found(ledger, as_of="2026-03-01T11:30:00Z")) == 1
    assert found(ledger, subject="cust-2") == []


def test_findings_newest_first_then_by_sequence(ledger: Ledger) -> None:
    a = record(ledger, collected("c-1", "2026-03-01T09:00:00Z", ["user.name"], location="US"))
    b = record(ledger, collected("c-2", "2026-03-02T09:00:00Z", ["user.name"], location="US"))
    c = record(ledger, collected("c-3", "2026-03-02T09:00:00Z", ["user.name"], location="US"))
    assert [f.sequence for f in found(ledger)] == [c, b, a]


def test_unknown_kind_is_refused(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match="unknown finding kind"):
        found(ledger, kind="late_breach")
    assert len(KINDS) == 12


_EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["collect", "collect_us", "access", "share", "withdraw", "give",
                         "object", "restrict", "lift", "rectify", "declare"]),
        st.sampled_from(["cust-a", "cust-b"]),
        st.integers(min_value=1, max_value=20),
        st.sampled_from([EMAIL, SUPPORT, "marketing"]),
    ),
    min_size=1, max_size=14,
)  # fmt: skip


def _event(step: tuple[str, str, int, str]) -> dict[str, Any] | None:
    what, who, day, purpose = step
    at = f"2026-03-{day:02d}T09:00:00Z"
    basis = "consent" if purpose == EMAIL else "legitimate_interests"
    if what in ("collect", "collect_us"):
        return collected(
            who,
            at,
            ["user.contact.email"],
            purpose=purpose,
            basis=basis,
            retention="P3D",
            location="US" if what == "collect_us" else "GB",
        )
    if what == "access":
        return accessed(who, at, ["user.contact"], purpose)
    if what == "share":
        return {**shared(who, at, ["user.contact.email"]), "purpose": purpose, "basis": basis}
    if what in ("withdraw", "give", "object"):
        kind = {"withdraw": "consent_withdrawn", "give": "consent_given", "object": "objected"}
        return choice(kind[what], who, at, purpose)
    if what == "restrict":
        return _restricted(who, at, ["user.contact"])
    if what == "lift":
        return {"type": "restriction_lifted", "at": at, "actor": DPO, "subject": who,
                "categories": ["user.contact"]}  # fmt: skip
    if what == "rectify":
        return {"type": "rectified", "at": at, "actor": DPO, "subject": who,
                "categories": ["user.contact.email"], "system": "crm"}  # fmt: skip
    return None


@pytest.mark.parametrize("engine", ENGINES)
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(steps=_EVENTS, batch=st.integers(min_value=1, max_value=5))
def test_findings_equal_incrementally_and_rebuilt(
    engine: str, config_path: Path, steps: list[tuple[str, str, int, str]], batch: int
) -> None:
    """Findings are derived: caught up in batches, after a rebuild, and on scratch tables
    built from the chain, the answers are the same, now and at a moment in the middle."""
    with fresh_store(engine) as (url, keys), Ledger.init(url, keys, config=config_path) as ledger, \
            Projections(ledger) as p:  # fmt: skip
        for start in range(0, len(steps), batch):
            for step in steps[start : start + batch]:
                event = _event(step)
                if event is None:
                    declare(ledger)
                else:
                    ledger.record_many([event])
            p.catch_up()
        moments = [None, "2026-03-10T12:00:00Z"]
        caught = [list(p.findings(as_of=m)) for m in moments]
        p.rebuild()
        assert [list(p.findings(as_of=m)) for m in moments] == caught
        with Projections.rebuilt(ledger) as scratch:
            assert [list(scratch.findings(as_of=m)) for m in moments] == caught


def test_cli_findings_table_json_and_kind(
    ledger: Ledger, store: tuple[str, Path], config_path: Path, tmp_path: Path
) -> None:
    """`ledger findings`: counts per kind, the table with the sequences, --json, --as-of
    before the slip (nothing), and --kind refused with the twelve named (usage, exit 2)."""
    collection = _marketing_subject(ledger)
    withdrawal = record(ledger, choice("consent_withdrawn", "cust-1", "2026-03-01T11:00:00Z",
                                       EMAIL))  # fmt: skip
    access = record(ledger, accessed("cust-1", "2026-03-01T11:30:00Z", ["user.contact.email"],
                                     EMAIL))  # fmt: skip
    url, keys = store
    base = ["--db", url, "--keys", str(keys), "--config", str(config_path),
            "--signing-key", str(tmp_path / "s")]  # fmt: skip
    runner = CliRunner()
    table = runner.invoke(cli, [*base, "findings"])
    assert table.exit_code == 0, table.output
    assert "processing_after_withdrawal: 1" in table.output
    assert "cust-1" in table.output and f"{collection},{withdrawal},{access}" in table.output
    as_json = runner.invoke(cli, [*base, "findings", "--json", "--as-of", "2026-03-01"])
    assert as_json.exit_code == 0, as_json.output
    [row] = orjson.loads(as_json.stdout)
    assert (row["kind"], row["sequence"], row["at"]) == (
        "processing_after_withdrawal",
        access,
        "2026-03-01T11:30:00Z",
    )
    early = runner.invoke(cli, [*base, "findings", "--json", "--as-of", "2026-03-01T11:00:00Z"])
    assert orjson.loads(early.stdout) == []
    wrong = runner.invoke(cli, [*base, "findings", "--kind", "late_breach"])
    assert wrong.exit_code == 2 and "processing_after_withdrawal" in wrong.output


def test_the_ledgers_own_decrypting_read_is_an_access(ledger: Ledger) -> None:
    """A read through the ledger (recorded as ``accessed`` in system ``ledger``) after the
    consent was withdrawn is processing after withdrawal like any other access."""
    record(ledger, choice("consent_given", "cust-20", "2026-03-01T08:00:00Z", EMAIL))
    record(ledger, {**collected("cust-20", "2026-03-01T09:00:00Z", ["user.contact.email"],
                                purpose=EMAIL, basis="consent"),
                    "data": {"user.contact.email": "jo@school.example"}})  # fmt: skip
    record(ledger, choice("consent_withdrawn", "cust-20", "2026-03-02T09:00:00Z", EMAIL))
    ledger.read("cust-20", actor="staff:jsmith", purpose=EMAIL)
    [finding] = found(ledger)
    assert (finding.kind, finding.sequence) == ("processing_after_withdrawal", ledger.size)


def test_late_objection_reaches_the_processing_after_it(ledger: Ledger) -> None:
    """An objection recorded late, its valid time before an access already recorded: the
    access is after it (valid time), the one before it is not."""
    record(ledger, collected("cust-21", "2026-03-01T09:00:00Z", ["user.name"],
                             basis="legitimate_interests"))  # fmt: skip
    record(ledger, accessed("cust-21", "2026-03-02T09:00:00Z", ["user.name"]))
    after = record(ledger, accessed("cust-21", "2026-03-04T09:00:00Z", ["user.name"]))
    record(ledger, choice("objected", "cust-21", "2026-03-03T09:00:00Z", SUPPORT))
    assert kinds(ledger) == [("processing_after_objection", after)]


def test_access_basis_falls_back_to_the_single_declared_one(ledger: Ledger) -> None:
    """With no collection for the purpose, the basis in force is the declaration's when it
    declares exactly one: email marketing under consent, and no consent given."""
    declare(ledger)
    seq = record(ledger, accessed("cust-22", "2026-03-01T09:00:00Z", ["user.contact.email"],
                                  EMAIL))  # fmt: skip
    [finding] = found(ledger)
    assert (finding.kind, finding.sequence) == ("consent_basis_without_consent", seq)
    assert finding.sequences == [2, seq]  # the declaration shows the basis


def test_rectifying_restricted_data_is_processing(ledger: Ledger) -> None:
    """Art. 18(2): a rectification is processing other than storage; an erasure of all ends
    the restriction (the inventory's rule), so a rectification after it is no finding."""
    record(ledger, collected("cust-23", "2026-03-01T09:00:00Z", ["user.name"]))
    record(ledger, _restricted("cust-23", "2026-03-02T09:00:00Z", ["user"]))
    fix = {"type": "rectified", "actor": DPO, "subject": "cust-23", "categories": ["user.name"],
           "system": "crm"}  # fmt: skip
    seq = record(ledger, {**fix, "at": "2026-03-03T09:00:00Z"})
    record(ledger, {"type": "erased", "at": "2026-03-04T09:00:00Z", "actor": DPO,
                    "subject": "cust-23", "categories": ["*"], "reason": "request"})  # fmt: skip
    record(ledger, collected("cust-23", "2026-03-05T09:00:00Z", ["user.name"]))
    record(ledger, {**fix, "at": "2026-03-06T09:00:00Z"})
    assert kinds(ledger) == [("restricted_processing", seq)]


def test_report_section_counts_and_escapes(ledger: Ledger) -> None:
    """findings_section: counts per kind, then each finding with its events, all escaped."""
    from ledger.projections.report import findings_section

    record(ledger, collected("<b>x</b>", "2026-03-01T09:00:00Z", ["user.name"], location="US"))
    with Projections(ledger) as p:
        html = findings_section(p.findings())
        empty = findings_section(p.findings(as_of="2026-02-01T00:00:00Z"))
    assert "transfer_without_mechanism" in html and "&lt;b&gt;x&lt;/b&gt;" in html
    assert "<b>x</b>" not in html and "No finding at this moment" in empty


def test_processing_for_another_controller_is_not_judged_against_ours(ledger: Ledger) -> None:
    """A processor's collection (Art. 28, 30(2)) follows the controller's instructions and
    notice, not the organisation's declaration: no declared kind arises for it or for what
    follows it for that subject and purpose; its own collection is the near miss."""
    declare(ledger)
    record(ledger, collected("ashby-1", "2026-03-01T09:00:00Z", ["user.account.username"],
                             purpose="essential.service.security", basis="public_task",
                             role="processor", controller="org:ashby-primary"))  # fmt: skip
    record(ledger, accessed("ashby-1", "2026-03-02T09:00:00Z", ["user.account.username"],
                            "essential.service.security"))  # fmt: skip
    ours = record(ledger, collected("cust-30", "2026-03-01T09:00:00Z", ["user.account.username"],
                                    purpose="essential.service.security"))  # fmt: skip
    assert kinds(ledger, as_of=BEFORE_RETENTION) == [("undeclared_purpose", ours)]


def test_the_demo_story_slips_are_found(ledger: Ledger, story: list[dict[str, Any]]) -> None:
    """The seed company's story against its notice: the marketing email after cust-1001's
    withdrawal, the call recording past the notice's 30 days, payment details to a training
    supplier not declared for them."""
    ledger.declare(DECLARATION_TOML)
    ledger.record_many(story)
    by_id = {e["id"]: n for n, e in enumerate(story, start=3) if "id" in e}
    got = {(f.kind, f.sequence) for f in found(ledger, as_of="2026-12-01T00:00:00Z")}
    assert ("processing_after_withdrawal", by_id["demo-058"]) in got
    assert ("past_retention", by_id["demo-059"]) in got
    assert ("undeclared_recipient", by_id["demo-060"]) in got


def test_cli_says_when_no_declaration_was_in_force(
    ledger: Ledger, store: tuple[str, Path], config_path: Path, tmp_path: Path
) -> None:
    """decl_format.md: the output says "no declaration in force" for the processing before
    the first declaration; --subject keeps to one subject."""
    record(ledger, collected("cust-40", "2026-03-01T09:00:00Z", ["user.name"], location="US"))
    url, keys = store
    base = ["--db", url, "--keys", str(keys), "--config", str(config_path),
            "--signing-key", str(tmp_path / "s")]  # fmt: skip
    shown = CliRunner().invoke(cli, [*base, "findings"])
    assert shown.exit_code == 0, shown.output
    assert "transfer_without_mechanism: 1" in shown.stdout
    assert "no declaration in force for 1 processing events" in shown.stdout
    other = CliRunner().invoke(cli, [*base, "findings", "--subject", "cust-41", "--json"])
    assert orjson.loads(other.stdout) == []


def test_a_withdrawal_counts_while_an_objection_stands(ledger: Ledger) -> None:
    """Found in review. Consent and an objection are two facts: an objection does not end
    consent, and a withdrawal counts while an objection stands (only a consent_given lifts
    the objection, Art. 21). Support processing on consent, objected to at 09:00 and consent
    withdrawn at 09:30: an access at 10:00 is processing after the withdrawal (Art. 7(3)),
    not a consent basis "without consent"; with the objection alone (cust-32), consent is
    still in force and the objection does not reach a consent basis (Art. 21(1))."""
    for who in ("cust-31", "cust-32"):
        record(ledger, choice("consent_given", who, "2026-03-01T07:00:00Z", SUPPORT))
        record(ledger, collected(who, "2026-03-01T08:00:00Z", ["user.name"], basis="consent"))
        record(ledger, choice("objected", who, "2026-03-01T09:00:00Z", SUPPORT))
    withdrawal = record(ledger, choice("consent_withdrawn", "cust-31", "2026-03-01T09:30:00Z",
                                       SUPPORT))  # fmt: skip
    access = record(ledger, accessed("cust-31", "2026-03-01T10:00:00Z", ["user.name"]))
    record(ledger, accessed("cust-32", "2026-03-01T10:00:00Z", ["user.name"]))
    (finding,) = found(ledger, as_of=BEFORE_RETENTION)
    assert (finding.kind, finding.sequence, finding.subject) == (
        "processing_after_withdrawal", access, "cust-31",
    )  # fmt: skip
    assert withdrawal in finding.sequences


def test_a_processors_copy_is_not_held_to_our_declared_retention(ledger: Ledger) -> None:
    """Found in review. Data held as a processor follows its controller's retention, not the
    organisation's own notice (FINDINGS.md judges our processing against our declaration):
    a processor's collection with no recorded retention is not past the declared P30D; the
    organisation's own copy (cust-34) is."""
    declare(ledger)
    record(ledger, collected("cust-33", "2026-03-01T09:00:00Z", ["user.contact.email"],
                             role="processor", controller="org:acme"))  # fmt: skip
    own = record(ledger, collected("cust-34", "2026-03-01T09:00:00Z", ["user.contact.email"]))
    assert kinds(ledger, kind="past_retention", as_of="2026-06-01T00:00:00Z") == [
        ("past_retention", own)
    ]
