"""Profile facts: the DuckDB store's SQL (``core.store.duckdb.profiles``) over the events up to
``as_of`` (and the items they are on), filtered in PostgreSQL: a few users' through psycopg,
every user's streamed as Arrow through ADBC. GetProfile's per-user path (``user_facts``) reads
the users' events with their items through the (user_id, event_time) index and aggregates them
with ``core.store.user_facts``, as the DuckDB store does."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa

from infogap.server.core.domain import CatalogActivity, Interest
from infogap.server.core.store.duckdb.profiles import (
    RunSql,
    active_days_on,
    catalog_activity_on,
    event_type_activity_on,
    interest_scores_on,
)
from infogap.server.core.store.postgresql.connection import PostgreSQLConnection
from infogap.server.core.store.records import EVENT_SCHEMA, EventTypeActivity, UserFacts
from infogap.server.core.store.serialisers import attributes_from_json
from infogap.server.core.store.user_facts import (
    ROW_BY_ROW_BELOW,
    USER_EVENTS_SCHEMA,
    facts_from_events,
)
from infogap.server.core.store.user_facts_rows import facts_of_rows, microseconds

_FACT_COLUMNS = ("user_id", "item_id", "catalog", "type", "value", "event_time")
_FACT_SCHEMA = pa.schema([EVENT_SCHEMA.field(name) for name in _FACT_COLUMNS])
_ALL_EVENTS = f"SELECT {', '.join(_FACT_COLUMNS)} FROM events WHERE event_time <= $1"
_USERS_EVENTS = (
    f"SELECT {', '.join(_FACT_COLUMNS)} FROM events WHERE event_time <= %s AND user_id = ANY(%s)"
)
_ITEM_COLUMNS = "i.catalog, i.item_id, i.attributes, i.tags"
_ITEM_SCHEMA = pa.schema(
    [
        ("catalog", pa.string()),
        ("item_id", pa.string()),
        ("attributes", pa.string()),
        ("tags", pa.list_(pa.string())),
    ]
)
_ALL_ITEMS = f"SELECT {_ITEM_COLUMNS} FROM items i"
_USERS_ITEMS = f"""
    SELECT {_ITEM_COLUMNS} FROM items i WHERE EXISTS (
        SELECT 1 FROM events e WHERE e.catalog = i.catalog AND e.item_id = i.item_id
        AND e.event_time <= %s AND e.user_id = ANY(%s))
"""
# The DuckDB SQL reads attributes as JSON.
_ITEMS_VIEW = (
    "CREATE TEMP VIEW items AS SELECT catalog, item_id, attributes::JSON AS attributes, tags "
    "FROM item_rows"
)
_USER_CLUSTERS = "SELECT user_id, cluster FROM user_clusters"
# The per-user path (``user_facts``): three indexed reads on one connection. Items join here,
# not from a cache: an item upserted through another replica must count at once.
_USER_EVENTS_WITH_ITEMS = """
    SELECT e.user_id, e.catalog, e.item_id, e.type, e.value, e.event_time,
           i.tags AS item_tags, i.attributes AS item_attributes
    FROM events e LEFT JOIN items i ON i.catalog = e.catalog AND i.item_id = e.item_id
    WHERE e.event_time <= %s AND e.user_id = ANY(%s)
