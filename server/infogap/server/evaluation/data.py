"""Data sets of the offline evaluation, as numpy arrays, from one of two sources:

- a MovieLens-style folder: ``events.csv`` (user_id, item_id, rating, timestamp), ``items.csv``
  (item_id, genres separated by ``|``) and ``users.csv`` (user_id and attribute columns);
- the stored history of one catalog of an InfoGap server (its store), events with their
  own types, values and times, users with their attributes, items with tags and attributes.

Users and items are numbered densely (0..n-1) so that every candidate works in the same index
space; the source's own ids are used only at the API boundary.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cached_property
from pathlib import Path

import numpy as np
from google.protobuf.timestamp_pb2 import Timestamp

from infogap.server.config import Settings
from infogap.server.core.models.training_data import event_type_weights
from infogap.server.core.store import Store
from infogap.server.datasets import movielens
from infogap.server.datasets.csv_files import AttributeMapping, read_rows, split_tags
from infogap.v1.entities_pb2 import Event

POSITIVE_FROM = 4.0  # MovieLens stars at or above this are positives
# A user column with more distinct values than this share of the users identifies rather than
# describes (MovieLens' zip_code), and is not sent as an attribute.
IDENTIFIER_SHARE = 0.5
MICROSECONDS = 1_000_000


@dataclass(frozen=True)
class Events:
    """Events column-wise. ``user`` and ``item`` are dense indices and ``type`` indexes the data
    set's ``event_types``; ``row`` is the event's position in the data set, which gives it an id
    of its own."""

    row: np.ndarray
    user: np.ndarray
    item: np.ndarray
    type: np.ndarray
    value: np.ndarray
    time_us: np.ndarray  # Unix microseconds
    positive: np.ndarray  # bool: a positive signal, and so a test target when held out

    def __len__(self) -> int:
        return len(self.row)

    def where(self, rows: np.ndarray) -> Events:
        """The events chosen by a bool mask or by an array of positions."""
        return Events(*(getattr(self, column.name)[rows] for column in fields(self)))

    def positives(self) -> Events:
        return self.where(self.positive)

    def pair_keys(self) -> np.ndarray:
        """One int64 per (user, item) pair, equal for the events of the same pair."""
        return (self.user.astype(np.int64) << 32) | self.item.astype(np.int64)

    def items_by_user(self) -> dict[int, set[int]]:
        grouped: dict[int, set[int]] = {}
        for user, item in zip(self.user.tolist(), self.item.tolist()):
            grouped.setdefault(user, set()).add(item)
        return grouped


@dataclass(frozen=True)
class Dataset:
    user_ids: list[str]
    user_attributes: list[dict[str, str]]
    item_ids: list[str]
    item_tags: list[list[str]]
    item_attributes: list[dict[str, str]]
    event_types: list[str]
    events: Events
    positives_described: str  # which events are positives, for the protocol's text

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

    def item_entities(self, *, with_features: bool) -> list[dict]:
        """Every item, with its tags and attributes when ``with_features``. All are active:
        the history happened while they were."""
        return [
            {
                "item_id": item_id,
                "tags": tags if with_features else [],
                "attributes": attributes if with_features else {},
            }
            for item_id, tags, attributes in zip(
                self.item_ids, self.item_tags, self.item_attributes
            )
        ]

    def event_messages(self, events: Events) -> list[Event]:
        """The events as InfoGap events with their own type, value and time; the id is the
        event's row, so that repeated (user, item) pairs stay distinct events."""
        return [
            Event(
                event_id=f"event-{row}",
                user_id=self.user_ids[user],
                item_id=self.item_ids[item],
                type=self.event_types[kind],
                value=value,
                time=Timestamp(
                    seconds=time_us // MICROSECONDS, nanos=time_us % MICROSECONDS * 1000
                ),
            )
            for row, user, item, kind, value, time_us in zip(
                events.row.tolist(),
                events.user.tolist(),
                events.item.tolist(),
                events.type.tolist(),
                events.value.tolist(),
                events.time_us.tolist(),
            )
        ]


# --- MovieLens-style CSVs ---------------------------------------------------------------------


def _attribute_columns(users: list[dict[str, str]]) -> list[str]:
    columns = [c for c in (users[0] if users else {}) if c != "user_id"]
    limit = max(IDENTIFIER_SHARE * len(users), 1)
    return [c for c in columns if len({row[c] for row in users}) <= limit]


