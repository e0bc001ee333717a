"""The ledger the eventsourcing way: its events through eventsourcing's notification-log API
(read only), the projections' position in a TrackingRecorder, and a projection of a user's own
(``ledger.demo.own_projection``) run by eventsourcing's ProjectionRunner on SQLite and
PostgreSQL, resuming where it stopped; the README's example as written."""

from __future__ import annotations

import inspect
import re
import uuid
from pathlib import Path
from typing import Any, ClassVar

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent, Tracking
from eventsourcing.projection import ProjectionRunner
from sqlalchemy.engine import make_url
from support import sql

from ledger import Ledger
from ledger.core import chain
from ledger.core.chain import parse
from ledger.demo.own_projection import (
    LedgerApplication,
    LedgerEvent,
    SharesPerRecipient,
    SharesView,
    SQLiteSharesView,
)
from ledger.demo.story import CONFIG_TOML, events
from ledger.errors import LedgerError, StoreError
from ledger.projections import Projections
from ledger.projections.integrity import NAME

README = Path(__file__).parents[2] / "README.md"

# By hand from the story's five `shared` events (demo-009, -010, -012, -013, -060).
STORY_SHARES = {
    "isp:fibrelink": {"cust-1001": ["user.contact.address", "user.name"]},
    "proc:payflow-us": {"cust-1002": ["user.financial.credit_card", "user.name"]},
    "sup:edu-procure": {"cust-1003": ["user.job_title", "user.name", "user.workplace"]},
    "sup:skills-academy": {
        "cust-1002": ["user.financial.credit_card"],
        "cust-1004": ["user.contact.email", "user.name"],
    },
}
NEW_SHARE = {
    "type": "shared", "at": "2026-06-03T10:00:00Z", "actor": "staff:aday", "subject": "cust-1002",
    "categories": ["user.contact.address"], "purpose": "essential.service.internet_provision",
    "basis": "contract", "recipient": "isp:fibrelink", "recipient_location": "GB",
}  # fmt: skip


def view_env(ledger: Ledger, folder: Path) -> tuple[dict[str, str], type[SharesView]]:
    """The ProjectionRunner's environment for a view in the ledger's own engine: a SQLite file
    beside it, or the ledger's PostgreSQL schema."""
    env = {"LEDGER_DB": ledger.store.url}
    if ledger.store.url.startswith("sqlite"):
        env |= {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(folder / f"shares-{uuid.uuid4().hex[:8]}.db")}  # fmt: skip
        return env, SQLiteSharesView
    from ledger.demo.own_projection_postgres import PostgresSharesView

    url = make_url(ledger.store.url)
    env |= {
        "PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_DBNAME": str(url.database),
        "POSTGRES_HOST": str(url.host), "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": str(url.username), "POSTGRES_PASSWORD": url.password or "",
        "POSTGRES_SCHEMA": str(url.query["schema"]),
    }  # fmt: skip
    return env, PostgresSharesView


def sequence_of(ledger: Ledger, event_id: str) -> int:
    """Where the story's event *event_id* is on the ledger."""
    return next(
        r.sequence for r in ledger.store.rows() if parse(r.state).event.get("id") == event_id
    )


class Counted(SharesPerRecipient):
    """The example, noting every event it is given (to show what a resumed run reads)."""

    given: ClassVar[list[int]] = []

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.given.append(tracking.notification_id)
        super().process_event(domain_event, tracking)


def run(
    env: dict[str, str], view: type[SharesView], projection: type[SharesPerRecipient]
) -> tuple[dict[str, dict[str, list[str]]], int | None]:
    """One run of the projection until it has applied every event: the view and its
    tracked position."""
    with ProjectionRunner(
        application_class=LedgerApplication, projection_class=projection, view_class=view,
        env=env,
    ) as runner:  # fmt: skip
        runner.wait(runner.app.ledger.size, timeout=20)
        found = runner.view.recipients(), runner.view.max_tracking_id(runner.app.name)
        runner.view.datastore.close()  # type: ignore[attr-defined]
    return found


