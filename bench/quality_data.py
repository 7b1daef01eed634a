"""Data of the quality benchmark: MovieLens 100K as numpy arrays, the protocol's random splits,
and a synthetic catalogue of a million events for the training-time comparison.

Users and items are numbered densely (0..n-1) so that every candidate, numpy or InfoGap, works
in the same index space; the dataset's own ids are used only at the API boundary.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from google.protobuf.timestamp_pb2 import Timestamp

from infogap.server.importer import Bins
from infogap.v1.entities_pb2 import Event

POSITIVE_FROM = 4.0  # MovieLens stars at or above this are positives
AGE_BANDS = Bins((18, 25, 35, 45, 50, 56))  # MovieLens' own age groups, as the demo bands them
USER_ATTRIBUTES = ("age", "gender", "occupation")
BATCH_SIZE = 1000  # the most events one RecordEvents call or stream message takes


@dataclass(frozen=True)
class Ratings:
    """Ratings column-wise; ``user`` and ``item`` are dense indices."""

    user: np.ndarray
    item: np.ndarray
    stars: np.ndarray
    time: np.ndarray  # Unix seconds

    def __len__(self) -> int:
        return len(self.user)

    def where(self, rows: np.ndarray) -> Ratings:
        """The ratings chosen by a bool mask or by an array of positions."""
        return Ratings(self.user[rows], self.item[rows], self.stars[rows], self.time[rows])

    def positives(self) -> Ratings:
        return self.where(self.stars >= POSITIVE_FROM)

    def items_by_user(self) -> dict[int, set[int]]:
        grouped: dict[int, set[int]] = {}
        for user, item in zip(self.user.tolist(), self.item.tolist()):
            grouped.setdefault(user, set()).add(item)
        return grouped


@dataclass(frozen=True)
class MovieLens:
    user_ids: list[str]
    user_attributes: list[dict[str, str]]  # age banded, gender, occupation
    item_ids: list[str]
    item_genres: list[list[str]]
    ratings: Ratings

    @property
    def user_count(self) -> int:
        return len(self.user_ids)

    @property
    def item_count(self) -> int:
        return len(self.item_ids)

    @cached_property
    def item_position(self) -> dict[str, int]:
        """Dense index of each item id."""
        return {item_id: i for i, item_id in enumerate(self.item_ids)}

    def user_entities(self, *, with_attributes: bool) -> list[dict]:
        return [
            {"user_id": user_id, "attributes": attributes if with_attributes else {}}
            for user_id, attributes in zip(self.user_ids, self.user_attributes)
        ]

    def item_entities(self, *, with_genres: bool) -> list[dict]:
        return [
            {"item_id": item_id, "tags": genres if with_genres else []}
            for item_id, genres in zip(self.item_ids, self.item_genres)
        ]

    def rating_events(self, ratings: Ratings) -> list[Event]:
        """The ratings as InfoGap "rating" events; the id is the (user, item) pair, which
        MovieLens rates at most once."""
        return [
            Event(
                event_id=f"{self.user_ids[user]}-{self.item_ids[item]}",
                user_id=self.user_ids[user],
                item_id=self.item_ids[item],
                type="rating",
                value=stars,
                time=Timestamp(seconds=time),
            )
            for user, item, stars, time in zip(
                ratings.user.tolist(),
                ratings.item.tolist(),
                ratings.stars.tolist(),
                ratings.time.tolist(),
            )
        ]


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def load_movielens(dataset: Path) -> MovieLens:
    """Reads the folder printed by ``fetch-movielens-100k``."""
    users = _read_csv(dataset / "users.csv")
    items = _read_csv(dataset / "items.csv")
    events = _read_csv(dataset / "events.csv")
    user_index = {row["user_id"]: i for i, row in enumerate(users)}
    item_index = {row["item_id"]: i for i, row in enumerate(items)}
    ratings = Ratings(
        user=np.array([user_index[e["user_id"]] for e in events], dtype=np.int64),
        item=np.array([item_index[e["item_id"]] for e in events], dtype=np.int64),
        stars=np.array([float(e["rating"]) for e in events]),
        time=np.array([int(e["timestamp"]) for e in events], dtype=np.int64),
    )
    return MovieLens(
        user_ids=[row["user_id"] for row in users],
        user_attributes=[
            {
                "age": AGE_BANDS.label(row["age"]),
                "gender": row["gender"],
                "occupation": row["occupation"],
            }
            for row in users
        ],
        item_ids=[row["item_id"] for row in items],
        item_genres=[[g for g in row["genres"].split("|") if g] for row in items],
        ratings=ratings,
    )


# --- the protocol's splits ------------------------------------------------------------------


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
