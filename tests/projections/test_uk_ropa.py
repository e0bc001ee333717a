"""The record of processing (UK GDPR Art. 30) as the ICO's documentation template lays it out,
each expectation worked out by hand from hand-built ledgers, on SQLite and PostgreSQL.

Sources (docs/law/ropa.md has them in full):
- UK GDPR Art. 30(1)(a)-(g) and 30(2)(a)-(d) (what a controller's and a processor's record
  hold); ICO, "Documentation" (detailed guidance: the controller and processor lists, and the
  extras it recommends: lawful basis, Art. 9 / DPA 2018 Sch. 1 condition, consent records,
  source, location, DPIA, LIA, automated decision-making)
  https://ico.org.uk/for-organisations/uk-gdpr-guidance-and-resources/accountability-and-governance/documentation/
- ICO, "Records of processing and lawful basis" (accountability framework: document the Art. 6
  basis, and for special category data the Art. 9 / Schedule 1 condition)
  https://ico.org.uk/for-organisations/accountability-framework/records-of-processing-and-lawful-basis/documenting-your-lawful-basis/
- UK GDPR Arts. 44A, 45A-45B, 46 as the Data (Use and Access) Act 2025 Sch. 7 made them:
  transfers approved by regulations (the EEA and the other adequacy countries), otherwise
  appropriate safeguards (IDTA, SCCs with the addendum, BCRs) or a derogation
  https://www.legislation.gov.uk/ukpga/2025/18/schedule/7
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from support import schema1_store

from ledger import Ledger
from ledger.cli.main import cli
from ledger.demo.story import CONFIG_TOML
from ledger.migrate import migrate
from ledger.projections import Projections
from ledger.projections.facts import utc
from ledger.projections.model import plain
from ledger.projections.ropa import (
    CSV_COLUMNS,
    NO_MECHANISM,
    NOT_DECLARED,
    SHARED_ONLY,
    ConsentLink,
    Organisation,
    Transfer,
)

SUPPORT = "essential.service.operations.support"
PAYMENTS = "essential.service.payment_processing"
EMAIL = "marketing.communications.email"
LATER = "2026-09-01T00:00:00Z"

ORGANISATION_A = """\
[organisation]
name = "Acme Ltd"
time_zone = "Europe/London"
contact = "Acme Ltd, 1 Dock Road, Hull; privacy@acme.example"
dpo = "DPO, dpo@acme.example"
"""
FULL = (
    ORGANISATION_A
    + """\
