"""The model lifecycle's order of strategies to serve."""

from __future__ import annotations

from infogap.server.core.models.lifecycle import serving_order


def test_serving_order_puts_named_strategies_first():
    assert serving_order(["popularity", "zeta", "lightfm", "alpha"], ["lightfm", "popularity"]) == [
        "lightfm",
        "popularity",
        "alpha",
        "zeta",
    ]
