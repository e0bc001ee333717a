"""Generated events in the seed company's mix, for measurements: not uniform dummies.

Collections carry realistic values (names, addresses, support mail of a few
hundred to a few thousand characters); many subjects, a few with long
histories; accesses, shares abroad, consents, requests, erasures and breaches
in proportions like the demo's. Deterministic for a given seed.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ledger.api import Ledger

_FIRST = ["Priya", "Tom", "Grace", "Sam", "Aisha", "Owen", "Mei", "Luca", "Niamh", "Kofi"]
_LAST = ["Shah", "Reilly", "Okafor", "Patel", "Khan", "Evans", "Chen", "Rossi", "Byrne", "Mensah"]
_WORDS = [
    "router",
    "printer",
    "laptop",
    "password",
    "reset",
    "outage",
    "invoice",
    "licence",
    "backup",
    "firewall",
    "wifi",
    "email",
    "account",
    "school",
    "office",
    "server",
    "update",
    "slow",
    "broken",
    "request",
    "urgent",
]
_SYSTEMS = [
    ("crm", "GB"),
    ("helpdesk", "GB"),
    ("telephony", "IE"),
    ("billing", "GB"),
    ("lms", "GB"),
]
_SHARES = [
    ("proc:payflow-us", "US", "dpf"),
    ("isp:fibrelink", "GB", None),
    ("sup:skills-academy", "GB", None),
    ("sup:edu-procure", "DE", None),
]
_SUPPORT = "essential.service.operations.support"
_MARKETING = "marketing.communications.email"


def _text(rng: random.Random, low: int, high: int) -> str:
    size = rng.randint(low, high)
    words: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(_WORDS)
        words.append(word)
        length += len(word) + 1
    return " ".join(words)[:size]


def _collected(rng: random.Random, subject: str, n: int) -> dict[str, Any]:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    roll = rng.random()
    if roll < 0.5:
        data: dict[str, Any] = {
            "user.name": f"{first} {last}",
            "user.contact.email": f"{first.lower()}.{last.lower()}{n}@school.example",
            "user.contact.phone_number": f"+44 161 496 {n % 10000:04d}",
        }
        system, location, purpose, retention = "crm", "GB", _SUPPORT, "P6Y"
    elif roll < 0.8:
        data = {"user.content.private": _text(rng, 200, 2000)}
        system, location = rng.choice(_SYSTEMS[1:3])
        purpose, retention = _SUPPORT, "P2Y"
    else:
        data = {
            "user.financial.credit_card": {"brand": "visa", "last4": f"{n % 10000:04d}"},
            "user.payment": {"plan": "small-office", "monthly_gbp": "49.00"},
        }
        system, location = "billing", "GB"
        purpose, retention = "essential.service.payment_processing", "P6Y"
    return {
        "type": "collected",
        "actor": f"svc:{system}",
        "subject": subject,
        "categories": sorted(data),
        "purpose": purpose,
        "basis": "contract",
        "source": "customer form",
        "system": system,
        "location": location,
        "retention": retention,
        "data": data,
    }


def generate(
    count: int, *, seed: int = 2026, subjects: int | None = None
) -> Iterator[dict[str, Any]]:
    """*count* valid events in the demo's mix, in time order from 2026-01-01."""
    rng = random.Random(seed)
    population = subjects or max(10, count // 8)
    clock = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
    requests = breaches = 0
    for n in range(count):
        clock += timedelta(seconds=rng.randint(1, 90))
        at = clock.strftime("%Y-%m-%dT%H:%M:%SZ")
        # a few subjects have long histories: a Pareto-ish choice for some events
        if rng.random() < 0.3:
            who = min(int(rng.paretovariate(1.2)) - 1, population - 1)
        else:
            who = rng.randrange(population)
        subject = f"cust-{who}"
        roll = rng.random()
        event: dict[str, Any]
        if roll < 0.40:
            event = _collected(rng, subject, n)
        elif roll < 0.65:
            event = {
                "type": "accessed",
                "actor": f"staff:agent{rng.randrange(40)}",
                "subject": subject,
                "categories": ["user.name", "user.contact.email"],
                "purpose": _SUPPORT,
                "system": "helpdesk",
            }
        elif roll < 0.73:
            recipient, country, transfer = rng.choice(_SHARES)
            event = {
                "type": "shared",
                "actor": "svc:billing",
                "subject": subject,
                "categories": ["user.name"],
                "purpose": "essential.service",
                "basis": "contract",
                "recipient": recipient,
                "recipient_location": country,
            }
            if transfer:
                event["transfer"] = transfer
        elif roll < 0.76:
            event = {
                "type": "rectified",
                "actor": "staff:mlee",
                "subject": subject,
                "categories": ["user.contact.email"],
                "system": "crm",
                "data": {"user.contact.email": f"new{n}@school.example"},
            }
        elif roll < 0.77:
            event = {
                "type": "erased",
                "actor": "staff:dpo",
                "subject": subject,
                "categories": rng.choice([["*"], ["user.contact"]]),
                "reason": "erasure request",
            }
        elif roll < 0.85:
            event = {
                "type": "consent_given",
                "actor": "svc:web",
                "subject": subject,
                "purpose": _MARKETING,
                "method": "web-form",
                "notice": "privacy-notice-v3",
            }
        elif roll < 0.90:
            event = {
                "type": "consent_withdrawn",
                "actor": "svc:web",
                "subject": subject,
                "purpose": _MARKETING,
                "method": "unsubscribe-link",
            }
        elif roll < 0.9998:
            requests += 1
            event = {
                "type": "request_received",
                "actor": "staff:dpo",
                "subject": subject,
                "request": f"DSR-{requests:06d}",
                "kind": rng.choice(["access", "erasure", "rectification"]),
            }
        else:
            breaches += 1
            event = {
                "type": "breach_detected",
                "actor": "staff:secops",
                "breach": f"INC-{breaches:05d}",
                "description": "misdirected email",
                "systems": ["helpdesk"],
                "categories": ["user.content.private"],
            }
        event["at"] = at
        yield event


def name_collected(
    subject: str,
    name: str,
    *,
    actor: str = "svc:helpdesk",
    purpose: str = _SUPPORT,
    system: str = "helpdesk",
    source: str = "support form",
    **more: Any,
) -> dict[str, Any]:
    """One ``collected`` event of a subject's name through the help desk (in the UK, under
    contract): the smallest real write, for latency and concurrency measurements."""
    return {
        "type": "collected",
        "actor": actor,
        "subject": subject,
        "categories": ["user.name"],
        "purpose": purpose,
        "basis": "contract",
        "source": source,
        "system": system,
        "location": "GB",
        "data": {"user.name": name},
        **more,
    }


def record_in_batches(ledger: Ledger, events: Iterable[dict[str, Any]], size: int) -> int:
    """Record *events* in transactions of *size* events; how many were recorded."""
    batch: list[dict[str, Any]] = []
    count = 0
    for event in events:
        batch.append(event)
        if len(batch) == size:
            count += len(ledger.record_many(batch))
            batch = []
    if batch:
        count += len(ledger.record_many(batch))
    return count


def threaded_appends(ledger: Ledger, threads: int, calls: int) -> tuple[float, float, float]:
    """*threads* threads of this process each recording *calls* events, one per call, on
    *ledger*: events/s in all, and the median and 99th-percentile latency of a call (ms)."""
    latencies: list[float] = []

    def write(writer: int) -> None:
        mine = []
        for n in range(calls):
            started = time.perf_counter()
            ledger.record(**name_collected(f"bench-{writer}-{n % 50}", f"Name {n}"))
            mine.append(time.perf_counter() - started)
        latencies.extend(mine)

    workers = [threading.Thread(target=write, args=(w,)) for w in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return len(latencies) / elapsed, statistics.median(latencies) * 1e3, p99 * 1e3
