"""The protocol's splits. Only positive events (what counts as one depends on the data set) are
ever test targets. A (user, item) pair is held out with all of its events: a server that had
seen any of them would leave the item out of the user's recommendations. Every split is drawn
from a fixed seed."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from infogap.server.evaluation.data import Dataset, Events

TEST_FRACTION = 0.2
HOLD_OUT_FRACTION = 0.2
SPLITS = ("random", "temporal", "cold-users", "cold-items")

PROTOCOLS = {
    "random": "Positives are {positives}. A random 20% of the (user, item) pairs with a "
    "positive event are test targets, and all their events are withheld; every other event is a "
    "training event. Users with at least one test pair are evaluated; Recommend leaves out what "
    "they interacted with in training.",
    "temporal": "Positives are {positives}. For each user, the latest 20% of their (user, item) "
    "pairs with a positive event (rounded; by the time of the pair's first positive event, ties "
    "by item) are test targets, and all their events are withheld; every other event is a "
    "training event. Users with at least one test pair are evaluated.",
    "cold-users": "Positives are {positives}. 20% of the users are held out entirely: they are "
    "upserted (with their attributes where the candidate uses them) but none of their events is "
    "sent. All their positive items are test targets.",
    "cold-items": "Positives are {positives}. 20% of the items are held out entirely: they are "
    "upserted (with their tags and attributes where the candidate uses them) but no event on "
    "them is sent. Each user with a positive on a held-out item is served by RankItems over all "
    "held-out items; their positives among them are the targets.",
}


def random_mask(count: int, fraction: float, seed: int) -> np.ndarray:
    """A bool mask choosing round(fraction * count) of count positions at random."""
    chosen = np.random.default_rng(seed).permutation(count)[: round(fraction * count)]
    mask = np.zeros(count, dtype=bool)
    mask[chosen] = True
    return mask


@dataclass(frozen=True)
class PositiveSplit:
    """(user, item) pairs with a positive event split in two. The training side keeps every
    other event, non-positive ones included (InfoGap counts them as seen)."""

    train: Events  # every event of the pairs not held out
    test: Events  # the positive events of the held-out pairs

    def train_positives(self) -> Events:
        return self.train.positives()


def _positive_pairs(events: Events) -> tuple[np.ndarray, np.ndarray]:
    """The keys of the (user, item) pairs with a positive event, in the order of their first
    positive event, and the row position of that event."""
    positive_rows = np.flatnonzero(events.positive)
    keys, first = np.unique(events.pair_keys()[positive_rows], return_index=True)
    order = np.argsort(first, kind="stable")
    return keys[order], positive_rows[first[order]]


def _withhold(events: Events, held_pairs: np.ndarray) -> PositiveSplit:
    in_test = np.isin(events.pair_keys(), held_pairs)
    return PositiveSplit(train=events.where(~in_test), test=events.where(in_test & events.positive))


def split_positives(events: Events, test_fraction: float, seed: int) -> PositiveSplit:
    keys, _ = _positive_pairs(events)
    return _withhold(events, keys[random_mask(len(keys), test_fraction, seed)])


def split_temporal(events: Events, test_fraction: float) -> PositiveSplit:
    keys, first_rows = _positive_pairs(events)
    users = events.user[first_rows]
    order = np.lexsort((events.item[first_rows], events.time_us[first_rows], users))
    boundaries = np.flatnonzero(np.diff(users[order])) + 1
    held = [np.empty(0, dtype=np.int64)]
    for group in np.split(order, boundaries):
        count = round(test_fraction * len(group))
        if count:
            held.append(keys[group[-count:]])
    return _withhold(events, np.concatenate(held))


@dataclass(frozen=True)
class EvaluationSplit:
    """What the servers are given and what they are scored on."""

    kind: str
    protocol: str
    train: Events  # sent as events
    relevant: dict[int, set[int]]  # test positives of each evaluated user
    candidate_items: list[int] | None = None  # RankItems over these (cold items); else Recommend
    held_out_users: int = 0
    held_out_items: int = 0

    @property
    def users(self) -> list[int]:
        return sorted(self.relevant)

    def sampled(self, max_users: int | None, seed: int) -> EvaluationSplit:
        """The same split with at most ``max_users`` of its users evaluated, drawn at random
        from ``seed``; training is unchanged."""
        if max_users is None or len(self.relevant) <= max_users:
            return self
        chosen = np.random.default_rng(seed).choice(self.users, size=max_users, replace=False)
        return replace(self, relevant={u: self.relevant[u] for u in sorted(chosen.tolist())})


def make_split(data: Dataset, kind: str, seed: int) -> EvaluationSplit:
    if kind not in PROTOCOLS:
        raise ValueError(f"unknown split {kind!r}; one of {', '.join(SPLITS)}")
    protocol = PROTOCOLS[kind].format(positives=data.positives_described)
    events = data.events
    if kind in ("random", "temporal"):
        split = (
            split_positives(events, TEST_FRACTION, seed)
            if kind == "random"
            else split_temporal(events, TEST_FRACTION)
        )
        return EvaluationSplit(kind, protocol, split.train, split.test.items_by_user())
    if kind == "cold-users":
        held = random_mask(data.user_count, HOLD_OUT_FRACTION, seed)
        train = events.where(~held[events.user])
        relevant = events.where(held[events.user]).positives().items_by_user()
        return EvaluationSplit(kind, protocol, train, relevant, held_out_users=int(held.sum()))
    held = random_mask(data.item_count, HOLD_OUT_FRACTION, seed)
    train = events.where(~held[events.item])
    relevant = events.where(held[events.item]).positives().items_by_user()
    return EvaluationSplit(
        kind,
        protocol,
        train,
        relevant,
        candidate_items=np.flatnonzero(held).tolist(),
        held_out_items=int(held.sum()),
    )