representative = "none needed: established in the UK"
security_measures = "encryption at rest; MFA"
"""
)


def _config(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def collected(subject: str, categories: list[str], **extra: Any) -> dict[str, Any]:
    event = {
        "type": "collected",
        "at": "2026-03-01T09:00:00Z",
        "actor": "svc:crm",
        "subject": subject,
        "categories": categories,
        "purpose": SUPPORT,
        "basis": "contract",
        "source": "web form",
        "system": "crm",
        "location": "GB",
    }
    return {**event, **extra}  # fmt: skip


def shared(subject: str, categories: list[str], recipient: str, country: str,
           **extra: Any) -> dict[str, Any]:  # fmt: skip
    event = {
        "type": "shared",
        "at": "2026-03-02T09:00:00Z",
        "actor": "svc:billing",
        "subject": subject,
        "categories": categories,
        "recipient": recipient,
        "recipient_location": country,
        "purpose": PAYMENTS,
        "basis": "contract",
    }
    return {**event, **extra}  # fmt: skip


def _init(store: tuple[str, Path], config: Path, events: list[dict[str, Any]]) -> Ledger:
    url, keys = store
    ledger = Ledger.init(url, keys, config=config)
    ledger.record_many(events)
    return ledger


def _record(ledger: Ledger, as_of: str = LATER) -> Any:
    with Projections(ledger) as p:
        return p.ropa(as_of=as_of)


# -- the organisation (Art. 30(1)(a), (g)) --------------------------------------------------


def test_organisation_facts_declared_and_not_declared(
    store: tuple[str, Path], tmp_path: Path
) -> None:
    """Art. 30(1)(a): the controller's name and contact details, its representative and DPO;
    30(1)(g): a general description of security measures. The record shows what the recorded
    configuration declares and says "not declared" for the rest, listing them."""
    with _init(store, _config(tmp_path, "a", ORGANISATION_A), [collected("u1", ["user.name"])]) \
            as ledger:  # fmt: skip
        record = _record(ledger)
        (vocabulary,) = ledger.events_of_type("ledger.vocabulary")
    assert record.controller == Organisation(
        name="Acme Ltd",
        contact="Acme Ltd, 1 Dock Road, Hull; privacy@acme.example",
        dpo="DPO, dpo@acme.example",
        representative=NOT_DECLARED,
        security_measures=NOT_DECLARED,
        recorded_at=utc(vocabulary["at"]),
    )
    assert record.missing == ["representative", "security_measures"]


def test_an_organisation_that_declared_nothing_has_every_fact_missing(
    store: tuple[str, Path], tmp_path: Path
) -> None:
    """Art. 30(1)(a), (g); ICO template: nothing is guessed: a configuration without the
    record's facts leaves each "not declared", and per purpose DPIA and automated
    decision-making are listed as missing too."""
    bare = _config(tmp_path, "bare", '[organisation]\nname = "Bare Ltd"\n')
    with _init(store, bare, [collected("u1", ["user.name"])]) as ledger:
        record = _record(ledger)
    assert (record.controller.name, record.controller.contact, record.controller.dpo) == (
        "Bare Ltd", NOT_DECLARED, NOT_DECLARED)  # fmt: skip
    assert record.missing == ["contact", "dpo", "representative", "security_measures"]
    (support,) = record.purposes
    assert support.missing == ["dpia", "automated_decision_making"]
    assert support.dpia == support.automated_decision_making == NOT_DECLARED


def test_the_record_shows_the_configuration_recorded_at_the_moment(
    store: tuple[str, Path], tmp_path: Path
) -> None:
    """Art. 30(1) (ICO: records kept up to date, reflecting current processing): the facts at
    *as_of* are those of the latest configuration recorded on the ledger at or before it
    (before the first record, the first: the ledger's earliest word, as the request clocks
    read settings); a configuration in use that was never recorded does not show."""
    url, keys = store
    first = _config(tmp_path, "a", FULL + f'[purposes."{SUPPORT}"]\ndpia = "DPIA-1"\n')
    team = FULL.replace("DPO, dpo@acme.example", "DPO team, dpo@acme.example")
    second = _config(tmp_path, "b", team + f'[purposes."{SUPPORT}"]\ndpia = "DPIA-2"\n')
    unrecorded = _config(tmp_path, "c", FULL.replace("encryption at rest", "nothing"))
    with Ledger.init(url, keys, config=first) as ledger:
        ledger.record(**collected("u1", ["user.name"]))
    with Ledger.open(url, keys, config=second) as ledger:
        ledger.record(**collected("u2", ["user.name"], at="2026-04-01T09:00:00Z"))
    with Ledger.open(url, keys, config=unrecorded) as ledger:
        a, b = (utc(v["at"]) for v in ledger.events_of_type("ledger.vocabulary"))
        assert a < b
        moments = {"before any": "2026-03-15T00:00:00Z", "at the first": a, "at the second": b,
                   "far later": "2099-01-01T00:00:00Z"}  # fmt: skip
        shown = {k: _record(ledger, as_of=m) for k, m in moments.items()}
    for key in ("before any", "at the first"):
        assert shown[key].controller.dpo == "DPO, dpo@acme.example"
        assert shown[key].controller.recorded_at == a
        assert shown[key].purposes[0].dpia == "DPIA-1"
    for key in ("at the second", "far later"):
        assert shown[key].controller.dpo == "DPO team, dpo@acme.example"
        assert shown[key].controller.recorded_at == b
        assert shown[key].purposes[0].dpia == "DPIA-2"
    # the configuration in use (never recorded: no write under it) is not what the record says
    assert shown["far later"].controller.security_measures == "encryption at rest; MFA"
    # before the second event's `at` it is not yet processing: one subject, then two
    assert [shown[k].purposes[0].subjects for k in ("before any", "far later")] == [1, 2]


def test_a_ledger_written_before_settings_were_recorded_declares_nothing(
    store_url: str, tmp_path: Path, config_path: Path
) -> None:
    """Art. 30(1)(a), (g): the earlier release's store (the demo story, its configuration
    record carrying no settings) read with the demo's configuration in use: the record does
    not take the configuration's contact or DPO for what the ledger recorded; every fact is
    "not declared", and the name is the configuration's, as the request clocks take it."""
    url, keys = schema1_store(store_url, tmp_path)
    migrate(url, keys)
    with Ledger.open(url, keys, config=config_path) as ledger:
        record = _record(ledger)
    assert record.controller == Organisation("Northgate IT Services Ltd")
    assert record.missing == ["contact", "dpo", "representative", "security_measures"]
    assert record.processor == []  # the earlier release had no processor role
    assert {r.purpose for r in record.purposes} >= {SUPPORT, PAYMENTS}


