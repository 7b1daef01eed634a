"""The serving state's item index: filters, tags, and the per-user index of seen items."""

from __future__ import annotations

import numpy as np

from infogap.server.core.domain import RecommendationFilter
from infogap.server.core.models.serving import ItemIndex, seen_index
from infogap.server.core.store import CatalogItems


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
