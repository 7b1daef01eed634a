"""The recommendation pipeline's ranking of scored positions."""

from __future__ import annotations

import numpy as np

from infogap.server.core.models.pipeline import top_positions


def test_top_positions_orders_by_score_and_breaks_ties_by_position():
    scores = np.array([1.0, 5.0, 3.0, 5.0, 0.5], dtype=np.float32)
    eligible = np.array([True, True, True, True, False])
    assert top_positions(scores, eligible, 3).tolist() == [1, 3, 2]
    assert top_positions(scores, eligible, 10).tolist() == [1, 3, 2, 0]
    assert top_positions(scores, np.zeros(5, dtype=bool), 3).tolist() == []
