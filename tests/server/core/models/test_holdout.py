"""The temporal validation split: each validation user's latest positives are held out, and
some users are held out whole."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import scipy.sparse as sp

from infogap.server.core.models.holdout import split_for_validation
from infogap.server.core.plugins.protocols import FeatureMatrix, TrainingData


def history(counts: dict[str, int], items: int = 12, seed: int = 3) -> TrainingData:
    """Users with ``counts[user]`` positives on distinct items, at shuffled times."""
    rng = np.random.default_rng(seed)
    rows, cols, times = [], [], []
    for row, count in enumerate(counts.values()):
        rows += [row] * count
        cols += rng.choice(items, size=count, replace=False).tolist()
        times += rng.permutation(count).astype(float).tolist()  # not in column order
    shape = (len(counts), items)
    user_ids = np.array(list(counts), dtype=object)
    return TrainingData(
        catalog="c",
        user_ids=user_ids,
        item_ids=np.array([f"i{i}" for i in range(items)], dtype=object),
        interactions=sp.coo_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=shape),
        user_features=FeatureMatrix.from_rows([[f"id={u}"] for u in counts]),
        item_features=FeatureMatrix.from_rows([[] for _ in range(items)]),
        event_count=len(rows),
        interaction_times=sp.coo_matrix((np.array(times) * 1e6, (rows, cols)), shape=shape),
    )


def latest(data: TrainingData, user: str, count: int) -> set[str]:
    row = data.user_ids.tolist().index(user)
    times = data.interaction_times.tocsr()[row]
    order = np.argsort(-times.data)[:count]
    return set(data.item_ids[times.indices[order]].tolist())


def test_the_held_out_items_are_each_users_latest():
    data = history({"heavy": 10, "light": 3, "single": 1})
    train, split = split_for_validation(data, 0.2, seed=1, max_users=100)
    assert split.user_ids == ["heavy", "light"]  # one positive: kept for training, not validated
    assert split.relevant == [latest(data, "heavy", 2), latest(data, "light", 1)]
    assert split.training_interactions == [8, 2]
    train_rows = train.interactions.tocsr()
    for row in range(len(split.user_ids)):
        kept = set(train.item_ids[train_rows[row].indices].tolist())
        assert kept.isdisjoint(split.relevant[row])
        assert kept == set(split.seen_in_training[row].tolist())
    assert train.interactions.nnz == data.interactions.nnz - 3
    # The times travel with the training part, entry for entry.
    assert train.interaction_times.nnz == train.interactions.nnz


def test_users_beyond_the_sample_keep_all_their_interactions():
    data = history({f"u{i}": 6 for i in range(20)})
    train, split = split_for_validation(data, 0.5, seed=1, max_users=5)
    assert len(split.user_ids) == 5
    assert train.interactions.nnz == data.interactions.nnz - 5 * 3


def test_users_held_out_whole_leave_the_training_data():
    data = history({f"u{i}": 4 for i in range(10)})
    train, split = split_for_validation(data, 0.25, seed=2, max_users=100, cold_fraction=0.2)
    cold = [u for u, n in zip(split.user_ids, split.training_interactions) if n == 0]
    assert len(cold) == 2 and not set(cold) & set(train.user_ids.tolist())
    assert len(train.user_ids) == 8 == train.interactions.shape[0]
    assert train.user_features.matrix.shape[0] == 8
    assert "id=" + cold[0] not in {
        train.user_features.names[i] for i in train.user_features.matrix.indices
    }
    for user in cold:
        row = split.user_ids.index(user)
        assert len(split.relevant[row]) == 4 and len(split.seen_in_training[row]) == 0
    assert train.interactions.nnz == 8 * 3  # the warm users each lost their latest one


def reversed_entries(matrix: sp.coo_matrix) -> sp.coo_matrix:
    return sp.coo_matrix(
        (matrix.data[::-1], (matrix.row[::-1], matrix.col[::-1])), shape=matrix.shape
    )


def test_equal_times_split_the_same_whatever_the_storage_order():
    data = history({"u": 6})
    same_time = data.interaction_times.copy()
    same_time.data[:] = 5.0
    stored = replace(data, interaction_times=same_time)
    reordered = replace(
        data,
        interactions=reversed_entries(data.interactions),
        interaction_times=reversed_entries(same_time),
    )
    first = split_for_validation(stored, 0.34, 1, 10)[1]
    second = split_for_validation(reordered, 0.34, 1, 10)[1]
    assert first.relevant == second.relevant and len(first.relevant[0]) == 2


def earliest(data: TrainingData, user: str, count: int) -> list[str]:
    row = data.user_ids.tolist().index(user)
    times = data.interaction_times.tocsr()[row]
    order = np.argsort(times.data)[:count]
    return data.item_ids[times.indices[order]].tolist()


def test_users_held_out_whole_come_back_with_their_earliest_items_as_recent_ones():
    data = history({f"u{i}": 9 for i in range(30)}, items=12)
    ranges = [(0, 0), (1, 4), (5, None)]
    train, split = split_for_validation(
        data, 0.2, seed=4, max_users=100, cold_fraction=0.5, recent_ranges=ranges
    )
    new = [u for u, is_new in zip(split.user_ids, split.new_user) if is_new]
    assert len(new) == 15 and not set(new) & set(train.user_ids.tolist())
    recent_counts = []
    for user in new:
        column = split.user_ids.index(user)
        recent = split.recent_of(column).tolist()
        assert recent == earliest(data, user, len(recent))  # oldest first, as they happened
        assert split.relevant[column] == set(earliest(data, user, 9)) - set(recent)
        assert split.training_interactions[column] == len(recent)
        assert set(split.seen_in_training[column].tolist()) == set(recent)
        recent_counts.append(len(recent))
    # The counts are taken in turn from each range, so every bucket of new users is measured.

    assert sum(n == 0 for n in recent_counts) == 5
    assert sum(1 <= n <= 4 for n in recent_counts) == 5
    assert sum(5 <= n <= 8 for n in recent_counts) == 5  # at most 8: one is left to test on
    warm = [c for c, is_new in enumerate(split.new_user) if not is_new]
    assert all(len(split.recent_of(c)) == 0 for c in warm)


def test_validation_leaves_out_the_other_items_users_have_but_not_the_held_out_ones():
    from infogap.server.core.models.holdout import excluding_seen

    data = history({f"u{i}": 6 for i in range(10)})
    _, split = split_for_validation(data, 0.2, seed=2, max_users=100, cold_fraction=0.2)
    warm = next(c for c, new in enumerate(split.new_user) if not new)
    new = next(c for c, is_new in enumerate(split.new_user) if is_new)
    held_out = sorted(split.relevant[warm])[0]
    pairs = [(split.user_ids[warm], "low-rated"), (split.user_ids[warm], held_out)]
    pairs += [(split.user_ids[new], "low-rated")]
    users, items = (np.array(column, dtype=object) for column in zip(*pairs))
    excluded = excluding_seen(split, users, items)
    assert set(excluded.seen_in_training[warm].tolist()) == {
        *split.seen_in_training[warm].tolist(),
        "low-rated",
    }
    # A new user has only what they came back with; held-out positives stay rankable.
    assert excluded.seen_in_training[new].tolist() == split.seen_in_training[new].tolist()
    assert excluded.relevant == split.relevant
