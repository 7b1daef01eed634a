"""Profile facts, for a few users or for everyone in one pass, assembled from the store's
per-user aggregates.

Every query takes ``as_of`` and ignores later events, so a profile "as of" a date is
reproducible. ``user_ids=None`` means all users (segment sizes, clustering). Up to
``profiles.event_path_max_users`` users (GetProfile, small batches) come from one
``Store.user_facts`` call, which reads their events and aggregates them; more, and everyone,
from the store's aggregate queries, which cost more to plan but scale to the whole table.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from infogap.server.config import ProfileSettings
from infogap.server.core.domain import ProfileFacts
from infogap.server.core.store import Store, UserFacts

_SECONDS_PER_DAY = 86_400.0


def compute_facts(
    store: Store,
    as_of: datetime,
    user_ids: Sequence[str] | None,
    settings: ProfileSettings,
    type_weights: pa.Table,
) -> dict[str, ProfileFacts]:
    """Facts of ``user_ids`` (or of every user) as of ``as_of``; unknown users are left out."""
    arguments: dict[str, Any] = {
        "window_starts": [as_of - timedelta(days=days) for days in settings.windows_days],
        "frequency_start": as_of - timedelta(days=settings.frequency_window_days),
        "type_weights": type_weights,
        "half_life_days": settings.interest_half_life_days,
        "attributes": settings.interest_attributes,
    }
    if user_ids is not None and len(user_ids) <= settings.event_path_max_users:
        found = store.user_facts(as_of, user_ids, **arguments)
    else:
        found = aggregate_facts(store, as_of, user_ids, **arguments)
    return _assemble(found, as_of, settings)


def aggregate_facts(
    store: Store,
    as_of: datetime,
    user_ids: Sequence[str] | None,
    *,
    window_starts: Sequence[datetime],
    frequency_start: datetime,
    type_weights: pa.Table,
    half_life_days: float,
    attributes: Sequence[str] | None,
) -> UserFacts:
    """The facts of ``user_ids`` (None: everyone) from the store's aggregate queries, one per
    kind of fact: what ``Store.user_facts`` returns for a few users."""
    return UserFacts(
        records=store.user_records(user_ids),
        activity=store.event_type_activity(
            as_of, user_ids, window_starts=window_starts, frequency_start=frequency_start
        ),
        catalog_activity=store.catalog_activity(as_of, user_ids),
        active_days=store.active_days(as_of, user_ids),
        interests=store.interest_scores(
            as_of,
            user_ids,
            type_weights=type_weights,
            half_life_days=half_life_days,
            attributes=attributes,
        ),
        clusters=store.user_clusters(user_ids),
    )


def _assemble(
    found: UserFacts, as_of: datetime, settings: ProfileSettings
) -> dict[str, ProfileFacts]:
    parts: dict[str, dict[str, Any]] = {}
    for user_id, (attributes, updated) in found.records.items():
        parts.setdefault(user_id, {}).update(attributes=attributes, attributes_updated=updated)
    _add_behaviour(found, as_of, settings, parts)
    for user_id, user_interests in found.interests.items():
        parts.setdefault(user_id, {})["interests"] = user_interests
    for user_id, cluster in found.clusters.items():
        if user_id in parts:
            parts[user_id]["cluster"] = cluster
    return {
        user_id: ProfileFacts(user_id=user_id, as_of=as_of, known=True, **fields)
        for user_id, fields in parts.items()
    }


def _add_behaviour(
    found: UserFacts,
    as_of: datetime,
    settings: ProfileSettings,
    parts: dict[str, dict[str, Any]],
) -> None:
    monetary_types = set(settings.monetary_event_types)
    for row in found.activity:
        fields = parts.setdefault(row.user_id, {})
        fields.setdefault("counts_by_type", {})[row.type] = row.count
        fields.setdefault("value_by_type", {})[row.type] = row.value_sum
        fields["event_count"] = fields.get("event_count", 0) + row.count
        fields["first_seen"] = min(row.first_seen, fields.get("first_seen") or row.first_seen)
        fields["last_seen"] = max(row.last_seen, fields.get("last_seen") or row.last_seen)
        window_counts = fields.setdefault("window_counts", {d: {} for d in settings.windows_days})
        for days, window_count in zip(settings.windows_days, row.window_counts):
            if window_count:
                window_counts[days][row.type] = window_count
        if row.type in monetary_types:
            fields["frequency"] = fields.get("frequency", 0) + row.count_since_frequency_start
            fields["monetary"] = fields.get("monetary", 0.0) + row.value_sum
    for fields in parts.values():
        if "last_seen" in fields:
            fields["recency_days"] = (
                as_of - fields["last_seen"]
            ).total_seconds() / _SECONDS_PER_DAY

    for user_id, activities in found.catalog_activity.items():
        parts.setdefault(user_id, {})["catalog_activities"] = activities

    for user_id, days in found.active_days.items():
        parts.setdefault(user_id, {})["active_days"] = days
