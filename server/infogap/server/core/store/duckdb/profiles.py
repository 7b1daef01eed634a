"""Profile facts: per-user aggregates of events up to an ``as_of``, for some users or all, and
the per-user path of GetProfile (``user_facts``: one indexed read of the users' events,
aggregated by ``core.store.user_facts``).

The all-users facts are DuckDB SQL over tables named ``events``, ``items`` and
``user_clusters``; the module functions take a ``RunSql`` so that another backend can run the
same SQL over Arrow tables of its own rows (``core.store.postgresql.profiles``) and answer with
the same values.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa

from infogap.server.core.domain import CatalogActivity, Interest
from infogap.server.core.store.duckdb.connection import DuckDBConnection
from infogap.server.core.store.duckdb.events import EVENT_WEIGHT_SQL
from infogap.server.core.store.records import EventTypeActivity, UserFacts
from infogap.server.core.store.serialisers import attributes_from_json
from infogap.server.core.store.user_facts import (
    ROW_BY_ROW_BELOW,
    USER_EVENTS_SCHEMA,
    ItemFeatures,
    ItemKey,
    facts_from_events,
    with_item_features,
)
from infogap.server.core.store.user_facts_rows import facts_of_rows

_SECONDS_PER_DAY = 86_400.0

_EVENT_TYPE_ACTIVITY = """
    SELECT user_id, type, count(*), sum(value), min(event_time), max(event_time),
           count(*) FILTER (WHERE event_time > ?) {window_columns}
    FROM events WHERE event_time <= ?{where}
    GROUP BY user_id, type ORDER BY user_id, count(*) DESC, type
"""
_WINDOW_COLUMN = ", count(*) FILTER (WHERE event_time > ?) AS last_{position}"
_CATALOG_ACTIVITY = """
    SELECT user_id, catalog, count(*), count(DISTINCT item_id) FROM events
    WHERE event_time <= ?{where} GROUP BY user_id, catalog ORDER BY user_id, count(*) DESC, catalog
"""
_ACTIVE_DAYS = (
    "SELECT user_id, count(DISTINCT event_time::DATE) FROM events "
    "WHERE event_time <= ?{where} GROUP BY user_id"
)
_USER_CLUSTERS = "SELECT user_id, cluster FROM user_clusters WHERE true{where}"

# A few users' events, times as Unix microseconds. ``user_id IN (?, ?...)``, not a list parameter: only a list of
# constants lets DuckDB read the users' rows through the ``events(user_id)`` index (m007)
# instead of scanning the column. Their items come from ``item_features`` (joining the
# items table would scan it on every call).
_USER_EVENTS = """
    SELECT user_id, catalog, item_id, type, value, epoch_us(event_time) FROM events
    WHERE event_time <= ? AND user_id IN ({placeholders})
"""
_USER_EVENT_COLUMNS = USER_EVENTS_SCHEMA.names[:6]  # the item's tags and attributes added


def _events_table(rows: list[tuple[Any, ...]]) -> pa.Table:
    """``_USER_EVENTS``'s rows as a table of the first columns of ``USER_EVENTS_SCHEMA``."""
    columns = list(zip(*rows))  # never called without rows
    arrays = [
        pa.array(column, USER_EVENTS_SCHEMA.field(name).type)
        for name, column in zip(_USER_EVENT_COLUMNS[:5], columns)
    ]
    times = pa.array(columns[5], pa.int64()).cast(USER_EVENTS_SCHEMA.field("event_time").type)
    return pa.Table.from_arrays([*arrays, times], names=_USER_EVENT_COLUMNS)


_ITEM_FEATURES = (
    "SELECT item_id, tags, attributes::VARCHAR FROM items "
    "WHERE catalog = ? AND item_id IN (SELECT unnest(?))"
)
_ALL_ITEM_FEATURES = "SELECT catalog, item_id, tags, attributes::VARCHAR FROM items LIMIT ?"
_RECORDS_OF = "SELECT user_id, attributes, updated_at FROM users WHERE user_id IN ({placeholders})"
_CLUSTERS_OF = "SELECT user_id, cluster FROM user_clusters WHERE user_id IN ({placeholders})"
_ALL_CLUSTERS = "SELECT user_id, cluster FROM user_clusters LIMIT ?"

