"""A MovieLens-style data set as numpy arrays: ``events.csv`` (user_id, item_id, rating,
timestamp), ``items.csv`` (item_id, genres separated by ``|``) and ``users.csv`` (user_id and
attribute columns).

Users and items are numbered densely (0..n-1) so that every candidate works in the same index
space; the data set's own ids are used only at the API boundary.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from google.protobuf.timestamp_pb2 import Timestamp

from infogap.server.importer import Bins
from infogap.v1.entities_pb2 import Event

POSITIVE_FROM = 4.0  # stars at or above this are positives
AGE_BANDS = Bins((18, 25, 35, 45, 50, 56))  # MovieLens' own age groups, as the demo bands them
# A user column with more distinct values than this share of the users identifies rather than
# describes (MovieLens' zip_code), and is not sent as an attribute.
IDENTIFIER_SHARE = 0.5


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
    user_attributes: list[dict[str, str]]  # age banded, the other descriptive columns as is
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


Dataset = MovieLens


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _attribute_columns(users: list[dict[str, str]]) -> list[str]:
    columns = [c for c in (users[0] if users else {}) if c != "user_id"]
    limit = max(IDENTIFIER_SHARE * len(users), 1)
    return [c for c in columns if len({row[c] for row in users}) <= limit]


def _attribute(column: str, value: str) -> str:
    if column == "age" and value.strip().isdigit():
        return AGE_BANDS.label(value)
    return value


def load_movielens(dataset: Path) -> MovieLens:
    """Reads a folder with events.csv, items.csv and users.csv (``fetch-movielens-100k``'s)."""
    users = _read_csv(dataset / "users.csv")
    items = _read_csv(dataset / "items.csv")
    events = _read_csv(dataset / "events.csv")
    user_index = {row["user_id"]: i for i, row in enumerate(users)}
    item_index = {row["item_id"]: i for i, row in enumerate(items)}
    ratings = Ratings(
        user=np.array([user_index[e["user_id"]] for e in events], dtype=np.int64),
        item=np.array([item_index[e["item_id"]] for e in events], dtype=np.int64),
        stars=np.array([float(e["rating"]) for e in events]),
        time=np.array([int(float(e["timestamp"])) for e in events], dtype=np.int64),
    )
    columns = _attribute_columns(users)
    return MovieLens(
        user_ids=[row["user_id"] for row in users],
        user_attributes=[
            {c: _attribute(c, row[c]) for c in columns if row[c] != ""} for row in users
        ],
        item_ids=[row["item_id"] for row in items],
        item_genres=[[g for g in row.get("genres", "").split("|") if g] for row in items],
        ratings=ratings,
    )


load_dataset = load_movielens