def test_shares_per_recipient_on_the_story_as_computed_by_hand(
    filled: Ledger, tmp_path: Path
) -> None:
    env, view = view_env(filled, tmp_path)
    shares, position = run(env, view, SharesPerRecipient)
    assert shares == STORY_SHARES
    assert position == filled.size


def test_a_stopped_projection_resumes_after_new_events_without_reading_old_ones(
    filled: Ledger, tmp_path: Path
) -> None:
    env, view = view_env(filled, tmp_path)
    Counted.given = []
    run(env, view, Counted)
    assert Counted.given == list(range(1, filled.size + 1))
    before = filled.size
    filled.record(**NEW_SHARE)
    filled.record("accessed", actor="staff:jsmith", subject="cust-1004",
                  categories=["user.name"], purpose="essential.service", system="lms")  # fmt: skip
    Counted.given = []
    shares, position = run(env, view, Counted)
    assert Counted.given == [before + 1, before + 2]  # only the new events, each once
    assert position == filled.size
    assert shares["isp:fibrelink"] == {
        "cust-1001": ["user.contact.address", "user.name"],
        "cust-1002": ["user.contact.address"],
    }
    assert {k: v for k, v in shares.items() if k != "isp:fibrelink"} == {
        k: v for k, v in STORY_SHARES.items() if k != "isp:fibrelink"
    }


def test_a_running_projection_follows_events_as_they_are_recorded(
    filled: Ledger, tmp_path: Path
) -> None:
    env, view = view_env(filled, tmp_path)
    with ProjectionRunner(
        application_class=LedgerApplication, projection_class=SharesPerRecipient,
        view_class=view, env=env,
    ) as runner:  # fmt: skip
        runner.wait(filled.size, timeout=20)
        receipt = filled.record(**NEW_SHARE)  # while the runner waits for more
        runner.wait(receipt.sequence, timeout=20)
        shares = runner.view.recipients()
        runner.view.datastore.close()  # type: ignore[attr-defined]
    assert shares["isp:fibrelink"]["cust-1002"] == ["user.contact.address"]


def test_the_notification_log_is_the_ledger_in_order_and_holds_no_personal_value(
    filled: Ledger,
) -> None:
    notifications = filled.recorder.select_notifications(1, 100)
    rows = list(filled.store.rows())
    assert (
        [n.id for n in notifications]
        == [r.sequence for r in rows]
        == list(range(1, filled.size + 1))
    )
    assert [n.topic for n in notifications] == [r.type for r in rows]
    assert [n.state for n in notifications] == [r.state for r in rows]
    assert [str(n.originator_id) for n in notifications] == [r.uuid for r in rows]
    assert filled.recorder.max_notification_id() == filled.size
    first = sequence_of(filled, "demo-009")  # the first share
    after = filled.recorder.select_notifications(
        first, 3, topics=["shared"], inclusive_of_start=False
    )
    assert [parse(n.state).event.get("id") for n in after] == ["demo-010", "demo-012", "demo-013"]
    section = filled.notification_log["1,10"]
    assert [n.id for n in section.items] == list(range(1, 11))
    assert section.next_id == "11,20"
    everything = b"".join(n.state for n in notifications)
    for event in events():
        for value in event.get("data", {}).values():
            assert str(value).encode() not in everything


def test_the_notification_log_refuses_writes_and_nothing_is_written(filled: Ledger) -> None:
    size = filled.size
    forged = StoredEvent(str(uuid.uuid4()), 1, "collected", b'{"event": {}}')
    with pytest.raises(StoreError, match="read only"):
        filled.recorder.insert_events([forged])
    with pytest.raises(StoreError, match="only through the ledger"):
        filled.store.recorder.insert_events([forged])  # type: ignore[attr-defined]
    app = LedgerApplication({"LEDGER_DB": filled.store.url})
    try:
        with pytest.raises(StoreError):
            app.save(Aggregate())
    finally:
        app.close()
    assert filled.size == size
    assert len(filled.recorder.select_notifications(1, 100)) == size
    assert filled.verify().intact


