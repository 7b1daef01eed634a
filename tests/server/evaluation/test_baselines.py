"""The strong baselines fit outside the server (``evaluation.baselines``), on planted data: two
groups of users, each buying from its own half of the catalogue."""

from __future__ import annotations

import numpy as np
import pytest

from infogap.server.evaluation import baselines
from infogap.server.evaluation.baselines import (
    BASELINES,
    rank,
    run_baselines,
    training_matrix,
)

USERS_PER_GROUP = 40
ITEMS_PER_GROUP = 12
BOUGHT = 6
PERSONAL = ("ease", "item_knn", "als", "lightfm_warp")


def planted() -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Users 0..39 buy among items 0..11, users 40..79 among items 12..23; item popularity
    falls with the index inside each group, so that popularity has an order to find."""
    rng = np.random.default_rng(3)
    users, items = [], []
    weights = 1.0 / np.arange(1, ITEMS_PER_GROUP + 1)
    for user in range(2 * USERS_PER_GROUP):
        group = user // USERS_PER_GROUP
        chosen = rng.choice(ITEMS_PER_GROUP, BOUGHT, replace=False, p=weights / weights.sum())
        users += [user] * BOUGHT
        items += (chosen + group * ITEMS_PER_GROUP).tolist()
    return np.array(users), np.array(items), (2 * USERS_PER_GROUP, 2 * ITEMS_PER_GROUP)


def fitted() -> tuple[dict[str, baselines.BaselineResult], dict[int, set[int]]]:
    users, items, shape = planted()
    matrix = training_matrix(users, items, shape)
    seen: dict[int, set[int]] = {}
    for user, item in zip(users.tolist(), items.tolist()):
        seen.setdefault(user, set()).add(item)
    results = run_baselines(matrix, list(range(shape[0])), seen, count=4, seed=1)
    return {r.key: r for r in results}, seen


def test_every_baseline_runs_in_order_and_leaves_out_the_seen_items() -> None:
    results, seen = fitted()
    assert list(results) == [b.key for b in BASELINES]
    for result in results.values():
        assert result.fit_seconds >= 0
        assert len(result.rankings) == 2 * USERS_PER_GROUP
        for user, ranked in result.rankings.items():
            assert len(ranked) == len(set(ranked)) == 4, (result.key, user)
            assert not set(ranked) & seen[user], (result.key, user)


def test_personal_baselines_find_the_planted_groups() -> None:
    results, _ = fitted()
    for key in PERSONAL:
        rankings = results[key].rankings
        own = [
            item // ITEMS_PER_GROUP == user // USERS_PER_GROUP
            for user, ranked in rankings.items()
            for item in ranked
        ]
        assert np.mean(own) >= 0.9, key


def test_popularity_serves_the_same_order_to_everyone() -> None:
    users, items, shape = planted()
    scorer = baselines.fit_popularity(training_matrix(users, items, shape), seed=0)
    counts = np.bincount(items, minlength=shape[1])
    ranked = rank(scorer, shape[1], [0, 1], {}, count=3)
    expected = sorted(range(shape[1]), key=lambda i: (-counts[i], i))[:3]
    assert ranked == {0: expected, 1: expected}


def test_rank_keeps_to_the_candidates_given() -> None:
    users, items, shape = planted()
    scorer = baselines.fit_popularity(training_matrix(users, items, shape), seed=0)
    counts = np.bincount(items, minlength=shape[1])
    expected = sorted([3, 20], key=lambda i: (-counts[i], i))
    ranked = rank(scorer, shape[1], [0], {0: {5}}, count=5, candidates=[3, 5, 20])
    assert ranked == {0: expected}


def test_ease_keeps_to_the_most_popular_items_and_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    users, items, shape = planted()
    monkeypatch.setattr(baselines, "EASE_MAX_ITEMS", 5)
    counts = np.bincount(items, minlength=shape[1])
    top = set(np.argsort(-counts, kind="stable")[:5].tolist())
    ease = [b for b in BASELINES if b.key == "ease"]
    (result,) = run_baselines(
        training_matrix(users, items, shape), [0, 50], {}, count=8, seed=0, baselines=ease
    )
    assert result.notes == ["on the 5 most popular items"]
    for ranked in result.rankings.values():
        assert ranked and set(ranked) <= top