def load_movielens(dataset: Path) -> Dataset:
    """Reads a folder with events.csv, items.csv and users.csv (``fetch-movielens-100k``'s).
    Every event is a rating; ratings of ``POSITIVE_FROM`` stars or more are the positives."""
    users = list(read_rows(dataset / movielens.USERS_FILE))
    items = list(read_rows(dataset / movielens.ITEMS_FILE))
    events = list(read_rows(dataset / movielens.EVENTS_FILE))
    user_index = {row["user_id"]: i for i, row in enumerate(users)}
    item_index = {row["item_id"]: i for i, row in enumerate(items)}
    stars = np.array([float(e["rating"]) for e in events])
    seconds = np.array([int(float(e["timestamp"])) for e in events], dtype=np.int64)
    # Ages banded as the demo bands them; the other columns are kept unless they identify.
    attributes = AttributeMapping(tuple(_attribute_columns(users)), {"age": movielens.AGE_BANDS})
    return Dataset(
        user_ids=[row["user_id"] for row in users],
        user_attributes=[attributes.extract(row, set()) for row in users],
        item_ids=[row["item_id"] for row in items],
        item_tags=[
            split_tags(row.get(movielens.GENRES_COLUMN, ""), movielens.GENRES_SEPARATOR)
            for row in items
        ],
        item_attributes=[{} for _ in items],
        event_types=[movielens.EVENT_TYPE],
        events=Events(
            row=np.arange(len(events), dtype=np.int64),
            user=np.array([user_index[e["user_id"]] for e in events], dtype=np.int64),
            item=np.array([item_index[e["item_id"]] for e in events], dtype=np.int64),
            type=np.zeros(len(events), dtype=np.int64),
            value=stars,
            time_us=seconds * MICROSECONDS,
            positive=stars >= POSITIVE_FROM,
        ),
        positives_described=f"ratings of {POSITIVE_FROM:g} stars or more",
    )


# --- an InfoGap store -------------------------------------------------------------------------


def _positive_types(settings: Settings, present: list[str]) -> str:
    described = [
        name if event_type.positive_from is None else f"{name} from {event_type.positive_from:g}"
        for name, event_type in settings.event_types.items()
        if event_type.weight > 0 and name in present
    ]
    return f"events of a type with a positive weight: {', '.join(described) or 'none'}"


def _dense(ids: np.ndarray, vocabulary: np.ndarray) -> np.ndarray:
    """Position of each of ``ids`` in ``vocabulary`` (which holds every one of them)."""
    order = np.argsort(vocabulary)
    return order[np.searchsorted(vocabulary, ids, sorter=order)].astype(np.int64)


def load_store_history(store: Store, catalog: str, settings: Settings) -> Dataset:
    """The stored history of ``catalog``: its events of the types ``settings`` configures (in
    time order), the users who have any (with their attributes) and the catalog's items (those
    of the items table with their tags and attributes, then those known only from events).
    Read-only."""
    # An event is positive when its training signal is; events of types no longer configured
    # are left out, since a server given them would refuse them.
    table = store.weighted_events(catalog, event_type_weights(settings.event_types))

    def column(name: str) -> np.ndarray:
        return table.column(name).to_numpy(zero_copy_only=False)

    event_users, event_items = column("user_id").astype(str), column("item_id").astype(str)
    user_ids, user = np.unique(event_users, return_inverse=True)
    types, kind = np.unique(column("type").astype(str), return_inverse=True)
    catalog_items = store.catalog_items(catalog)
    known = catalog_items.item_ids.astype(str)
    event_only = np.setdiff1d(event_items, known)
    item_ids = np.concatenate([known, event_only])
    attributes = store.user_attributes(user_ids.tolist())
    return Dataset(
        user_ids=user_ids.tolist(),
        user_attributes=[attributes.get(u, {}) for u in user_ids.tolist()],
        item_ids=item_ids.tolist(),
        item_tags=catalog_items.tags + [[] for _ in event_only],
        item_attributes=catalog_items.attributes + [{} for _ in event_only],
        event_types=types.tolist(),
        events=Events(
            row=np.arange(len(table), dtype=np.int64),
            user=user.astype(np.int64),
            item=_dense(event_items, item_ids),
            type=kind.astype(np.int64),
            value=column("value").astype(float),
            time_us=column("time_us").astype(np.int64),
            positive=column("positive").astype(bool),
        ),
        positives_described=_positive_types(settings, types.tolist()),
    )
