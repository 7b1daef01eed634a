"""The built-in parts of a profile: behaviour (counts, windows, RFM), interests, segments.

Each is a profile contributor registered like any third-party one, so a deployment can turn a
part off (``plugins.disabled = ["profile_sections"]``) or add its own beside them.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, Field

from infogap.server.plugin import (
    Behaviour,
    EventTypeCount,
    ProfileContributor,
    ProfileDraft,
    Rfm,
    WindowCounts,
    hookimpl,
)


class ProfileSectionsConfig(BaseModel):
    """Read from the core's ``[profiles]`` section, where users have always written it."""

    interest_top_n: int = Field(default=10, ge=0, description="Interests shown per profile.")


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
def infogap_plugin_config_model() -> type[BaseModel]:
    return ProfileSectionsConfig


@hookimpl
def infogap_register_profile_contributors(
    register: Callable[[ProfileContributor], None], config: ProfileSectionsConfig
) -> None:
    register(BehaviourSection())
    register(InterestsSection(config.interest_top_n))
    register(SegmentsSection())