# -- transfers, storage abroad included (Art. 30(1)(e); Arts. 44A, 45A, 46) -----------------


def test_storage_in_the_us_with_and_without_a_mechanism(
    store: tuple[str, Path], tmp_path: Path
) -> None:
    """Art. 30(1)(e) and Art. 44A(2) (DUAA Sch. 7): storage in the US (no UK adequacy for the
    country as a whole) is a transfer and needs an Art. 46 safeguard: with `transfer` idta it
    is listed with it; without one it is listed as "no mechanism recorded", and flagged."""
    events = [
        collected("u1", ["user.name"], system="backup-us", location="US", transfer="idta"),
        collected("u2", ["user.name"], system="archive-us", location="US"),
    ]
    with _init(store, _config(tmp_path, "full", FULL), events) as ledger:
        (support,) = _record(ledger).purposes
    assert support.transfers == [
        Transfer("storage", "US", "archive-us", None, NO_MECHANISM, True),
        Transfer("storage", "US", "backup-us", "idta", "idta", False),
    ]
    assert support.flags == [
        "storage on archive-us in US: no mechanism recorded (a third country without adequacy)"
    ]
    assert support.systems == ["archive-us (US)", "backup-us (US)"]


def test_eea_and_adequacy_countries_are_listed_as_such(
    store: tuple[str, Path], tmp_path: Path
) -> None:
    """Art. 45A (DUAA Sch. 7) with DPA 2018 Sch. 21 para. 5: the EEA states and the other
    countries with UK adequacy regulations (here Switzerland) need no further mechanism; the
    record lists them, saying which; the UK itself (GB) is no transfer."""
    events = [
        collected("u1", ["user.name"], system="telephony", location="IE"),
        shared("u1", ["user.name"], "proc:pay-fr", "FR"),
        shared("u1", ["user.name"], "proc:pay-ch", "CH"),
        shared("u1", ["user.name"], "proc:pay-gb", "GB"),
    ]
    with _init(store, _config(tmp_path, "full", FULL), events) as ledger:
        record = _record(ledger)
    purposes = {r.purpose: r for r in record.purposes}
    assert purposes[SUPPORT].transfers == [
        Transfer("storage", "IE", "telephony", None, "EEA: adequacy regulations")
    ]
    assert purposes[PAYMENTS].transfers == [
        Transfer("recipient", "CH", "proc:pay-ch", None, "UK adequacy regulations"),
        Transfer("recipient", "FR", "proc:pay-fr", None, "EEA: adequacy regulations"),
    ]
    assert purposes[PAYMENTS].recipients == ["proc:pay-ch", "proc:pay-fr", "proc:pay-gb"]
    assert purposes[PAYMENTS].subject_categories == ["unspecified"]  # only shared: none recorded
    assert purposes[PAYMENTS].flags == purposes[SUPPORT].flags == []


# -- the processor's record (Art. 30(2)) ------------------------------------------------------


