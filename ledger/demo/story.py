"""The seed company's story, as events: what `ledger demo` records.

Northgate IT Services Ltd, a UK firm serving schools and small businesses,
collects contacts, support tickets, call recordings and payment details; shares
them with a US payment processor (under the Data Privacy Framework), an ISP and
training and procurement suppliers; keeps data in the UK, Ireland and the USA;
answers access and erasure requests; and has one breach to report. Every value
below is invented.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ledger.api import Ledger
from ledger.errors import StoreExists
from ledger.files import write_private
from ledger.sealing import Receipt
from ledger.verification.checker import VerifyReport

CONFIG_TOML = """\
[vocabulary]
# the ISP share's purpose: an organisation's own key, under an existing fideslang parent
data_uses = ["essential.service.internet_provision"]

[purposes."essential.service.operations.support"]
legitimate_interest_assessment = "LIA-2025-03 (call recording for quality and disputes)"
dpia = "DPIA-2025-01 (call recording), approved 2025-11-04"
automated_decision_making = "none"

[purposes."essential.service"]
legitimate_interest_assessment = "LIA-2025-04 (procurement referrals)"
automated_decision_making = "none"

[purposes."essential.service.security"]
dpia = "the controlling school's DPIA (Northgate processes for it)"
automated_decision_making = "automated blocking of flagged devices, reviewed by staff"

[organisation]
name = "Northgate IT Services Ltd"
time_zone = "Europe/London"
# the record of processing's organisation facts (ICO template; role addresses, not people)
contact = "Northgate IT Services Ltd, 4 Mill Street, Salford M3 5AA; privacy@northgate.example"
dpo = "Data Protection Officer, privacy@northgate.example"
representative = "none needed: established in the UK"
security_measures = "values encrypted at rest per subject and category; MFA for staff; \
TLS in transit; quarterly access reviews; tamper-evident audit ledger"
"""

# The seed company's privacy notice as its declaration (`ledger declare`): what it says it
# does, against which the findings judge what the story shows it did.
DECLARATION_TOML = """\
notices = ["privacy-notice-v3"]

[purposes."essential.service.operations.support"]
bases = ["contract", "legitimate_interests"]
categories = ["user.name", "user.contact", "user.workplace", "user.job_title",
              "user.content.private"]
subject_categories = ["customer"]
locations = ["GB", "IE", "US"]
retention = { "user.content.private" = "P30D", "user.contact" = "P6Y" }

[purposes."essential.service.internet_provision"]
bases = ["contract"]
categories = ["user.name", "user.contact.address", "user.device.ip_address"]
subject_categories = ["customer"]
locations = ["GB"]

[[purposes."essential.service.internet_provision".recipients]]
id = "isp:fibrelink"
country = "GB"
categories = ["user.name", "user.contact.address", "user.device.ip_address"]

[purposes."essential.service"]
bases = ["contract", "legitimate_interests"]
categories = ["user.name", "user.contact", "user.workplace", "user.job_title", "user.content",
              "user.payment"]
subject_categories = ["customer", "trainee"]
locations = ["GB", "DE"]

[[purposes."essential.service".recipients]]
id = "sup:skills-academy"
country = "GB"
categories = ["user.name", "user.contact", "user.content"]

[[purposes."essential.service".recipients]]
id = "sup:edu-procure"
country = "DE"
categories = ["user.name", "user.contact", "user.workplace", "user.job_title", "user.payment"]

[purposes."essential.service.payment_processing"]
bases = ["contract"]
categories = ["user.name", "user.financial", "user.payment"]
subject_categories = ["customer"]
locations = ["GB", "US"]

[[purposes."essential.service.payment_processing".recipients]]
id = "proc:payflow-us"
country = "US"
transfer = "dpf"
categories = ["user.name", "user.financial.credit_card", "user.payment"]

[purposes."marketing.communications.email"]
bases = ["consent"]
categories = ["user.name", "user.contact.email"]
subject_categories = ["customer"]
locations = ["GB"]

