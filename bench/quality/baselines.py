"""Ranking metrics, and the numpy references of the cold-start scenarios (the strong
baselines of the accuracy protocols are ``infogap.server.evaluation.baselines``)."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Collection, Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from infogap.server.evaluation.metrics import ndcg_at_k, precision_at_k, recall_at_k

from .data import (
    Dataset,
    Events,
)
from .protocol import K, Rankings

# --- metrics ----------------------------------------------------------------------------------


def ranking_metrics(
    rankings: Mapping[int, Sequence[int]], relevant: Mapping[int, Collection[int]], k: int = K
) -> dict[str, float]:
    """Means over the users of ``relevant`` (each with at least one relevant item)."""
    users = sorted(relevant)

    def mean(metric: Callable[[Sequence[int], Collection[int], int], float]) -> float:
        return statistics.fmean(metric(rankings[u], relevant[u], k) for u in users)

    return {
        f"ndcg@{k}": mean(ndcg_at_k),
        f"precision@{k}": mean(precision_at_k),
        f"recall@{k}": mean(recall_at_k),
        "users": len(users),
    }


# --- numpy candidates -------------------------------------------------------------------------


def top_k(
    scores: np.ndarray,
    users: Sequence[int],
    excluded: Mapping[int, Collection[int]],
    k: int = K,
) -> Rankings:
    """Each user's k best items, leaving out their excluded ones. ``scores`` has a row per user,
    or is one row shared by every user."""
    rankings = {}
    for user in users:
        row = np.array(scores[user] if scores.ndim == 2 else scores, dtype=float)
        row[list(excluded.get(user, ()))] = -np.inf
        best = np.argpartition(-row, k)[:k]
        rankings[user] = best[np.argsort(-row[best], kind="stable")].tolist()
    return rankings


def popularity_scores(positives: Events, item_count: int) -> np.ndarray:
    return np.bincount(positives.item, minlength=item_count).astype(float)


def genre_affinity_scores(data: Dataset, positives: Events) -> np.ndarray:
    """A content-only reference for cold items: how often each user liked each item's genres."""
    genres = sorted({g for item_genres in data.item_tags for g in item_genres})
    column = {g: i for i, g in enumerate(genres)}
    item_genres = np.zeros((data.item_count, len(genres)))
    for item, names in enumerate(data.item_tags):
        item_genres[item, [column[g] for g in names]] = 1.0
    liked = sp.coo_matrix(
        (np.ones(len(positives)), (positives.user, positives.item)),
        shape=(data.user_count, data.item_count),
    )
    user_genres = liked @ item_genres
    return user_genres @ item_genres.T