def test_processor_holdings_form_their_own_part_per_controller(
    store: tuple[str, Path], tmp_path: Path
) -> None:
    """Art. 30(2)(a)-(d): for each controller processed for, the categories of processing
    carried out for it, transfers (with safeguards), and security measures; the ICO's
    processor template also asks for the categories of data and individuals. None of it is
    part of the organisation's own Art. 30(1) record."""
    security = "essential.service.security"
    for_a = {"role": "processor", "controller": "org:a", "purpose": security,
             "basis": "public_task", "system": "netmgmt"}  # fmt: skip
    events = [
        collected("u1", ["user.name"]),
        collected("a1", ["user.device.ip_address"], subject_category="employee", **for_a),
        collected("a2", ["user.account.username"], **for_a),
        collected(
            "b1",
            ["user.name"],
            role="processor",
            controller="org:b",
            system="cloud-us",
            location="US",
            transfer="sccs",
        ),
    ]
    with _init(store, _config(tmp_path, "a", ORGANISATION_A), events) as ledger:
        record = _record(ledger)
    assert [r.purpose for r in record.purposes] == [SUPPORT]
    assert record.purposes[0].subjects == 1  # u1 only
    assert [p.controller for p in record.processor] == ["org:a", "org:b"]
    a, b = record.processor
    assert (a.purposes, a.data_categories, a.subject_categories, a.systems) == (
        [security], ["user.account.username", "user.device.ip_address"],
        ["employee", "unspecified"], ["netmgmt (GB)"])  # fmt: skip
    assert (a.transfers, a.subjects, a.events) == ([], 2, 2)
    assert b.purposes == [SUPPORT] and b.subjects == 1
    assert b.transfers == [Transfer("storage", "US", "cloud-us", "sccs", "sccs")]
    # the organisation declared no security measures: said so, and missing
    assert a.security_measures == NOT_DECLARED
    assert a.controller_contact == NOT_DECLARED
    assert a.missing == ["controller_contact", "security_measures"]


# -- Art. 9 / Schedule 1, lawful bases, consent, retention -----------------------------------


def test_special_category_data_with_and_without_a_declared_condition(
    store: tuple[str, Path], tmp_path: Path
) -> None:
    """Art. 9(1)-(2) and DPA 2018 s.10, Sch. 1 (Art. 10 for criminal offence data); ICO:
    document the condition relied on. Genetic data under a purpose with a declared condition
    shows it; biometric and criminal offence data under one without says "not declared",
    lists it as missing and flags it; a purpose with none says "not applicable"; a parent key
    (user.demographic) is not taken for special category data."""
    config = _config(tmp_path, "c", FULL + f'[purposes."{SUPPORT}"]\n'
                     'special_category_condition = "Art. 9(2)(h); Sch. 1 para 2"\n')  # fmt: skip
    events = [
        collected("u1", ["user.health_and_medical.genetic", "user.name"]),
        collected("u2", ["user.biometric.fingerprint", "user.criminal_history"], purpose=PAYMENTS),
        collected("u3", ["user.demographic"], purpose=EMAIL, basis="contract"),
    ]
    with _init(store, config, events) as ledger:
        purposes = {r.purpose: r for r in _record(ledger).purposes}
    support, payments, email = purposes[SUPPORT], purposes[PAYMENTS], purposes[EMAIL]
    assert support.special_category_data == ["user.health_and_medical.genetic"]
    assert support.special_category_condition == "Art. 9(2)(h); Sch. 1 para 2"
    assert "special_category_condition" not in support.missing and support.flags == []
    assert payments.special_category_data == ["user.biometric.fingerprint",
                                              "user.criminal_history"]  # fmt: skip
    assert payments.special_category_condition == NOT_DECLARED
    assert payments.missing == ["special_category_condition", "dpia",
                                "automated_decision_making"]  # fmt: skip
    assert payments.flags == [
        "special category or criminal offence data is recorded and no Art. 9 / DPA 2018 "
        "Schedule 1 condition is declared"
    ]
    assert email.special_category_data == []
    assert email.special_category_condition == (
        "not applicable: no special category or criminal offence data recorded"
    )