[purposes."essential.legal_obligation"]
bases = ["legal_obligation"]
categories = ["user"]
subject_categories = ["customer", "trainee"]
locations = ["GB"]
"""

SUPPORT = "essential.service.operations.support"
SECURITY = "essential.service.security"
SCHOOL = "org:ashby-primary"  # a client school Northgate runs the network for, as its processor
PAYMENTS = "essential.service.payment_processing"
CONNECTIVITY = "essential.service.internet_provision"
MARKETING = "marketing.communications.email"
CONTACT = [
    "user.name",
    "user.contact.email",
    "user.contact.phone_number",
    "user.workplace",
    "user.job_title",
]


def _contact(
    subject: str, at: str, name: str, email: str, phone: str, workplace: str, title: str, n: int
) -> dict[str, Any]:
    return {
        "id": f"demo-{n:03d}",
        "type": "collected",
        "at": at,
        "actor": "svc:onboarding",
        "subject": subject,
        "categories": CONTACT,
        "purpose": SUPPORT,
        "basis": "contract",
        "source": "customer onboarding form",
        "system": "crm",
        "location": "GB",
        "retention": "P6Y",
        "subject_category": "customer",
        "data": {
            "user.name": name,
            "user.contact.email": email,
            "user.contact.phone_number": phone,
            "user.workplace": workplace,
            "user.job_title": title,
        },
    }


def events() -> list[dict[str, Any]]:
    """The story in the contract's format, in the order it is imported (one event arrives late)."""
    story: list[dict[str, Any]] = [
        _contact(
            "cust-1001",
            "2026-01-05T09:10:00Z",
            "Priya Shah",
            "p.shah@oakfield.sch.example",
            "+44 161 496 0101",
            "Oakfield Primary School",
            "School business manager",
            1,
        ),
        _contact(
            "cust-1002",
            "2026-01-06T11:00:00Z",
            "Tom Reilly",
            "tom@reillyjoinery.example",
            "+44 161 496 0102",
            "Reilly Joinery Ltd",
            "Owner",
            2,
        ),
        _contact(
            "cust-1003",
            "2026-01-07T14:30:00Z",
            "Grace Okafor",
            "g.okafor@hillcrest.sch.example",
            "+44 161 496 0103",
            "Hillcrest Academy",
            "IT lead",
            3,
        ),
        {
            "id": "demo-004",
            "type": "collected",
            "at": "2026-01-07T14:35:00Z",
            "actor": "svc:onboarding",
            "subject": "cust-1001",
            "categories": ["user.contact.address"],
            "purpose": CONNECTIVITY,
            "basis": "contract",
            "source": "broadband order form",
            "system": "crm",
            "location": "GB",
            "retention": "P6Y",
            "data": {"user.contact.address": "1 Oakfield Lane, Salford M5 4AA"},
        },
        {
            "id": "demo-005",
            "type": "consent_given",
            "at": "2026-01-08T10:00:00Z",
            "actor": "svc:web",
            "subject": "cust-1001",
            "purpose": MARKETING,
            "method": "web-form",
            "notice": "privacy-notice-v3",
        },
        {
            "id": "demo-006",
            "type": "collected",
            "at": "2026-02-02T08:45:00Z",
            "actor": "svc:helpdesk",
            "subject": "cust-1002",
            "categories": ["user.content.private"],
            "purpose": SUPPORT,
            "basis": "contract",
            "source": "support mailbox",
            "system": "helpdesk",
            "location": "GB",
            "retention": "P2Y",
            "data": {
                "user.content.private": "Ticket 4471: the office router drops out every afternoon."
            },
        },
        {
            "id": "demo-007",
            "type": "collected",
            "at": "2026-02-03T15:20:00Z",
            "actor": "svc:telephony",
            "subject": "cust-1001",
            "categories": ["user.content.private"],
            "purpose": SUPPORT,
            "basis": "legitimate_interests",
            "source": "support line call recording",
            "system": "telephony",
            "location": "IE",
            "retention": "P90D",
            "data": {"user.content.private": "call-2026-02-03-1520.opus (4m12s)"},
        },
        {
            "id": "demo-008",
            "type": "collected",
            "at": "2026-02-10T09:00:00Z",
            "actor": "svc:billing",
            "subject": "cust-1002",
            "categories": ["user.financial.credit_card", "user.payment"],
            "purpose": PAYMENTS,
            "basis": "contract",
            "source": "payment page",
            "system": "billing",
            "location": "GB",
            "retention": "P6Y",
            "data": {
                "user.financial.credit_card": {
                    "brand": "visa",
                    "last4": "4242",
                    "expiry": "2029-08",
                },
                "user.payment": {"plan": "small-office", "monthly_gbp": "49.00"},
            },
        },
        {
            "id": "demo-009",
            "type": "shared",
            "at": "2026-02-10T09:00:05Z",
            "actor": "svc:billing",
            "subject": "cust-1002",
            "categories": ["user.name", "user.financial.credit_card"],
            "purpose": PAYMENTS,
            "basis": "contract",
            "recipient": "proc:payflow-us",
            "recipient_location": "US",
            "transfer": "dpf",
        },
        {
            "id": "demo-010",
            "type": "shared",
            "at": "2026-02-12T12:00:00Z",
            "actor": "staff:aday",
            "subject": "cust-1001",
            "categories": ["user.name", "user.contact.address"],
            "purpose": CONNECTIVITY,
            "basis": "contract",
            "recipient": "isp:fibrelink",
            "recipient_location": "GB",
        },
        {
            "id": "demo-011",
            "type": "collected",
            "at": "2026-02-20T10:00:00Z",
            "actor": "svc:lms",
            "subject": "cust-1004",
            "categories": ["user.name", "user.contact.email"],
            "purpose": "essential.service",
            "basis": "contract",
            "source": "training booking form",
            "system": "lms",
            "location": "GB",
            "retention": "P1Y",
            "subject_category": "trainee",
            "data": {
                "user.name": "Sam Patel",
                "user.contact.email": "sam.patel@oakfield.sch.example",
            },
        },
        {
            "id": "demo-012",
            "type": "shared",
            "at": "2026-02-20T10:05:00Z",
            "actor": "svc:lms",
            "subject": "cust-1004",
            "categories": ["user.name", "user.contact.email"],
            "purpose": "essential.service",
            "basis": "contract",
            "recipient": "sup:skills-academy",
            "recipient_location": "GB",
        },
        {
            "id": "demo-013",
            "type": "shared",
            "at": "2026-03-02T16:00:00Z",
            "actor": "staff:mlee",
            "subject": "cust-1003",
            "categories": ["user.name", "user.workplace", "user.job_title"],
            "purpose": "essential.service",
            "basis": "legitimate_interests",
            "recipient": "sup:edu-procure",
            "recipient_location": "DE",
        },
        {
            "id": "demo-014",
            "type": "accessed",
            "at": "2026-03-03T09:12:00Z",
            "actor": "staff:jsmith",
            "subject": "cust-1002",
            "categories": ["user.content.private"],
            "purpose": SUPPORT,
            "system": "helpdesk",
        },
        {
            "id": "demo-015",
            "type": "consent_given",
            "at": "2026-03-04T10:00:00Z",
            "actor": "svc:web",
            "subject": "cust-1003",
            "purpose": MARKETING,
            "method": "web-form",
            "notice": "privacy-notice-v3",
        },
        # The withdrawal at 11:00 is recorded before the grant at 10:00 that day, which
        # arrives late: applied in `at` order, the subject still ends "withdrawn".
        {
            "id": "demo-016",
            "type": "consent_withdrawn",
            "at": "2026-03-10T11:00:00Z",
            "actor": "svc:web",
            "subject": "cust-1002",
            "purpose": MARKETING,
            "method": "unsubscribe-link",
        },
        {
            "id": "demo-017",
            "type": "consent_given",
            "at": "2026-03-10T10:00:00Z",
            "actor": "svc:web",
            "subject": "cust-1002",
            "purpose": MARKETING,
            "method": "web-form",
            "notice": "privacy-notice-v3",
        },
        {
            "id": "demo-018",
            "type": "consent_withdrawn",
            "at": "2026-03-12T08:30:00Z",
            "actor": "svc:web",
            "subject": "cust-1001",
            "purpose": MARKETING,
            "method": "unsubscribe-link",
        },
        {
            "id": "demo-019",
            "type": "rectified",
            "at": "2026-03-15T13:00:00Z",
            "actor": "staff:mlee",
            "subject": "cust-1003",
            "categories": ["user.contact.email"],
            "system": "crm",
            "data": {"user.contact.email": "grace.okafor@hillcrest.sch.example"},
        },
        {
            "id": "demo-020",
            "type": "request_received",
            "at": "2026-03-16T09:00:00Z",
            "actor": "staff:dpo",
            "subject": "cust-1002",
            "request": "DSR-2026-001",
            "kind": "access",
        },
        {
            "id": "demo-021",
            "type": "request_received",
            "at": "2026-03-20T10:30:00Z",
            "actor": "staff:dpo",
            "subject": "cust-1004",
            "request": "DSR-2026-002",
            "kind": "erasure",
        },
        {
            "id": "demo-022",
            "type": "erased",
            "at": "2026-03-24T15:00:00Z",
            "actor": "staff:dpo",
            "subject": "cust-1004",
            "categories": ["*"],
            "reason": "erasure request DSR-2026-002: training completed, no other basis",
        },
        {
            "id": "demo-023",
            "type": "request_closed",
            "at": "2026-03-24T15:05:00Z",
            "actor": "staff:dpo",
            "subject": "cust-1004",
            "request": "DSR-2026-002",
            "outcome": "fulfilled",
        },
        {
            "id": "demo-024",
            "type": "breach_detected",
            "at": "2026-04-07T08:30:00Z",
            "actor": "staff:secops",
            "breach": "INC-2026-001",
            "description": "helpdesk ticket export emailed to the wrong school",
            "systems": ["helpdesk"],
            "categories": ["user.content.private", "user.contact"],
            "aware_at": "2026-04-07T08:15:00Z",
            "exposed_from": "2026-04-06T17:40:00Z",
        },
        {
            "id": "demo-025",
            "type": "breach_assessed",
            "at": "2026-04-07T12:00:00Z",
            "actor": "staff:dpo",
            "breach": "INC-2026-001",
            "risk": "high",
            "subjects_estimate": 1,
        },
        {
            "id": "demo-026",
            "type": "request_extended",
            "at": "2026-04-08T09:00:00Z",
            "actor": "staff:dpo",
            "subject": "cust-1002",
            "request": "DSR-2026-001",
            "reason": "complex request spanning four systems",
            "due": "2026-06-16",
        },
        {
            "id": "demo-027",
            "type": "breach_reported",
            "at": "2026-04-10T16:00:00Z",
            "actor": "staff:dpo",
            "breach": "INC-2026-001",
            "authority": "ICO",
            "reference": "ICO-2026-000417",
            "phase": "initial",
            "delay_reason": "the recipient school confirmed deletion only on 10 April",
        },
        {
            "id": "demo-028",
            "type": "subjects_notified",
            "at": "2026-04-10T17:00:00Z",
            "actor": "staff:dpo",
            "breach": "INC-2026-001",
            "subjects": ["cust-1002"],
            "channel": "email",
        },
        {
            "id": "demo-029",
            "type": "breach_reported",
            "at": "2026-04-24T10:00:00Z",
            "actor": "staff:dpo",
            "breach": "INC-2026-001",
            "authority": "ICO",
            "reference": "ICO-2026-000417",
            "phase": "final",
        },
        {
            "id": "demo-030",
            "type": "breach_closed",
            "at": "2026-04-24T10:30:00Z",
            "actor": "staff:secops",
            "breach": "INC-2026-001",
            "summary": "export template fixed; recipient deleted the file; staff retrained",
        },
        {
            "id": "demo-031",
            "type": "objected",
            "at": "2026-05-01T09:00:00Z",
            "actor": "svc:web",
            "subject": "cust-1003",
            "purpose": MARKETING,
        },
        {
            "id": "demo-032",
            "type": "request_closed",
            "at": "2026-05-20T12:00:00Z",
            "actor": "staff:dpo",
            "subject": "cust-1002",
            "request": "DSR-2026-001",
            "outcome": "fulfilled",
        },
        # -- UK law as of 2026: Art. 19 done, restriction, the stop-the-clock, storage abroad,
        # the processor role, breach documentation, complaints (DPA 2018 s.164A)
        {
            "id": "demo-033",
            "type": "recipients_notified",
            "at": "2026-03-25T10:00:00Z",
            "actor": "staff:dpo",
            "subject": "cust-1004",
            "recipient": "sup:skills-academy",
            "categories": ["user.name", "user.contact.email"],
            "change": "erasure",
        },
        {
            "id": "demo-034",
            "type": "collected",
            "at": "2026-04-01T02:00:00Z",
            "actor": "svc:backup",
            "subject": "cust-1003",
            "categories": ["user.name", "user.contact.email"],
            "purpose": SUPPORT,
            "basis": "contract",
            "source": "nightly CRM backup",
            "system": "backup-us",
            "location": "US",
            "transfer": "idta",
            "retention": "P35D",
            "subject_category": "customer",
        },
        {
            "id": "demo-035",
            "type": "collected",
            "at": "2026-04-20T08:00:00Z",
            "actor": "svc:netmgmt",
            "subject": "ashby-staff-017",
            "categories": ["user.account.username", "user.device.ip_address"],
            "purpose": SECURITY,
            "basis": "public_task",
            "source": "the school's network sign-in",
            "system": "school-netmgmt",
            "location": "GB",
            "retention": "P1Y",
            "subject_category": "employee",
            "role": "processor",
            "controller": SCHOOL,
            "data": {
                "user.account.username": "ashby\\rjones",
                "user.device.ip_address": "10.4.2.17",
            },
        },
        {
            "id": "demo-036",
            "type": "request_received",
            "at": "2026-05-05T09:00:00Z",
            "actor": "staff:dpo",
            "subject": "cust-1003",
            "request": "DSR-2026-010",
            "kind": "rectification",
        },
        {
            "id": "demo-037",
            "type": "request_paused",
            "at": "2026-05-05T11:00:00Z",
            "actor": "staff:dpo",
            "subject": "cust-1003",
            "request": "DSR-2026-010",
            "awaiting": "identity",
        },
        {
            "id": "demo-038",
            "type": "restricted",
            "at": "2026-05-06T09:00:00Z",
            "actor": "staff:dpo",
            "subject": "cust-1003",
            "categories": ["user.job_title"],
            "ground": "accuracy_contested",
            "system": "crm",
        },
        {
            "id": "demo-039",
            "type": "request_resumed",
            "at": "2026-05-11T10:00:00Z",
            "actor": "staff:dpo",
            "subject": "cust-1003",
            "request": "DSR-2026-010",
            "awaiting": "identity",
        },
        {
            "id": "demo-040",
            "type": "restriction_lifted",
            "at": "2026-05-29T16:00:00Z",
            "actor": "staff:dpo",
            "subject": "cust-1003",
            "categories": ["user.job_title"],
            "system": "crm",
        },
        {
            "id": "demo-041",
            "type": "request_closed",
            "at": "2026-06-01T12:00:00Z",
            "actor": "staff:dpo",
            "subject": "cust-1003",
            "request": "DSR-2026-010",
            "outcome": "partially_fulfilled",
            "reason": "job title confirmed accurate by the employer; workplace corrected",
        },
        {
            "id": "demo-042",
            "type": "restricted",
            "at": "2026-06-03T09:30:00Z",
            "actor": "staff:dpo",
            "subject": "cust-1002",
            "categories": ["user.content.private"],
            "ground": "legal_claims",
            "system": "helpdesk",
        },
        {
            "id": "demo-043",
            "type": "breach_detected",
            "at": "2026-06-02T09:00:00Z",
            "actor": "staff:secops",
            "breach": "INC-2026-010",
            "description": "a sealed backup tape went missing in transit to the off-site store",
            "systems": ["backup-us"],
            "categories": ["user.name", "user.contact.email"],
            "aware_at": "2026-06-02T08:40:00Z",
            "exposed_from": "2026-06-01T18:00:00Z",
            "contained_at": "2026-06-03T15:00:00Z",
            "records": 3,
        },
        {
            "id": "demo-044",
            "type": "breach_assessed",
            "at": "2026-06-02T13:00:00Z",
            "actor": "staff:dpo",
            "breach": "INC-2026-010",
            "risk": "high",
            "subjects_estimate": 1,
            "reason": "names and email addresses on a tape that is encrypted, but whose key "
            "label was on the case",
            "consequences": "possible phishing of the customers on the tape",
            "measures": "tape recovered unopened from the courier; the key was rotated",
        },
        {
            "id": "demo-045",
            "type": "breach_reported",
            "at": "2026-06-03T16:00:00Z",
            "actor": "staff:dpo",
            "breach": "INC-2026-010",
            "authority": "ICO",
            "reference": "ICO-2026-000688",
            "phase": "initial",
        },
        {
            "id": "demo-046",
            "type": "subjects_not_notified",
            "at": "2026-06-03T16:30:00Z",
            "actor": "staff:dpo",
            "breach": "INC-2026-010",
            "exemption": "measures_taken",
        },
        {
            "id": "demo-047",
            "type": "breach_detected",
            "at": "2026-07-06T10:15:00Z",
            "actor": "staff:secops",
            "breach": "INC-2026-011",
            "description": "a firewall rule on the school network exposed its sign-in log",
            "systems": ["school-netmgmt"],
            "categories": ["user.account.username", "user.device.ip_address"],
            "exposed_from": "2026-07-03T17:00:00Z",
            "contained_at": "2026-07-06T10:40:00Z",
            "records": 40,
        },
        {
            "id": "demo-048",
            "type": "controller_notified",
            "at": "2026-07-06T11:30:00Z",
            "actor": "staff:dpo",
            "breach": "INC-2026-011",
            "controller": SCHOOL,
        },
        {
            "id": "demo-049",
            "type": "breach_assessed",
            "at": "2026-07-06T15:00:00Z",
            "actor": "staff:dpo",
            "breach": "INC-2026-011",
            "risk": "unlikely",
            "subjects_estimate": 1,
            "reason": "internal addresses and usernames only, reachable from the school's own "
            "network; no sign of access in the logs",
            "measures": "rule removed; rule changes now need a second approver",
        },
        {
            "id": "demo-050",
            "type": "complaint_received",
            "at": "2026-06-25T14:00:00Z",
            "actor": "staff:dpo",
            "complaint": "CMP-2026-001",
            "subject": "cust-1001",
            "channel": "email",
        },
        {
            "id": "demo-051",
            "type": "complaint_acknowledged",
            "at": "2026-06-29T09:00:00Z",
            "actor": "staff:dpo",
            "complaint": "CMP-2026-001",
        },
        {
            "id": "demo-052",
            "type": "complaint_closed",
            "at": "2026-07-21T10:00:00Z",
            "actor": "staff:dpo",
            "complaint": "CMP-2026-001",
            "summary": "marketing email sent after withdrawal; suppression list fixed; apology",
        },
        {
            "id": "demo-053",
            "type": "complaint_received",
            "at": "2026-07-02T09:30:00Z",
            "actor": "staff:dpo",
            "complaint": "CMP-2026-002",
            "subject": "cust-1002",
            "channel": "web-form",
        },
        {
            "id": "demo-054",
            "type": "request_received",
            "at": "2026-07-06T09:00:00Z",
            "actor": "staff:dpo",
            "subject": "cust-1001",
            "request": "DSR-2026-011",
            "kind": "access",
        },
        {
            "id": "demo-055",
            "type": "request_paused",
            "at": "2026-07-07T10:00:00Z",
            "actor": "staff:dpo",
            "subject": "cust-1001",
            "request": "DSR-2026-011",
            "awaiting": "clarification",
        },
        {
            "id": "demo-056",
            "type": "request_received",
            "at": "2026-07-20T11:00:00Z",
            "actor": "staff:dpo",
            "subject": "cust-1002",
            "request": "DSR-2026-012",
            "kind": "automated_decision",
        },
        {
            "id": "demo-057",
            "type": "request_closed",
            "at": "2026-08-24T16:00:00Z",
            "actor": "staff:dpo",
            "subject": "cust-1002",
            "request": "DSR-2026-012",
            "outcome": "fulfilled",
        },
        # -- slips the findings catch against the declaration (the privacy notice) ----------
        {
            "id": "demo-058",  # a marketing email after cust-1001 withdrew consent (12 Mar)
            "type": "accessed",
            "at": "2026-06-20T08:00:00Z",
            "actor": "svc:mailer",
            "subject": "cust-1001",
            "categories": ["user.contact.email"],
            "purpose": MARKETING,
            "system": "mailer",
        },
        {
            "id": "demo-059",  # a call recording with no retention: the notice's 30 days apply
            "type": "collected",
            "at": "2026-08-03T10:00:00Z",
            "actor": "svc:telephony",
            "subject": "cust-1003",
            "categories": ["user.content.private"],
            "purpose": SUPPORT,
            "basis": "legitimate_interests",
            "source": "support line call recording",
            "system": "telephony",
            "location": "IE",
            "subject_category": "customer",
            "data": {"user.content.private": "call-2026-08-03-1000.opus (6m40s)"},
        },
        {
            "id": "demo-060",  # payment details to a training supplier: not in the notice
            "type": "shared",
            "at": "2026-08-12T14:00:00Z",
            "actor": "staff:aday",
            "subject": "cust-1002",
            "categories": ["user.financial.credit_card"],
            "purpose": "essential.service",
            "basis": "contract",
            "recipient": "sup:skills-academy",
            "recipient_location": "GB",
        },
    ]
    return story


