"""Validation of trained models on held-out interactions, through the models' public
``score_user`` (so any plugin's model can be compared with any other)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from infogap.server.core.models.pipeline import top_positions
from infogap.server.core.plugins.protocols import TrainedModel, TrainingData, UserQuery

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
    """Held-out positives per validation user, and what they saw in training (not ranked)."""

    user_ids: list[str]
    relevant: list[set[str]]
    seen_in_training: list[np.ndarray]  # item ids


def split_for_validation(
    data: TrainingData, fraction: float, seed: int, max_users: int
) -> tuple[TrainingData, ValidationSplit]:
    """Holds out ``fraction`` of the positive interactions at random (each user keeps at least
    one for training); returns the training part and the validation split."""
    matrix = data.interactions.tocsr()
    matrix.sort_indices()
    coo = matrix.tocoo()
    rng = np.random.default_rng(seed)
    held_out = rng.random(coo.nnz) < fraction
    train_counts = np.bincount(coo.row[~held_out], minlength=matrix.shape[0])
    held_out &= train_counts[coo.row] > 0
    train = sp.coo_matrix(
        (coo.data[~held_out], (coo.row[~held_out], coo.col[~held_out])), shape=matrix.shape
    )
    users = np.unique(coo.row[held_out])
    if len(users) > max_users:
        users = np.sort(rng.choice(users, size=max_users, replace=False))
    held_out_csr = sp.csr_matrix(
        (np.ones(held_out.sum()), (coo.row[held_out], coo.col[held_out])), shape=matrix.shape
    )
    train_csr = train.tocsr()
    item_ids = data.item_ids
    split = ValidationSplit(
        user_ids=[data.user_ids[u] for u in users],
        relevant=[set(item_ids[held_out_csr[u].indices].tolist()) for u in users],
        seen_in_training=[item_ids[train_csr[u].indices] for u in users],
    )
    return replace(data, interactions=train), split


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
        eligible = np.ones(len(item_ids), dtype=bool)
        eligible[[positions[i] for i in seen.tolist() if i in positions]] = False
        ranked = item_ids[top_positions(result.scores, eligible, VALIDATION_K)].tolist()
        total += ndcg_at_k(ranked, relevant, VALIDATION_K)
    return total / len(split.user_ids) if split.user_ids else 0.0
