"""Ranking metrics at k with binary relevance, beyond-accuracy metrics and bootstrap intervals.

Conventions, shared by every function:

- ``ranked`` is a list of distinct items, best first; it may be shorter than k. A missing slot
  counts as a miss (precision divides by k, not by the list's length).
- ``relevant`` must hold at least one item: a user without test positives is not evaluated, so
  the per-user accuracy metrics raise ``ValueError`` rather than invent a value.
- Positions are the ranking; equal scores are ordered before they reach these functions (see
  ``rank_by_score``), except in ``auc``, where a tie counts half.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import numpy as np

K = 10


def _hits(ranked: Sequence[Any], relevant: Collection[Any], k: int) -> list[bool]:
    if not relevant:
        raise ValueError("ranking metrics need at least one relevant item")
    if k < 1:
        raise ValueError("k must be at least 1")
    return [item in relevant for item in ranked[:k]]


def ndcg_at_k(ranked: Sequence[Any], relevant: Collection[Any], k: int = K) -> float:
    """Binary-relevance NDCG; the ideal ranking puts min(k, |relevant|) relevant items first."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    gains = np.array(_hits(ranked, relevant, k), dtype=float)
    ideal = discounts[: min(k, len(relevant))].sum()
    return float(gains @ discounts[: len(gains)] / ideal)


def precision_at_k(ranked: Sequence[Any], relevant: Collection[Any], k: int = K) -> float:
    """Relevant items among the first k, over k (a shorter list counts its missing slots)."""
    return sum(_hits(ranked, relevant, k)) / k


def recall_at_k(ranked: Sequence[Any], relevant: Collection[Any], k: int = K) -> float:
    """Relevant items among the first k, over all relevant items."""
    return sum(_hits(ranked, relevant, k)) / len(relevant)


def f1_at_k(ranked: Sequence[Any], relevant: Collection[Any], k: int = K) -> float:
    """Harmonic mean of this user's precision and recall at k (0 without a hit)."""
    precision, recall = precision_at_k(ranked, relevant, k), recall_at_k(ranked, relevant, k)
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def average_precision_at_k(ranked: Sequence[Any], relevant: Collection[Any], k: int = K) -> float:
    """Mean of precision@i at each hit's rank i, over min(k, |relevant|) (the hits possible)."""
    hits = _hits(ranked, relevant, k)
    found, total = 0, 0.0
    for rank, hit in enumerate(hits, start=1):
        if hit:
            found += 1
            total += found / rank
    return total / min(k, len(relevant))


def reciprocal_rank_at_k(ranked: Sequence[Any], relevant: Collection[Any], k: int = K) -> float:
    """1 / rank of the first relevant item within the first k; 0 without one."""
    return next((1.0 / rank for rank, hit in enumerate(_hits(ranked, relevant, k), 1) if hit), 0.0)


def hit_rate_at_k(ranked: Sequence[Any], relevant: Collection[Any], k: int = K) -> float:
    """1 if any of the first k items is relevant, else 0."""
    return float(any(_hits(ranked, relevant, k)))


def auc(positive_scores: Sequence[float], negative_scores: Sequence[float]) -> float:
    """Probability that a random positive scores above a random negative; ties count half."""
    if len(positive_scores) == 0 or len(negative_scores) == 0:
        raise ValueError("AUC needs at least one positive and one negative")
    positives = np.asarray(positive_scores, dtype=float)[:, None]
    negatives = np.asarray(negative_scores, dtype=float)[None, :]
    return float(np.mean((positives > negatives) + 0.5 * (positives == negatives)))


def ranking_auc(
    ranked: Sequence[Any], relevant: Collection[Any], candidates: Collection[Any]
) -> float:
    """AUC of a ranked list over a candidate set: listed items score by position, candidates
    left off the list tie below all of them. Equals ``auc`` over those implied scores; NaN when
    the candidates hold no relevant item or nothing else."""
    candidates = set(candidates)
    positives = len(candidates & set(relevant))
    negatives = len(candidates) - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    listed = [item for item in ranked if item in candidates]
    unlisted_negatives = negatives - sum(item not in relevant for item in listed)
    above, negatives_below_listed = 0.0, negatives - unlisted_negatives
    for item in listed:
        if item in relevant:
            above += negatives_below_listed + unlisted_negatives
        else:
            negatives_below_listed -= 1
    unlisted_positives = positives - sum(item in relevant for item in listed)
    above += 0.5 * unlisted_positives * unlisted_negatives
    return above / (positives * negatives)


def rank_by_score(scores: Mapping[Any, float]) -> list[Any]:
    """Items by descending score; equal scores keep the mapping's order (a stable sort)."""
    return sorted(scores, key=lambda item: -scores[item])


def intra_list_diversity(
    ranked: Sequence[Any], tags: Mapping[Any, Collection[str]], k: int = K
) -> float:
    """Mean Jaccard distance between the tag sets of every pair among the first k items (two
    untagged items count as alike); NaN for fewer than two items."""
    top = ranked[:k]
    if len(top) < 2:
        return float("nan")
    distances = []
    for a, b in itertools.combinations(top, 2):
        tags_a, tags_b = set(tags.get(a, ())), set(tags.get(b, ()))
        union = tags_a | tags_b
        distances.append(1.0 - len(tags_a & tags_b) / len(union) if union else 0.0)
    return float(np.mean(distances))


def popularity_ranks(counts: Sequence[float] | np.ndarray) -> np.ndarray:
    """Rank of each item by popularity, 1 = most popular; ties share their mean rank."""
    values = np.asarray(counts, dtype=float)
    order = np.argsort(-values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    for value in np.unique(counts):  # mean rank within ties
        same = counts == value
        ranks[same] = ranks[same].mean()
    return ranks


def mean_popularity_rank(ranked: Sequence[int], ranks: np.ndarray, k: int = K) -> float:
    """Mean popularity rank of the first k items (higher: less popular, more novel)."""
    top = list(ranked[:k])
    return float(ranks[top].mean()) if top else float("nan")


def catalogue_coverage(lists: Sequence[Sequence[Any]], catalogue_size: int, k: int = K) -> float:
    """Share of the catalogue that appears in at least one of the lists' first k items."""
    if catalogue_size <= 0:
        raise ValueError("the catalogue is empty")
    return len({item for ranked in lists for item in ranked[:k]}) / catalogue_size


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    *,
    resamples: int = 200,
    seed: int = 42,
    statistic: Callable[[np.ndarray], float] | None = None,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (or ``statistic`` of the chosen positions)
    over users resampled with replacement. With ``statistic``, ``values`` are the positions
    it is given; NaN values are left out of the mean."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    samples = rng.integers(0, len(values), size=(resamples, len(values)))
    if statistic is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN resample
            estimates = np.nanmean(values[samples], axis=1)
    else:
        estimates = np.array([statistic(sample) for sample in samples])
    tail = (1 - confidence) / 2 * 100
    low, high = np.nanpercentile(estimates, [tail, 100 - tail])
    return float(low), float(high)