# An event's weight decays with its age at as_of; a feature is an item tag or an
# attribute:value pair of the items the user's events are on.
_INTEREST_SCORES = f"""
    WITH ev AS (
        SELECT e.user_id, e.catalog, e.item_id,
               ({EVENT_WEIGHT_SQL}) * pow(0.5, date_diff('second', e.event_time, ?::TIMESTAMP)
                                      / ?) AS w
        FROM events e JOIN profile_type_weights w ON e.type = w.type
        WHERE e.event_time <= ?{{where}}
    ),
    totals AS (SELECT user_id, sum(w) AS total FROM ev GROUP BY user_id),
    features AS (
        SELECT ev.user_id, 'tag:' || t.tag AS feature, ev.w
        FROM ev JOIN items i ON i.catalog = ev.catalog AND i.item_id = ev.item_id,
             unnest(i.tags) AS t(tag)
        UNION ALL
        SELECT user_id, entry.key || ':' || entry.value AS feature, w FROM (
            SELECT ev.user_id, ev.w,
                   unnest(map_entries(CAST(i.attributes AS MAP(VARCHAR, VARCHAR)))) AS entry
            FROM ev JOIN items i ON i.catalog = ev.catalog AND i.item_id = ev.item_id
        ){{attribute_filter}}
    )
    SELECT f.user_id, f.feature, sum(f.w) / any_value(t.total) AS score,
           count(*) FILTER (WHERE f.w <> 0) AS evidence
    FROM features f JOIN totals t ON t.user_id = f.user_id
    WHERE t.total > 0
    GROUP BY f.user_id, f.feature
    HAVING evidence > 0
    ORDER BY f.user_id, score DESC, f.feature
"""


def _user_filter(column: str, user_ids: Sequence[str] | None) -> tuple[str, list[Any]]:
    """A ``WHERE`` clause continuation limiting ``column`` to ``user_ids`` (None: no limit)."""
    if user_ids is None:
        return "", []
    return f" AND {column} IN (SELECT unnest(?))", [list(user_ids)]


# Runs DuckDB SQL with its parameters, the Arrow tables given registered under their names for
# the statement; returns every row.
RunSql = Callable[[str, Sequence[Any], Mapping[str, pa.Table]], list[tuple[Any, ...]]]


def event_type_activity_on(
    run: RunSql,
    as_of: datetime,
    user_ids: Sequence[str] | None,
    window_starts: Sequence[datetime],
    frequency_start: datetime,
) -> list[EventTypeActivity]:
    """``Store.event_type_activity`` through ``run``."""
    where, params = _user_filter("user_id", user_ids)
    window_columns = "".join(
        _WINDOW_COLUMN.format(position=position) for position in range(len(window_starts))
    )
    rows = run(
        _EVENT_TYPE_ACTIVITY.format(window_columns=window_columns, where=where),
        [frequency_start, *window_starts, as_of, *params],
        {},
    )
    return [
        EventTypeActivity(
            user_id, event_type, count, float(value_sum), first, last, recent, tuple(windows)
        )
        for user_id, event_type, count, value_sum, first, last, recent, *windows in rows
    ]


def catalog_activity_on(
    run: RunSql, as_of: datetime, user_ids: Sequence[str] | None
) -> dict[str, tuple[CatalogActivity, ...]]:
    """``Store.catalog_activity`` through ``run``."""
    where, params = _user_filter("user_id", user_ids)
    rows = run(_CATALOG_ACTIVITY.format(where=where), [as_of, *params], {})
    activities: dict[str, list[CatalogActivity]] = defaultdict(list)
    for user_id, catalog, count, distinct_items in rows:
        activities[user_id].append(CatalogActivity(catalog, count, distinct_items))
    return {user_id: tuple(found) for user_id, found in activities.items()}


def active_days_on(run: RunSql, as_of: datetime, user_ids: Sequence[str] | None) -> dict[str, int]:
    """``Store.active_days`` through ``run``."""
    where, params = _user_filter("user_id", user_ids)
    return dict(run(_ACTIVE_DAYS.format(where=where), [as_of, *params], {}))


def interest_scores_on(
    run: RunSql,
    as_of: datetime,
    user_ids: Sequence[str] | None,
    type_weights: pa.Table,
    half_life_days: float,
    attributes: Sequence[str] | None,
) -> dict[str, tuple[Interest, ...]]:
    """``Store.interest_scores`` through ``run``."""
    where, params = _user_filter("e.user_id", user_ids)
    attribute_filter = "" if attributes is None else " WHERE list_contains(?, entry.key)"
    attribute_params = [] if attributes is None else [list(attributes)]
    sql = _INTEREST_SCORES.format(where=where, attribute_filter=attribute_filter)
    rows = run(
        sql,
        [as_of, half_life_days * _SECONDS_PER_DAY, as_of, *params, *attribute_params],
        {"profile_type_weights": type_weights},
    )
    interests: dict[str, list[Interest]] = defaultdict(list)
    for user_id, feature, score, evidence in rows:
        interests[user_id].append(Interest(feature, float(score), int(evidence)))
    return {user_id: tuple(found) for user_id, found in interests.items()}