"""
_RECORDS_OF = "SELECT user_id, attributes, updated_at FROM users WHERE user_id = ANY(%s)"


class ProfileFacts(PostgreSQLConnection):
    def _facts_runner(
        self, as_of: datetime, user_ids: Sequence[str] | None, *, with_items: bool = False
    ) -> RunSql:
        """Runs the DuckDB profile SQL over the events (and items) it may read."""
        tables: dict[str, pa.Table] = {}
        if user_ids is None:
            tables["events"] = self._arrow(_ALL_EVENTS, [as_of])
            if with_items:
                tables["item_rows"] = self._arrow(_ALL_ITEMS)
        else:
            ids = list(user_ids)
            tables["events"] = self._rows_as_arrow(_USERS_EVENTS, [as_of, ids], _FACT_SCHEMA)
            if with_items:
                tables["item_rows"] = self._rows_as_arrow(_USERS_ITEMS, [as_of, ids], _ITEM_SCHEMA)
        views = [_ITEMS_VIEW] if with_items else []

        def run(
            sql: str, params: Sequence[Any], extra: Mapping[str, pa.Table]
        ) -> list[tuple[Any, ...]]:
            return self._analyse_rows({**tables, **extra}, sql, params, views)

        return run

    def event_type_activity(
        self,
        as_of: datetime,
        user_ids: Sequence[str] | None,
        *,
        window_starts: Sequence[datetime],
        frequency_start: datetime,
    ) -> list[EventTypeActivity]:
        run = self._facts_runner(as_of, user_ids)
        return event_type_activity_on(run, as_of, user_ids, window_starts, frequency_start)

    def catalog_activity(
        self, as_of: datetime, user_ids: Sequence[str] | None
    ) -> dict[str, tuple[CatalogActivity, ...]]:
        return catalog_activity_on(self._facts_runner(as_of, user_ids), as_of, user_ids)

    def active_days(self, as_of: datetime, user_ids: Sequence[str] | None) -> dict[str, int]:
        return active_days_on(self._facts_runner(as_of, user_ids), as_of, user_ids)

    def interest_scores(
        self,
        as_of: datetime,
        user_ids: Sequence[str] | None,
        *,
        type_weights: pa.Table,
        half_life_days: float,
        attributes: Sequence[str] | None,
    ) -> dict[str, tuple[Interest, ...]]:
        run = self._facts_runner(as_of, user_ids, with_items=True)
        return interest_scores_on(run, as_of, user_ids, type_weights, half_life_days, attributes)

    def user_facts(
        self,
        as_of: datetime,
        user_ids: Sequence[str],
        *,
        window_starts: Sequence[datetime],
        frequency_start: datetime,
        type_weights: pa.Table,
        half_life_days: float,
        attributes: Sequence[str] | None,
    ) -> UserFacts:
        users = list(dict.fromkeys(user_ids))
        rows: list[tuple[Any, ...]] = []
        records: dict[str, tuple[dict[str, str], datetime]] = {}
        clusters: dict[str, str] = {}
        if users:
            with self._connection() as db:
                rows = db.execute(_USER_EVENTS_WITH_ITEMS, [as_of, users]).fetchall()
                for user_id, stored, updated in db.execute(_RECORDS_OF, [users]).fetchall():
                    records[user_id] = (attributes_from_json(stored), updated)
                found = db.execute(f"{_USER_CLUSTERS} WHERE user_id = ANY(%s)", [users])
                clusters = dict(found.fetchall())
        arguments: dict[str, Any] = {
            "window_starts": window_starts,
            "frequency_start": frequency_start,
            "type_weights": type_weights,
            "half_life_days": half_life_days,
            "attributes": attributes,
        }
        if len(rows) < ROW_BY_ROW_BELOW:  # the rows as they came, without an Arrow table
            as_rows = [(*row[:5], microseconds(row[5]), *row[6:]) for row in rows]
            return facts_of_rows(as_rows, records, clusters, as_of, **arguments)
        columns: list[Sequence[Any]] = list(zip(*rows))
        events = pa.table(
            dict(zip(USER_EVENTS_SCHEMA.names, columns, strict=True)), schema=USER_EVENTS_SCHEMA
        )
        return facts_from_events(events, records, clusters, as_of, **arguments)

    def user_clusters(self, user_ids: Sequence[str] | None) -> dict[str, str]:
        if user_ids is None:
            return dict(self._rows(_USER_CLUSTERS))
        rows = self._rows(f"{_USER_CLUSTERS} WHERE user_id = ANY(%s)", [list(user_ids)])
        return dict(rows)
