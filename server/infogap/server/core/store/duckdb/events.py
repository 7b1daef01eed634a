"""Events: the append-only log, idempotent by event id, and the aggregates read from it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import duckdb
import numpy as np
import pyarrow as pa

from infogap.server.core.domain import CatalogEventCounts
from infogap.server.core.errors import InvalidArgument
from infogap.server.core.store.duckdb.connection import DuckDBConnection, registered
from infogap.server.core.store.records import Interactions

# An event's weight as a training signal, over ``events e JOIN <type weights> w``: the type's
# weight; for star ratings (positive_from set) weight * (stars - positive_from + 1) from
# positive_from up, and nothing below it.
EVENT_WEIGHT_SQL = """
    CASE WHEN w.positive_from IS NULL THEN w.weight
         WHEN e.value >= w.positive_from THEN w.weight * (e.value - w.positive_from + 1)
         ELSE 0 END
"""

_INSERT_EVENTS = (
    "INSERT INTO events SELECT event_id, user_id, item_id, catalog, type, value, event_time, "
    "recommendation_id, context, received_at FROM event_batch"
)
_STORED_OF_BATCH = (
    "SELECT event_id FROM events WHERE event_id IN (SELECT event_id FROM event_batch)"
)

# With a half-life, an event's weight halves for every that many seconds it is older than the
# catalog's latest event.
DECAY_SQL = (
    "pow(0.5, date_diff('second', e.event_time, "
    "(SELECT max(event_time) FROM events WHERE catalog = ?)) / ?)"
)
INTERACTIONS_SQL = """
    SELECT user_id, item_id, SUM(({weight}) * {decay})::FLOAT AS weight, COUNT(*) AS events,
           MAX(epoch_us(e.event_time)) AS last_time_us
    FROM events e JOIN type_weights w ON e.type = w.type
    WHERE e.catalog = ?
    GROUP BY user_id, item_id
"""

SEEN_PAIRS_SQL = (
    "SELECT DISTINCT user_id, item_id FROM events WHERE catalog = ? AND type IN (SELECT unnest(?))"
)

# Events of types no longer configured are left out (the join): a server given them would
# refuse them.
WEIGHTED_EVENTS_SQL = f"""
    SELECT e.user_id, e.item_id, e.type, e.value, epoch_us(e.event_time) AS time_us,
           ({EVENT_WEIGHT_SQL}) > 0 AS positive
    FROM events e JOIN weighted_types w ON e.type = w.type
    WHERE e.catalog = ?
    ORDER BY e.event_time, e.event_id
"""

# The type of each (user, item)'s latest event among the given types (ties: the larger id).
_USER_ITEM_TYPES = """
    SELECT item_id, arg_max(type, (event_time, event_id)) AS type
    FROM events
    WHERE catalog = ? AND user_id = ? AND item_id IN (SELECT unnest(?)) AND type IN (SELECT unnest(?))
    GROUP BY item_id
"""
ITEM_EVENT_COUNTS_SQL = """
    SELECT item_id, type, COUNT(*) AS events FROM events WHERE catalog = ? GROUP BY item_id, type
"""


def interactions_query(catalog: str, half_life_days: float | None) -> tuple[str, list[object]]:
    """The SQL of ``Store.interactions`` over ``events`` and ``type_weights``, and its
    parameters."""
    if half_life_days is None:
        return INTERACTIONS_SQL.format(weight=EVENT_WEIGHT_SQL, decay="1"), [catalog]
    sql = INTERACTIONS_SQL.format(weight=EVENT_WEIGHT_SQL, decay=DECAY_SQL)
    return sql, [catalog, half_life_days * 86_400.0, catalog]


def interactions_from(table: pa.Table) -> Interactions:
    """The result of ``interactions_query`` as ``Interactions``: the pairs with a positive sum."""
    weights = table.column("weight").to_numpy()
    keep = weights > 0
    return Interactions(
        user_ids=table.column("user_id").to_numpy(zero_copy_only=False)[keep],
        item_ids=table.column("item_id").to_numpy(zero_copy_only=False)[keep],
        weights=weights[keep].astype(np.float32),
        event_count=int(table.column("events").to_numpy().sum()),
        last_time_us=table.column("last_time_us").to_numpy().astype(np.int64)[keep],
    )


# The same statement on PostgreSQL (with its own placeholder).
EVENT_COUNTS_SQL = (
    "SELECT catalog, count(*), count(*) FILTER (WHERE received_at >= {since}) FROM events "
    "GROUP BY catalog ORDER BY catalog"
)


class Events(DuckDBConnection):
    def insert_events(self, batch: pa.Table) -> set[str]:
        # A plain INSERT checks the primary key through its index and is tried first; DuckDB
        # plans INSERT OR IGNORE as a merge that scans the whole event_id column, so that path
        # is kept for batches that do hold a stored id (retries).
        with self.write_lock, registered(self.cursor(), "event_batch", batch) as db:
            try:
                with self._transaction():
                    db.execute(_INSERT_EVENTS)
                return set(batch.column("event_id").to_pylist())
            except (duckdb.ConstraintException, duckdb.TransactionException):
                pass
            batch_ids = batch.column("event_id").to_pylist()
            new_ids = set(batch_ids)
            if len(new_ids) < len(batch_ids):
                raise InvalidArgument("event_id", "an event id appears twice in the batch")
            with self._transaction():
                stored = {row[0] for row in db.execute(_STORED_OF_BATCH).fetchall()}
                new_ids -= stored
                if new_ids:
                    db.execute(
                        _INSERT_EVENTS + " WHERE event_id NOT IN (SELECT unnest(?))",
                        [list(stored)],
                    )
            return new_ids

    def interactions(
        self, catalog: str, type_weights: pa.Table, half_life_days: float | None = None
    ) -> Interactions:
        sql, params = interactions_query(catalog, half_life_days)
        with registered(self.cursor(), "type_weights", type_weights) as db:
            table = db.sql(sql, params=params).to_arrow_table()
        return interactions_from(table)

    def seen_pairs(self, catalog: str, seen_types: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        table = (
            self.cursor().sql(SEEN_PAIRS_SQL, params=[catalog, list(seen_types)]).to_arrow_table()
        )
        return (
            table.column("user_id").to_numpy(zero_copy_only=False),
            table.column("item_id").to_numpy(zero_copy_only=False),
        )

    def weighted_events(self, catalog: str, type_weights: pa.Table) -> pa.Table:
        with registered(self.cursor(), "weighted_types", type_weights) as db:
            return db.sql(WEIGHTED_EVENTS_SQL, params=[catalog]).to_arrow_table()

    def user_item_event_types(
        self, catalog: str, user_id: str, item_ids: Sequence[str], types: Sequence[str]
    ) -> dict[str, str]:
        params = [catalog, user_id, list(item_ids), list(types)]
        rows = self.cursor().execute(_USER_ITEM_TYPES, params).fetchall()
        return {item_id: event_type for item_id, event_type in rows}

    def item_event_counts(self, catalog: str) -> pa.Table:
        return self.cursor().sql(ITEM_EVENT_COUNTS_SQL, params=[catalog]).to_arrow_table()

    def event_counts(self, received_since: datetime) -> list[CatalogEventCounts]:
        sql = EVENT_COUNTS_SQL.format(since="?")
        rows = self.cursor().execute(sql, [received_since]).fetchall()
        return [CatalogEventCounts(catalog, total, recent) for catalog, total, recent in rows]
