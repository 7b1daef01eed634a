"""Data of the quality benchmark: MovieLens 100K as numpy arrays, the protocol's random splits,
and a synthetic catalogue of a million events for the training-time comparison.

Users and items are numbered densely (0..n-1) so that every candidate, numpy or InfoGap, works
in the same index space; the dataset's own ids are used only at the API boundary.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from google.protobuf.timestamp_pb2 import Timestamp

# The data set and its splits live in the server's evaluation package (``infogap eval``);
# re-exported here for the benchmark's modules.
from infogap.server.evaluation.data import (  # noqa: F401
    Dataset,
    Events,
    load_movielens,
)
from infogap.server.evaluation.splits import (  # noqa: F401
    PositiveSplit,
    random_mask,
    split_positives,
)
from infogap.v1.entities_pb2 import Event

BATCH_SIZE = 1000  # the most events one RecordEvents call or stream message takes


# --- a synthetic catalogue for the large training run ---------------------------------------

SYNTHETIC_EVENT_TYPES = ("view", "click", "purchase")
SYNTHETIC_TYPE_SHARES = (0.75, 0.2, 0.05)
SYNTHETIC_REGIONS = tuple(f"region-{n:02d}" for n in range(12))
SYNTHETIC_PLANS = ("basic", "plus", "gold")
SYNTHETIC_TIME_END = 1_735_689_600  # 2025-01-01: events lie in the year before, safely past
SYNTHETIC_TIME_SPAN = 365 * 24 * 3600


@dataclass(frozen=True)
class SyntheticCatalogue:
    """Users with a region and a plan, items with one to three tags, and events column-wise
    (indices into users and items; ``event_type`` indexes SYNTHETIC_EVENT_TYPES)."""

    user_regions: np.ndarray
    user_plans: np.ndarray
    item_tags: list[list[str]]
    event_user: np.ndarray
    event_item: np.ndarray
    event_type: np.ndarray
    event_time: np.ndarray

    @property
    def user_count(self) -> int:
        return len(self.user_regions)

    @property
    def item_count(self) -> int:
        return len(self.item_tags)

    @staticmethod
    def user_id(index: int) -> str:
        return f"user-{index}"

    @staticmethod
    def item_id(index: int) -> str:
        return f"item-{index}"

    def user_attributes(self, index: int) -> dict[str, str]:
        return {
            "region": SYNTHETIC_REGIONS[self.user_regions[index]],
            "plan": SYNTHETIC_PLANS[self.user_plans[index]],
        }

    def user_entities(self) -> Iterator[dict]:
        for index in range(self.user_count):
            yield {"user_id": self.user_id(index), "attributes": self.user_attributes(index)}

    def item_entities(self) -> Iterator[dict]:
        for index, tags in enumerate(self.item_tags):
            yield {"item_id": self.item_id(index), "tags": tags}

    def event_batches(self) -> Iterator[list[Event]]:
        """The events as messages, built lazily, one stream message's worth at a time."""
        for start in range(0, len(self.event_user), BATCH_SIZE):
            window = slice(start, start + BATCH_SIZE)
            yield [
                Event(
                    event_id=f"synthetic-{start + offset}",
                    user_id=self.user_id(user),
                    item_id=self.item_id(item),
                    type=SYNTHETIC_EVENT_TYPES[kind],
                    value=1.0,
                    time=Timestamp(seconds=time),
                )
                for offset, (user, item, kind, time) in enumerate(
                    zip(
                        self.event_user[window].tolist(),
                        self.event_item[window].tolist(),
                        self.event_type[window].tolist(),
                        self.event_time[window].tolist(),
                    )
                )
            ]


def _power_law(count: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Probabilities proportional to 1 / rank**exponent, ranks shuffled over the positions."""
    weights = 1.0 / np.arange(1, count + 1) ** exponent
    return rng.permutation(weights / weights.sum())


def synthetic_catalogue(
    seed: int,
    *,
    user_count: int = 100_000,
    item_count: int = 20_000,
    event_count: int = 1_000_000,
    tag_count: int = 30,
    taste_share: float = 0.5,
) -> SyntheticCatalogue:
    """Power-law item popularity and user activity. Each user has a favourite tag; a share
    ``taste_share`` of their events picks among the items carrying it, so that the model has
    some structure to learn besides popularity."""
    rng = np.random.default_rng(seed)
    tag_names = [f"tag-{n:02d}" for n in range(tag_count)]
    tags_per_item = rng.integers(1, 4, size=item_count)
    tag_order = np.argsort(rng.random((item_count, tag_count)), axis=1)
    item_tag_indices = [tag_order[i, : tags_per_item[i]] for i in range(item_count)]

    popularity = _power_law(item_count, 1.0, rng)
    event_user = rng.choice(user_count, size=event_count, p=_power_law(user_count, 0.8, rng))
    event_item = rng.choice(item_count, size=event_count, p=popularity)

    favourite_tag = rng.integers(0, tag_count, size=user_count)
    by_taste = rng.random(event_count) < taste_share
    main_tag = np.array([tags[0] for tags in item_tag_indices])  # every item has one
    for tag in range(tag_count):
        events = np.flatnonzero(by_taste & (favourite_tag[event_user] == tag))
        carriers = np.flatnonzero(main_tag == tag)
        if len(events) and len(carriers):
            p = popularity[carriers] / popularity[carriers].sum()
            event_item[events] = rng.choice(carriers, size=len(events), p=p)

    return SyntheticCatalogue(
        user_regions=rng.integers(0, len(SYNTHETIC_REGIONS), size=user_count),
        user_plans=rng.choice(len(SYNTHETIC_PLANS), size=user_count, p=(0.6, 0.3, 0.1)),
        item_tags=[[tag_names[t] for t in tags] for tags in item_tag_indices],
        event_user=event_user,
        event_item=event_item,
        event_type=rng.choice(
            len(SYNTHETIC_EVENT_TYPES), size=event_count, p=SYNTHETIC_TYPE_SHARES
        ),
        event_time=SYNTHETIC_TIME_END - rng.integers(0, SYNTHETIC_TIME_SPAN, size=event_count),
    )