def test_a_row_put_beyond_the_head_by_sql_is_never_given_out(filled: Ledger) -> None:
    size, url = filled.size, filled.store.url
    sqlite = url.startswith("sqlite")
    column, blob = ("rowid", "X'7B7D'") if sqlite else ("notification_id", "'\\x7b7d'::bytea")
    forged = uuid.uuid4()
    sql(
        url,
        f"INSERT INTO ledger_events ({column}, originator_id, originator_version, topic, "
        f"state, hash) VALUES ({size + 1}, '{forged}', 1, 'shared', {blob}, {blob})",
    )
    assert [n.id for n in filled.recorder.select_notifications(1, 100)][-1] == size
    assert filled.recorder.select_notifications(size, 10, inclusive_of_start=False) == []
    assert filled.recorder.max_notification_id() == size
    # nor by its originator id, as eventsourcing's repository asks for an aggregate's events
    assert filled.recorder.select_events(forged) == []
    # a copy of a real record beside the chain, under another id, is not given out either
    real = filled.store.rows_at([3])[0]
    copied = uuid.uuid4()
    sql(
        url,
        f"INSERT INTO ledger_events ({column}, originator_id, originator_version, topic, "
        f"state, hash) VALUES ({size + 2}, '{copied}', 1, :topic, :state, :hash)",
        topic=real.type,
        state=real.state,
        hash=real.hash,
    )
    assert filled.recorder.select_events(copied) == []
    # while an event on the chain is given out by its uuid
    on_chain = chain.parse(real.state).uuid
    assert [e.state for e in filled.recorder.select_events(on_chain)] == [real.state]


def test_the_ledgers_application_gives_events_metadata_only(filled: Ledger) -> None:
    app = LedgerApplication({"LEDGER_DB": filled.store.url})
    try:
        first = sequence_of(filled, "demo-009")
        event = app.mapper.to_domain_event(app.recorder.select_notifications(first, 1)[0])
    finally:
        app.close()
    assert isinstance(event, LedgerEvent)
    assert (event.sequence, event.type, event.event["id"]) == (first, "shared", "demo-009")
    assert "data" not in event.event
    assert event.categories == ["user.name", "user.financial.credit_card"]


def test_the_projections_position_is_eventsourcing_tracking(filled: Ledger) -> None:
    with Projections(filled) as p:
        tracking = p.runner.tracking
        assert tracking.max_tracking_id(NAME) is None  # nothing applied yet
        p.inventory()
        assert tracking.max_tracking_id(NAME) == filled.size
        assert tracking.has_tracking_id(NAME, filled.size)
        tracking.wait(NAME, filled.size, timeout=1)
        receipt = filled.record(**NEW_SHARE)
        assert not tracking.has_tracking_id(NAME, receipt.sequence)
        with pytest.raises(LedgerError, match="moves only together"):
            tracking.insert_tracking(Tracking(NAME, receipt.sequence))
        p.inventory()
        assert tracking.max_tracking_id(NAME) == receipt.sequence
        p.check()  # the refused insert left the tables matching the chain


def test_the_readme_example_runs_as_written_and_shows_the_story(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = README.read_text()
    section = text.split("## Your own projection, the eventsourcing way", 1)[1].split("\n## ")[0]
    runnable, listing = (
        re.findall(r"```python\n(.*?)```", section, flags=re.S),
        re.findall(r"```py\n(.*?)```", section, flags=re.S),
    )
    assert len(runnable) == 1
    assert listing == [inspect.getsource(SharesPerRecipient)]  # the listing is the module's
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ledger.toml").write_text(CONFIG_TOML)
    monkeypatch.setenv("LEDGER_CONFIG", str(tmp_path / "ledger.toml"))
    with Ledger.init("sqlite:///ledger.db", "ledger-keys") as ledger:
        ledger.record_many(events())
    scope: dict[str, Any] = {}
    exec(compile(runnable[0], "README.md", "exec"), scope)
    assert scope["shares"] == STORY_SHARES