def test_lawful_bases_with_their_articles_and_the_legitimate_interests_assessment(
    store: tuple[str, Path], tmp_path: Path
) -> None:
    """Art. 6(1) (ICO: the lawful basis per purpose); Art. 6(1)(ea), recognised legitimate
    interests, a basis from 5 February 2026 (DUAA s.70; SI 2026/82) with no balancing test, so
    no assessment is asked for it; Art. 6(1)(f) legitimate interests: the ICO's template links
    the LIA, missing and flagged when not declared."""
    events = [
        collected(
            "u1", ["user.name"], basis="recognised_legitimate_interest", at="2026-02-05T00:00:00Z"
        ),
        collected("u2", ["user.name"], purpose=PAYMENTS, basis="legitimate_interests"),
    ]
    with _init(store, _config(tmp_path, "full", FULL), events) as ledger:
        purposes = {r.purpose: r for r in _record(ledger).purposes}
    support, payments = purposes[SUPPORT], purposes[PAYMENTS]
    assert support.lawful_bases == ["recognised_legitimate_interest"]
    assert support.lawful_bases_cited == ["recognised_legitimate_interest (Art. 6(1)(ea))"]
    assert support.legitimate_interest_assessment == (
        "not applicable: no legitimate_interests basis recorded"
    )
    assert payments.lawful_bases_cited == ["legitimate_interests (Art. 6(1)(f))"]
    assert payments.legitimate_interest_assessment == NOT_DECLARED
    assert "legitimate_interest_assessment" in payments.missing
    assert payments.flags == [
        "legitimate_interests is recorded as a basis and no assessment is declared"
    ]


def test_a_consent_based_purpose_links_to_the_consent_record(
    store: tuple[str, Path], tmp_path: Path
) -> None:
    """Art. 7(1) (be able to show consent) and the ICO template's "link to record of
    consent": for a purpose on consent, how many consent events cover it (on it or an
    ancestor: EVENTS.md, "Category matching"), each subject's state as `ledger consent` has it,
    and the subjects collected on consent with no consent event at all."""

    def consent(kind: str, subject: str, purpose: str, at: str) -> dict[str, Any]:
        event = {"type": kind, "at": at, "actor": "svc:web", "subject": subject,
                 "purpose": purpose, "method": "web-form"}  # fmt: skip
        return {**event, "notice": "notice-v1"} if kind == "consent_given" else event

    events = [
        collected(s, ["user.contact.email"], purpose=EMAIL, basis="consent")
        for s in ("u1", "u2", "u3", "u4")
    ] + [
        consent("consent_given", "u1", EMAIL, "2026-02-01T09:00:00Z"),
        consent("consent_given", "u2", "marketing", "2026-02-01T09:00:00Z"),  # an ancestor
        consent("consent_withdrawn", "u2", EMAIL, "2026-03-01T09:00:00Z"),
        {"type": "objected", "at": "2026-03-05T09:00:00Z", "actor": "svc:web", "subject": "u3",
         "purpose": "marketing"},
        consent("consent_given", "u9", "essential", "2026-02-01T09:00:00Z"),  # not covering
    ]  # fmt: skip
    with _init(store, _config(tmp_path, "full", FULL), events) as ledger:
        purposes = {r.purpose: r for r in _record(ledger).purposes}
    # u1 1 event (given), u2 2 (given on marketing, then withdrawn), u3 1 (objected); u4 none
    assert purposes[EMAIL].consent == ConsentLink(
        events=4, given=1, withdrawn=1, objected=1, without_consent_event=1, see="ledger consent"
    )
    assert purposes[EMAIL].lawful_bases_cited == ["consent (Art. 6(1)(a))"]
    assert SUPPORT not in purposes  # only the marketing purpose was processed


def test_retention_per_category(store: tuple[str, Path], tmp_path: Path) -> None:
    """Art. 30(1)(f): "the envisaged time limits for erasure of the different categories of
    data", per category, not only per purpose; an absent retention is "no fixed period"
    (EVENTS.md), and a category only shared under a purpose has none of its own there."""
    events = [
        collected("u1", ["user.name", "user.contact.email"], retention="P6Y"),
        collected("u1", ["user.name"], system="backup", retention="P35D"),
        collected("u2", ["user.contact.email"]),
        collected("u3", ["user.name"], purpose=PAYMENTS, retention="P6Y"),
        shared("u3", ["user.name", "user.job_title"], "proc:pay", "GB"),
    ]
    with _init(store, _config(tmp_path, "full", FULL), events) as ledger:
        purposes = {r.purpose: r for r in _record(ledger).purposes}
    assert purposes[SUPPORT].retention_by_category == {
        "user.contact.email": ["P6Y", "no fixed period"],
        "user.name": ["P35D", "P6Y"],
    }
    assert purposes[SUPPORT].retention == ["P35D", "P6Y", "no fixed period"]
    assert purposes[PAYMENTS].retention_by_category == {
        "user.job_title": [SHARED_ONLY], "user.name": ["P6Y"]}  # fmt: skip
    assert purposes[SUPPORT].sources == ["web form"]


