"""What a profile is made of: the facts computed for a user at a moment (``as_of``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from infogap.server.core.domain import CatalogActivity, Interest


@dataclass(frozen=True)
class ProfileFacts:
    """Everything known about one user as of ``as_of``; events after it are ignored."""

    user_id: str
    as_of: datetime
    known: bool  # upserted, or has events up to as_of
    attributes: Mapping[str, str] = field(default_factory=dict)
    attributes_updated: datetime | None = None
    event_count: int = 0
    counts_by_type: Mapping[str, int] = field(default_factory=dict)
    value_by_type: Mapping[str, float] = field(default_factory=dict)
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    window_counts: Mapping[int, Mapping[str, int]] = field(default_factory=dict)
    catalog_activities: tuple[CatalogActivity, ...] = ()
    active_days: int = 0
    recency_days: float | None = None
    frequency: int = 0
    monetary: float = 0.0
    interests: tuple[Interest, ...] = ()  # every feature with evidence, strongest first
    cluster: str | None = None  # the data-driven segment, if the user was clustered

    @property
    def interest_scores(self) -> Mapping[str, float]:
        return {interest.feature: interest.score for interest in self.interests}
