"""Assignment of users to experiment variants: shares, independence, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from infogap.server.core.domain import Experiment, Variant
from infogap.server.core.experiments.service import assign, assignment_point


def test_assignment_follows_the_shares_and_is_independent_between_experiments():
    variants = (Variant("a", 0.3), Variant("b", 0.5))
    first, second = Experiment("one", "default", variants), Experiment("two", "default", variants)
    users = [f"user-{n}" for n in range(20_000)]
    assigned = [assign(first, u) for u in users]
    shares = {name: sum(1 for v in assigned if v and v.name == name) / len(users) for name in "ab"}
    assert shares == pytest.approx({"a": 0.3, "b": 0.5}, abs=0.015)
    assert sum(v is None for v in assigned) / len(users) == pytest.approx(0.2, abs=0.015)
    points = np.array([[assignment_point(e.name, u) for u in users] for e in (first, second)])
    assert abs(np.corrcoef(points)[0, 1]) < 0.03
    assert [assign(first, u) for u in users[:100]] == assigned[:100]  # a pure function
