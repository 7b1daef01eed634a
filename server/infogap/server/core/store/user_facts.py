"""The profile facts of a few users, computed from their events (with numpy, or row by row in
``user_facts_rows`` when they are few): what every backend's ``Store.user_facts`` returns,
equal to what its aggregate queries give for those users.

Why: a profile is a handful of aggregates over a few hundred events. Planning the five
analytic queries that compute them for everyone costs DuckDB 30 to 50 ms; reading the user's
events with one indexed query and aggregating them here costs a few. A backend fetches the
events (with their items' tags and attributes) as a table of ``USER_EVENTS_SCHEMA`` and hands
it to ``facts_from_events`` with the users' records and clusters; nothing here knows a
database. A backend for which joining the items costs more than reading the events (DuckDB
scans the items table for the join) reads the events alone, takes the items' features from
an ``ItemFeatureCache`` and adds them with ``with_item_features``.

The formulas are the SQL's, computed the same way (float64, the same order of operations).
Sums add in the order of the rows, so they may differ from a database's in their last bits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from infogap.server.core.domain import CatalogActivity, Interest
from infogap.server.core.store.records import EventTypeActivity, UserFacts
from infogap.server.core.store.user_facts_rows import (
    SECONDS_PER_DAY,
    US_PER_DAY,
    US_PER_SECOND,
    event_rows,
    facts_of_rows,
    item_features,
    microseconds,
    moment,
    weights_by_type,
)

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

ItemKey = tuple[str, str]  # (catalog, item id)
ItemFeatures = tuple[list[str], str]  # the item's tags and its attributes as JSON text


# Catalogs of at most this many items are read whole into an ItemFeatureCache (a second or
# so for this many); larger ones item by item as profiles need them.
FILL_AT_MOST = 100_000


class ItemFeatureCache:
    """Items' tags and attributes by (catalog, item id), kept for the per-user path: joining
    the items table costs DuckDB more than reading the user's events, and an item's features
    change only when it is upserted. The store calls ``forget`` after writing items; a load
    that raced with such a write is not kept."""

    def __init__(self, max_items: int = 500_000) -> None:
        self._max_items = max_items
        self._lock = threading.Lock()
        self._version = 0  # bumped by every forget
        self._entries: dict[ItemKey, ItemFeatures | None] = {}  # None: not stored
        self._filled = False  # fill was tried

    def lookup(
        self,
        keys: Iterable[ItemKey],
        load: Callable[[list[ItemKey]], dict[ItemKey, ItemFeatures]],
    ) -> dict[ItemKey, ItemFeatures | None]:
        """The features of ``keys`` (None for an item not stored); ``load`` reads the ones not
        kept from the store."""
        wanted = set(keys)
        with self._lock:
            version = self._version
            found = {key: self._entries[key] for key in wanted if key in self._entries}
        missing = [key for key in wanted if key not in found]
        if missing:
            loaded = load(missing)
            fresh = {key: loaded.get(key) for key in missing}
            found.update(fresh)
            with self._lock:
                if self._version == version:
                    if len(self._entries) + len(fresh) > self._max_items:
                        self._entries.clear()
                    self._entries.update(fresh)
        return found

    def fill(self, load_all: Callable[[int], dict[ItemKey, ItemFeatures]]) -> None:
        """Keep every stored item at once when there are at most ``FILL_AT_MOST``: then no
        profile waits for its items to be read (for a hundred items, as long as reading all
        of a small catalog). ``load_all(limit)`` reads up to ``limit`` items. Tried once; a
        load that raced with a write is not kept."""
        with self._lock:
            if self._filled:
                return
            self._filled = True
            version = self._version
        loaded = load_all(min(FILL_AT_MOST, self._max_items) + 1)
        if len(loaded) > min(FILL_AT_MOST, self._max_items):
            return
        with self._lock:
            if self._version == version:
                self._entries.update(loaded)

    def forget(self, keys: Iterable[ItemKey]) -> None:
        with self._lock:
            self._version += 1
            for key in keys:
                self._entries.pop(key, None)


def with_item_features(
    events: pa.Table, features: Mapping[ItemKey, ItemFeatures | None]
) -> pa.Table:
    """``events`` (user_id, catalog, item_id, type, value, event_time) with the
    ``item_tags`` and ``item_attributes`` columns of ``USER_EVENTS_SCHEMA`` from ``features``."""
    of_events = [
        features.get(key)
        for key in zip(events["catalog"].to_pylist(), events["item_id"].to_pylist())
    ]
    return events.append_column(
        USER_EVENTS_SCHEMA.field("item_tags"),
        pa.array([f[0] if f else None for f in of_events], pa.list_(pa.string())),
    ).append_column(
        USER_EVENTS_SCHEMA.field("item_attributes"),
        pa.array([f[1] if f else None for f in of_events], pa.string()),
    )


# Fewer events than this are aggregated row by row (``user_facts_rows``), more with numpy.
ROW_BY_ROW_BELOW = 300


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
    if events.num_rows < ROW_BY_ROW_BELOW:
        return facts_of_rows(
            event_rows(events),
            records,
            clusters,
            as_of,
            window_starts=window_starts,
            frequency_start=frequency_start,
            type_weights=type_weights,
            half_life_days=half_life_days,
            attributes=attributes,
        )
    as_of_us = microseconds(as_of)
    events = events.select(USER_EVENTS_SCHEMA.names)
    times = events["event_time"].cast(pa.timestamp("us"))
    events = events.filter(pc.less_equal(times.cast(pa.int64()), as_of_us)).combine_chunks()
    if events.num_rows == 0:
        return UserFacts(records, [], {}, {}, {}, clusters)
    columns = _Columns(events)
    return UserFacts(
        records=records,
        activity=_event_type_activity(columns, window_starts, frequency_start),
        catalog_activity=_catalog_activity(columns),
        active_days=_active_days(columns),
        interests=_interests(columns, events, as_of_us, type_weights, half_life_days, attributes),
        clusters=clusters,
    )


class _Codes:
    """A string column as integer codes into its distinct values."""

    def __init__(self, column: pa.ChunkedArray) -> None:
        encoded = pc.dictionary_encode(column.combine_chunks())
        self.codes: np.ndarray = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        self.names: list[str] = encoded.dictionary.to_pylist()


class _Columns:
    """The event columns as numpy arrays, strings as codes, times as Unix microseconds."""

    def __init__(self, events: pa.Table) -> None:
        self.users = _Codes(events["user_id"])
        self.catalogs = _Codes(events["catalog"])
        self.items = _Codes(events["item_id"])
        self.types = _Codes(events["type"])
        self.values: np.ndarray = events["value"].to_numpy()
        self.times_us: np.ndarray = (
            events["event_time"].cast(pa.timestamp("us")).cast(pa.int64()).to_numpy()
        )


def _groups(*codes: tuple[np.ndarray, int]) -> tuple[np.ndarray, np.ndarray]:
    """The distinct combinations of code columns (each with its number of values) and, per
    row, the index of its combination."""
    key = np.zeros(len(codes[0][0]), dtype=np.int64)
    for column, size in codes:
        key = key * size + column
    distinct, inverse = np.unique(key, return_inverse=True)
    return distinct, inverse


def _event_type_activity(
    columns: _Columns, window_starts: Sequence[datetime], frequency_start: datetime
) -> list[EventTypeActivity]:
    users, types, times = columns.users, columns.types, columns.times_us
    distinct, group = _groups((users.codes, len(users.names)), (types.codes, len(types.names)))
    size = len(distinct)
    counts = np.bincount(group, minlength=size)
    value_sums = np.bincount(group, weights=columns.values, minlength=size)
    first = np.full(size, np.iinfo(np.int64).max)
    np.minimum.at(first, group, times)
    last = np.full(size, np.iinfo(np.int64).min)
    np.maximum.at(last, group, times)
    since_frequency = np.bincount(group[times > microseconds(frequency_start)], minlength=size)
    windows = [
        np.bincount(group[times > microseconds(start)], minlength=size).tolist()
        for start in window_starts
    ]
    found = [
        (
            users.names[key // len(types.names)],
            types.names[key % len(types.names)],
            position,
        )
        for position, key in enumerate(distinct.tolist())
    ]
    count_list, sum_list = counts.tolist(), value_sums.tolist()
    first_list, last_list, since_list = first.tolist(), last.tolist(), since_frequency.tolist()
    found.sort(key=lambda entry: (entry[0], -count_list[entry[2]], entry[1]))
    return [
        EventTypeActivity(
            user_id,
            event_type,
            count_list[n],
            sum_list[n],
            moment(first_list[n]),
            moment(last_list[n]),
            since_list[n],
            tuple(window[n] for window in windows),
        )
        for user_id, event_type, n in found
    ]


def _catalog_activity(columns: _Columns) -> dict[str, tuple[CatalogActivity, ...]]:
    users, catalogs, items = columns.users, columns.catalogs, columns.items
    pairs = ((users.codes, len(users.names)), (catalogs.codes, len(catalogs.names)))
    distinct, group = _groups(*pairs)
    counts = np.bincount(group, minlength=len(distinct)).tolist()
    distinct_items, _ = _groups((group, len(distinct)), (items.codes, len(items.names)))
    item_counts = np.bincount(distinct_items // len(items.names), minlength=len(distinct))
    found = [
        (users.names[key // len(catalogs.names)], catalogs.names[key % len(catalogs.names)], n)
        for n, key in enumerate(distinct.tolist())
    ]
    found.sort(key=lambda entry: (entry[0], -counts[entry[2]], entry[1]))
    activities: dict[str, list[CatalogActivity]] = {}
    for user_id, catalog, n in found:
        activity = CatalogActivity(catalog, counts[n], int(item_counts[n]))
        activities.setdefault(user_id, []).append(activity)
    return {user_id: tuple(found) for user_id, found in activities.items()}


def _active_days(columns: _Columns) -> dict[str, int]:
    users = columns.users
    days = columns.times_us // US_PER_DAY  # the UTC date, floored as a cast to DATE does
    days -= days.min()
    distinct, _ = _groups((users.codes, len(users.names)), (days, int(days.max()) + 1))
    per_user = np.bincount(distinct // (int(days.max()) + 1), minlength=len(users.names))
    return {
        user_id: int(count)
        for user_id, count in sorted(zip(users.names, per_user.tolist()))
        if count
    }


def _interests(
    columns: _Columns,
    events: pa.Table,
    as_of_us: int,
    type_weights: pa.Table,
    half_life_days: float,
    attributes: Sequence[str] | None,
) -> dict[str, tuple[Interest, ...]]:
    weights = weights_by_type(type_weights)
    users, types = columns.users, columns.types
    known = [weights.get(name) for name in types.names]
    type_weight = np.array([w[0] if w else np.nan for w in known])[types.codes]
    positive_from = np.array([w[1] if w and w[1] is not None else np.nan for w in known])[
        types.codes
    ]
    weighted = ~np.isnan(type_weight)  # a type without weight counts for nothing
    values = columns.values
    with np.errstate(invalid="ignore"):
        signal = np.where(
            np.isnan(positive_from),
            type_weight,
            np.where(values >= positive_from, type_weight * (values - positive_from + 1), 0.0),
        )
    # date_diff('second') counts the second boundaries between the two times.
    age_seconds = as_of_us // US_PER_SECOND - columns.times_us // US_PER_SECOND
    weight = signal * np.power(0.5, age_seconds / (half_life_days * SECONDS_PER_DAY))
    totals = np.bincount(
        users.codes[weighted], weights=weight[weighted], minlength=len(users.names)
    )

    # Each weighted event on a stored item, once per feature of the item.
    tags = events["item_tags"]
    on_items = np.flatnonzero(weighted & ~tags.is_null().to_numpy(zero_copy_only=False))
    if len(on_items) == 0:
        return {}
    item_keys, item_of_event = _groups(
        (columns.catalogs.codes[on_items], len(columns.catalogs.names)),
        (columns.items.codes[on_items], len(columns.items.names)),
    )
    an_event = np.zeros(len(item_keys), dtype=np.int64)
    an_event[item_of_event] = on_items  # one event of each item: they all join the same row
    wanted = None if attributes is None else frozenset(attributes)
    stored_tags = tags.take(pa.array(an_event)).to_pylist()
    stored_attributes = events["item_attributes"].take(pa.array(an_event)).to_pylist()
    features_of_items = [
        item_features(tuple(item_tags), item_attributes, wanted)
        for item_tags, item_attributes in zip(stored_tags, stored_attributes)
    ]
    encoded = pc.dictionary_encode(
        pa.array([f for fs in features_of_items for f in fs], pa.string())
    )
    flat = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    names: list[str] = encoded.dictionary.to_pylist()
    feature_counts = np.array([len(features) for features in features_of_items], dtype=np.int64)
    offsets = np.cumsum(feature_counts) - feature_counts
    repeats = feature_counts[item_of_event]
    pair_rows = np.repeat(on_items, repeats)
    within = np.arange(int(repeats.sum())) - np.repeat(np.cumsum(repeats) - repeats, repeats)
    features = flat[np.repeat(offsets[item_of_event], repeats) + within]
    return _scores(users, totals, pair_rows, features, weight, names)


def _scores(
    users: _Codes,
    totals: np.ndarray,
    pair_rows: np.ndarray,
    features: np.ndarray,
    weight: np.ndarray,
    names: list[str],
) -> dict[str, tuple[Interest, ...]]:
    """Each user's score and evidence per feature, from the (event, feature) pairs."""
    shape = (len(users.names), len(names))
    key = users.codes[pair_rows] * len(names) + features
    pair_weights = weight[pair_rows]
    size = shape[0] * shape[1]
    sums = np.bincount(key, weights=pair_weights, minlength=size).reshape(shape)
    evidence = np.bincount(key[pair_weights != 0], minlength=size).reshape(shape)
    interests: dict[str, tuple[Interest, ...]] = {}
    for user, user_id in sorted(enumerate(users.names), key=lambda pair: pair[1]):
        total = float(totals[user])
        present = np.flatnonzero(evidence[user])
        if not total > 0 or len(present) == 0:
            continue
        scored = sorted(
            zip(
                (sums[user, present] / total).tolist(),
                [names[f] for f in present.tolist()],
                evidence[user, present].tolist(),
            ),
            key=lambda entry: (-entry[0], entry[1]),
        )
        interests[user_id] = tuple(Interest(f, score, count) for score, f, count in scored)
    return interests
