"""The example projection's view in PostgreSQL (see :mod:`ledger.demo.own_projection`)."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg.sql import SQL, Identifier

from ledger.demo.own_projection import LedgerEvent, SharesView, nested, share_rows


class PostgresSharesView(SharesView, PostgresTrackingRecorder):
    """The view in PostgreSQL (``PERSISTENCE_MODULE=eventsourcing.postgres``, ``POSTGRES_*``)."""

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        table = Identifier(self.datastore.schema), Identifier("shares_per_recipient")
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {}.{} (seq bigint NOT NULL, recipient text NOT NULL, "
                "subject text NOT NULL, category text NOT NULL, PRIMARY KEY (seq, category))"
            ).format(*table)
        )
        self.insert_share = SQL("INSERT INTO {}.{} VALUES (%s, %s, %s, %s)").format(*table)
        self.select_shares = SQL(
            "SELECT recipient, subject, category FROM {}.{} ORDER BY recipient, subject, category"
        ).format(*table)

    def add_share(self, share: LedgerEvent, tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.executemany(self.insert_share, share_rows(share))
            self._insert_tracking(curs, tracking)

    def recipients(self) -> dict[str, dict[str, list[str]]]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self.select_shares)
            rows = curs.fetchall()
        return nested([(r["recipient"], r["subject"], r["category"]) for r in rows])
