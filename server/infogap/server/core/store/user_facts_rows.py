"""The per-user facts of a few hundred events in one pass of plain Python, and the formulas
both of ``core.store.user_facts``'s ways share.

Why: on a typical profile (about a hundred events) numpy's fixed cost per call (a few
microseconds, dozens of calls) is most of the work, and a loop over the rows costs a third
of it; past a few hundred events numpy's speed wins, so ``facts_from_events`` picks by size.
The results are the same either way: sums add in the order of the rows.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from infogap.server.core.domain import CatalogActivity, Interest
from infogap.server.core.store.records import EventTypeActivity, UserFacts

EPOCH = datetime(1970, 1, 1)
_MICROSECONDS = timedelta(microseconds=1)
US_PER_SECOND = 1_000_000
US_PER_DAY = 86_400 * US_PER_SECOND
SECONDS_PER_DAY = 86_400.0


# One event: user_id, catalog, item_id, type, value, event_time as Unix microseconds, its
# item's tags and attributes as JSON text (both None for an item not stored).
EventRow = tuple[str, str, str, str, float, int, "list[str] | None", "str | None"]


def facts_of_rows(
    rows: Iterable[EventRow],
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
    """``facts_from_events`` (same result) of events given as rows, not as a table: a
    backend that reads the rows themselves skips building one."""
    as_of_us = microseconds(as_of)
    windows_us = [microseconds(start) for start in window_starts]
    frequency_us = microseconds(frequency_start)
    weights = weights_by_type(type_weights)
    as_of_seconds = as_of_us // US_PER_SECOND
    half_life_seconds = half_life_days * SECONDS_PER_DAY
    wanted = None if attributes is None else frozenset(attributes)

    # (user, type) -> [count, value sum, first, last, count since frequency start, windows]
    activity: dict[tuple[str, str], list[Any]] = {}
    catalogs: dict[tuple[str, str], list[Any]] = {}  # -> [count, distinct items]
    days: dict[str, set[int]] = {}
    totals: dict[str, float] = {}  # the weighted events' weight sum
    sums: dict[str, dict[str, list[Any]]] = {}  # user -> feature -> [weight sum, evidence]
    features_of: dict[tuple[str, str], tuple[str, ...]] = {}  # every event on an item joins
    # the same item row, so one look-up per item

    for user_id, catalog, item_id, event_type, value, time_us, tags, stored in rows:
        if time_us is None or time_us > as_of_us:
            continue
        by_type = activity.get((user_id, event_type))
        if by_type is None:
            by_type = activity[(user_id, event_type)] = [0, 0.0, time_us, time_us, 0, None]
            by_type[5] = [0] * len(windows_us)
        by_type[0] += 1
        by_type[1] += value
        if time_us < by_type[2]:
            by_type[2] = time_us
        if time_us > by_type[3]:
            by_type[3] = time_us
        if time_us > frequency_us:
            by_type[4] += 1
        for position, start in enumerate(windows_us):
            if time_us > start:
                by_type[5][position] += 1
        by_catalog = catalogs.get((user_id, catalog))
        if by_catalog is None:
            by_catalog = catalogs[(user_id, catalog)] = [0, set()]
        by_catalog[0] += 1
        by_catalog[1].add(item_id)
        # the UTC date, floored as a cast to DATE does
        days.setdefault(user_id, set()).add(time_us // US_PER_DAY)

        type_weight = weights.get(event_type)
        if type_weight is None:
            continue  # a type without weight counts for nothing
        # date_diff('second') counts the second boundaries between the two times.
        age_seconds = as_of_seconds - time_us // US_PER_SECOND
        weight = signal(type_weight, value) * 0.5 ** (age_seconds / half_life_seconds)
        totals[user_id] = totals.get(user_id, 0.0) + weight
        if tags is None:
            continue  # an item not stored
        item = (catalog, item_id)
        features = features_of.get(item)
        if features is None:
            features = features_of[item] = item_features(tuple(tags), stored, wanted)
        of_user = sums.get(user_id)
        if of_user is None:
            of_user = sums[user_id] = {}
        counts = weight != 0
        for feature in features:
            scored = of_user.get(feature)
            if scored is None:
                of_user[feature] = [weight, int(counts)]  # 0.0 + weight is weight
            else:
                scored[0] += weight
                scored[1] += counts

    if not activity:
        return UserFacts(records, [], {}, {}, {}, clusters)
    return UserFacts(
        records=records,
        activity=_event_type_activity(activity),
        catalog_activity=_catalog_activity(catalogs),
        active_days={user_id: len(found) for user_id, found in sorted(days.items())},
        interests=_interests(totals, sums),
        clusters=clusters,
    )


def event_rows(events: pa.Table) -> Iterable[EventRow]:
    """The rows of a table of ``USER_EVENTS_SCHEMA``, a missing value as NaN (what the array
    way makes of a null)."""
    values = events["value"]
    if values.null_count:
        values = values.fill_null(float("nan"))
    return zip(
        *(events[name].to_pylist() for name in ("user_id", "catalog", "item_id", "type")),
        values.to_pylist(),
        events["event_time"].cast(pa.timestamp("us")).cast(pa.int64()).to_pylist(),
        events["item_tags"].to_pylist(),
        events["item_attributes"].to_pylist(),
    )


def _event_type_activity(activity: dict[tuple[str, str], list[Any]]) -> list[EventTypeActivity]:
    found = sorted(activity.items(), key=lambda entry: (entry[0][0], -entry[1][0], entry[0][1]))
    return [
        EventTypeActivity(
            user_id, event_type, count, value_sum, moment(first), moment(last), since, tuple(ws)
        )
        for (user_id, event_type), (count, value_sum, first, last, since, ws) in found
    ]


def _catalog_activity(
    catalogs: dict[tuple[str, str], list[Any]],
) -> dict[str, tuple[CatalogActivity, ...]]:
    found = sorted(catalogs.items(), key=lambda entry: (entry[0][0], -entry[1][0], entry[0][1]))
    activities: dict[str, list[CatalogActivity]] = {}
    for (user_id, catalog), (count, items) in found:
        activities.setdefault(user_id, []).append(CatalogActivity(catalog, count, len(items)))
    return {user_id: tuple(found) for user_id, found in activities.items()}


def _interests(
    totals: dict[str, float], sums: dict[str, dict[str, list[Any]]]
) -> dict[str, tuple[Interest, ...]]:
    """Each user's score and evidence per feature with evidence; none for a user whose
    weighted events weigh nothing in total."""
    interests: dict[str, tuple[Interest, ...]] = {}
    for user_id in sorted(sums):
        total = totals[user_id]
        if not total > 0:
            continue
        scored = sorted(
            (
                (weight_sum / total, feature, evidence)
                for feature, (weight_sum, evidence) in sums[user_id].items()
                if evidence
            ),
            key=lambda entry: (-entry[0], entry[1]),
        )
        if scored:
            interests[user_id] = tuple(Interest(f, s, n) for s, f, n in scored)
    return interests


def microseconds(moment: datetime) -> int:
    """A naive UTC moment as Unix microseconds."""
    return (moment - EPOCH) // _MICROSECONDS


def moment(microseconds: int) -> datetime:
    """Unix microseconds as a naive UTC moment."""
    return EPOCH + timedelta(microseconds=int(microseconds))


def weights_by_type(table: pa.Table) -> dict[str, tuple[float, float | None]]:
    """type -> (weight, positive_from) of a ``type_weights`` table."""
    return {row["type"]: (float(row["weight"]), row["positive_from"]) for row in table.to_pylist()}


def signal(type_weight: tuple[float, float | None], value: float) -> float:
    """An event's training signal, as ``EVENT_WEIGHT_SQL`` computes it."""
    weight, positive_from = type_weight
    if positive_from is None:
        return weight
    if value >= positive_from:
        return weight * (value - positive_from + 1)
    return 0.0


@functools.lru_cache(maxsize=65_536)
def item_features(
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