# -- the demo's record, CSV, JSON and the command line ----------------------------------------


def test_the_demo_record(filled: Ledger) -> None:
    """Art. 30(1)(e), 30(2); the demo story: the US backup under an IDTA (Art. 46(2)(d) as
    the UK's IDTA), telephony in Ireland (EEA: adequacy regulations), and the school network
    Northgate manages as a processor for org:ashby-primary in a part of its own."""
    record = _record(filled)
    purposes = {r.purpose: r for r in record.purposes}
    support = purposes[SUPPORT]
    assert support.transfers == [
        Transfer("storage", "IE", "telephony", None, "EEA: adequacy regulations"),
        Transfer("storage", "US", "backup-us", "idta", "idta"),
    ]
    assert support.legitimate_interest_assessment.startswith("LIA-2025-03")
    assert support.missing == [] and support.flags == []
    assert "essential.service.security" not in purposes
    (school,) = record.processor
    assert (school.controller, school.purposes, school.systems, school.subject_categories) == (
        "org:ashby-primary", ["essential.service.security"], ["school-netmgmt (GB)"],
        ["employee"])  # fmt: skip
    assert school.data_categories == ["user.account.username", "user.device.ip_address"]
    assert school.security_measures.startswith("values encrypted at rest")
    assert record.controller.name == "Northgate IT Services Ltd" and record.missing == []
    assert purposes[PAYMENTS].transfers == [
        Transfer("recipient", "US", "proc:payflow-us", "dpf", "dpf")
    ]


def test_csv_rows_per_purpose_then_per_controller(filled: Ledger) -> None:
    """The ICO template is a spreadsheet: one row per purpose (part 30(1)) and per controller
    processed for (part 30(2)), the organisation's facts on every row."""
    with Projections(filled) as p:
        text = p.ropa_csv(as_of=LATER)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [(r["part"], r["controller"], r["purpose"]) for r in rows] == [
        ("30(1)", "Northgate IT Services Ltd", "essential.service"),
        ("30(1)", "Northgate IT Services Ltd", "essential.service.internet_provision"),
        ("30(1)", "Northgate IT Services Ltd", SUPPORT),
        ("30(1)", "Northgate IT Services Ltd", PAYMENTS),
        ("30(2)", "org:ashby-primary", "essential.service.security"),
    ]
    support, school = rows[2], rows[4]
    assert support["transfers"] == (
        "storage IE telephony (EEA: adequacy regulations); storage US backup-us (idta)"
    )
    assert support["lawful_bases"] == "contract (Art. 6(1)(b)); legitimate_interests (Art. 6(1)(f))"
    assert support["dpo"] == school["dpo"] == "Data Protection Officer, privacy@northgate.example"
    assert school["processor"] == "Northgate IT Services Ltd"
    assert school["missing"] == "controller_contact" and school["lawful_bases"] == ""
    assert rows[1]["missing"] == "dpia; automated_decision_making"


def test_json_shape(filled: Ledger) -> None:
    """The JSON is the record's own structure: the organisation, the purposes, the Art. 30(2)
    part and what is missing; times in RFC 3339."""
    found = orjson.loads(orjson.dumps(plain(_record(filled))))
    assert set(found) == {"controller", "purposes", "processor", "missing", "declaration"}
    assert found["declaration"] is None  # the story alone declares nothing
    assert set(found["controller"]) == {"name", "contact", "dpo", "representative",
                                        "security_measures", "recorded_at"}  # fmt: skip
    assert found["controller"]["recorded_at"].endswith("Z")
    assert set(found["processor"][0]) >= {"controller", "purposes", "transfers",
                                          "security_measures", "data_categories"}  # fmt: skip
    assert found["purposes"][2]["transfers"][1] == {
        "kind": "storage", "country": "US", "to": "backup-us", "mechanism": "idta",
        "safeguard": "idta", "flagged": False}  # fmt: skip


