"""SQL that computes profile facts, for a few users or for everyone in one pass.

Every query takes ``as_of`` and ignores later events, so a profile "as of" a date is
reproducible. ``user_ids=None`` means all users (segment sizes, clustering).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from infogap.server.config import EventTypeSettings, ProfileSettings
from infogap.server.core.domain import CatalogActivity, Interest
from infogap.server.core.profiles.facts import ProfileFacts
from infogap.server.core.store import EVENT_WEIGHT_SQL

_SECONDS_PER_DAY = 86_400.0


def _user_filter(column: str, user_ids: Sequence[str] | None) -> tuple[str, list[Any]]:
    if user_ids is None:
        return "", []
    return f" AND {column} IN (SELECT unnest(?))", [list(user_ids)]


def compute_facts(
    db: duckdb.DuckDBPyConnection,
    as_of: datetime,
    user_ids: Sequence[str] | None,
    settings: ProfileSettings,
    event_types: dict[str, EventTypeSettings],
    type_weights: pa.Table,
) -> dict[str, ProfileFacts]:
    """Facts of ``user_ids`` (or of every user) as of ``as_of``; unknown users are left out."""
    parts: dict[str, dict[str, Any]] = defaultdict(dict)

    where, params = _user_filter("user_id", user_ids)
    for user_id, attributes, updated in db.execute(
        f"SELECT user_id, attributes, updated_at FROM users WHERE true{where}", params
    ).fetchall():
        parts[user_id].update(attributes=json.loads(attributes), attributes_updated=updated)

    _add_behaviour(db, as_of, user_ids, settings, parts)
    _add_interests(db, as_of, user_ids, settings, type_weights, parts)

    where, params = _user_filter("user_id", user_ids)
    for user_id, cluster in db.execute(
        f"SELECT user_id, cluster FROM user_clusters WHERE true{where}", params
    ).fetchall():
        if user_id in parts:
            parts[user_id]["cluster"] = cluster

    return {
        user_id: ProfileFacts(user_id=user_id, as_of=as_of, known=True, **fields)
        for user_id, fields in parts.items()
    }


def _add_behaviour(
    db: duckdb.DuckDBPyConnection,
    as_of: datetime,
    user_ids: Sequence[str] | None,
    settings: ProfileSettings,
    parts: dict[str, dict[str, Any]],
) -> None:
    where, params = _user_filter("user_id", user_ids)
    window_columns = "".join(
        f", count(*) FILTER (WHERE event_time > ?) AS last_{days}d"
        for days in settings.windows_days
    )
    window_starts = [as_of - timedelta(days=days) for days in settings.windows_days]
    frequency_start = as_of - timedelta(days=settings.frequency_window_days)
    rows = db.execute(
        f"""
        SELECT user_id, type, count(*), sum(value), min(event_time), max(event_time),
               count(*) FILTER (WHERE event_time > ?) {window_columns}
        FROM events WHERE event_time <= ?{where}
        GROUP BY user_id, type ORDER BY user_id, count(*) DESC, type
        """,
        [frequency_start, *window_starts, as_of, *params],
    ).fetchall()
    monetary_types = set(settings.monetary_event_types)
    for user_id, event_type, count, value_sum, first, last, recent, *windows in rows:
        fields = parts[user_id]
        fields.setdefault("counts_by_type", {})[event_type] = count
        fields.setdefault("value_by_type", {})[event_type] = float(value_sum)
        fields["event_count"] = fields.get("event_count", 0) + count
        fields["first_seen"] = min(first, fields.get("first_seen") or first)
        fields["last_seen"] = max(last, fields.get("last_seen") or last)
        window_counts = fields.setdefault("window_counts", {d: {} for d in settings.windows_days})
        for days, window_count in zip(settings.windows_days, windows):
            if window_count:
                window_counts[days][event_type] = window_count
        if event_type in monetary_types:
            fields["frequency"] = fields.get("frequency", 0) + recent
            fields["monetary"] = fields.get("monetary", 0.0) + float(value_sum)
    for fields in parts.values():
        if "last_seen" in fields:
            fields["recency_days"] = (
                as_of - fields["last_seen"]
            ).total_seconds() / _SECONDS_PER_DAY

    where, params = _user_filter("user_id", user_ids)
    for user_id, catalog, count, distinct_items in db.execute(
        f"""
        SELECT user_id, catalog, count(*), count(DISTINCT item_id) FROM events
        WHERE event_time <= ?{where} GROUP BY user_id, catalog ORDER BY user_id, count(*) DESC, catalog
        """,
        [as_of, *params],
    ).fetchall():
        activities = parts[user_id].setdefault("catalog_activities", ())
        parts[user_id]["catalog_activities"] = activities + (
            CatalogActivity(catalog, count, distinct_items),
        )

    for user_id, days in db.execute(
        f"SELECT user_id, count(DISTINCT event_time::DATE) FROM events "
        f"WHERE event_time <= ?{where} GROUP BY user_id",
        [as_of, *params],
    ).fetchall():
        parts[user_id]["active_days"] = days


def _add_interests(
    db: duckdb.DuckDBPyConnection,
    as_of: datetime,
    user_ids: Sequence[str] | None,
    settings: ProfileSettings,
    type_weights: pa.Table,
    parts: dict[str, dict[str, Any]],
) -> None:
    where, params = _user_filter("e.user_id", user_ids)
    attribute_filter = (
        "" if settings.interest_attributes is None else " WHERE list_contains(?, entry.key)"
    )
    attribute_params = (
        [] if settings.interest_attributes is None else [settings.interest_attributes]
    )
    db.register("profile_type_weights", type_weights)
    try:
        rows = db.execute(
            f"""
            WITH ev AS (
                SELECT e.user_id, e.catalog, e.item_id,
                       ({EVENT_WEIGHT_SQL}) * pow(0.5, date_diff('second', e.event_time, ?::TIMESTAMP)
                                              / ?) AS w
                FROM events e JOIN profile_type_weights w ON e.type = w.type
                WHERE e.event_time <= ?{where}
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
                ){attribute_filter}
            )
            SELECT f.user_id, f.feature, sum(f.w) / any_value(t.total) AS score,
                   count(*) FILTER (WHERE f.w <> 0) AS evidence
            FROM features f JOIN totals t ON t.user_id = f.user_id
            WHERE t.total > 0
            GROUP BY f.user_id, f.feature
            HAVING evidence > 0
            ORDER BY f.user_id, score DESC, f.feature
            """,
            [
                as_of,
                settings.interest_half_life_days * _SECONDS_PER_DAY,
                as_of,
                *params,
                *attribute_params,
            ],
        ).fetchall()
    finally:
        db.unregister("profile_type_weights")
    interests: dict[str, list[Interest]] = defaultdict(list)
    for user_id, feature, score, evidence in rows:
        interests[user_id].append(Interest(feature, float(score), int(evidence)))
    for user_id, user_interests in interests.items():
        parts[user_id]["interests"] = tuple(user_interests)
