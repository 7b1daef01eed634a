"""Choosing what serves each activity bucket: the best candidate there, never one worse than
the baseline (popularity)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from infogap.server.core.models.holdout import split_for_validation
from infogap.server.core.models.pipeline import blended_positions
from infogap.server.core.models.selection import (
    Candidate,
    bucket_ranges,
    candidates,
    choose_plan,
    measure,
    value_of,
)
from infogap.server.core.plugins.protocols import (
    FeatureMatrix,
    ScoreResult,
    TrainingData,
    UserQuery,
)

EDGES = [1, 5, 20]


class Popular:
    """Popularity: the items' training counts, the same for everyone."""

    strategy = "popularity"
    parameters: dict[str, str] = {}
    metrics: dict[str, float] = {}

    def __init__(self, data: TrainingData) -> None:
        self.counts = np.asarray(data.interactions.sum(axis=0)).ravel().astype(np.float32)
        self.user_count = len(data.user_ids)

    def score_user(self, user: UserQuery) -> ScoreResult:
        return ScoreResult(self.counts, "popular")

    def similar_items(self, item_index: int) -> None:
        return None

    def save(self, directory: Path) -> None:
        raise NotImplementedError


class TagAffinity:
    """Scores items by the user's share of training interactions with each item's tag; a user
    it does not know is taken to like ``guess`` (a poor guess for most new users)."""

    strategy = "tags"
    parameters: dict[str, str] = {}
    metrics: dict[str, float] = {}

    def __init__(self, data: TrainingData, item_tags: np.ndarray, guess: int) -> None:
        tags = sp.csr_matrix((np.ones(len(item_tags)), (np.arange(len(item_tags)), item_tags)))
        self.affinity = sp.csr_matrix(data.interactions) @ tags
        self.item_tags = tags
        self.rows = {u: i for i, u in enumerate(data.user_ids.tolist())}
        self.guess = guess
        self.user_count = len(self.rows)

    def score_user(self, user: UserQuery) -> ScoreResult:
        row = self.rows.get(user.user_id)
        if row is None:
            liked = np.zeros(self.item_tags.shape[1])
            liked[self.guess] = 1.0
        else:
            liked = self.affinity[row].toarray().ravel()
        return ScoreResult((self.item_tags @ liked).astype(np.float32), "your tags")

    def similar_items(self, item_index: int) -> None:
        return None

    def save(self, directory: Path) -> None:
        raise NotImplementedError


def planted(seed: int = 5) -> tuple[TrainingData, np.ndarray]:
    """30 red and 30 blue items (tags 0 and 1); 30 heavy users of each colour with 25
    positives of it; 60 light users with 3 of the most popular red ones. Most users like red."""
    rng = np.random.default_rng(seed)
    item_tags = np.repeat([0, 1], 30)
    histories = [rng.choice(30, 25, replace=False) + 30 * c for c in (0, 1) for _ in range(30)]
    histories += [rng.choice(8, 3, replace=False) for _ in range(60)]
    rows = np.repeat(np.arange(len(histories)), [len(h) for h in histories])
    cols = np.concatenate(histories)
    times = rng.random(len(cols)) * 1e12
    shape = (len(histories), 60)
    data = TrainingData(
        catalog="c",
        user_ids=np.array([f"u{i}" for i in range(len(histories))], dtype=object),
        item_ids=np.array([f"i{i}" for i in range(60)], dtype=object),
        interactions=sp.coo_matrix((np.ones(len(cols), np.float32), (rows, cols)), shape=shape),
        user_features=FeatureMatrix.from_rows([[] for _ in histories]),
        item_features=FeatureMatrix.from_rows([[] for _ in range(60)]),
        event_count=len(cols),
        interaction_times=sp.coo_matrix((times, (rows, cols)), shape=shape),
    )
    return data, item_tags


def test_a_model_worse_than_popularity_for_new_users_serves_only_heavy_ones():
    data, item_tags = planted()
    train, split = split_for_validation(data, 0.2, seed=1, max_users=1000, cold_fraction=0.2)
    models = [TagAffinity(train, item_tags, guess=1), Popular(train)]
    options = candidates(["tags", "popularity"], "popularity", [0.5])
    assert [o.name for o in options] == ["popularity", "tags", "blend:tags+popularity@0.5"]
    values = measure(options, models, train.item_ids, split, lambda _: {})
    plan = choose_plan(options, values, split.training_interactions, EDGES, min_bucket_users=10)

    by_label = {bucket.label: bucket for bucket in plan.buckets}
    assert list(by_label) == ["0", "1-4", "5-19", "20+"]
    new, heavy = by_label["0"], by_label["20+"]
    assert new.validation_users == 24 and heavy.validation_users > 30  # a fifth of 120
    figures = {s.candidate: s.value for s in new.scores}
    assert figures["tags"] < figures["popularity"] and new.candidate == "popularity"
    figures = {s.candidate: s.value for s in heavy.scores}
    assert figures["tags"] > figures["popularity"] and heavy.candidate == "tags"
    assert by_label["5-19"].validation_users == 0 and by_label["5-19"].scores == ()
    assert "fewer than 10" in by_label["5-19"].reason
    # The plan's value mixes the buckets' choices, so it beats every single candidate here.
    assert value_of(plan, options, values, split.training_interactions) > values.mean(1).max()


