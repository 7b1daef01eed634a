"""The built-in parts of a profile: behaviour (counts, windows, RFM), interests, segments.

Each is a profile contributor registered like any third-party one, so a deployment can turn a
part off (``plugins.disabled = ["profile_sections"]``) or add its own beside them.
"""

from __future__ import annotations

from collections.abc import Callable

from infogap.server.config import Settings
from infogap.server.core.domain import Behaviour, EventTypeCount, Rfm, WindowCounts
from infogap.server.core.plugins.hookspecs import hookimpl
from infogap.server.core.plugins.protocols import ProfileContributor, ProfileDraft


class BehaviourSection:
    name = "behaviour"
    order = 10

    def contribute(self, draft: ProfileDraft) -> None:
        facts = draft.facts
        counts = facts.counts_by_type
        draft.behaviour = Behaviour(
            event_count=facts.event_count,
            event_type_counts=tuple(
                EventTypeCount(t, counts[t], facts.value_by_type.get(t, 0.0))
                for t in sorted(counts, key=lambda t: (-counts[t], t))
            ),
            first_seen=facts.first_seen,
            last_seen=facts.last_seen,
            catalog_activities=facts.catalog_activities,
            windows=tuple(
                WindowCounts(
                    days,
                    sum(window.values()),
                    tuple(EventTypeCount(t, n, 0.0) for t, n in sorted(window.items())),
                )
                for days, window in sorted(facts.window_counts.items())
            ),
            rfm=Rfm(facts.recency_days, facts.frequency, facts.monetary),
            active_days=facts.active_days,
        )


class InterestsSection:
    name = "interests"
    order = 20

    def __init__(self, top_n: int) -> None:
        self._top_n = top_n

    def contribute(self, draft: ProfileDraft) -> None:
        draft.interests = list(draft.facts.interests[: self._top_n])


class SegmentsSection:
    name = "segments"
    order = 30

    def contribute(self, draft: ProfileDraft) -> None:
        draft.segment_memberships = draft.segments()


@hookimpl
def infogap_register_profile_contributors(
    register: Callable[[ProfileContributor], None], settings: Settings
) -> None:
    register(BehaviourSection())
    register(InterestsSection(settings.profiles.interest_top_n))
    register(SegmentsSection())
