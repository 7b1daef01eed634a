"""Unit tests of core pieces that the end-to-end tests reach only indirectly."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from infogap.server import importer
from infogap.server.config import LimitSettings
from infogap.server.core import validation
from infogap.server.core.domain import RecommendationFilter
from infogap.server.core.errors import InvalidArgument
from infogap.server.core.models.pipeline import top_positions
from infogap.server.core.models.serving import ItemIndex, seen_index
from infogap.server.core.models.training import serving_order
from infogap.server.core.plugins.protocols import (
    FeatureMatrix,
    item_feature_names,
    user_feature_names,
)
from infogap.server.core.store import CatalogItems
from infogap.server.core.store.migrations import MIGRATIONS, migrate


def test_top_positions_orders_by_score_and_breaks_ties_by_position():
    scores = np.array([1.0, 5.0, 3.0, 5.0, 0.5], dtype=np.float32)
    eligible = np.array([True, True, True, True, False])
    assert top_positions(scores, eligible, 3).tolist() == [1, 3, 2]
    assert top_positions(scores, eligible, 10).tolist() == [1, 3, 2, 0]
    assert top_positions(scores, np.zeros(5, dtype=bool), 3).tolist() == []


def test_item_index_filters():
    catalog = CatalogItems(
        item_ids=np.array(["a", "b", "c"], dtype=object),
        tags=[["x"], ["y"], ["x", "y"]],
        attributes=[{}, {}, {}],
        active=np.array([True, True, False]),
    )
    index = ItemIndex.build(np.array(["a", "b", "c", "d"], dtype=object), catalog)
    assert index.eligible(RecommendationFilter()).tolist() == [True, True, False, True]
    only_x = index.eligible(RecommendationFilter(include_tags=frozenset({"x"})))
    assert only_x.tolist() == [True, False, False, False]
    no_y = index.eligible(
        RecommendationFilter(exclude_tags=frozenset({"y"}), exclude_item_ids=frozenset({"d"}))
    )
    assert no_y.tolist() == [True, False, False, False]
    assert index.tags_of("c") == ("x", "y") and index.tags_of("zz") == ()


def test_seen_index_groups_pairs_and_skips_unknown_items():
    seen = seen_index(
        np.array(["u1", "u2", "u1", "u1"], dtype=object),
        np.array(["a", "b", "c", "gone"], dtype=object),
        {"a": 0, "b": 1, "c": 2},
    )
    assert {u: sorted(p.tolist()) for u, p in seen.items()} == {"u1": [0, 2], "u2": [1]}


def test_feature_names_and_matrix():
    assert user_feature_names({"b": "2", "a": "1"}, None) == ["a=1", "b=2"]
    assert user_feature_names({"b": "2", "a": "1"}, ["b", "zz"]) == ["b=2"]
    assert item_feature_names(["y", "x", "x"], {"k": "v"}, None) == ["tag=x", "tag=y", "k=v"]
    features = FeatureMatrix.from_rows([["a=1"], [], ["a=1", "b=2"]])
    assert features.names == ("a=1", "b=2")
    assert features.matrix.toarray().tolist() == [[1, 0], [0, 0], [1, 1]]


def test_serving_order_puts_named_strategies_first():
    assert serving_order(["popularity", "zeta", "lightfm", "alpha"], ["lightfm", "popularity"]) == [
        "lightfm",
        "popularity",
        "alpha",
        "zeta",
    ]


def test_migrations_apply_once():
    db = duckdb.connect()
    assert migrate(db) == [m.__name__ for m in MIGRATIONS]
    assert migrate(db) == []
    tables = {
        row[0] for row in db.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    assert {"users", "items", "events", "models", "schema_migrations"} <= tables


def test_validation_names_field_and_reason():
    limits = LimitSettings()
    assert validation.catalog_name("") == "default"
    with pytest.raises(InvalidArgument) as caught:
        validation.catalog_name("../etc", "items[4].catalog")
    assert caught.value.violations[0].field == "items[4].catalog"
    with pytest.raises(InvalidArgument, match="1 to 1000"):
        validation.batch_size(0, "users", limits)
    with pytest.raises(InvalidArgument, match=r"users\[1\]"):
        validation.distinct(["a", "a"], "users")


def test_bins_label_numeric_values():
    bins = importer.Bins.parse("18,25,35")
    assert [bins.label(v) for v in ["7", "18", "24", "25", "60", "n/a"]] == [
        "<18",
        "18-24",
        "18-24",
        "25-34",
        "35+",
        "n/a",
    ]


def test_imported_events_get_stable_ids(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("user_id,item_id,rating,timestamp\n1,10,4,881250949\n1,11,2,881250950\n")
    read = lambda: list(  # noqa: E731
        importer.read_events(
            path,
            user_column="user_id",
            item_column="item_id",
            catalog="default",
            event_type="rating",
            type_column=None,
            value_column="rating",
            time_column="timestamp",
            time_format="unix",
            id_column=None,
        )
    )
    first, second = read(), read()
    assert [e["event_id"] for e in first] == [e["event_id"] for e in second]
    assert len({e["event_id"] for e in first}) == 2
    assert first[0]["value"] == 4.0 and first[0]["time"].year == 1997


def test_time_decay_halves_weights_per_half_life(tmp_path):
    from datetime import datetime

    from infogap.server.config import load_settings
    from infogap.server.core.domain import EventBatch
    from infogap.server.core.feedback.ingest import to_arrow
    from infogap.server.core.models.training_data import event_type_weights
    from infogap.server.core.store import Store

    store = Store(tmp_path)
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


def test_incomplete_tls_settings_are_rejected_when_loaded():
    from pydantic import ValidationError

    from infogap.server.config import load_settings

    with pytest.raises(ValidationError, match="go together"):
        load_settings(auth={"tls_cert_file": "server.pem"})
    with pytest.raises(ValidationError, match="needs a server certificate"):
        load_settings(auth={"tls_client_ca_file": "ca.pem"})
