"""Events: the append-only log, partitioned by month of event time, idempotent by event id
(the ``event_ids`` table), and the aggregates read from it.

A batch is copied into a temporary table, then one statement claims its ids in ``event_ids``
(``ON CONFLICT DO NOTHING RETURNING``) and inserts the events whose ids were new, in the same
transaction: two servers storing the same event at once store it once. The aggregates run the
DuckDB store's SQL over the catalog's rows, fetched as Arrow.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql

from infogap.server.core.domain import CatalogEventCounts
from infogap.server.core.errors import InvalidArgument
from infogap.server.core.store.duckdb.events import (
    EVENT_COUNTS_SQL,
    WEIGHTED_EVENTS_SQL,
    interactions_from,
    interactions_query,
)
from infogap.server.core.store.postgresql.connection import PostgreSQLConnection, notify
from infogap.server.core.store.records import EVENT_SCHEMA, EVENTS_CHANNEL, Interactions

_COLUMNS = ", ".join(EVENT_SCHEMA.names)
# Cleared at each commit; one per connection, created the first time it stores events.
_BATCH_TABLE = """
    CREATE TEMP TABLE IF NOT EXISTS event_batch (
        event_id TEXT COLLATE "C", user_id TEXT, item_id TEXT, catalog TEXT, type TEXT,
        value DOUBLE PRECISION, event_time TIMESTAMP, recommendation_id TEXT, context TEXT,
        received_at TIMESTAMP
    ) ON COMMIT DELETE ROWS
"""
# Binary COPY: four times faster than text for psycopg to write.
_COPY_BATCH = f"COPY event_batch ({_COLUMNS}) FROM STDIN (FORMAT BINARY)"
_COPY_TYPES = [
    {pa.string(): "text", pa.float64(): "float8", pa.timestamp("us"): "timestamp"}[f.type]
    for f in EVENT_SCHEMA
]
# Enough memory to sort a large batch's ids; and no JIT: the planner, knowing nothing of the
# temporary table's rows, would compile the insert of every batch (40 ms of a 1,000-event one).
_BATCH_SETTINGS = "SET LOCAL work_mem = '64MB'; SET LOCAL jit = off"
# Ids claimed in order, so that two batches sharing ids cannot deadlock.
_INSERT_NEW = f"""
    WITH new AS (
        INSERT INTO event_ids SELECT event_id FROM event_batch ORDER BY event_id
        ON CONFLICT DO NOTHING RETURNING event_id
    )
    INSERT INTO events ({_COLUMNS})
    SELECT {", ".join(f"b.{c}" for c in EVENT_SCHEMA.names)} FROM event_batch b JOIN new USING (event_id)
    RETURNING event_id
"""
# Serialises partition creation between processes (one key for the whole table).
_PARTITION_LOCK = 0x1AF0_6A90_0002
_CREATE_PARTITION = (
    "CREATE TABLE IF NOT EXISTS {name} PARTITION OF events FOR VALUES FROM ({start}) TO ({end})"
)

# The columns the DuckDB aggregates read, of one catalog's events.
_CATALOG_EVENTS = (
    "SELECT event_id, user_id, item_id, catalog, type, value, event_time FROM events "
    "WHERE catalog = $1"
)
_OF_TYPES = " AND type = ANY($2::text[])"
_SEEN_PAIRS = (
    "SELECT DISTINCT user_id, item_id FROM events WHERE catalog = $1 AND type = ANY($2::text[])"
)
_ITEM_EVENT_COUNTS = (
    "SELECT item_id, type, COUNT(*) AS events FROM events WHERE catalog = $1 GROUP BY item_id, type"
)
# The type of each (user, item)'s latest event among the given types (ties: the larger id).
_USER_ITEM_TYPES = """
    SELECT DISTINCT ON (item_id) item_id, type FROM events
    WHERE catalog = %s AND user_id = %s AND item_id = ANY(%s) AND type = ANY(%s)
    ORDER BY item_id, event_time DESC, event_id DESC
