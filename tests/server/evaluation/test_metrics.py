"""The offline-evaluation metrics against hand-computed cases, edge cases included."""

from __future__ import annotations

import math

import numpy as np
import pytest

from infogap.server.evaluation import metrics as m


def test_precision_recall_f1_by_hand() -> None:
    ranked, relevant = ["a", "b", "c", "d"], {"b", "d", "z"}
    assert m.precision_at_k(ranked, relevant, 4) == pytest.approx(2 / 4)
    assert m.recall_at_k(ranked, relevant, 4) == pytest.approx(2 / 3)
    assert m.f1_at_k(ranked, relevant, 4) == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert m.precision_at_k(ranked, relevant, 2) == pytest.approx(1 / 2)
    assert m.recall_at_k(ranked, relevant, 1) == 0.0


def test_ndcg_map_mrr_hit_rate_by_hand() -> None:
    ranked, relevant = ["a", "b", "c", "d"], {"b", "d", "z"}
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert m.ndcg_at_k(ranked, relevant, 4) == pytest.approx(dcg / ideal)
    assert m.average_precision_at_k(ranked, relevant, 4) == pytest.approx((1 / 2 + 2 / 4) / 3)
    assert m.reciprocal_rank_at_k(ranked, relevant, 4) == pytest.approx(1 / 2)
    assert m.hit_rate_at_k(ranked, relevant, 4) == 1.0
    assert m.hit_rate_at_k(ranked, relevant, 1) == 0.0
    assert m.reciprocal_rank_at_k(ranked, relevant, 1) == 0.0


def test_perfect_ranking_scores_one() -> None:
    ranked, relevant = ["a", "b"], {"a", "b"}
    for metric in (m.ndcg_at_k, m.average_precision_at_k, m.reciprocal_rank_at_k, m.hit_rate_at_k):
        assert metric(ranked, relevant, 2) == pytest.approx(1.0)


def test_no_relevant_items_is_refused() -> None:
    for metric in (
        m.precision_at_k,
        m.recall_at_k,
        m.f1_at_k,
        m.ndcg_at_k,
        m.average_precision_at_k,
        m.reciprocal_rank_at_k,
        m.hit_rate_at_k,
    ):
        with pytest.raises(ValueError):
            metric(["a", "b"], set(), 2)
    assert math.isnan(m.ranking_auc(["a"], set(), {"a", "b"}))


def test_no_hit_scores_zero() -> None:
    ranked, relevant = ["a", "b"], {"z"}
    assert m.f1_at_k(ranked, relevant, 2) == 0.0
    assert m.ndcg_at_k(ranked, relevant, 2) == 0.0
    assert m.average_precision_at_k(ranked, relevant, 2) == 0.0


def test_fewer_than_k_recommendations() -> None:
    ranked, relevant = ["a"], {"a", "b"}
    assert m.precision_at_k(ranked, relevant, 5) == pytest.approx(1 / 5)  # missing slots miss
    assert m.recall_at_k(ranked, relevant, 5) == pytest.approx(1 / 2)
    ideal = 1 + 1 / math.log2(3)
    assert m.ndcg_at_k(ranked, relevant, 5) == pytest.approx(1 / ideal)
    assert m.average_precision_at_k(ranked, relevant, 5) == pytest.approx(1 / 2)
    assert m.precision_at_k([], relevant, 3) == 0.0
    assert math.isnan(m.intra_list_diversity(["a"], {"a": ["x"]}, 5))


def test_ties() -> None:
    # AUC: a tie between a positive and a negative counts half.
    assert m.auc([1.0], [1.0]) == 0.5
    assert m.auc([2.0, 1.0], [1.0, 0.0]) == pytest.approx((1 + 1 + 0.5 + 1) / 4)
    # Ranking from scores: equal scores keep their input order (deterministic).
    assert m.rank_by_score({"a": 1.0, "b": 2.0, "c": 1.0}) == ["b", "a", "c"]
    # Popularity ranks: tied items share their mean rank.
    assert m.popularity_ranks([5, 3, 3, 1]).tolist() == [1.0, 2.5, 2.5, 4.0]


def test_ranking_auc_matches_pairwise_auc() -> None:
    candidates = ["a", "b", "c", "d", "e"]
    ranked, relevant = ["b", "a", "c"], {"a", "e"}
    # Implied scores: b 3, a 2, c 1, unlisted d and e tie at 0.
    scores = {"b": 3, "a": 2, "c": 1, "d": 0, "e": 0}
    expected = m.auc(
        [scores[i] for i in candidates if i in relevant],
        [scores[i] for i in candidates if i not in relevant],
    )
    assert m.ranking_auc(ranked, relevant, candidates) == pytest.approx(expected)
    assert expected == pytest.approx((2 + 0.5) / 6)
    assert m.ranking_auc(["a", "b"], {"a"}, ["a", "b"]) == 1.0


def test_coverage_diversity_novelty() -> None:
    assert m.catalogue_coverage([["a", "b"], ["b", "c"]], 10, 2) == pytest.approx(0.3)
    assert m.catalogue_coverage([["a", "b"], ["b", "c"]], 10, 1) == pytest.approx(0.2)
    tags = {"a": ["x"], "b": ["x", "y"], "c": []}
    # pairs: a-b 1 - 1/2, a-c 1, b-c 1
    assert m.intra_list_diversity(["a", "b", "c"], tags, 3) == pytest.approx((0.5 + 1 + 1) / 3)
    assert m.intra_list_diversity(["c", "c2"], {}, 2) == 0.0  # two untagged items are alike
    ranks = m.popularity_ranks([10, 5, 1])
    assert m.mean_popularity_rank([0, 2], ranks, 2) == pytest.approx(2.0)


def test_bootstrap_interval_contains_the_point_estimate() -> None:
    values = np.random.default_rng(3).random(300)
    low, high = m.bootstrap_ci(values, resamples=200, seed=42)
    assert low <= values.mean() <= high
    assert high - low < 0.2
    assert m.bootstrap_ci(values, resamples=200, seed=42) == (low, high)  # fixed seed
    lists = [[i % 7] for i in range(50)]
    coverage = m.catalogue_coverage(lists, 10, 1)
    low, high = m.bootstrap_ci(
        np.arange(len(lists)),
        statistic=lambda chosen: m.catalogue_coverage([lists[i] for i in chosen], 10, 1),
    )
    assert low <= coverage <= high
    assert all(math.isnan(v) for v in m.bootstrap_ci([]))
