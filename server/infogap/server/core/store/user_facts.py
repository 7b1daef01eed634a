"""The profile facts of a few users, computed from their events in Python: what every backend's
``Store.user_facts`` returns, equal to what its aggregate queries give for those users.

Why: a profile is a handful of aggregates over a few hundred events. Planning the five
analytic queries that compute them for everyone costs DuckDB 30 to 50 ms; reading the user's
events with one indexed query and aggregating them here costs a few. A backend fetches the
events (with their items' tags and attributes) as a table of ``USER_EVENTS_SCHEMA`` and hands
it to ``facts_from_events`` (or its rows to ``facts_from_rows``, when the driver's cheapest
result is rows) with the users' records and clusters; nothing here knows a database.

The formulas are the SQL's, computed the same way (float64, the same order of operations, the
same ``pow``). Sums are exactly rounded (``math.fsum``), so they do not depend on the order the
rows come in; a database's own sums may differ from them in their last bits.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from infogap.server.core.domain import CatalogActivity, Interest
from infogap.server.core.store.records import EventTypeActivity, UserFacts

# The events of the users asked for, joined to their items. ``item_tags`` and
# ``item_attributes`` (a JSON object of string values, as stored) are null for an event whose
# item is not stored. Events after ``as_of`` may be included: they are ignored.
USER_EVENTS_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("catalog", pa.string()),
        ("item_id", pa.string()),
        ("type", pa.string()),
        ("value", pa.float64()),
        ("event_time", pa.timestamp("us")),
        ("item_tags", pa.list_(pa.string())),
        ("item_attributes", pa.string()),
    ]
)

_EPOCH = datetime(1970, 1, 1)
_MICROSECONDS = timedelta(microseconds=1)
_US_PER_SECOND = 1_000_000
_US_PER_DAY = 86_400 * _US_PER_SECOND
_SECONDS_PER_DAY = 86_400.0


def facts_from_events(
    events: pa.Table,
    records: dict[str, tuple[dict[str, str], datetime]],
    clusters: dict[str, str],
    as_of: datetime,
    *,
    window_starts: Sequence[datetime],
    frequency_start: datetime,
    type_weights: pa.Table,
    half_life_days: float,
    attributes: Sequence[str] | None,
) -> UserFacts:
    """The facts of the users whose events (a table of ``USER_EVENTS_SCHEMA``), records (as
    ``Store.user_records`` returns them) and clusters (as ``Store.user_clusters``) are given,
    as of ``as_of``; the keywords mean what they mean for ``Store.user_facts``."""
    return _facts(
        _Columns.of_table(events),
        records,
        clusters,
        as_of,
        window_starts=window_starts,
        frequency_start=frequency_start,
        type_weights=type_weights,
        half_life_days=half_life_days,
        attributes=attributes,
    )


def facts_from_rows(
    rows: Sequence[tuple[Any, ...]],
    records: dict[str, tuple[dict[str, str], datetime]],
    clusters: dict[str, str],
    as_of: datetime,
    *,
    window_starts: Sequence[datetime],
    frequency_start: datetime,
    type_weights: pa.Table,
    half_life_days: float,
    attributes: Sequence[str] | None,
) -> UserFacts:
    """``facts_from_events`` for events given as rows, each a tuple in the column order of
    ``USER_EVENTS_SCHEMA`` (times as naive UTC datetimes, tags as a list)."""
    return _facts(
        _Columns.of_rows(rows),
        records,
        clusters,
        as_of,
        window_starts=window_starts,
        frequency_start=frequency_start,
        type_weights=type_weights,
        half_life_days=half_life_days,
        attributes=attributes,
    )


def _facts(
    columns: _Columns,
    records: dict[str, tuple[dict[str, str], datetime]],
    clusters: dict[str, str],
    as_of: datetime,
    *,
    window_starts: Sequence[datetime],
    frequency_start: datetime,
    type_weights: pa.Table,
    half_life_days: float,
    attributes: Sequence[str] | None,
) -> UserFacts:
    as_of_us = _microseconds(as_of)
    columns = columns.up_to(as_of_us)
    return UserFacts(
        records=records,
        activity=_event_type_activity(columns, window_starts, frequency_start),
        catalog_activity=_catalog_activity(columns),
        active_days=_active_days(columns),
        interests=_interests(columns, as_of_us, type_weights, half_life_days, attributes),
        clusters=clusters,
    )


class _Columns:
    """The event columns as Python lists, times as Unix microseconds."""

    def __init__(self, columns: Sequence[Sequence[Any]]) -> None:
        (
            self.user_ids,
            self.catalogs,
            self.item_ids,
            self.types,
            self.values,
            self.times_us,
            self.tags,
            self.item_attributes,
        ) = (list(column) for column in columns)

    @classmethod
    def of_table(cls, events: pa.Table) -> _Columns:
        times = events["event_time"].cast(pa.timestamp("us")).cast(pa.int64())
        return cls(
            [
                times.to_pylist() if name == "event_time" else events[name].to_pylist()
                for name in USER_EVENTS_SCHEMA.names
            ]
        )

    @classmethod
    def of_rows(cls, rows: Sequence[tuple[Any, ...]]) -> _Columns:
        if not rows:
            return cls([[] for _ in USER_EVENTS_SCHEMA.names])
        columns = [list(column) for column in zip(*rows)]
        columns[5] = [_microseconds(moment) for moment in columns[5]]
        return cls(columns)

    def up_to(self, as_of_us: int) -> _Columns:
        """The events at or before ``as_of_us`` (all of them, as a backend usually sends)."""
        if all(time_us <= as_of_us for time_us in self.times_us):
            return self
        keep = [n for n, time_us in enumerate(self.times_us) if time_us <= as_of_us]
        return _Columns([[column[n] for n in keep] for column in self._all()])

    def _all(self) -> list[list[Any]]:
        return [
            self.user_ids,
            self.catalogs,
            self.item_ids,
            self.types,
            self.values,
            self.times_us,
            self.tags,
            self.item_attributes,
        ]


def _microseconds(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECONDS


def _moment(microseconds: int) -> datetime:
    return _EPOCH + timedelta(microseconds=microseconds)


def _event_type_activity(
    columns: _Columns, window_starts: Sequence[datetime], frequency_start: datetime
) -> list[EventTypeActivity]:
    frequency_us = _microseconds(frequency_start)
    windows_us = [_microseconds(start) for start in window_starts]
    # (user, type) -> [count, values, first, last, count since frequency start, window counts]
    found: dict[tuple[str, str], list[Any]] = {}
    for user_id, event_type, value, time_us in zip(
        columns.user_ids, columns.types, columns.values, columns.times_us
    ):
        entry = found.get((user_id, event_type))
        if entry is None:
            entry = [0, [], time_us, time_us, 0, [0] * len(windows_us)]
            found[(user_id, event_type)] = entry
        entry[0] += 1
        entry[1].append(value)
        if time_us < entry[2]:
            entry[2] = time_us
        elif time_us > entry[3]:
            entry[3] = time_us
        if time_us > frequency_us:
            entry[4] += 1
        window_counts = entry[5]
        for position, start_us in enumerate(windows_us):
            if time_us > start_us:
                window_counts[position] += 1
    ordered = sorted(found.items(), key=lambda pair: (pair[0][0], -pair[1][0], pair[0][1]))
    return [
        EventTypeActivity(
            user_id,
            event_type,
            count,
            math.fsum(values),
            _moment(first),
            _moment(last),
            recent,
            tuple(windows),
        )
        for (user_id, event_type), (count, values, first, last, recent, windows) in ordered
    ]


def _catalog_activity(columns: _Columns) -> dict[str, tuple[CatalogActivity, ...]]:
    counts: dict[tuple[str, str], int] = {}
    items: dict[tuple[str, str], set[str]] = {}
    for user_id, catalog, item_id in zip(columns.user_ids, columns.catalogs, columns.item_ids):
        key = (user_id, catalog)
        counts[key] = counts.get(key, 0) + 1
        items.setdefault(key, set()).add(item_id)
    activities: dict[str, list[CatalogActivity]] = {}
    for (user_id, catalog), count in sorted(
        counts.items(), key=lambda pair: (pair[0][0], -pair[1], pair[0][1])
    ):
        found = CatalogActivity(catalog, count, len(items[(user_id, catalog)]))
        activities.setdefault(user_id, []).append(found)
    return {user_id: tuple(found) for user_id, found in activities.items()}


def _active_days(columns: _Columns) -> dict[str, int]:
    days: dict[str, set[int]] = {}
    for user_id, time_us in zip(columns.user_ids, columns.times_us):
        days.setdefault(user_id, set()).add(time_us // _US_PER_DAY)  # the UTC date, floored
    return {user_id: len(dates) for user_id, dates in sorted(days.items())}


def _interests(
    columns: _Columns,
    as_of_us: int,
    type_weights: pa.Table,
    half_life_days: float,
    attributes: Sequence[str] | None,
) -> dict[str, tuple[Interest, ...]]:
    weights = _type_weights(type_weights)
    half_life_seconds = half_life_days * _SECONDS_PER_DAY
    as_of_second = as_of_us // _US_PER_SECOND  # date_diff('second') counts second boundaries
    wanted = None if attributes is None else frozenset(attributes)
    totals: dict[str, list[float]] = {}
    by_feature: dict[str, dict[str, list[float]]] = {}  # user -> feature -> event weights
    for user_id, event_type, value, time_us, tags, item_attributes in zip(
        columns.user_ids,
        columns.types,
        columns.values,
        columns.times_us,
        columns.tags,
        columns.item_attributes,
    ):
        type_weight = weights.get(event_type)
        if type_weight is None:
            continue  # a type without weight counts for nothing
        age_seconds = as_of_second - time_us // _US_PER_SECOND
        weight = _signal(type_weight, value) * pow(0.5, age_seconds / half_life_seconds)
        totals.setdefault(user_id, []).append(weight)
        if tags is None:
            continue  # the item is not stored: it has no features
        user_features = by_feature.setdefault(user_id, {})
        for feature in _features(tuple(tags), item_attributes, wanted):
            found = user_features.get(feature)
            if found is None:
                user_features[feature] = [weight]
            else:
                found.append(weight)
    interests: dict[str, tuple[Interest, ...]] = {}
    for user_id in sorted(by_feature):
        total = math.fsum(totals[user_id])
        if not total > 0:
            continue
        scored = [
            Interest(feature, math.fsum(event_weights) / total, evidence)
            for feature, event_weights in by_feature[user_id].items()
            if (evidence := len(event_weights) - event_weights.count(0.0)) > 0
        ]
        if scored:
            interests[user_id] = tuple(sorted(scored, key=lambda i: (-i.score, i.feature)))
    return interests


def _type_weights(table: pa.Table) -> dict[str, tuple[float, float | None]]:
    """type -> (weight, positive_from) of a ``type_weights`` table."""
    return {row["type"]: (float(row["weight"]), row["positive_from"]) for row in table.to_pylist()}


def _signal(type_weight: tuple[float, float | None], value: float) -> float:
    """An event's training signal, as ``EVENT_WEIGHT_SQL`` computes it."""
    weight, positive_from = type_weight
    if positive_from is None:
        return weight
    if value >= positive_from:
        return weight * (value - positive_from + 1)
    return 0.0


@functools.lru_cache(maxsize=65_536)
def _features(
    tags: tuple[str, ...], item_attributes: str | None, wanted: frozenset[str] | None
) -> tuple[str, ...]:
    """An item's features: ``tag:<tag>`` for each tag, ``<key>:<value>`` for each attribute
    (those in ``wanted``; None: all). Memoised on the item's stored text, which is all they
    depend on: most events are on items other events were on."""
    parsed: Mapping[str, Any] = json.loads(item_attributes) if item_attributes else {}
    return tuple(
        [f"tag:{tag}" for tag in tags]
        + [
            f"{key}:{_text(value)}"
            for key, value in parsed.items()
            if wanted is None or key in wanted
        ]
    )


def _text(value: Any) -> str:
    """An attribute value as the SQL's cast to VARCHAR writes it (stored values are strings)."""
    return value if isinstance(value, str) else json.dumps(value)
