"""The protocol's splits. Ratings of ``POSITIVE_FROM`` stars or more are positives; only
positives are ever test targets. Every split is drawn from a fixed seed."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .data import POSITIVE_FROM, MovieLens, Ratings

TEST_FRACTION = 0.2
HOLD_OUT_FRACTION = 0.2
SPLITS = ("random", "temporal", "cold-users", "cold-items")

PROTOCOLS = {
    "random": "A random 20% of all positive ratings (>= {positive} stars) are test targets; the "
    "other 80% and every rating below {positive} stars are training events. Users with at least "
    "one test positive are evaluated; Recommend leaves out what they rated in training.",
    "temporal": "For each user, the latest 20% of their positives (rounded, by timestamp, ties "
    "by item) are test targets; earlier positives and every rating below {positive} stars are "
    "training events. Users with at least one test positive are evaluated.",
    "cold-users": "20% of the users are held out entirely: they are upserted (with their "
    "attributes where the candidate uses them) but none of their events is sent. All their "
    "positives are test targets.",
    "cold-items": "20% of the items are held out entirely: they are upserted (with their genres "
    "where the candidate uses them) but no event on them is sent. Each user with a positive on a "
    "held-out item is served by RankItems over all held-out items; their positives among them "
    "are the targets.",
}


def random_mask(count: int, fraction: float, seed: int) -> np.ndarray:
    """A bool mask choosing round(fraction * count) of count positions at random."""
    chosen = np.random.default_rng(seed).permutation(count)[: round(fraction * count)]
    mask = np.zeros(count, dtype=bool)
    mask[chosen] = True
    return mask


@dataclass(frozen=True)
class PositiveSplit:
    """A random split of the positive ratings. Ratings below the positive threshold are never
    test targets, so they all stay on the training side (InfoGap counts them as seen)."""

    train: Ratings  # training positives and every non-positive rating
    test: Ratings  # test positives only

    def train_positives(self) -> Ratings:
        return self.train.positives()


def split_positives(ratings: Ratings, test_fraction: float, seed: int) -> PositiveSplit:
    positive = ratings.stars >= POSITIVE_FROM
    in_test = np.zeros(len(ratings), dtype=bool)
    in_test[np.flatnonzero(positive)] = random_mask(int(positive.sum()), test_fraction, seed)
    return PositiveSplit(train=ratings.where(~in_test), test=ratings.where(in_test))


def split_temporal(ratings: Ratings, test_fraction: float) -> PositiveSplit:
    positive = np.flatnonzero(ratings.stars >= POSITIVE_FROM)
    in_test = np.zeros(len(ratings), dtype=bool)
    users = ratings.user[positive]
    order = positive[np.lexsort((ratings.item[positive], ratings.time[positive], users))]
    sorted_users = ratings.user[order]
    boundaries = np.flatnonzero(np.diff(sorted_users)) + 1
    for group in np.split(order, boundaries):
        held = round(test_fraction * len(group))
        if held:
            in_test[group[-held:]] = True
    return PositiveSplit(train=ratings.where(~in_test), test=ratings.where(in_test))


@dataclass(frozen=True)
class EvaluationSplit:
    """What the servers are given and what they are scored on."""

    kind: str
    protocol: str
    train: Ratings  # sent as events
    relevant: dict[int, set[int]]  # test positives of each evaluated user
    candidate_items: list[int] | None = None  # RankItems over these (cold items); else Recommend
    held_out_users: int = 0
    held_out_items: int = 0
    notes: dict[str, int] = field(default_factory=dict)

    @property
    def users(self) -> list[int]:
        return sorted(self.relevant)


def make_split(data: MovieLens, kind: str, seed: int) -> EvaluationSplit:
    protocol = PROTOCOLS[kind].format(positive=f"{POSITIVE_FROM:g}")
    ratings = data.ratings
    if kind in ("random", "temporal"):
        split = (
            split_positives(ratings, TEST_FRACTION, seed)
            if kind == "random"
            else split_temporal(ratings, TEST_FRACTION)
        )
        return EvaluationSplit(kind, protocol, split.train, split.test.items_by_user())
    if kind == "cold-users":
        held = random_mask(data.user_count, HOLD_OUT_FRACTION, seed)
        train = ratings.where(~held[ratings.user])
        relevant = ratings.where(held[ratings.user]).positives().items_by_user()
        return EvaluationSplit(kind, protocol, train, relevant, held_out_users=int(held.sum()))
    if kind == "cold-items":
        held = random_mask(data.item_count, HOLD_OUT_FRACTION, seed)
        train = ratings.where(~held[ratings.item])
        relevant = ratings.where(held[ratings.item]).positives().items_by_user()
        return EvaluationSplit(
            kind,
            protocol,
            train,
            relevant,
            candidate_items=np.flatnonzero(held).tolist(),
            held_out_items=int(held.sum()),
        )
    raise ValueError(f"unknown split {kind!r}; one of {', '.join(SPLITS)}")