def user_clusters_on(run: RunSql, user_ids: Sequence[str] | None) -> dict[str, str]:
    """``Store.user_clusters`` through ``run``."""
    where, params = _user_filter("user_id", user_ids)
    return dict(run(_USER_CLUSTERS.format(where=where), params, {}))


class ProfileFacts(DuckDBConnection):
    def _run(
        self, sql: str, params: Sequence[Any], tables: Mapping[str, pa.Table]
    ) -> list[tuple[Any, ...]]:
        db = self.cursor()
        for name, table in tables.items():
            db.register(name, table)
        try:
            return db.execute(sql, list(params)).fetchall()
        finally:
            for name in tables:
                db.unregister(name)

    def event_type_activity(
        self,
        as_of: datetime,
        user_ids: Sequence[str] | None,
        *,
        window_starts: Sequence[datetime],
        frequency_start: datetime,
    ) -> list[EventTypeActivity]:
        return event_type_activity_on(self._run, as_of, user_ids, window_starts, frequency_start)

    def catalog_activity(
        self, as_of: datetime, user_ids: Sequence[str] | None
    ) -> dict[str, tuple[CatalogActivity, ...]]:
        return catalog_activity_on(self._run, as_of, user_ids)

    def active_days(self, as_of: datetime, user_ids: Sequence[str] | None) -> dict[str, int]:
        return active_days_on(self._run, as_of, user_ids)

    def interest_scores(
        self,
        as_of: datetime,
        user_ids: Sequence[str] | None,
        *,
        type_weights: pa.Table,
        half_life_days: float,
        attributes: Sequence[str] | None,
    ) -> dict[str, tuple[Interest, ...]]:
        return interest_scores_on(
            self._run, as_of, user_ids, type_weights, half_life_days, attributes
        )

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
        found: list[tuple[Any, ...]] = []
        records: dict[str, tuple[dict[str, str], datetime]] = {}
        clusters: dict[str, str] = {}
        if users:
            placeholders = ", ".join("?" * len(users))
            db = self.cursor()
            query = _USER_EVENTS.format(placeholders=placeholders)
            found = db.execute(query, [as_of, *users]).fetchall()
            for user_id, stored, updated in db.execute(
                _RECORDS_OF.format(placeholders=placeholders), users
            ).fetchall():
                records[user_id] = (attributes_from_json(stored), updated)
            clusters = self.cluster_membership.clusters_of(
                users, self._all_clusters, self._clusters_of
            )
        self.item_features.fill(self._all_items)
        features = self.item_features.lookup(((row[1], row[2]) for row in found), self._items)
        arguments: dict[str, Any] = {
            "window_starts": window_starts,
            "frequency_start": frequency_start,
            "type_weights": type_weights,
            "half_life_days": half_life_days,
            "attributes": attributes,
        }
        if len(found) < ROW_BY_ROW_BELOW:  # the rows as they came, without an Arrow table
            rows = [(*row, *(features[(row[1], row[2])] or (None, None))) for row in found]
            return facts_of_rows(rows, records, clusters, as_of, **arguments)
        events = with_item_features(_events_table(found), features)
        return facts_from_events(events, records, clusters, as_of, **arguments)

    def _all_clusters(self, limit: int) -> dict[str, str]:
        return dict(self.cursor().execute(_ALL_CLUSTERS, [limit]).fetchall())

    def _clusters_of(self, user_ids: Sequence[str]) -> dict[str, str]:
        placeholders = ", ".join("?" * len(user_ids))
        query = _CLUSTERS_OF.format(placeholders=placeholders)
        return dict(self.cursor().execute(query, list(user_ids)).fetchall())

    def _all_items(self, limit: int) -> dict[ItemKey, ItemFeatures]:
        rows = self.cursor().execute(_ALL_ITEM_FEATURES, [limit]).fetchall()
        return {(catalog, item_id): (list(tags), stored) for catalog, item_id, tags, stored in rows}

    def _items(self, keys: list[ItemKey]) -> dict[ItemKey, ItemFeatures]:
        """The stored tags and attributes of ``keys``, one query per catalog."""
        by_catalog: dict[str, list[str]] = defaultdict(list)
        for catalog, item_id in keys:
            by_catalog[catalog].append(item_id)
        db = self.cursor()
        return {
            (catalog, item_id): (list(tags), stored)
            for catalog, item_ids in by_catalog.items()
            for item_id, tags, stored in db.execute(_ITEM_FEATURES, [catalog, item_ids]).fetchall()
        }

    def user_clusters(self, user_ids: Sequence[str] | None) -> dict[str, str]:
        return user_clusters_on(self._run, user_ids)
