"""Unit tests of the differential-privacy plugin: its noise, contribution bounding and guard."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from infogap.plugins.differential_privacy import (
    DifferentialPrivacyGuard,
    bound_contributions,
    bounded_counts,
    discrete_laplace,
)
from infogap.server.config import PrivacySettings
from infogap.server.core.errors import ResourceExhausted
from infogap.server.core.plugins.protocols import Aggregate
from tests.server.core.privacy.test_ledger import ledger_on


def aggregate(
    contributions: sp.csr_matrix, keys: list[str] | None = None, scope: str = ""
) -> Aggregate:
    keys = keys or [f"item-{i}" for i in range(contributions.shape[1])]
    return Aggregate(
        catalog="default",
        kind="item_popularity",
        keys=np.array(keys, dtype=object),
        contributions=contributions,
        values=np.asarray(contributions.sum(axis=0)).ravel(),
        scope=scope,
    )


def test_discrete_laplace_noise_has_the_variance_of_its_scale():
    scale = 5.0
    draws = np.asarray(discrete_laplace(scale)([0] * 100_000), dtype=float)
    # Discrete Laplace with P(k) proportional to a^|k|, a = exp(-1/scale): variance 2a/(1-a)^2.
    a = math.exp(-1 / scale)
    expected = 2 * a / (1 - a) ** 2
    # The sample variance's relative standard error is about sqrt(5 / n) = 0.7%: 5% is far out.
    assert draws.var() == pytest.approx(expected, rel=0.05)
    assert abs(draws.mean()) < 0.1
    assert np.all(draws == np.round(draws))  # integer noise, not floating-point Laplace


def test_contribution_bounding_keeps_each_users_heaviest_items_once():
    weights = np.arange(1, 101, dtype=np.float32)  # user 0: 100 items, item 99 heaviest
    rows = np.concatenate([np.zeros(100, dtype=int), [1, 1]])
    columns = np.concatenate([np.arange(100), [0, 1]])
    data = np.concatenate([weights, [5.0, 5.0]])
    contributions = sp.csr_matrix((data, (rows, columns)), shape=(2, 100))
    bounded = bound_contributions(contributions, max_keys=3)
    assert sorted(bounded[0].indices.tolist()) == [97, 98, 99]
    assert sorted(bounded[1].indices.tolist()) == [0, 1]
    assert set(bounded.data.tolist()) == {1}
    counts = bounded_counts(contributions, max_keys=3)
    assert counts.sum() == 5 and counts[[0, 1, 97, 98, 99]].tolist() == [1, 1, 1, 1, 1]


def test_guard_releases_bounded_counts_and_pays_for_them(tmp_path):
    ledger = ledger_on(tmp_path, epsilon_per_window=1e9)
    # So large an epsilon makes the noise 0 with certainty for all purposes: what is left is
    # the bounding.
    guard = DifferentialPrivacyGuard(
        PrivacySettings(epsilon_per_release=1e5, max_contributions_per_user=4), ledger
    )
    greedy = sp.csr_matrix(np.arange(1, 101, dtype=np.float32)[None, :])  # one user, 100 items
    released = guard.release(aggregate(greedy))
    assert released.values.sum() == 4 and released.values[-4:].tolist() == [1, 1, 1, 1]
    budget = ledger.report("default")
    assert budget.epsilon_spent == pytest.approx(1e5) and budget.delta_spent == 0
    (release,) = budget.releases
    assert "discrete Laplace" in release.description and "at most 4 items" in release.description


@pytest.mark.parametrize("on_exhausted", ["reuse", "refuse"])
def test_exhausted_budget_reuses_or_refuses(tmp_path, on_exhausted):
    ledger = ledger_on(tmp_path, epsilon_per_window=1.0)
    privacy = PrivacySettings(epsilon_per_release=1.0, on_exhausted=on_exhausted)
    guard = DifferentialPrivacyGuard(privacy, ledger)
    contributions = sp.csr_matrix(np.ones((50, 8), dtype=np.float32))
    first = guard.release(aggregate(contributions))
    if on_exhausted == "refuse":
        with pytest.raises(ResourceExhausted):
            guard.release(aggregate(contributions))
        assert len(ledger.report("default").releases) == 1
        return
    again = guard.release(aggregate(contributions))
    assert again.values.tolist() == first.values.tolist()
    assert [r.epsilon for r in ledger.report("default").releases] == [1.0, 0.0]
    # Never raw counts: a figure never released before cannot be reused, so it is refused.
    with pytest.raises(ResourceExhausted, match="no earlier release"):
        guard.release(aggregate(contributions, scope="segment=new"))