class FoldsInRecent(Popular):
    """Scores a user it was not trained on by the tags of their recent items; a trained user
    gets popularity (so it loses to ``TagAffinity`` on them)."""

    strategy = "fold_in"

    def __init__(self, data: TrainingData, item_tags: np.ndarray) -> None:
        super().__init__(data)
        self.item_tags = item_tags
        self.known = set(data.user_ids.tolist())

    def score_user(self, user: UserQuery) -> ScoreResult:
        recent = user.recent_item_positions
        if user.user_id in self.known or not len(recent):
            return super().score_user(user)
        liked = np.bincount(self.item_tags[recent], minlength=2)
        return ScoreResult(liked[self.item_tags].astype(np.float32), "your recent tags")


def test_new_users_get_buckets_of_their_own_measured_on_users_held_out_whole():
    data, item_tags = planted()
    ranges = bucket_ranges(EDGES)
    train, split = split_for_validation(
        data, 0.2, seed=1, max_users=1000, cold_fraction=0.4, recent_ranges=ranges
    )
    models = [
        TagAffinity(train, item_tags, guess=1),
        FoldsInRecent(train, item_tags),
        Popular(train),
    ]
    options = candidates(["tags", "fold_in", "popularity"], "popularity", [0.5])
    values = measure(options, models, train.item_ids, split, lambda _: {})
    plan = choose_plan(
        options, values, split.training_interactions, EDGES, 5, new_user=split.new_user
    )
    known = {bucket.label: bucket for bucket in plan.buckets}
    new = {bucket.label: bucket for bucket in plan.new_user_buckets}
    assert list(new) == list(known) == ["0", "1-4", "5-19", "20+"]
    assert known["20+"].candidate == "tags"  # trained users: their own tags
    # New heavy users come back with 5 to 24 of their items: their recent tags win.
    assert new["5-19"].validation_users >= 5 and new["5-19"].model == "fold_in"
    assert plan.bucket_of(7, new_user=True).model == "fold_in"
    assert plan.bucket_of(30, new_user=False).candidate == "tags"
    assert new["0"].candidate == "popularity"  # nothing to fold in: the guess loses
    assert "new validation users" in new["5-19"].reason
    new_value = value_of(plan, options, values, split.training_interactions, split.new_user)
    merged = choose_plan(options, values, split.training_interactions, EDGES, 5)
    assert new_value > value_of(merged, options, values, split.training_interactions)


def test_no_bucket_gets_a_choice_below_the_baseline():
    rng = np.random.default_rng(0)
    options = [Candidate("popularity"), Candidate("a"), Candidate("a", "popularity", 0.5)]
    for min_gain in [0.0, 0.05] * 100:
        interactions = rng.integers(0, 40, size=rng.integers(1, 80))
        values = rng.random((3, len(interactions))) * rng.random((3, 1))
        plan = choose_plan(options, values, interactions.tolist(), EDGES, 8, min_gain)
        means = values.mean(axis=1)
        for bucket in plan.buckets:
            chosen = options.index(Candidate.of(bucket))
            members = np.array([bucket.holds(n) for n in interactions])
            if members.sum() >= 8:
                bucket_means = values[:, members].mean(axis=1)
                assert bucket_means[chosen] >= bucket_means[0]
                best = bucket_means.max()
                assert bucket_means[chosen] == best or best <= bucket_means[0] * (1 + min_gain)
            else:  # too few users to tell: the best overall, itself not below the baseline
                assert means[chosen] >= means[0]
                assert means[chosen] == means.max() or means.max() <= means[0] * (1 + min_gain)


def test_ties_go_to_the_baseline():
    options = [Candidate("popularity"), Candidate("a")]
    plan = choose_plan(options, np.full((2, 50), 0.3), [25] * 50, EDGES, min_bucket_users=1)
    assert all(bucket.model == "popularity" for bucket in plan.buckets)


def test_bucket_ranges_cover_every_count():
    assert bucket_ranges([1, 5, 20]) == [(0, 0), (1, 4), (5, 19), (20, None)]
    assert bucket_ranges([]) == [(0, None)]


def test_a_blend_mixes_ranks_and_its_weight_moves_it():
    primary = np.array([5.0, 4.0, 3.0, 2.0, 1.0, 0.0])
    secondary = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 50.0])  # a different scale, reversed
    eligible = np.ones(6, dtype=bool)
    eligible[4] = False
    top, _, from_secondary = blended_positions(primary, secondary, 0.1, eligible, 3)
    assert top.tolist() == [0, 1, 2] and not from_secondary.any()
    top, scores, from_secondary = blended_positions(primary, secondary, 0.9, eligible, 3)
    assert top.tolist() == [5, 3, 2] and from_secondary.all()
    assert np.all(np.diff(scores) <= 0) and 4 not in top


def test_a_lead_within_the_margin_keeps_the_baseline():
    options = [Candidate("popularity"), Candidate("a")]
    values = np.vstack([np.full(40, 0.30), np.full(40, 0.303)])  # 1% better
    kept = choose_plan(options, values, [25] * 40, EDGES, min_bucket_users=10, min_gain=0.02)
    assert (
        kept.buckets[-1].model == "popularity" and "leads by 2% or less" in kept.buckets[-1].reason
    )
    taken = choose_plan(options, values, [25] * 40, EDGES, min_bucket_users=10, min_gain=0.005)
    assert taken.buckets[-1].model == "a"