"""


def partition_name(month: datetime) -> str:
    """The events partition of the month starting at ``month``: ``events_y2024m03``."""
    return f"events_y{month.year:04d}m{month.month:02d}"


def _next_month(month: datetime) -> datetime:
    return month.replace(year=month.year + month.month // 12, month=month.month % 12 + 1)


class Events(PostgreSQLConnection):
    def insert_events(self, batch: pa.Table) -> set[str]:
        ids = batch.column("event_id").to_pylist()
        if len(set(ids)) < len(ids):
            raise InvalidArgument("event_id", "an event id appears twice in the batch")
        if not ids:
            return set()
        self._ensure_partitions(batch.column("event_time"))
        columns = [batch.column(name).to_pylist() for name in EVENT_SCHEMA.names]
        with self._write() as db:
            db.execute(_BATCH_TABLE)
            db.execute(_BATCH_SETTINGS)
            with db.cursor() as cursor:
                with cursor.copy(_COPY_BATCH) as copy:
                    copy.set_types(_COPY_TYPES)
                    for row in zip(*columns):
                        copy.write_row(row)
                stored = {row[0] for row in cursor.execute(_INSERT_NEW).fetchall()}
            if stored:
                notify(db, EVENTS_CHANNEL)
        return stored

    def _ensure_partitions(self, event_times: pa.ChunkedArray) -> None:
        """Creates the monthly partitions the batch's events fall in that do not exist yet."""
        months = pc.unique(pc.floor_temporal(event_times, unit="month")).to_pylist()
        missing = [
            m for m in months if m is not None and partition_name(m) not in self._known_partitions
        ]
        if not missing:
            return
        with self._connection() as db:
            for month in missing:
                name = partition_name(month)
                if month.year < 9999:  # the last month of the calendar stays in the default
                    self._create_partition(db, name, month)
                self._known_partitions.add(name)

    @staticmethod
    def _create_partition(db: psycopg.Connection, name: str, month: datetime) -> None:
        exists = db.execute("SELECT to_regclass(%s)", [name]).fetchone()
        db.commit()
        if exists is not None and exists[0] is not None:
            return
        statement = sql.SQL(_CREATE_PARTITION).format(
            name=sql.Identifier(name),
            start=sql.Literal(month),
            end=sql.Literal(_next_month(month)),
        )
        try:
            with db.transaction():
                db.execute("SELECT pg_advisory_xact_lock(%s)", [_PARTITION_LOCK])
                db.execute(statement)
        except psycopg.errors.CheckViolation:
            # The default partition holds events of that month already (stored while the
            # partition could not be made): they stay there, and so will the new ones.
            pass

    def interactions(
        self, catalog: str, type_weights: pa.Table, half_life_days: float | None = None
    ) -> Interactions:
        # The decay is from the catalog's latest event of any type: all types are needed then.
        if half_life_days is None:
            types = type_weights.column("type").to_pylist()
            events = self._arrow(_CATALOG_EVENTS + _OF_TYPES, [catalog, types])
        else:
            events = self._arrow(_CATALOG_EVENTS, [catalog])
        query, params = interactions_query(catalog, half_life_days)
        tables = {"events": events, "type_weights": type_weights}
        return interactions_from(self._analyse(tables, query, params))

    def seen_pairs(self, catalog: str, seen_types: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        table = self._arrow(_SEEN_PAIRS, [catalog, list(seen_types)])
        return (
            table.column("user_id").to_numpy(zero_copy_only=False).astype(object),
            table.column("item_id").to_numpy(zero_copy_only=False).astype(object),
        )

    def weighted_events(self, catalog: str, type_weights: pa.Table) -> pa.Table:
        types = type_weights.column("type").to_pylist()
        events = self._arrow(_CATALOG_EVENTS + _OF_TYPES, [catalog, types])
        tables = {"events": events, "weighted_types": type_weights}
        return self._analyse(tables, WEIGHTED_EVENTS_SQL, [catalog])

    def user_item_event_types(
        self, catalog: str, user_id: str, item_ids: Sequence[str], types: Sequence[str]
    ) -> dict[str, str]:
        rows = self._rows(_USER_ITEM_TYPES, [catalog, user_id, list(item_ids), list(types)])
        return {item_id: event_type for item_id, event_type in rows}

    def item_event_counts(self, catalog: str) -> pa.Table:
        return self._arrow(_ITEM_EVENT_COUNTS, [catalog])

    def event_counts(self, received_since: datetime) -> list[CatalogEventCounts]:
        rows = self._rows(EVENT_COUNTS_SQL.format(since="%s"), [received_since])
        return [CatalogEventCounts(catalog, total, recent) for catalog, total, recent in rows]
