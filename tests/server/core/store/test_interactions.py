"""The store's weighted interactions, with and without time decay."""

from __future__ import annotations

from datetime import datetime

import pytest

from infogap.server.config import load_settings
from infogap.server.core.domain import EventBatch
from infogap.server.core.feedback.ingest import to_arrow
from infogap.server.core.models.training_data import event_type_weights
from infogap.server.core.store import DuckDBStore


def test_time_decay_halves_weights_per_half_life(tmp_path):
    store = DuckDBStore(tmp_path)
    day_us = 86_400 * 1_000_000
    latest = int(datetime(2026, 3, 1).timestamp()) * 1_000_000
    batch = EventBatch(
        ["e1", "e2"],
        ["u", "u"],
        ["old", "new"],
        ["c", "c"],
        ["view", "view"],
        [1.0, 1.0],
        [latest - 10 * day_us, latest],
        ["", ""],
        [{}, {}],
    )
    store.insert_events(to_arrow(batch, datetime(2026, 3, 2)))
    weights = event_type_weights(load_settings().event_types)
    plain = store.interactions("c", weights)
    decayed = store.interactions("c", weights, half_life_days=10)
    by_item = lambda found: dict(zip(found.item_ids.tolist(), found.weights.tolist()))  # noqa: E731
    assert by_item(plain) == {"old": 1.0, "new": 1.0}
    assert by_item(decayed) == pytest.approx({"old": 0.5, "new": 1.0})
    store.close()
