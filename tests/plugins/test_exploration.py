"""The exploration reranker: Thompson sampling over new items, in bounded slots."""

from __future__ import annotations

import numpy as np

from infogap.plugins.exploration import (
    REASON,
    ExplorationConfig,
    ExplorationReranker,
    thompson_pick,
)
from infogap.server.plugin import ItemExposure, RerankContext, ScoredItem


class FixedFeedback:
    """An ``ItemFeedback`` over fixed counts, counting how often it is read."""

    def __init__(self, exposure: ItemExposure) -> None:
        self.exposure_value = exposure
        self.reads: list[tuple[str, list[str], list[str]]] = []

    def exposure(self, catalog, impression_types, click_types) -> ItemExposure:
        self.reads.append((catalog, list(impression_types), list(click_types)))
        return self.exposure_value


def exposure(**items: tuple[int, int, int]) -> ItemExposure:
    """item id -> (impressions, clicks, other events)."""
    counts = np.array(list(items.values()), dtype=np.int64).reshape(-1, 3)
    return ItemExposure(
        np.array(list(items), dtype=object), counts[:, 0], counts[:, 1], counts[:, 2]
    )


def context(count: int, allowed: set[str]) -> RerankContext:
    return RerankContext(
        "u",
        "default",
        count,
        "lightfm",
        lambda _: (),
        eligible_items=lambda ids: [ScoredItem(i, 0.0, "scored") for i in ids if i in allowed],
    )


def candidates(n: int) -> list[ScoredItem]:
    return [ScoredItem(f"old-{k}", 10.0 - k, "r") for k in range(n)]


def test_thompson_pick_is_seeded_and_exact():
    clicks = np.array([0, 5, 1, 0, 2])
    misses = np.array([0, 5, 30, 0, 1])
    first = thompson_pick(clicks, misses, np.random.default_rng(7), 3)
    assert first.tolist() == [3, 1, 4]
    assert thompson_pick(clicks, misses, np.random.default_rng(7), 3).tolist() == [3, 1, 4]


def test_thompson_pick_favours_clicked_items_and_drops_ignored_ones():
    rng = np.random.default_rng(0)
    clicks = np.array([40, 0, 0])
    misses = np.array([10, 50, 0])  # clicked a lot, ignored, never shown
    firsts = [thompson_pick(clicks, misses, rng, 1)[0] for _ in range(200)]
    assert firsts.count(1) == 0  # Beta(1, 51) never beats Beta(41, 11)
    assert firsts.count(0) > firsts.count(2) > 0  # the unknown one still gets a chance


def test_slots_are_bounded_per_count():
    reranker = ExplorationReranker(ExplorationConfig(slots=1), FixedFeedback(exposure()))
    assert [reranker.slots_for(n) for n in (5, 10, 19, 20, 30)] == [0, 1, 1, 2, 3]


def test_new_items_take_the_last_slots_with_the_exploration_reason():
    feedback = FixedFeedback(
        exposure(fresh=(0, 0, 0), liked=(10, 9, 0), old=(500, 5, 0), busy=(0, 0, 50))
    )
    config = ExplorationConfig(slots=1, seed=3)
    reranker = ExplorationReranker(config, feedback)
    ranked = reranker.rerank(context(10, {"fresh", "liked", "old", "busy"}), candidates(30))
    assert [i.item_id for i in ranked[:9]] == [f"old-{k}" for k in range(9)]
    assert ranked[9].item_id in {"fresh", "liked"} and ranked[9].reason == REASON
    assert [i.item_id for i in ranked[10:]] == [f"old-{k}" for k in range(9, 30)]
    # "old" was shown 500 times and "busy" has 50 other events: neither is new.
    seen = {
        reranker.rerank(context(10, {"fresh", "liked", "old", "busy"}), candidates(30))[9].item_id
        for _ in range(50)
    }
    assert seen <= {"fresh", "liked"} and "liked" in seen


def test_only_eligible_items_are_explored_and_nothing_without_slots():
    feedback = FixedFeedback(exposure(fresh=(0, 0, 0)))
    reranker = ExplorationReranker(ExplorationConfig(slots=1, seed=1), feedback)
    assert reranker.rerank(context(10, set()), candidates(30)) == candidates(30)
    assert reranker.rerank(context(5, {"fresh"}), candidates(15)) == candidates(15)


def test_a_new_item_already_listed_uses_the_slot():
    feedback = FixedFeedback(exposure(**{"old-3": (0, 0, 0), "fresh": (0, 0, 0)}))
    reranker = ExplorationReranker(ExplorationConfig(slots=1, seed=1), feedback)
    assert reranker.rerank(context(10, {"fresh", "old-3"}), candidates(30)) == candidates(30)


def test_counts_are_read_once_per_refresh_period():
    now = [0.0]
    feedback = FixedFeedback(exposure(fresh=(0, 0, 0)))
    config = ExplorationConfig(slots=1, seed=1, refresh_seconds=60, click_types=["click", "buy"])
    reranker = ExplorationReranker(config, feedback, clock=lambda: now[0])
    for _ in range(5):
        reranker.rerank(context(10, {"fresh"}), candidates(30))
    assert feedback.reads == [("default", ["impression"], ["click", "buy"])]
    now[0] = 61.0
    reranker.rerank(context(10, {"fresh"}), candidates(30))
    assert len(feedback.reads) == 2
