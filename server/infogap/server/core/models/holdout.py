"""Validation of trained models on held-out interactions, through the models' public
``score_user`` (so any plugin's model can be compared with any other).

The split is temporal, as production is: each validation user's latest interactions are held
out, and a few users are held out whole to stand for the users who arrive with none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from infogap.server.core.models.pipeline import top_positions
from infogap.server.core.plugins.protocols import (
    FeatureMatrix,
    TrainedModel,
    TrainingData,
    UserQuery,
)

VALIDATION_K = 10
VALIDATION_METRIC = f"ndcg@{VALIDATION_K}"


def ndcg_at_k(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    """Binary-relevance NDCG@k; the ideal DCG places min(k, |relevant|) hits first."""
    if not relevant:
        return 0.0
    gains = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = sum(gains[rank] for rank, item in enumerate(ranked[:k]) if item in relevant)
    ideal = gains[: min(k, len(relevant))].sum()
    return float(dcg / ideal)


@dataclass(frozen=True)
class ValidationSplit:
    """Held-out positives per validation user, what they saw in training (not ranked), and
    how many interactions they kept in training (0 for users held out whole)."""

    user_ids: list[str]
    relevant: list[set[str]]
    seen_in_training: list[np.ndarray]  # item ids
    training_interactions: list[int]


def _latest_first_ranks(matrix: sp.csr_matrix, times: np.ndarray) -> np.ndarray:
    """For each entry of ``matrix``, its rank in its row by ``times``, latest first (equal
    times: the higher column first, so the order never depends on the storage order)."""
    counts = np.diff(matrix.indptr)
    rows = np.repeat(np.arange(matrix.shape[0]), counts)
    order = np.lexsort((-matrix.indices, -times, rows))
    ranks: np.ndarray = np.empty(matrix.nnz, dtype=np.int64)
    ranks[order] = np.arange(matrix.nnz) - matrix.indptr[rows[order]]
    return ranks


def _entry_times(data: TrainingData, matrix: sp.csr_matrix, seed: int) -> np.ndarray:
    if data.interaction_times is None:
        # No event times known (a hand-built TrainingData): a random order stands in.
        random_order: np.ndarray = np.random.default_rng(seed).random(matrix.nnz)
        return random_order
    times = data.interaction_times.tocsr()
    times.sort_indices()
    if not np.array_equal(times.indptr, matrix.indptr) or not np.array_equal(
        times.indices, matrix.indices
    ):
        raise ValueError("interaction_times must have the entries of interactions")
    return np.asarray(times.data, dtype=np.float64)


def split_for_validation(
    data: TrainingData,
    fraction: float,
    seed: int,
    max_users: int,
    cold_fraction: float = 0.0,
) -> tuple[TrainingData, ValidationSplit]:
    """Holds out, for each validation user, the latest ``fraction`` of their positives by
    event time (at least one; users with a single positive keep it and are not validated),
    and ``cold_fraction`` of the users with two or more positives whole: they leave the
    training data, so the models meet them as they meet a new user at serving. At most
    ``max_users`` validation users, picked at random; the others keep all their interactions.

    Returns the training part and the validation split.
    """
    matrix = data.interactions.tocsr()
    matrix.sort_indices()
    times = _entry_times(data, matrix, seed)
    counts = np.diff(matrix.indptr)
    rows = np.repeat(np.arange(matrix.shape[0]), counts)
    rng = np.random.default_rng(seed)

    candidates = np.flatnonzero(counts >= 2)
    cold_count = min(round(cold_fraction * len(candidates)), max_users // 2)
    cold = rng.choice(candidates, size=cold_count, replace=False)
    warm = np.setdiff1d(candidates, cold)
    if len(warm) > max_users - cold_count:
        warm = rng.choice(warm, size=max_users - cold_count, replace=False)
    is_cold = np.zeros(matrix.shape[0], dtype=bool)
    is_cold[cold] = True
    is_warm = np.zeros(matrix.shape[0], dtype=bool)
    is_warm[warm] = True

    held_per_user = np.clip(np.floor(fraction * counts).astype(np.int64), 1, counts - 1)
    held = is_cold[rows] | (
        is_warm[rows] & (_latest_first_ranks(matrix, times) < held_per_user[rows])
    )
    kept = ~held
    training_counts = np.bincount(rows[kept], minlength=matrix.shape[0])

    users = np.sort(np.concatenate([cold, warm]))
    held_csr = sp.csr_matrix(
        (np.ones(held.sum()), (rows[held], matrix.indices[held])), shape=matrix.shape
    )
    train_csr = sp.csr_matrix(
        (matrix.data[kept], (rows[kept], matrix.indices[kept])), shape=matrix.shape
    )
    item_ids = data.item_ids
    split = ValidationSplit(
        user_ids=[data.user_ids[u] for u in users],
        relevant=[set(item_ids[held_csr[u].indices].tolist()) for u in users],
        seen_in_training=[item_ids[train_csr[u].indices] for u in users],
        training_interactions=[int(training_counts[u]) for u in users],
    )
    return _training_part(
        data, rows[kept], matrix.indices[kept], matrix.data[kept], times[kept], ~is_cold
    ), split


def _rows_of(features: FeatureMatrix, keep_rows: np.ndarray, user_count: int) -> FeatureMatrix:
    if features.matrix.shape[0] != user_count:  # e.g. no segments: an empty matrix
        return features
    return FeatureMatrix(features.names, features.matrix.tocsr()[keep_rows])


def _training_part(
    data: TrainingData,
    rows: np.ndarray,
    cols: np.ndarray,
    weights: np.ndarray,
    times: np.ndarray,
    keep_users: np.ndarray,
) -> TrainingData:
    """``data`` with the kept interactions (``rows``, ``cols``, ``weights``, ``times``) only,
    and without the users held out whole (not in ``keep_users``)."""
    user_count, item_count = data.interactions.shape
    keep_rows = np.flatnonzero(keep_users)
    new_row = np.full(user_count, -1, dtype=np.int64)
    new_row[keep_rows] = np.arange(len(keep_rows))
    shape = (len(keep_rows), item_count)
    interactions = sp.coo_matrix((weights, (new_row[rows], cols)), shape=shape, dtype=np.float32)
    time_matrix = None
    if data.interaction_times is not None:
        time_matrix = sp.coo_matrix((times, (new_row[rows], cols)), shape=shape)
    return replace(
        data,
        user_ids=data.user_ids[keep_rows],
        interactions=interactions,
        user_features=_rows_of(data.user_features, keep_rows, user_count),
        user_segments=_rows_of(data.user_segments, keep_rows, user_count),
        interaction_times=time_matrix,
    )


def evaluate(
    models: Sequence[TrainedModel],
    item_ids: np.ndarray,
    split: ValidationSplit,
    load_attributes: Callable[[str], Mapping[str, str]],
) -> float:
    """Mean NDCG@10 of a serving stack (first model that scores a user answers) on the split."""
    positions = {item_id: i for i, item_id in enumerate(item_ids.tolist())}
    total = 0.0
    for user_id, relevant, seen in zip(split.user_ids, split.relevant, split.seen_in_training):
        query = UserQuery(user_id, load_attributes)
        result = next((r for m in models if (r := m.score_user(query)) is not None), None)
        if result is None:
            continue
        ranked = item_ids[top_positions(result.scores, unseen(positions, seen), VALIDATION_K)]
        total += ndcg_at_k(ranked.tolist(), relevant, VALIDATION_K)
    return total / len(split.user_ids) if split.user_ids else 0.0


def unseen(positions: Mapping[str, int], seen: np.ndarray) -> np.ndarray:
    """Bool mask over ``positions``' index space, False at the ``seen`` item ids."""
    eligible = np.ones(len(positions), dtype=bool)
    eligible[[positions[i] for i in seen.tolist() if i in positions]] = False
    return eligible
