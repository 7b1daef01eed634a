"""The backend-neutral per-user facts (``core.store.user_facts``) on tables a backend would
fetch: the Arrow and the row entry agree, later events are ignored, values are exact. The
equality with every backend's aggregate queries is in the conformance suite."""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa

from infogap.server.core.domain import CatalogActivity, Interest
from infogap.server.core.store import EventTypeActivity, UserFacts
from infogap.server.core.store.user_facts import (
    USER_EVENTS_SCHEMA,
    facts_from_events,
    facts_from_rows,
)
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


def test_facts_from_rows_exact_values() -> None:
    found = facts_from_rows(ROWS, RECORDS, {"u2": "cluster-1"}, T0, **ARGUMENTS)
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


def test_the_arrow_entry_equals_the_row_entry() -> None:
    def table(rows: list[tuple[object, ...]]) -> pa.Table:
        return pa.Table.from_pylist(
            [dict(zip(USER_EVENTS_SCHEMA.names, row)) for row in rows], schema=USER_EVENTS_SCHEMA
        )

    for rows in (ROWS, ROWS[:4], ROWS[4:]):
        from_rows = facts_from_rows(rows, RECORDS, {}, T0, **ARGUMENTS)
        assert facts_from_events(table(rows), RECORDS, {}, T0, **ARGUMENTS) == from_rows
    assert facts_from_rows(ROWS, {}, {}, T0, **ARGUMENTS) != facts_from_rows(
        ROWS[:4], {}, {}, T0, **ARGUMENTS
    )


def test_attributes_filter_and_no_events() -> None:
    genre_only = facts_from_rows(ROWS, {}, {}, T0, **{**ARGUMENTS, "attributes": ["genre"]})
    assert [i.feature for i in genre_only.interests["u1"]] == ["tag:A", "genre:x", "tag:B"]
    empty = facts_from_events(USER_EVENTS_SCHEMA.empty_table(), {}, {}, T0, **ARGUMENTS)
    assert empty == UserFacts({}, [], {}, {}, {}, {})
    assert facts_from_rows([], {}, {}, datetime(2000, 1, 1), **ARGUMENTS) == empty