def fresh_folder(parent: Path, *, now: datetime | None = None) -> Path:
    """A new folder for a demo run, never one that exists: runs never overwrite each other."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        candidate = parent / (f"ledger-demo-{stamp}" + (f"-{n}" if n else ""))
        try:
            candidate.mkdir(parents=True)
        except FileExistsError:
            continue
        return candidate
    raise StoreExists(f"no free demo folder name under {parent}")


@dataclass(frozen=True)
class DemoRun:
    """What `ledger demo` did: where, what it recorded, what the erasure destroyed, the verdict."""

    folder: Path
    url: str
    keys: Path
    config: Path
    receipts: list[Receipt]
    by_type: dict[str, int]
    report: VerifyReport
    erased_subject: str
    erased_readable: list[str]
    shredded: list[str]


def run(folder: Path) -> DemoRun:
    """Record the story in a new ledger in *folder*, read the erased subject back, verify."""
    config_path = folder / "ledger.toml"
    write_private(config_path, CONFIG_TOML)
    url = f"sqlite:///{folder / 'ledger.db'}"
    keys = folder / "keys"
    story = events()
    with Ledger.init(url, keys, config=config_path, origin="northgate-it/ledger") as ledger:
        # the privacy notice first: it is in force for everything recorded after it
        ledger.declare(DECLARATION_TOML)
        receipts = ledger.record_numbered(list(enumerate(story, start=1)), label="event")
        erased = next(e for e in story if e["type"] == "erased")["subject"]
        rows = ledger.read(erased, actor="staff:dpo", purpose="essential.legal_obligation")
        readable = sorted({c for row in rows for c in row.get("data", {})})
        shredded = [c for row in rows if row["type"] == "erased" for c in row["shredded"]]
        report = ledger.verify()
    by_type: dict[str, int] = {}
    for event in story:
        by_type[event["type"]] = by_type.get(event["type"], 0) + 1
    return DemoRun(
        folder, url, keys, config_path, receipts, by_type, report, erased, readable, shredded
    )
