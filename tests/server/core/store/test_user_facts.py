"""The backend-neutral per-user facts (``core.store.user_facts``) on tables a backend would
fetch: exact values, later events ignored, the row order and chunking of no consequence. The
equality with every backend's aggregate queries is in the conformance suite."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pyarrow as pa
import pytest

from infogap.server.core.domain import CatalogActivity, Interest
from infogap.server.core.store import EventTypeActivity, UserFacts
from infogap.server.core.store.user_facts import (
    ROW_BY_ROW_BELOW,
    USER_EVENTS_SCHEMA,
    ItemFeatureCache,
    ItemFeatures,
    ItemKey,
    facts_from_events,
)
from infogap.server.core.store.user_facts_rows import event_rows, facts_of_rows
from tests.server.core.store.conformance.builders import DAY, T0, TYPE_WEIGHTS

RECORDS = {"u1": ({"plan": "gold"}, T0 - DAY)}
ARGUMENTS = {
    "window_starts": [T0 - 7 * DAY],
    "frequency_start": T0 - 3 * DAY,
    "type_weights": TYPE_WEIGHTS,
    "half_life_days": 1.0,
    "attributes": None,
}
ROWS = [
    # user, catalog, item, type, value, time, item tags, item attributes (JSON text)
    ("u1", "c", "i1", "click", 1.0, T0, ["A", "B"], '{"genre": "x"}'),
    ("u1", "c", "i2", "purchase", 30.0, T0 - DAY, ["A"], '{"year": 1990}'),  # not a string
    ("u1", "d", "gone", "click", 1.0, T0 - 10 * DAY, None, None),  # an item not stored
    ("u1", "c", "i1", "view", 1.0, T0 - DAY, ["A", "B"], '{"genre": "x"}'),  # weighs nothing
    ("u1", "c", "i1", "click", 1.0, T0 + timedelta(seconds=1), ["A"], "{}"),  # after as_of
    ("u2", "c", "i1", "rating", 2.0, T0 - 2 * DAY, ["A", "B"], '{"genre": "x"}'),
]


def table(rows: list[tuple[object, ...]]) -> pa.Table:
    return pa.Table.from_pylist(
        [dict(zip(USER_EVENTS_SCHEMA.names, row)) for row in rows], schema=USER_EVENTS_SCHEMA
    )


def test_exact_values() -> None:
    found = facts_from_events(table(ROWS), RECORDS, {"u2": "cluster-1"}, T0, **ARGUMENTS)
    assert found.records == RECORDS
    assert found.clusters == {"u2": "cluster-1"}
    assert found.activity == [
        EventTypeActivity("u1", "click", 2, 2.0, T0 - 10 * DAY, T0, 1, (1,)),
        EventTypeActivity("u1", "purchase", 1, 30.0, T0 - DAY, T0 - DAY, 1, (1,)),
        EventTypeActivity("u1", "view", 1, 1.0, T0 - DAY, T0 - DAY, 1, (1,)),
        EventTypeActivity("u2", "rating", 1, 2.0, T0 - 2 * DAY, T0 - 2 * DAY, 1, (1,)),
    ]
    assert found.catalog_activity == {
        "u1": (CatalogActivity("c", 3, 2), CatalogActivity("d", 1, 1)),
        "u2": (CatalogActivity("c", 1, 1),),
    }
    assert found.active_days == {"u1": 3, "u2": 1}
    # Weights: i1's click 1; i2's purchase 5 halved once, 2.5; the click on the unknown item
    # 1 / 2**10 counts in the total only. u2's rating is below positive_from: no interests.
    total = 1.0 + 2.5 + 1 / 1024
    assert found.interests == {
        "u1": (
            Interest("tag:A", 3.5 / total, 2),
            Interest("year:1990", 2.5 / total, 1),
            Interest("genre:x", 1.0 / total, 1),
            Interest("tag:B", 1.0 / total, 1),
        )
    }


def test_row_order_and_chunks_do_not_count() -> None:
    expected = facts_from_events(table(ROWS), RECORDS, {}, T0, **ARGUMENTS)
    shuffled = ROWS[::-1]
    chunked = pa.concat_tables([table(shuffled[:3]), table(shuffled[3:])])
    assert chunked.column("user_id").num_chunks == 2
    assert facts_from_events(chunked, RECORDS, {}, T0, **ARGUMENTS) == expected
    # A backend may send only the events up to as_of: the same facts.
    assert facts_from_events(table(ROWS[:4] + ROWS[5:]), RECORDS, {}, T0, **ARGUMENTS) == expected


def test_attributes_filter_and_no_events() -> None:
    genre_only = facts_from_events(
        table(ROWS), {}, {}, T0, **{**ARGUMENTS, "attributes": ["genre"]}
    )
    assert [i.feature for i in genre_only.interests["u1"]] == ["tag:A", "genre:x", "tag:B"]
    empty = facts_from_events(USER_EVENTS_SCHEMA.empty_table(), RECORDS, {}, T0, **ARGUMENTS)
    assert empty == UserFacts(RECORDS, [], {}, {}, {}, {})
    before_everything = facts_from_events(table(ROWS), {}, {}, datetime(2000, 1, 1), **ARGUMENTS)
    assert before_everything == UserFacts({}, [], {}, {}, {}, {})


def many_rows(count: int, seed: int) -> list[tuple[object, ...]]:
    """``count`` events of three users on 40 items, each item with its own fixed features."""
    chosen = random.Random(seed)
    rows = []
    for _ in range(count):
        item = chosen.randrange(40)
        features = random.Random(item)
        tags = [f"t{features.randrange(9)}" for _ in range(features.randrange(4))]
        stored = (tags, f'{{"genre": "g{item % 5}"}}') if item % 10 else (None, None)
        moment = T0 - timedelta(seconds=chosen.randrange(-3_600, 20 * 86_400))
        event_type = chosen.choice(["click", "purchase", "rating", "view"])
        user = f"u{chosen.randrange(3)}"
        catalog = chosen.choice("cd")
        rows.append((user, catalog, f"i{item}", event_type, chosen.randrange(6), moment, *stored))
    return rows


@pytest.mark.parametrize("count", [ROW_BY_ROW_BELOW - 1, ROW_BY_ROW_BELOW + 200])
def test_the_row_by_row_way_agrees_with_the_array_way(count: int) -> None:
    """Few events are aggregated row by row, many with numpy: both give the same facts."""
    events = table(many_rows(count, seed=count))
    arrays = facts_from_events(events, RECORDS, {}, T0, **ARGUMENTS)
    rows = facts_of_rows(event_rows(events), RECORDS, {}, T0, **ARGUMENTS)
    assert rows.activity == arrays.activity and len(rows.activity) > 6
    assert rows.catalog_activity == arrays.catalog_activity
    assert rows.active_days == arrays.active_days
    assert rows.interests.keys() == arrays.interests.keys() == {"u0", "u1", "u2"}
    for user_id, found in rows.interests.items():
        expected = arrays.interests[user_id]
        assert [(i.feature, i.evidence_count) for i in found] == [
            (i.feature, i.evidence_count) for i in expected
        ]
        assert [i.score for i in found] == pytest.approx([i.score for i in expected], rel=1e-12)


def test_the_item_cache_loads_once_and_drops_what_a_write_raced() -> None:
    cache = ItemFeatureCache()
    loads: list[list[ItemKey]] = []

    def load(keys: list[ItemKey]) -> dict[ItemKey, ItemFeatures]:
        loads.append(sorted(keys))
        return {key: (["A"], "{}") for key in keys if key[1] != "gone"}

    assert cache.lookup([("c", "i1"), ("c", "gone")], load) == {
        ("c", "i1"): (["A"], "{}"),
        ("c", "gone"): None,
    }
    assert cache.lookup([("c", "i1"), ("c", "gone")], load) == {
        ("c", "i1"): (["A"], "{}"),
        ("c", "gone"): None,
    }
    assert loads == [[("c", "gone"), ("c", "i1")]]  # the second lookup loaded nothing
    cache.forget([("c", "i1")])
    cache.lookup([("c", "i1")], load)
    assert loads[-1] == [("c", "i1")]

    def racing_load(keys: list[ItemKey]) -> dict[ItemKey, ItemFeatures]:
        cache.forget(keys)  # an upsert commits while the old row is being read
        return {key: (["old"], "{}") for key in keys}

    assert cache.lookup([("c", "i2")], racing_load) == {("c", "i2"): (["old"], "{}")}
    assert cache.lookup([("c", "i2")], load) == {("c", "i2"): (["A"], "{}")}  # not kept


def test_the_item_cache_fills_once_with_a_small_catalog() -> None:
    cache = ItemFeatureCache(max_items=3)
    fills: list[int] = []

    def load_all(limit: int) -> dict[ItemKey, ItemFeatures]:
        fills.append(limit)
        return {("c", "i1"): (["A"], "{}"), ("c", "i2"): ([], '{"genre": "x"}')}

    def no_load(keys: list[ItemKey]) -> dict[ItemKey, ItemFeatures]:
        raise AssertionError(f"{keys} should have been kept by fill")

    cache.fill(load_all)
    cache.fill(load_all)
    assert fills == [4]  # once, asking for one more than it may keep
    assert cache.lookup([("c", "i2")], no_load) == {("c", "i2"): ([], '{"genre": "x"}')}


def test_the_item_cache_keeps_nothing_of_a_large_or_raced_fill() -> None:
    loads: list[list[ItemKey]] = []

    def load(keys: list[ItemKey]) -> dict[ItemKey, ItemFeatures]:
        loads.append(keys)
        return {key: (["new"], "{}") for key in keys}

    too_many = ItemFeatureCache(max_items=1)
    too_many.fill(lambda limit: {("c", f"i{n}"): (["A"], "{}") for n in range(limit)})
    assert too_many.lookup([("c", "i0")], load) == {("c", "i0"): (["new"], "{}")}
    raced = ItemFeatureCache()

    def racing_load_all(limit: int) -> dict[ItemKey, ItemFeatures]:
        raced.forget([("c", "i0")])  # an upsert commits while the items are being read
        return {("c", "i0"): (["old"], "{}")}

    raced.fill(racing_load_all)
    assert raced.lookup([("c", "i0")], load) == {("c", "i0"): (["new"], "{}")}
    assert len(loads) == 2
