"""A MovieLens-style folder (what ``fetch-movielens-100k`` prints): ``users.csv`` (user_id, age,
gender, occupation, zip_code), ``items.csv`` (item_id, title, year, genres separated by ``|``)
and ``events.csv`` (user_id, item_id, rating, timestamp in Unix seconds).

The column mapping is written once, here: the demo and the benchmarks load the folder through
it, and the offline evaluation bands ages and reads genres the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from infogap.server.datasets.csv_files import (
    AttributeMapping,
    Bins,
    read_events,
    read_items,
    read_rows,
    read_users,
)

USERS_FILE = "users.csv"
ITEMS_FILE = "items.csv"
EVENTS_FILE = "events.csv"
GENRES_COLUMN = "genres"
GENRES_SEPARATOR = "|"
EVENT_TYPE = "rating"  # every MovieLens event is a rating, its value the stars
AGE_BANDS = Bins((18, 25, 35, 45, 50, 56))  # MovieLens' own age groups
USER_ATTRIBUTES = ("age", "gender", "occupation")  # zip_code identifies rather than describes
ITEM_ATTRIBUTES = ("title", "year")  # the title names the film in reasons


def users(dataset: Path) -> Iterator[dict[str, Any]]:
    """The users with their age band, gender and occupation, for ``Client.upsert_users``."""
    mapping = AttributeMapping(USER_ATTRIBUTES, {"age": AGE_BANDS})
    return read_users(dataset / USERS_FILE, "user_id", mapping)


def items(dataset: Path, catalog: str = "default") -> Iterator[dict[str, Any]]:
    """The movies with their genres as tags and their year, for ``Client.upsert_items``."""
    return read_items(
        dataset / ITEMS_FILE,
        "item_id",
        catalog,
        AttributeMapping(ITEM_ATTRIBUTES),
        GENRES_COLUMN,
        GENRES_SEPARATOR,
    )


def events(dataset: Path, catalog: str = "default") -> Iterator[dict[str, Any]]:
    """The ratings as ``rating`` events valued by their stars, with their time and an id derived
    from their content (a second load stores nothing new), for ``Client.record``."""
    return read_events(
        dataset / EVENTS_FILE,
        user_column="user_id",
        item_column="item_id",
        catalog=catalog,
        event_type=EVENT_TYPE,
        type_column=None,
        value_column="rating",
        time_column="timestamp",
        time_format="unix",
        id_column=None,
    )


def titles(dataset: Path) -> dict[str, str]:
    """Each movie's ``title (year)`` by item id."""
    return {
        row["item_id"]: f"{row['title']} ({row['year']})" for row in read_rows(dataset / ITEMS_FILE)
    }