@pytest.fixture
def run(tmp_path: Path, story: list[dict[str, Any]]) -> Any:
    config = _config(tmp_path, "demo", CONFIG_TOML)
    base = ["--db", f"sqlite:///{tmp_path / 'l.db'}", "--keys", str(tmp_path / "k"),
            "--config", str(config), "--signing-key", str(tmp_path / "s")]  # fmt: skip

    def invoke(*args: str, input: bytes | None = None) -> Any:
        return CliRunner().invoke(cli, [*base, *args], input=input)

    invoke("init")
    lines = b"".join(orjson.dumps(e) + b"\n" for e in story)
    assert invoke("import", "-", input=lines).exit_code == 0
    return invoke


def test_the_ropa_command_in_each_format(run: Any) -> None:
    """`ledger ropa`: the table (the organisation block, the purposes, the processor part),
    CSV and JSON agree with the record."""
    table = run("ropa", "--as-of", "2026-08-01")
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0].split(None, 1) == ["controller:", "Northgate IT Services Ltd"]
    assert "not declared:           none" in lines
    support = next(line for line in lines if line.startswith(SUPPORT))
    assert "storage IE (EEA: adequacy regulations), storage US (idta)" in support
    assert "As processor (Art. 30(2)):" in lines
    assert any(line.startswith("org:ashby-primary  essential.service.security") for line in lines)
    rows = list(csv.DictReader(io.StringIO(run("ropa", "--format", "csv").stdout)))
    assert [r["part"] for r in rows] == ["30(1)"] * 4 + ["30(2)"]
    found = orjson.loads(run("ropa", "--format", "json").stdout)
    assert found["processor"][0]["controller"] == "org:ashby-primary"
    assert found["controller"]["name"] == "Northgate IT Services Ltd"


# -- declared beside observed (issue 16: the declaration) ----------------------------------------


def _declare(ledger: Ledger, content: dict[str, Any]) -> None:
    """A declaration recorded as `ledger declare` records it (checked, normalised)."""
    assert ledger.declare(content).recorded


def test_the_record_shows_what_was_declared_beside_what_happened(filled: Ledger) -> None:
    """FINDINGS.md: the record of processing takes declared bases, recipients and retention
    from the declaration in force, beside what the ledger saw (Art. 30(1) stops being a
    hand-kept document). A purpose declared but never processed is listed and flagged; one
    processed but not declared says so; before the declaration was recorded, none is in
    force."""
    content = {
        "notices": ["privacy-notice-v3"],
        "purposes": {
            "essential.service.internet_provision": {
                "bases": ["contract"], "categories": ["user.name", "user.contact.address"],
                "subject_categories": ["customer"], "locations": ["GB"],
                "retention": {"user.contact.address": "P6Y"},
                "recipients": [{"id": "isp:fibrelink", "country": "GB", "transfer": None,
                                "categories": ["user.name", "user.contact.address"]}],
            },
            "functional.service.improve": {
                "bases": ["legitimate_interests"], "categories": ["user.device"],
                "subject_categories": [], "locations": ["GB"], "retention": {},
                "recipients": [],
            },
        },
    }  # fmt: skip
    before = Projections(filled)
    with before:
        assert before.ropa().declaration is None
    _declare(filled, content)
    with Projections(filled) as p:
        record = p.ropa()
        rows = list(csv.DictReader(io.StringIO(p.ropa_csv())))
    assert record.declaration is not None and record.declaration.notices == ["privacy-notice-v3"]
    by_purpose = {r.purpose: r for r in record.purposes}
    isp = by_purpose["essential.service.internet_provision"]
    assert isp.declared is not None and isp.declared.bases == ["contract"]
    assert isp.recipients == ["isp:fibrelink"]  # observed, beside the declared recipient
    assert [d["id"] for d in isp.declared.recipients] == ["isp:fibrelink"]
    improve = by_purpose["functional.service.improve"]
    assert (improve.events, improve.flags) == (
        0, ["declared, but the ledger shows no processing for it"],
    )  # fmt: skip
    assert by_purpose["essential.service.payment_processing"].declared is None
    cells = {row["purpose"]: row for row in rows if row["part"] == "30(1)"}
    assert cells["essential.service.internet_provision"]["declared_recipients"] == (
        "isp:fibrelink GB: user.contact.address, user.name"  # normalised: sorted
    )
    assert cells["essential.service.payment_processing"]["declared_bases"] == (
        "not in the declaration"
    )
