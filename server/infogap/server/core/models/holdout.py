"""Validation of trained models on held-out interactions, through the models' public
``score_user`` (so any plugin's model can be compared with any other).

The split is temporal, as production is: each validation user's latest interactions are held
out, and some users are held out whole to stand for the users who arrive after training: they
come back with their earliest few interactions as "recent" ones (none, for some), as a new
customer's first events reach a model that never saw them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

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
    """Per validation user: the held-out positives, the items they have (not ranked), and how
    many those are. A new user (held out whole) has only ``recent`` items, recorded after
    training; the others' are kept in training."""

    user_ids: list[str]
    relevant: list[set[str]]
    seen_in_training: list[np.ndarray]  # item ids the user has: trained on, or recent
    training_interactions: list[int]  # how many items the user has
    new_user: list[bool] = field(default_factory=list)  # held out whole; empty: none is
    recent: list[np.ndarray] = field(default_factory=list)  # item ids, oldest first; or empty

    def is_new(self, column: int) -> bool:
        return bool(self.new_user) and self.new_user[column]

    def recent_of(self, column: int) -> np.ndarray:
        return self.recent[column] if self.recent else _NO_ITEMS


_NO_ITEMS = np.array([], dtype=object)


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
    recent_ranges: Sequence[tuple[int, int | None]] = ((0, 0),),
) -> tuple[TrainingData, ValidationSplit]:
    """Holds out, for each validation user, the latest ``fraction`` of their positives by
    event time (at least one; users with a single positive keep it and are not validated),
    and ``cold_fraction`` of the users with two or more positives whole: they leave the
    training data, so the models meet them as they meet a new user at serving. Each of those
    comes back with their earliest few positives as recent ones: a count drawn in one of
    ``recent_ranges`` (inclusive bounds; None: up to twice the low one), taken in turn among
    the ranges the user has enough positives for; the rest of their positives are the test.
    At most ``max_users`` validation users, picked at random; the others keep all their
    interactions.

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
    latest_ranks = _latest_first_ranks(matrix, times)
    recent_count = np.zeros(matrix.shape[0], dtype=np.int64)
    recent_count[cold] = _recent_counts(counts[cold], recent_ranges, rng)
    earliest_ranks = counts[rows] - 1 - latest_ranks
    recent = is_cold[rows] & (earliest_ranks < recent_count[rows])
    held = (is_cold[rows] & ~recent) | (is_warm[rows] & (latest_ranks < held_per_user[rows]))
    kept = ~held & ~is_cold[rows]

    users = np.sort(np.concatenate([cold, warm]))
    item_ids = data.item_ids

    def items_where(mask: np.ndarray) -> list[np.ndarray]:
        """Per validation user, the item ids of their entries in ``mask``, oldest first."""
        order = np.lexsort((matrix.indices[mask], times[mask], rows[mask]))
        user_of, columns = rows[mask][order], matrix.indices[mask][order]
        bounds = np.searchsorted(user_of, np.concatenate([users, users + 1]))
        starts, ends = bounds[: len(users)], bounds[len(users) :]
        return [item_ids[columns[a:b]] for a, b in zip(starts, ends)]

    has = items_where(kept | recent)
    split = ValidationSplit(
        user_ids=[data.user_ids[u] for u in users],
        relevant=[set(items.tolist()) for items in items_where(held)],
        seen_in_training=has,
        training_interactions=[len(items) for items in has],
        new_user=is_cold[users].tolist(),
        recent=[items if is_cold[u] else _NO_ITEMS for u, items in zip(users, has)],
    )
    return _training_part(
        data, rows[kept], matrix.indices[kept], matrix.data[kept], times[kept], ~is_cold
    ), split


def excluding_seen(
    split: ValidationSplit, user_ids: np.ndarray, item_ids: np.ndarray
) -> ValidationSplit:
    """``split`` with the other items each user already has (the pairs of ``user_ids`` and
    ``item_ids``: events that mark an item seen but are no positive, such as a low rating)
    left out of their rankings, as serving leaves them out; held-out positives stay eligible.
    New users keep only their recent items, as they would at serving."""
    others: dict[str, list[str]] = {}
    columns = {user_id: c for c, user_id in enumerate(split.user_ids) if not split.is_new(c)}
    for user_id, item_id in zip(user_ids.tolist(), item_ids.tolist()):
        if user_id in columns:
            others.setdefault(user_id, []).append(item_id)
    seen = list(split.seen_in_training)
    for user_id, items in others.items():
        column = columns[user_id]
        extra = [i for i in items if i not in split.relevant[column]]
        seen[column] = np.unique(np.concatenate([seen[column], np.array(extra, dtype=object)]))
    return replace(split, seen_in_training=seen)


def _recent_counts(
    counts: np.ndarray, ranges: Sequence[tuple[int, int | None]], rng: np.random.Generator
) -> np.ndarray:
    """How many of their earliest positives each user held out whole brings back (each keeps
    one to be tested on): in turn one of ``ranges`` their count allows, drawn inside it."""
    recent = np.zeros(len(counts), dtype=np.int64)
    for i, count in enumerate(counts.tolist()):
        allowed = [(low, high) for low, high in ranges if low <= count - 1] or [(0, 0)]
        low, high = allowed[i % len(allowed)]
        top = min(high if high is not None else max(2 * low, low + 1), count - 1)
        recent[i] = rng.integers(low, top + 1)
    return recent


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
    for column, (relevant, seen) in enumerate(zip(split.relevant, split.seen_in_training)):
        query = validation_query(split, column, positions, load_attributes)
        result = next((r for m in models if (r := m.score_user(query)) is not None), None)
        if result is None:
            continue
        ranked = item_ids[top_positions(result.scores, unseen(positions, seen), VALIDATION_K)]
        total += ndcg_at_k(ranked.tolist(), relevant, VALIDATION_K)
    return total / len(split.user_ids) if split.user_ids else 0.0


def validation_query(
    split: ValidationSplit,
    column: int,
    positions: Mapping[str, int],
    load_attributes: Callable[[str], Mapping[str, str]],
) -> UserQuery:
    """The query of the split's ``column``-th user, as serving would make it: a new user's
    recent items come with it, oldest first."""
    recent = np.array(
        [positions[i] for i in split.recent_of(column).tolist() if i in positions], dtype=np.int64
    )
    return UserQuery(split.user_ids[column], load_attributes, lambda _: recent)


def unseen(positions: Mapping[str, int], seen: np.ndarray) -> np.ndarray:
    """Bool mask over ``positions``' index space, False at the ``seen`` item ids."""
    eligible = np.ones(len(positions), dtype=bool)
    eligible[[positions[i] for i in seen.tolist() if i in positions]] = False
    return eligible
